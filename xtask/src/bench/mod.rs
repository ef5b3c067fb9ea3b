//! `cargo xtask bench [--smoke] [--out FILE]`: Keel's benchmark suite. It measures the
//! gateway (a project manager's dashboard against `{ __typename }` on the same server), the
//! memory and start-up of `keel up --demo`, on SQLite and on PostgreSQL, runs the store-level
//! bench targets, and writes every row with the machine and the date to `docs/performance.md`.

pub mod load;
pub mod platform;
pub mod profile;
pub mod row;
pub mod stores;
pub mod table;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use load::{LoadResult, LoadSpec, median};
use platform::{Keel, Store};
use row::Row;

/// The project manager's dashboard: every project with its ERP code, team, burn, estimate at
/// completion, health, open alerts, time awaiting approval and change requests.
pub const DASHBOARD: &str = "query { projectManager { projects(first: 50) { nextCursor nodes {
    id name code status erpBudgetPosted
    team { personId personName role billRole active }
    burn { budget { amount currency } budgetHours approvedHours approvedAmount { amount currency } burnRatio burnPercent }
    estimateAtCompletion { amount { amount currency } hours varianceToBudget { amount } method }
    health { effortBaselineHours effortActualHours effortBurnPercent effortOverBaselinePercent
             moneyBurnPercent scheduleVarianceDays unapprovedHours openHighSeverityTickets
             breaches { kind measured threshold } policyVersion }
    alerts { id kind state measured threshold summary }
    timeAwaitingApproval { id hours }
    changeRequests { title role deltaHours deltaAmount { amount currency } state }
} } } }";

/// The trivial query the dashboard is measured against.
pub const TRIVIAL: &str = "{ __typename }";

/// How long and how hard a run measures.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub smoke: bool,
    pub warmup_seconds: f64,
    pub seconds: f64,
    pub concurrency: usize,
    pub runs: usize,
    pub projects: usize,
}

impl Settings {
    pub fn new(smoke: bool) -> Settings {
        if smoke {
            Settings {
                smoke,
                warmup_seconds: 0.3,
                seconds: 1.0,
                concurrency: 8,
                runs: 3,
                projects: 3,
            }
        } else {
            Settings {
                smoke,
                warmup_seconds: 2.0,
                seconds: 8.0,
                concurrency: 16,
                runs: 3,
                projects: 20,
            }
        }
    }
}

/// What `cargo xtask bench` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub smoke: bool,
    pub out: Option<PathBuf>,
    /// PostgreSQL for the embedded-mode figure on PostgreSQL.
    pub database_url: String,
    /// Re-measure only these store-level figures (`time-capture`, …) and merge their rows into
    /// the page at `out`, the other rows kept as they were; empty for the whole suite.
    pub only: Vec<String>,
}

/// Runs the suite and writes the table; fails (after writing it) if a figure could not be
/// measured at all.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let settings = Settings::new(options.smoke);
    let out = match &options.out {
        Some(out) => out.clone(),
        None if options.smoke => std::env::temp_dir().join("keel-performance-smoke.md"),
        None => root.join("docs/performance.md"),
    };
    let started = Instant::now();
    if !options.only.is_empty() {
        return remeasure(root, options, &settings, &out, started);
    }

    let (mut rows, mut failures) = platform_rows(root, options, &settings)?;
    for target in &stores::TARGETS {
        let collected = stores::run(root, target, options.smoke);
        rows.extend(collected.rows);
        failures.extend(collected.failure);
    }

    rows.sort_by_key(|r| order(&r.figure));
    let page = table::Page {
        date: now(),
        machine: table::Machine::detect(),
        environment: bench_environment(std::env::vars()),
        rows,
        smoke: options.smoke,
    };
    write_page(&page, &settings, &out, started, &failures)
}

