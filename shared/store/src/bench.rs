//! What Keel's store-level benchmarks share (`benches/` of keel-psa, keel-time-capture and
//! keel-workflow): the PostgreSQL they run on, a scratch schema per run dropped at the end,
//! `pgbench` as the baseline, thread pinning, resident memory, and the one-line `BENCH` row
//! `cargo xtask bench` collects.
//!
//! This is the one place benchmark code reads the environment: `KEEL_BENCH_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`), `KEEL_BENCH_SMOKE=1` (tiny counts,
//! for CI) and the count overrides a benchmark names (see [`count`]).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use serde::Serialize;

use crate::connect::{Backend, StoreOptions};

/// The PostgreSQL the benchmarks run on.
pub fn database_url() -> String {
    std::env::var("KEEL_BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Whether to run tiny counts and durations only (`KEEL_BENCH_SMOKE=1`).
pub fn smoke() -> bool {
    std::env::var("KEEL_BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// A count a benchmark runs at, from `variable` when it is set to a positive number (to
/// measure at a smaller or larger size than the figure's own), else `default`.
pub fn count(variable: &str, default: usize) -> usize {
    match std::env::var(variable) {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| fail(format!("{variable} must be a positive whole number, not {v:?}"))),
        Err(_) => default,
    }
}

/// Stops the benchmark with `message` on stderr (exit status 2): a benchmark that cannot
/// measure says so rather than skipping.
pub fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("benchmark failed: {message}");
    std::process::exit(2)
}

/// One figure beside its baseline, printed as `BENCH {json}` on one line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub mode: String,
    pub metric: String,
    pub keel: f64,
    pub baseline: f64,
    pub baseline_name: String,
    pub ratio: f64,
    pub goal: String,
    pub met: bool,
    /// How many measured runs (after a warm-up) the figure is the median of; `None` until
    /// [`Row::runs`] says.
    pub runs: Option<usize>,
    pub notes: String,
}

/// A goal on the ratio `keel / baseline`.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Row {
    pub fn new(
        figure: &str,
        mode: &str,
        metric: &str,
        keel: f64,
        baseline: f64,
        baseline_name: &str,
        goal: Goal,
    ) -> Row {
        let ratio = if baseline > 0.0 { keel / baseline } else { 0.0 };
        let (goal_text, met) = match goal {
            Goal::AtLeast(g) => (format!(">= {g:.2}"), ratio >= g),
            Goal::AtMost(g) => (format!("<= {g:.1}"), ratio <= g),
        };
        Row {
            figure: figure.to_string(),
            mode: mode.to_string(),
            metric: metric.to_string(),
            keel: round(keel),
            baseline: round(baseline),
            baseline_name: baseline_name.to_string(),
            ratio: (ratio * 1000.0).round() / 1000.0,
            goal: goal_text,
            met,
            runs: None,
            notes: String::new(),
        }
    }

    /// The number of measured runs the figure is the median of.
    pub fn runs(mut self, runs: usize) -> Row {
        self.runs = Some(runs);
        self
    }

    pub fn notes(mut self, notes: impl Into<String>) -> Row {
        self.notes = notes.into();
        self
    }

    /// Prints the row on stdout, on one line.
    pub fn print(&self) {
        let json = serde_json::to_string(self).unwrap_or_else(|e| fail(format!("row not serialisable: {e}")));
        println!("BENCH {json}");
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The median of `values` (the lower middle of an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() - 1) / 2]
}

