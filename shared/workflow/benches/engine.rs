//! Figure 4 of the performance page: durable workflow steps per second (a trivial three-step
//! workflow, several engine replicas claiming from one store) against `pgbench -n -f
//! insert.sql` (one single-row INSERT commit per transaction) at the same concurrency on the
//! same PostgreSQL, both under the server's `synchronous_commit` (reported); and a three-step
//! instance's p50 latency from start to DONE against one INSERT commit's p50, timed on Keel's
//! own pool. The same figures on the embedded SQLite store beside them, against the same
//! PostgreSQL baselines.
//!
//! Median of 3 runs after a warm-up. `KEEL_BENCH_SMOKE=1` runs tiny counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keel_core::Error;
use keel_store::bench::{Goal, Row, Scratch, Statements, fail, median, pgbench_tps, quantile_ms, smoke};
use keel_store::{StoreOptions, connect};
use keel_workflow::{Engine, EngineOptions, Status, StepContext, StepDef, StepOutcome, Workflow};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::json;

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_workflow::migrations::workflow());
        all
    }
}

const KIND: &str = "bench-three-steps";
const STEPS: [StepDef; 3] = [StepDef::new("first"), StepDef::new("second"), StepDef::new("third")];

/// Three steps that each journal a small result and call nothing: what is measured is the
/// engine's own durable work (claim, journal, move on).
struct ThreeSteps;

#[async_trait]
impl Workflow for ThreeSteps {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &STEPS
    }

    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        Ok(StepOutcome::Done(json!({ "step": cx.step, "attempt": cx.attempt })))
    }
}

struct Settings {
    workers: usize,
    per_worker: usize,
    instances: usize,
    latency_samples: usize,
    commit_samples: usize,
    pgbench_secs: u64,
    runs: usize,
}

fn settings() -> Settings {
    if smoke() {
        Settings {
            workers: 2,
            per_worker: 2,
            instances: 20,
            latency_samples: 5,
            commit_samples: 10,
            pgbench_secs: 1,
            runs: 1,
        }
    } else {
        Settings {
            workers: 4,
            per_worker: 2,
            instances: 1000,
            latency_samples: 100,
            commit_samples: 300,
            pgbench_secs: 10,
            runs: 3,
        }
    }
}

fn engine(db: &DatabaseConnection, owner: String, concurrency: usize) -> Engine {
    Engine::new(
        db.clone(),
        vec![Arc::new(ThreeSteps)],
        EngineOptions {
            owner,
            lease: Duration::from_secs(30),
            batch: 16,
            poll_interval: Duration::from_millis(5),
        },
    )
    .with_concurrency(concurrency)
}

async fn done(engine: &Engine) -> u64 {
    engine
        .counts()
        .await
        .unwrap_or_else(|e| fail(format!("counts: {e}")))
        .into_iter()
        .filter(|(s, _)| *s == Status::Done)
        .map(|(_, n)| n)
        .sum()
}

/// Starts `n` instances, then times `workers` replicas draining them: durable steps per second.
async fn throughput(db: &DatabaseConnection, s: &Settings, n: usize) -> f64 {
    let engines: Vec<Engine> = (0..s.workers)
        .map(|w| {
            engine(
                db,
                format!("bench-worker-{w}-{}", uuid::Uuid::new_v4().simple()),
                s.per_worker,
            )
        })
        .collect();
    let before = done(&engines[0]).await;
    for _ in 0..n {
        engines[0]
            .start(KIND, &uuid::Uuid::new_v4().to_string(), json!({}), json!({}), "bench")
            .await
            .unwrap_or_else(|e| fail(format!("start: {e}")));
    }
    let began = Instant::now();
    loop {
        let tasks: Vec<_> = engines
            .iter()
            .cloned()
            .map(|e| tokio::spawn(async move { e.drain().await }))
            .collect();
        for task in tasks {
            task.await
                .unwrap_or_else(|e| fail(format!("worker: {e}")))
                .unwrap_or_else(|e| fail(format!("drain: {e}")));
        }
        if done(&engines[0]).await - before >= n as u64 {
            break;
        }
    }
    (n * STEPS.len()) as f64 / began.elapsed().as_secs_f64()
}