/// The gateway, memory and start-up figures on SQLite and on PostgreSQL: builds `keel`, then
/// measures one `keel up --demo` a backend. Returns the rows and what could not be measured
/// (a backend that failed has "not run" rows).
fn platform_rows(root: &Path, options: &Options, settings: &Settings) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let release = !options.smoke;
    // The gateway's load generator first: a missing one should not wait for a build.
    let oha = load::oha_version()?;
    let mut build = cargo(root);
    build.args(["build", "-p", "keel"]);
    if release {
        build.arg("--release");
    }
    eprintln!("bench: cargo build -p keel{}", if release { " --release" } else { "" });
    let status = build.status().context("running cargo build -p keel")?;
    if !status.success() {
        bail!("cargo build -p keel failed");
    }
    let binary = platform::binary(root, release);
    anyhow::ensure!(binary.exists(), "no keel binary at {}", binary.display());

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stores = [
        Store::Sqlite,
        Store::Postgres {
            url: options.database_url.clone(),
            prefix: format!("bench{}_", std::process::id()),
        },
    ];
    for store in &stores {
        let mode = store.mode();
        eprintln!("bench: gateway, memory and start-up on {mode}");
        match runtime.block_on(platform_figures(&binary, store, settings, &oha)) {
            Ok(mut measured) => rows.append(&mut measured),
            Err(e) => {
                let why = format!("could not be measured: {e:#}");
                eprintln!("bench: {mode}: {why}");
                failures.push(format!("gateway/memory/start-up on {mode}: {e:#}"));
                for (figure, metric, goal) in [
                    ("gateway", "requests/s", ">= 0.30"),
                    ("gateway", "p99 ms", "<= 5.0"),
                    ("memory", "idle RSS MiB", "<= 150"),
                    ("memory", "RSS under load MiB", "<= 400"),
                    ("start-up", "ready s", "< 2"),
                ] {
                    rows.push(Row::not_run(figure, mode, metric, goal, why.clone()));
                }
            }
        }
        if let Store::Postgres { url, prefix } = store {
            drop_schemas(url, prefix);
        }
    }

    Ok((rows, failures))
}

/// The figures one `keel up --demo` a backend measures together: `--only` names any of them
/// to re-measure all three.
pub const PLATFORM_FIGURES: [&str; 3] = ["gateway", "memory", "start-up"];

/// What `--only` re-measures.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The gateway, memory and start-up figures, on both backends.
    pub platform: bool,
    /// The store-level bench targets, in the suite's order.
    pub targets: Vec<stores::Target>,
}

impl Selection {
    /// The figure families whose rows a re-measure replaces.
    pub fn families(&self) -> Vec<&'static str> {
        let platform = if self.platform { &PLATFORM_FIGURES[..] } else { &[] };
        platform
            .iter()
            .copied()
            .chain(self.targets.iter().map(|t| t.figure))
            .collect()
    }
}

/// The figures `--only` names: `gateway` (or `memory`, `start-up`: measured together), and the
/// store-level figures by figure or bench target. A name that is none of them is an error
/// listing the names there are.
pub fn select(names: &[String]) -> Result<Selection, String> {
    let (platform, store_level): (Vec<String>, Vec<String>) = names
        .iter()
        .cloned()
        .partition(|n| PLATFORM_FIGURES.contains(&n.as_str()));
    let targets = stores::named(&store_level)?;
    Ok(Selection {
        platform: !platform.is_empty(),
        targets,
    })
}

/// `--only`: measures the named figures and writes the page at `out` again, their rows
/// replaced and every other row as it was. The page must keep its rows (any page this
/// tool wrote does) and must have been measured on this machine: a ratio is only worth its
/// baseline, and mixing machines would set figures of two machines side by side.
fn remeasure(root: &Path, options: &Options, settings: &Settings, out: &Path, started: Instant) -> anyhow::Result<()> {
    let selection = select(&options.only).map_err(anyhow::Error::msg)?;
    let existing = std::fs::read_to_string(out).with_context(|| {
        format!(
            "--only merges into {}, which cannot be read; run the whole suite first",
            out.display()
        )
    })?;
    let mut page = table::Page::read(&existing)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?
        .with_context(|| {
            format!(
                "--only: {} keeps no rows to merge into (it was written before --only existed); run the whole suite once",
                out.display()
            )
        })?;
    let machine = table::Machine::detect();
    anyhow::ensure!(
        page.machine.same_hardware(&machine),
        "--only: {} was measured on {} ({} CPUs, {}), this machine is {} ({} CPUs, {}); run the whole suite here",
        out.display(),
        page.machine.cpu,
        page.machine.cores,
        page.machine.ram,
        machine.cpu,
        machine.cores,
        machine.ram,
    );
    anyhow::ensure!(
        page.smoke == options.smoke,
        "--only: {} is a {} page; re-measure it {}",
        out.display(),
        if page.smoke { "smoke" } else { "full" },
        if page.smoke { "with --smoke" } else { "without --smoke" }
    );
    let (mut fresh, mut failures) = if selection.platform {
        platform_rows(root, options, settings)?
    } else {
        (Vec::new(), Vec::new())
    };
    for target in &selection.targets {
        let collected = stores::run(root, target, options.smoke);
        fresh.extend(collected.rows);
        failures.extend(collected.failure);
    }
    // A figure that could not be measured leaves the page as it was: its rows there are
    // still the last measured ones.
    if !failures.is_empty() {
        bail!(
            "{} figure(s) could not be measured; {} is left as it was:\n  {}",
            failures.len(),
            out.display(),
            failures.join("\n  ")
        );
    }
    let mut environment = bench_environment(std::env::vars());
    environment.push("cargo xtask bench".into());
    environment.push(format!("--only {}", options.only.join(",")));
    let kernel = if page.machine.kernel == machine.kernel {
        String::new()
    } else {
        format!(" (kernel {})", machine.kernel)
    };
    let how = format!("{}{kernel} by `{}`", now(), environment.join(" "));
    merge(&mut page, &selection.families(), fresh, &how);
    write_page(&page, settings, out, started, &[])
}