/// The `q` quantile (0..=1) of durations, in milliseconds.
pub fn quantile_ms(samples: &[Duration], q: f64) -> f64 {
    let mut sorted: Vec<Duration> = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// A scratch area on PostgreSQL for one run: every schema it hands out starts with a unique
/// `keel_bench_<hex>_` prefix and is dropped by [`Scratch::drop_all`].
#[derive(Debug)]
pub struct Scratch {
    pub url: String,
    pub prefix: String,
    admin: DatabaseConnection,
    schemas: std::sync::Mutex<Vec<String>>,
}

impl Scratch {
    /// Connects to [`database_url`], or stops the benchmark naming the URL's host problem.
    pub async fn connect() -> Scratch {
        let url = database_url();
        let mut opts = ConnectOptions::new(url.clone());
        opts.max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        let admin = match Database::connect(opts).await {
            Ok(db) => db,
            Err(e) => fail(format!(
                "cannot reach PostgreSQL (KEEL_BENCH_DATABASE_URL, default \
                 postgres://postgres@127.0.0.1:5432/test): {}",
                e.to_string().replace(&url, "<database url>")
            )),
        };
        let prefix = format!("keel_bench_{}_", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        Scratch {
            url,
            prefix,
            admin,
            schemas: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn remember(&self, schema: &str) {
        let mut schemas = self.schemas.lock().unwrap_or_else(|p| p.into_inner());
        if !schemas.iter().any(|s| s == schema) {
            schemas.push(schema.to_string());
        }
    }

    /// The store options of `service` in its own scratch schema.
    pub fn options(&self, service: &str, max_connections: u32) -> StoreOptions {
        let schema = format!("{}{}", self.prefix, service.replace('-', "_"));
        self.remember(&schema);
        StoreOptions {
            backend: Backend::Postgres {
                url: self.url.clone(),
                schema,
            },
            max_connections,
        }
    }

    /// A fresh empty scratch schema named `<prefix><name>`, for baseline tables.
    pub async fn schema(&self, name: &str) -> String {
        let schema = format!("{}{name}", self.prefix);
        self.remember(&schema);
        self.execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await;
        schema
    }

    /// Runs `sql` on the admin connection, stopping the benchmark if it fails.
    pub async fn execute(&self, sql: &str) {
        if let Err(e) = self.admin.execute_unprepared(sql).await {
            fail(format!("{sql}: {e}"));
        }
    }

    /// A setting as the server reports it (`SHOW synchronous_commit`).
    pub async fn show(db: &DatabaseConnection, setting: &str) -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SHOW {setting}"),
            ))
            .await
            .ok()
            .flatten();
        row.and_then(|r| r.try_get_by_index::<String>(0).ok())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Drops every schema this run made.
    pub async fn drop_all(&self) {
        let schemas = self.schemas.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for schema in schemas {
            if let Err(e) = self
                .admin
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
            {
                eprintln!("could not drop scratch schema {schema}: {e}");
            }
        }
    }

    /// Runs `pgbench` with `args` against this database with `search_path` set to `schema`,
    /// pinned to `cpus` (`taskset -c`) when given, and answers its output. Stops the
    /// benchmark when pgbench is missing or fails.
    pub fn pgbench(&self, schema: &str, cpus: Option<&str>, args: &[&str]) -> String {
        let mut command = match cpus {
            Some(cpus) if which("taskset") => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus, "pgbench"]);
                c
            }
            _ => Command::new("pgbench"),
        };
        command
            .args(args)
            .arg(&self.url)
            .env("PGOPTIONS", format!("-c search_path={schema}"));
        let output = match command.output() {
            Ok(o) => o,
            Err(e) => fail(format!("cannot run pgbench (Debian package postgresql-client): {e}")),
        };
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if !output.status.success() {
            fail(format!(
                "pgbench {} failed: {}{}",
                args.join(" "),
                stdout,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        stdout
    }
}

/// The transactions per second in pgbench's report (excluding connection time).
pub fn pgbench_tps(output: &str) -> f64 {
    output
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(format!("no tps in pgbench's report:\n{output}")))
}

/// The average latency in pgbench's report, in milliseconds.
pub fn pgbench_latency_ms(output: &str) -> f64 {
    output
        .lines()
        .find(|l| l.starts_with("latency average = "))
        .and_then(|l| l.trim_start_matches("latency average = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(format!("no latency in pgbench's report:\n{output}")))
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Pins every thread of this process whose name starts with `prefix` to `cpus`
/// (`taskset -p -c`), when taskset exists and the machine has more than one core. Answers
/// how many threads were pinned.
pub fn pin_threads(prefix: &str, cpus: &str) -> usize {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 || !which("taskset") {
        return 0;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut pinned = 0;
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !name.trim().starts_with(prefix) {
            continue;
        }
        let tid = task.file_name().to_string_lossy().to_string();
        let ok = Command::new("taskset")
            .args(["-p", "-c", cpus, &tid])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            pinned += 1;
        }
    }
    pinned
}

/// The statements run through a connection, by kind (see [`statement_kind`]): how many and
/// how long sea-orm timed them at, from sending each to its answer. Pool waits, `BEGIN` and
/// `COMMIT` are not statements here.
#[derive(Debug, Clone, Default)]
pub struct Statements(Arc<Mutex<BTreeMap<String, (u64, Duration)>>>);

impl Statements {
    /// A clone of `db` whose statements are counted in the answered tally (sea-orm's metric
    /// callback; `db` itself and its other clones are not counted).
    pub fn counting(db: &DatabaseConnection) -> (DatabaseConnection, Statements) {
        let statements = Statements::default();
        let mut counted = db.clone();
        let sink = statements.0.clone();
        counted.set_metric_callback(move |info| {
            let mut tally = sink.lock().unwrap_or_else(|e| e.into_inner());
            let kind = tally.entry(statement_kind(&info.statement.sql)).or_default();
            kind.0 += 1;
            kind.1 += info.elapsed;
        });
        (counted, statements)
    }

    /// The tally so far: kind, count and time, the most time first.
    pub fn by_kind(&self) -> Vec<(String, u64, Duration)> {
        let tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut kinds: Vec<_> = tally.iter().map(|(k, (c, d))| (k.clone(), *c, *d)).collect();
        kinds.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        kinds
    }

    /// One line for a row's notes, per `unit` of which `units` ran, e.g. "12.0 statements per
    /// instance taking 1.31 ms in all (..): UPDATE workflow_instances 3.0 (0.40 ms), ..".
    pub fn summary(&self, units: usize, unit: &str) -> String {
        let kinds = self.by_kind();
        let n = units.max(1) as f64;
        let count: u64 = kinds.iter().map(|k| k.1).sum();
        let ms: f64 = kinds.iter().map(|k| k.2.as_secs_f64() * 1000.0).sum();
        let parts: Vec<String> = kinds
            .iter()
            .map(|(kind, c, d)| format!("{kind} {:.1} ({:.2} ms)", *c as f64 / n, d.as_secs_f64() * 1000.0 / n))
            .collect();
        format!(
            "{:.1} statements per {unit} taking {:.2} ms in all (as sea-orm times them; BEGIN, COMMIT and pool \
             waits are not in it): {}",
            count as f64 / n,
            ms / n,
            parts.join(", ")
        )
    }
}

/// The kind of a statement: its verb and the first table it names, without schema or quotes,
/// e.g. `UPDATE workflow_instances`, `SELECT audit_log`.
pub fn statement_kind(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let verb = words.first().map_or("?", |w| w).to_ascii_uppercase();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
    };
    let table = match verb.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        _ => after("FROM"),
    };
    let table = table.map_or("", |t| {
        let t = t.trim_matches(|c: char| matches!(c, '"' | '`' | '(' | ')' | ',' | ';'));
        t.rsplit('.').next().unwrap_or(t).trim_matches('"')
    });
    format!("{verb} {table}").trim_end().to_string()
}

/// This process's resident memory, MiB, and its threads, from `/proc/self/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resident {
    /// All of it (`VmRSS`).
    pub total: f64,
    /// The most it has been (`VmHWM`).
    pub peak: f64,
    /// Anonymous pages (`RssAnon`): the heap (every allocation, SQLite's page caches and what
    /// the allocator keeps after a free) and thread stacks.
    pub anon: f64,
    /// File-backed pages (`RssFile`): the program's code and any mapped file.
    pub file: f64,
    /// Shared memory (`RssShmem`): SQLite's WAL index (`-shm` files) among it.
    pub shmem: f64,
    pub threads: u32,
}