/// Transactions committed so far in the database of `db` (PostgreSQL's statistics, fed when
/// a backend goes idle, at most once a second: callers wait before reading a difference).
async fn commits(db: &DatabaseConnection) -> f64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await
        .unwrap_or_else(|e| fail(format!("pg_stat_database: {e}")))
        .unwrap_or_else(|| fail("pg_stat_database has no row for this database"));
    row.try_get_by_index::<f64>(0)
        .unwrap_or_else(|e| fail(format!("xact_commit: {e}")))
}

/// Commits per three-step instance on PostgreSQL, start to DONE, one instance at a time:
/// what the latency is made of. Counts every session of the database, so read it on an
/// otherwise idle database.
async fn commits_per_instance(db: &DatabaseConnection, samples: usize) -> f64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = commits(db).await;
    instance_latency(db, samples).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The two reads of the statistics are transactions of their own.
    (commits(db).await - before - 1.0) / samples.max(1) as f64
}

/// Start to DONE of one three-step instance at a time, on one replica: p50 in ms.
async fn instance_latency(db: &DatabaseConnection, samples: usize) -> f64 {
    let engine = engine(db, format!("bench-latency-{}", uuid::Uuid::new_v4().simple()), 1);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let began = Instant::now();
        let started = engine
            .start(KIND, &uuid::Uuid::new_v4().to_string(), json!({}), json!({}), "bench")
            .await
            .unwrap_or_else(|e| fail(format!("start: {e}")));
        engine.drain().await.unwrap_or_else(|e| fail(format!("drain: {e}")));
        times.push(began.elapsed());
        let view = engine
            .instance(started.id)
            .await
            .unwrap_or_else(|e| fail(format!("instance: {e}")));
        if view.status != Status::Done {
            fail(format!("instance {} is {:?}, not DONE", started.id, view.status));
        }
    }
    quantile_ms(&times, 0.5)
}

/// What the statements of `samples` three-step instances were, run one at a time as
/// [`instance_latency`] runs them.
async fn statement_profile(db: &DatabaseConnection, samples: usize) -> String {
    let (counted, statements) = Statements::counting(db);
    instance_latency(&counted, samples).await;
    statements.summary(samples, "instance")
}

/// One single-row INSERT commit at a time on `db` (BEGIN, INSERT, COMMIT): p50 in ms.
async fn commit_latency(db: &DatabaseConnection, table: &str, samples: usize) -> f64 {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let began = Instant::now();
        let txn = db.begin().await.unwrap_or_else(|e| fail(format!("begin: {e}")));
        txn.execute_unprepared(&format!("INSERT INTO {table} (payload) VALUES ('x')"))
            .await
            .unwrap_or_else(|e| fail(format!("insert: {e}")));
        txn.commit().await.unwrap_or_else(|e| fail(format!("commit: {e}")));
        times.push(began.elapsed());
    }
    quantile_ms(&times, 0.5)
}

async fn store(options: &StoreOptions) -> DatabaseConnection {
    let db = connect(options).await.unwrap_or_else(|e| fail(format!("store: {e}")));
    Migrator::up(&db, None)
        .await
        .unwrap_or_else(|e| fail(format!("migrate: {e}")));
    db
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("runtime: {e}")));
    runtime.block_on(run());
}