/// Replaces the rows of the figure `families` in `page` with `fresh`, each marked as measured
/// `how`; the other rows stay as they were, in the suite's order. A family replaces only the
/// modes it measured this time: time capture run on PostgreSQL alone
/// (`KEEL_BENCH_TIME_BACKENDS`) leaves the SQLite rows as they were.
pub fn merge(page: &mut table::Page, families: &[&str], fresh: Vec<Row>, how: &str) {
    let replaced = |row: &Row| {
        families.iter().any(|family| {
            row::of_family(&row.figure, family)
                && fresh
                    .iter()
                    .any(|new| row::of_family(&new.figure, family) && new.mode == row.mode)
        })
    };
    // A re-measured row takes the place its figure and mode had on the page.
    let places: Vec<(String, String)> = page.rows.iter().map(|r| (r.figure.clone(), r.mode.clone())).collect();
    let place = |row: &Row| {
        places
            .iter()
            .position(|(figure, mode)| *figure == row.figure && *mode == row.mode)
            .unwrap_or(usize::MAX)
    };
    page.rows.retain(|row| !replaced(row));
    page.rows.extend(fresh.into_iter().map(|mut row| {
        row.measured = how.to_string();
        row
    }));
    page.rows.sort_by_key(|r| (order(&r.figure), place(r)));
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Writes the page to `out`, prints its table, and fails if a figure could not be measured.
fn write_page(
    page: &table::Page,
    settings: &Settings,
    out: &Path,
    started: Instant,
    failures: &[String],
) -> anyhow::Result<()> {
    let reproduce = reproduce(settings, &page.environment);
    let document = table::document(page, &reproduce);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, document).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "bench: wrote {} ({} rows) in {:.0} s",
        out.display(),
        page.rows.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", table::table(&page.rows));
    if !failures.is_empty() {
        bail!(
            "{} figure(s) could not be measured:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// `cargo` in the workspace root, without the variables `cargo run` set for xtask itself:
/// a build script that watches one of them (ring watches `CARGO_MANIFEST_DIR`) would
/// otherwise rebuild, and everything above it with it, on every bench.
pub fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE"].contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// The table's order: the issue's figures in turn, each with the figures named after it
/// (`time-capture-memory` after `time-capture`).
fn order(figure: &str) -> usize {
    [
        "gateway",
        "system-api-read",
        "time-capture",
        "workflow",
        "memory",
        "start-up",
    ]
    .iter()
    .position(|family| row::of_family(figure, family))
    .unwrap_or(usize::MAX)
}

/// The `KEEL_BENCH_*` variables this run was made with, as `NAME=value` words in name order.
pub fn bench_environment(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut set: Vec<String> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with("KEEL_BENCH_") && name != "KEEL_BENCH_SMOKE")
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    set.sort();
    set
}

fn reproduce(settings: &Settings, environment: &[String]) -> String {
    let mut text = String::from(
        "On an otherwise idle machine with at least 2 cores, PostgreSQL at \
         `postgres://postgres@127.0.0.1:5432/test` (or `KEEL_BENCH_DATABASE_URL`), and `taskset`, \
         `perf`, `psql` and `pgbench` on PATH:\n\n```sh\n\
         cargo install oha --locked             # the gateway's load generator, once\n\
         cargo xtask bench                      # release build; writes docs/performance.md\n\
         cargo xtask bench --smoke --out /tmp/performance.md   # seconds, debug build: proves it works\n\
         cargo xtask bench --only time-capture  # re-measure some figures, the page's other rows kept\n\
         cargo xtask bench --only gateway       # the gateway, memory and start-up figures, both backends\n",
    );
    for target in &stores::TARGETS {
        text.push_str(&format!(
            "{}   # one store-level figure alone\n",
            stores::command_line(target, false)
        ));
    }
    text.push_str(
        "cargo xtask profile --pid $(pgrep -n keel) --seconds 10   # CPU by crate of a running process (perf)\n",
    );
    text.push_str("```\n\n");
    text.push_str(
        "Time capture takes 3 runs of 100,000 entries on each backend unless \
         `KEEL_BENCH_TIME_RUNS` says fewer (at 50 to 75 entries a second on 2 cores, a run is 25 \
         to 35 minutes a backend, so 3 runs of both take about 3 hours); \
         `KEEL_BENCH_TIME_BACKENDS=postgres` (or `sqlite`) with `--only time-capture` measures one \
         backend and replaces only its rows, so the two can be taken at different times; \
         `KEEL_BENCH_TIME_ENTRIES` and `KEEL_BENCH_TIME_BATCH` change its count and batch. ",
    );
    if environment.is_empty() {
        text.push_str("This page was written by `cargo xtask bench` alone.\n\n");
    } else {
        text.push_str(&format!(
            "This page was written by `{} cargo xtask bench`.\n\n",
            environment.join(" ")
        ));
    }
    text.push_str(&format!(
        "The gateway figures: `keel up --demo` on a fresh data directory (`taskset -c 0`), {} \
         projects made by winning demo opportunities through CRM (project setup creates each), \
         and the load from [oha](https://crates.io/crates/oha) (`cargo install oha --locked`, \
         HTTP/1.1 keep-alive) on `taskset -c 1`; each query's answer is checked in full first \
         (oha sees status codes, not GraphQL `errors`) and each run's average answer size held \
         against it. Rate: a closed loop of {} clients for {} s after {} s of warm-up. \
         Latency: an open loop at half the lower of the two queries' closed-loop rates, \
         measured from when each request was due. Each figure is the median of {} runs, the \
         two queries taking turns. Memory: VmRSS and VmHWM of the Keel process from \
         `/proc/<pid>/status`. CPU profile: one more closed loop of the dashboard under `perf \
         record -F 499`, rolled up by crate. Start-up: from launch to `/readyz` answering 200, \
         restarting on the data directory the gateway run left.\n",
        settings.projects, settings.concurrency, settings.seconds, settings.warmup_seconds, settings.runs
    ));
    text
}

/// Drops the schemas a PostgreSQL run made.
fn drop_schemas(url: &str, prefix: &str) {
    let sql = format!(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE '{prefix}%' \
         LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$;"
    );
    let dropped = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .stdout(Stdio::null())
        .status();
    if !matches!(dropped, Ok(s) if s.success()) {
        eprintln!("bench: could not drop the schemas {prefix}* (drop them by hand)");
    }
}

/// Runs one load with oha in its own process pinned to core 1 (after its warm-up, if any),
/// sampling Keel's memory meanwhile. Returns the result and the highest VmRSS seen (MiB).
fn load(spec: &LoadSpec, keel_pid: u32) -> anyhow::Result<(LoadResult, f64)> {
    let mut peak: f64 = 0.0;
    if spec.warmup_seconds > 0.0 {
        let (_, warm_peak, _) = oha(spec, spec.warmup_seconds, keel_pid).context("the warm-up")?;
        peak = warm_peak;
    }
    let keel_cpu = platform::cpu_seconds(keel_pid)?;
    let started = Instant::now();
    let (output, measured_peak, generator_cpu) = oha(spec, spec.seconds, keel_pid)?;
    let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
    let mut result = load::parse_oha(&output, spec.seconds)?;
    result.server_cores = (platform::cpu_seconds(keel_pid)? - keel_cpu) / elapsed;
    result.generator_cores = generator_cpu / elapsed;
    Ok((result, peak.max(measured_peak)))
}

/// One oha run under `taskset -c 1`: its JSON summary, Keel's highest VmRSS meanwhile, and
/// oha's CPU seconds (its last reading before it exits).
fn oha(spec: &LoadSpec, seconds: f64, keel_pid: u32) -> anyhow::Result<(Vec<u8>, f64, f64)> {
    let mut child = Command::new("taskset")
        .args(["-c", "1", load::OHA])
        .args(load::oha_args(spec, seconds))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting oha under taskset -c 1")?;
    let mut peak: f64 = 0.0;
    let mut generator_cpu: f64 = 0.0;
    while child.try_wait()?.is_none() {
        if let Ok((rss, _)) = platform::memory_mib(keel_pid) {
            peak = peak.max(rss);
        }
        if let Ok(cpu) = platform::cpu_seconds(child.id()) {
            generator_cpu = generator_cpu.max(cpu);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "oha failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok((output.stdout, peak, generator_cpu))
}

/// One answer to `query`, checked in full: `200`, `data` and no `errors`; with its size in
/// bytes.
async fn graphql_sized(http: &str, token: &str, query: &str) -> anyhow::Result<(Value, f64)> {
    let answer = reqwest::Client::new()
        .post(format!("{http}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await?;
    let status = answer.status();
    let bytes = answer.bytes().await?;
    let body: Value = serde_json::from_slice(&bytes).context("the GraphQL answer")?;
    if status != 200 || !body["errors"].is_null() || body["data"].is_null() {
        bail!("GraphQL answered {status}: {body}");
    }
    Ok((body, bytes.len() as f64))
}

async fn graphql(http: &str, token: &str, query: &str) -> anyhow::Result<Value> {
    Ok(graphql_sized(http, token, query).await?.0)
}

/// The size of one answer to `query`, checked in full.
async fn checked_answer_bytes(http: &str, token: &str, query: &str) -> anyhow::Result<f64> {
    Ok(graphql_sized(http, token, query).await?.1)
}

/// Whether a run's answers were the checked answer: oha sees status codes, not GraphQL
/// `errors`, so an answer of another size than the checked one is an answer of another kind.
/// `Err` when they were not (half or double the size); a note when they differ by over 10%.
pub fn answers_as_checked(name: &str, result: &LoadResult, checked_bytes: f64) -> anyhow::Result<Option<String>> {
    if result.requests == 0 || checked_bytes <= 0.0 {
        return Ok(None);
    }
    let ratio = result.bytes_per_request / checked_bytes;
    let said = format!(
        "{name}'s answers averaged {:.0} bytes where a checked answer has {checked_bytes:.0}",
        result.bytes_per_request
    );
    if !(0.5..=2.0).contains(&ratio) {
        bail!("{said}: some were not what the query answers (GraphQL errors?)");
    }
    Ok((!(0.9..=1.1).contains(&ratio)).then_some(said))
}

/// The sum of `keel_grpc_requests_total` in `/metrics`: every gRPC call the process answered.
async fn grpc_calls(http: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("{http}/metrics")).await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("keel_grpc_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// Time spent answering each gRPC method so far, from `/metrics`'
/// `keel_grpc_request_duration_seconds` histogram: `(service method, seconds, calls)`.
async fn grpc_time(http: &str) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let text = reqwest::get(format!("{http}/metrics")).await?.text().await?;
    Ok(parse_grpc_time(&text))
}

/// Reads the `_sum` and `_count` of `keel_grpc_request_duration_seconds` by method.
pub fn parse_grpc_time(text: &str) -> Vec<(String, f64, f64)> {
    let mut by_method: Vec<(String, f64, f64)> = Vec::new();
    for line in text.lines() {
        let (is_sum, rest) = if let Some(rest) = line.strip_prefix("keel_grpc_request_duration_seconds_sum{") {
            (true, rest)
        } else if let Some(rest) = line.strip_prefix("keel_grpc_request_duration_seconds_count{") {
            (false, rest)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').rsplit('.').next().unwrap_or(v).to_string())
                .unwrap_or_default()
        };
        let key = format!("{} {}", label("service"), label("method"));
        let entry = match by_method.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry,
            None => {
                by_method.push((key, 0.0, 0.0));
                by_method.last_mut().expect("just pushed")
            }
        };
        if is_sum {
            entry.1 += value;
        } else {
            entry.2 += value;
        }
    }
    by_method
}

/// Where the time of the backend calls between two snapshots went: the methods taking the
/// most, with their mean time per call.
pub fn profile(before: &[(String, f64, f64)], after: &[(String, f64, f64)]) -> String {
    let mut spent: Vec<(String, f64, f64)> = after
        .iter()
        .map(|(k, s, c)| {
            let (s0, c0) = before
                .iter()
                .find(|(k0, _, _)| k0 == k)
                .map_or((0.0, 0.0), |(_, s0, c0)| (*s0, *c0));
            (k.clone(), s - s0, c - c0)
        })
        .filter(|(_, _, calls)| *calls > 0.0)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = spent.iter().map(|(_, s, _)| s).sum();
    if total <= 0.0 {
        return "no backend call was timed".into();
    }
    spent
        .iter()
        .take(4)
        .map(|(k, s, c)| format!("{k} {:.0}% ({:.1} ms a call)", 100.0 * s / total, 1000.0 * s / c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keel's CPU by crate (perf) while `spec` loads it for `seconds`.
fn cpu_under_load(pid: u32, spec: &LoadSpec, seconds: f64) -> anyhow::Result<String> {
    let data = std::env::temp_dir().join(format!("keel-bench-{pid}.perf"));
    let perf = profile::start_recording(pid, seconds.ceil() as u64, &data)?;
    let loaded = load(spec, pid);
    let samples = profile::finish_recording(perf, &data, None)?;
    loaded?;
    Ok(format!(
        "{} (Keel busy {:.2} cores of the 1 it is pinned to)",
        profile::summary(&samples, 1.0),
        profile::cores_busy(&samples, seconds)
    ))
}

/// The gateway, memory and start-up figures of one store.
async fn platform_figures(binary: &Path, store: &Store, settings: &Settings, oha: &str) -> anyhow::Result<Vec<Row>> {
    let mode = store.mode();
    let data_dir = tempfile::Builder::new().prefix("keel-bench-").tempdir()?;
    let keel = Keel::start(binary, data_dir.path(), store, Duration::from_secs(120)).await?;
    let admin = platform::token(binary, data_dir.path(), "admin", "bench-admin")?;
    let executive = platform::token(binary, data_dir.path(), "executive", "bench-executive")?;

    // Projects to show: won opportunities, set up by project setup.
    let won = platform::win_projects(&keel.grpc, &admin, settings.projects).await?;
    let count_query = "{ projectManager { projects(first: 100) { nodes { id } } } }";
    let deadline = Instant::now() + Duration::from_secs(180);
    let projects = loop {
        let body = graphql(&keel.http, &executive, count_query).await?;
        let n = body["data"]["projectManager"]["projects"]["nodes"]
            .as_array()
            .map_or(0, Vec::len);
        if n >= won || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    anyhow::ensure!(
        projects > 0,
        "project setup made no project of the {won} opportunities won"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = platform::memory_mib(keel.pid())?;

    // Backend calls per dashboard request: the gateway's own count, and /metrics.
    let body = graphql(&keel.http, &executive, DASHBOARD).await?;
    let calls = body["extensions"]["backendCalls"]
        .as_object()
        .context("the dashboard's answer has no extensions.backendCalls")?;
    let per_request: f64 = calls.values().filter_map(Value::as_f64).sum();
    let kinds = calls.keys().cloned().collect::<Vec<_>>().join(", ");
    let before = grpc_calls(&keel.http).await?;
    let sample = 20;
    for _ in 0..sample {
        graphql(&keel.http, &executive, DASHBOARD).await?;
    }
    let after = grpc_calls(&keel.http).await?;
    let metered = (after - before) / sample as f64;
    let trivial_bytes = checked_answer_bytes(&keel.http, &executive, TRIVIAL).await?;
    let dashboard_bytes = checked_answer_bytes(&keel.http, &executive, DASHBOARD).await?;

    // Rate: closed loops, the two queries taking turns.
    let spec = |query: &str, rate: Option<f64>, warmup: f64| LoadSpec {
        url: format!("{}/graphql", keel.http),
        token: executive.clone(),
        query: query.to_string(),
        concurrency: settings.concurrency,
        rate,
        warmup_seconds: warmup,
        seconds: settings.seconds,
    };
    let pid = keel.pid();
    let mut trivial_rates = Vec::new();
    let mut trivial_cores = Vec::new();
    let mut dashboard_rates = Vec::new();
    let mut load_rss: f64 = 0.0;
    let mut errors = Vec::new();
    let mut dashboard_calls_before = Vec::new();
    let mut dashboard_calls_after = Vec::new();
    for i in 0..settings.runs {
        let warmup = if i == 0 { settings.warmup_seconds } else { 0.0 };
        let (t, _) = load(&spec(TRIVIAL, None, warmup), pid)?;
        let snapshot = grpc_time(&keel.http).await?;
        let (d, peak) = load(&spec(DASHBOARD, None, warmup), pid)?;
        if i == 0 {
            dashboard_calls_before = snapshot;
            dashboard_calls_after = grpc_time(&keel.http).await?;
        }
        load_rss = load_rss.max(peak);
        for (name, r, checked) in [("trivial", &t, trivial_bytes), ("dashboard", &d, dashboard_bytes)] {
            errors.extend(answers_as_checked(name, r, checked)?);
            if r.errors > 0 {
                errors.push(format!(
                    "{name}: {} errors, first: {}",
                    r.errors,
                    r.first_error.clone().unwrap_or_default()
                ));
            }
        }
        anyhow::ensure!(
            t.requests > 0 && d.requests > 0,
            "a closed loop answered nothing: {}",
            errors.join("; ")
        );
        trivial_rates.push(t.requests_per_second);
        trivial_cores.push((t.server_cores, t.generator_cores, d.server_cores, d.generator_cores));
        dashboard_rates.push(d.requests_per_second);
    }
    let trivial_rate = median(&trivial_rates);
    let dashboard_rate = median(&dashboard_rates);

    // Where the server's CPU goes under the dashboard's closed loop: one more loop, under perf
    // (not in smoke runs; a machine without perf says so in the notes).
    let cpu_profile = if settings.smoke {
        String::new()
    } else {
        match cpu_under_load(pid, &spec(DASHBOARD, None, 0.0), settings.seconds) {
            Ok(profile) => format!(
                " Where Keel's CPU went during one more closed loop of the dashboard (perf, by crate, over 1%): {profile}."
            ),
            Err(e) => format!(" No CPU profile: {e:#}."),
        }
    };

    // Latency: open loops at a rate both sustain.
    let rate = (trivial_rate.min(dashboard_rate) * 0.5).max(1.0);
    let (mut t50, mut t99, mut d50, mut d99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..settings.runs {
        let (t, _) = load(&spec(TRIVIAL, Some(rate), settings.warmup_seconds.min(1.0)), pid)?;
        let (d, peak) = load(&spec(DASHBOARD, Some(rate), settings.warmup_seconds.min(1.0)), pid)?;
        load_rss = load_rss.max(peak);
        anyhow::ensure!(t.requests > 0 && d.requests > 0, "an open loop answered nothing");
        errors.extend(answers_as_checked("trivial (open loop)", &t, trivial_bytes)?);
        errors.extend(answers_as_checked("dashboard (open loop)", &d, dashboard_bytes)?);
        if t.errors + d.errors > 0 {
            errors.push(format!("open loop: {} errors", t.errors + d.errors));
        }
        t50.push(t.p50_ms);
        t99.push(t.p99_ms);
        d50.push(d.p50_ms);
        d99.push(d.p99_ms);
    }
    // Still the checked answers after the load.
    checked_answer_bytes(&keel.http, &executive, DASHBOARD)
        .await
        .context("the dashboard after the load")?;
    let (_, hwm) = platform::memory_mib(pid)?;
    keel.stop()?;

    // Start-up on the existing data directory.
    let mut ready = Vec::new();
    let mut listening = Vec::new();
    for _ in 0..settings.runs {
        let again = Keel::start(binary, data_dir.path(), store, Duration::from_secs(60)).await?;
        ready.push(again.ready_after.as_secs_f64());
        listening.push(again.http_after.as_secs_f64());
        again.stop()?;
    }

    let backend_profile = profile(&dashboard_calls_before, &dashboard_calls_after);
    let busy = |pick: fn(&(f64, f64, f64, f64)) -> f64| median(&trivial_cores.iter().map(pick).collect::<Vec<_>>());
    let cores = format!(
        " Cores busy during the closed loops (median): Keel {:.2} of its 1 and oha {:.2} of its 1 for `{{ __typename }}`, \
         Keel {:.2} and oha {:.2} for the dashboard{}.",
        busy(|c| c.0),
        busy(|c| c.1),
        busy(|c| c.2),
        busy(|c| c.3),
        if busy(|c| c.0) >= 0.9 {
            ": the trivial query's rate is Keel's, not the generator's"
        } else {
            ""
        }
    );
    let errors = if errors.is_empty() {
        String::new()
    } else {
        format!(" Errors: {}.", errors.join("; "))
    };
    let shape = format!(
        "{projects} projects (of {won} won), closed loop of {} clients, {} s per run, median of {}; \
         `{{ __typename }}` on the same server in the same run; load by {oha}.",
        settings.concurrency, settings.seconds, settings.runs
    );
    let mut rows = vec![
        Row::measured(
            "gateway",
            mode,
            "requests/s",
            dashboard_rate,
            Some((trivial_rate, "{ __typename }")),
            ">= 0.30",
            format!(
                "{shape}{cores} Where the backend time of the dashboard's first closed loop went (gRPC handler time from `/metrics`): {backend_profile}.{cpu_profile}{errors}"
            ),
        )
        .runs(settings.runs),
        Row::measured(
            "gateway",
            mode,
            "p50 ms",
            median(&d50),
            Some((median(&t50), "{ __typename }")),
            "",
            format!(
                "Open loop at {rate:.0} requests/s (half the lower closed-loop rate), latency from when each request was due; median of {} runs.",
                settings.runs
            ),
        )
        .runs(settings.runs),
        Row::measured(
            "gateway",
            mode,
            "p99 ms",
            median(&d99),
            Some((median(&t99), "{ __typename }")),
            "<= 5.0",
            format!(
                "Open loop at {rate:.0} requests/s (half the lower closed-loop rate), latency from when each request was due; median of {} runs \
                 (dashboard {}, `{{ __typename }}` {} ms). {}",
                settings.runs,
                ms_list(&d99),
                ms_list(&t99),
                tail_shape(median(&d50), median(&d99), median(&t50), median(&t99)),
            ),
        )
        .runs(settings.runs),
        Row::measured(
            "gateway",
            mode,
            "backend calls/request",
            per_request,
            None,
            "",
            format!(
                "Per dashboard request, from the answer's `extensions.backendCalls` (one per service and kind of lookup, whatever the page holds: {kinds}). \
                 `/metrics` agrees within background work: `keel_grpc_requests_total` rose by {metered:.1} per request over {sample} requests."
            ),
        )
        .runs(1),
        Row::measured(
            "memory",
            mode,
            "idle RSS MiB",
            idle_rss,
            None,
            "<= 150",
            format!("VmRSS of `keel up --demo` with {projects} projects, 2 s after setting them up, before any load."),
        )
        .runs(1),
        Row::measured(
            "memory",
            mode,
            "RSS under load MiB",
            load_rss.max(hwm),
            None,
            "<= 400",
            format!(
                "The higher of VmHWM and the VmRSS sampled every 200 ms during the dashboard loads ({} clients closed loop, then the open loop).",
                settings.concurrency
            ),
        )
        .runs(settings.runs),
        Row::measured(
            "start-up",
            mode,
            "ready s",
            median(&ready),
            None,
            "< 2",
            format!(
                "From launch to `/readyz` answering 200, `keel up --demo` on the data directory the gateway run left; runs: {}. The HTTP port first answered (any status) after {} s: until then Keel opens its stores and checks their migrations before it listens; from then to ready it waits on the backends' health.",
                ready.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", "),
                listening
                    .iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .runs(settings.runs),
    ];
    for row in &mut rows {
        if row.keel.is_some_and(|k| !k.is_finite()) {
            *row = Row::not_run(
                &row.figure,
                mode,
                &row.metric,
                &row.goal,
                "no finite figure measured".into(),
            );
        }
    }
    Ok(rows)
}

/// Milliseconds for a note, e.g. `[53.2, 49.8, 60.1]`.
fn ms_list(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    format!("[{}]", parts.join(", "))
}

/// What the p99 ratio is made of: whether the dashboard's tail (p99 over p50) is longer than
/// the trivial query's, or its p99 ratio just carries its p50 ratio.
fn tail_shape(d50: f64, d99: f64, t50: f64, t99: f64) -> String {
    let dashboard = d99 / d50.max(f64::EPSILON);
    let trivial = t99 / t50.max(f64::EPSILON);
    let p50_ratio = d50 / t50.max(f64::EPSILON);
    if dashboard <= trivial * 1.2 {
        format!(
            "The dashboard's p99 is {dashboard:.2}x its own p50, the trivial query's {trivial:.2}x: its tail is no longer than the \
             trivial query's, so its p99 ratio carries its p50 ratio ({p50_ratio:.2}x), the time of its backend calls (the requests/s row)."
        )
    } else {
        format!(
            "The dashboard's p99 is {dashboard:.2}x its own p50, the trivial query's {trivial:.2}x: its tail is longer, requests \
             queueing behind others' backend calls on the one core Keel has, on top of its p50 ratio ({p50_ratio:.2}x)."
        )
    }
}