/// This process's resident memory now (see [`Resident`]).
pub fn resident() -> Resident {
    parse_status(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

fn parse_status(status: &str) -> Resident {
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let mib = |name: &str| field(name) / 1024.0;
    Resident {
        total: mib("VmRSS:"),
        peak: mib("VmHWM:"),
        anon: mib("RssAnon:"),
        file: mib("RssFile:"),
        shmem: mib("RssShmem:"),
        threads: field("Threads:") as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_verb_and_table() {
        assert_eq!(
            statement_kind(r#"UPDATE "keel_wf"."workflow_instances" SET "status" = $1 WHERE "id" = $2"#),
            "UPDATE workflow_instances"
        );
        assert_eq!(
            statement_kind(r#"INSERT INTO "audit_log" ("id", "hash") VALUES ($1, $2) RETURNING "id""#),
            "INSERT audit_log"
        );
        assert_eq!(
            statement_kind(r#"SELECT "a"."id" FROM "workflow_steps" AS "a" WHERE "a"."instance" = $1"#),
            "SELECT workflow_steps"
        );
        assert_eq!(statement_kind("delete from outbox where id = ?"), "DELETE outbox");
        assert_eq!(statement_kind("SELECT 1"), "SELECT");
        assert_eq!(statement_kind(""), "?");
    }

    #[tokio::test]
    async fn statements_through_the_counting_clone_are_tallied_and_others_are_not() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let (counted, statements) = Statements::counting(&db);
        let select = |sql: &str| Statement::from_string(sea_orm::DbBackend::Sqlite, sql.to_string());
        for _ in 0..3 {
            counted
                .query_one_raw(select("SELECT 1 FROM sqlite_master"))
                .await
                .unwrap();
        }
        db.query_one_raw(select("SELECT 2")).await.unwrap();
        let kinds = statements.by_kind();
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert_eq!((kinds[0].0.as_str(), kinds[0].1), ("SELECT sqlite_master", 3));
        assert!(statements.summary(3, "call").starts_with("1.0 statements per call"));
    }

    #[test]
    fn resident_memory_is_read_by_part() {
        let status = "Name:\tcapture\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nRssAnon:\t   81920 kB\n\
                      RssFile:\t   19456 kB\nRssShmem:\t    1024 kB\nThreads:\t57\n";
        let r = parse_status(status);
        assert_eq!(
            (r.total, r.peak, r.anon, r.file, r.shmem),
            (100.0, 200.0, 80.0, 19.0, 1.0)
        );
        assert_eq!(r.threads, 57);
        let me = resident();
        assert!(me.total > 0.0 && me.anon > 0.0 && me.threads >= 1, "{me:?}");
    }

    #[test]
    fn pgbench_reports_are_read() {
        let report = "latency average = 0.412 ms\ninitial connection time = 3.1 ms\n\
                      tps = 19402.551861 (without initial connection time)\n";
        assert!((pgbench_tps(report) - 19402.551861).abs() < 1e-6);
        assert!((pgbench_latency_ms(report) - 0.412).abs() < 1e-9);
    }

    #[test]
    fn rows_compute_ratio_and_goal() {
        let row = Row::new("f", "postgres", "requests/s", 50.0, 200.0, "b", Goal::AtLeast(0.4));
        assert_eq!(row.ratio, 0.25);
        assert!(!row.met);
        assert_eq!(row.goal, ">= 0.40");
        assert_eq!(row.runs, None);
        assert_eq!(row.runs(3).runs, Some(3));
        let row = Row::new("f", "postgres", "p50 ms", 2.0, 1.0, "b", Goal::AtMost(3.0));
        assert!(row.met);
        assert_eq!(row.goal, "<= 3.0");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