async fn run() {
    let s = settings();
    let scratch = Scratch::connect().await;
    let pool = (s.workers * s.per_worker) as u32;
    let pg = store(&scratch.options("workflow", pool)).await;
    let dir = keel_store::testing::TempDir::new();
    let lite = store(&StoreOptions {
        backend: keel_store::Backend::Sqlite {
            path: dir.path().join("workflow.db"),
        },
        max_connections: pool,
    })
    .await;
    let sync_commit = Scratch::show(&pg, "synchronous_commit").await;

    let baseline_schema = scratch.schema("commits").await;
    scratch
        .execute(&format!(
            "CREATE TABLE \"{baseline_schema}\".bench_commit (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)"
        ))
        .await;
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, "INSERT INTO bench_commit (payload) VALUES ('x');\n")
        .unwrap_or_else(|e| fail(format!("insert.sql: {e}")));
    let script = script.display().to_string();
    let c = (s.workers * s.per_worker).to_string();
    let secs = s.pgbench_secs.to_string();
    let pgbench_args = [
        "-n",
        "-f",
        script.as_str(),
        "-c",
        c.as_str(),
        "-j",
        c.as_str(),
        "-T",
        secs.as_str(),
    ];

    // Warm up every side.
    let warm = (s.instances / 10).max(5);
    throughput(&pg, &s, warm).await;
    throughput(&lite, &s, warm).await;
    scratch.pgbench(
        &baseline_schema,
        None,
        &["-n", "-f", &script, "-c", &c, "-j", &c, "-T", "1"],
    );

    let (mut keel_pg, mut keel_lite, mut base) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lat_pg, mut lat_lite, mut commit) = (Vec::new(), Vec::new(), Vec::new());
    let table = format!("\"{baseline_schema}\".bench_commit");
    for _ in 0..s.runs {
        keel_pg.push(throughput(&pg, &s, s.instances).await);
        keel_lite.push(throughput(&lite, &s, s.instances).await);
        base.push(pgbench_tps(&scratch.pgbench(&baseline_schema, None, &pgbench_args)));
        lat_pg.push(instance_latency(&pg, s.latency_samples).await);
        lat_lite.push(instance_latency(&lite, s.latency_samples).await);
        commit.push(commit_latency(&pg, &table, s.commit_samples).await);
    }

    let per_instance = commits_per_instance(&pg, s.latency_samples).await;
    let statements_pg = statement_profile(&pg, s.latency_samples).await;
    let statements_lite = statement_profile(&lite, s.latency_samples).await;
    let baseline = median(&base);
    let baseline_name = format!("pgbench -n -f insert.sql -c {c} -j {c} (synchronous_commit {sync_commit})");
    let shape = format!(
        "{} workers x {} concurrent instances each, {} three-step instances per run ({} steps), median of {}; \
         synchronous_commit {sync_commit} on Keel's connections and pgbench's",
        s.workers,
        s.per_worker,
        s.instances,
        s.instances * STEPS.len(),
        s.runs
    );
    Row::new(
        "workflow-steps",
        "postgres",
        "steps/s",
        median(&keel_pg),
        baseline,
        &baseline_name,
        Goal::AtLeast(0.3),
    )
    .runs(s.runs)
    .notes(format!(
        "{shape}; runs {keel_pg:?} steps/s, pgbench {base:?} tps; a replica claims a batch, then runs each \
             instance's steps back to back under its lease, each step one transaction that journals it, moves \
             the instance on and audits it"
    ))
    .print();
    Row::new(
        "workflow-steps",
        "sqlite",
        "steps/s",
        median(&keel_lite),
        baseline,
        &baseline_name,
        Goal::AtLeast(0.3),
    )
    .runs(s.runs)
    .notes(format!(
        "embedded SQLite store (WAL, synchronous NORMAL, one writer at a time); baseline is the PostgreSQL \
             pgbench; {shape}; runs {keel_lite:?} steps/s"
    ))
    .print();
    let commit_p50 = median(&commit);
    let commit_name = "p50 of one BEGIN; INSERT; COMMIT on Keel's PostgreSQL pool";
    let latency_notes = |runs: &Vec<f64>, statements: &str| {
        format!(
            "three-step instance, start to DONE on one replica (the start's commit, a claim, one commit per \
             step, and the round that finds nothing left due), {} samples per run, median of {} runs {runs:?} ms; \
             commit p50 runs {commit:?} ms, synchronous_commit {sync_commit}; measured on PostgreSQL: \
             {per_instance:.1} commits per instance (pg_stat_database xact_commit; reads outside a transaction \
             count too), each a WAL flush: the floor under this latency is that many commits' time; on this \
             store, {statements}",
            s.latency_samples, s.runs
        )
    };
    Row::new(
        "workflow-latency",
        "postgres",
        "p50 ms",
        median(&lat_pg),
        commit_p50,
        commit_name,
        Goal::AtMost(3.0),
    )
    .runs(s.runs)
    .notes(latency_notes(&lat_pg, &statements_pg))
    .print();
    Row::new(
        "workflow-latency",
        "sqlite",
        "p50 ms",
        median(&lat_lite),
        commit_p50,
        commit_name,
        Goal::AtMost(3.0),
    )
    .runs(s.runs)
    .notes(format!(
        "embedded SQLite store; baseline is the PostgreSQL commit; {}",
        latency_notes(&lat_lite, &statements_lite)
    ))
    .print();
    scratch.drop_all().await;
}
