//! Figure 3 of the performance page: N time entries validated, persisted and posted through
//! Keel's real time-capture path, against a raw `COPY` of the same rows into a table of the
//! same shape; and this process's resident memory at 10,000 and at 100,000 entries.
//!
//! The path is the product's: each person records their own time through time capture's
//! `RecordTime` (every time-policy rule checked against PSA, then the entry recorded in PSA),
//! submits it with `SubmitTime` (100 a call), their project manager approves each entry with
//! `ApproveTime`, finance posts them with `PostApprovedTime` (100 a call) and the
//! `time-posting` workflow posts each to the ERP ledger (reading the person's cost rate from
//! HRIS) and marks it posted in PSA. PSA, ERP and HRIS are the reference adapters served by
//! real tonic servers on loopback behind the authentication layer. Entries go in batches of
//! 10,000, which is also when memory is read.
//!
//! The baseline copies exactly the `time_entries` rows Keel wrote (exported to CSV first,
//! untimed) into `CREATE TABLE .. (LIKE psa.time_entries INCLUDING ALL)` with
//! `psql -c "\copy .. FROM .. CSV"`, timed, median of 3. `KEEL_BENCH_SMOKE=1` runs tiny counts;
//! `KEEL_BENCH_TIME_ENTRIES`, `KEEL_BENCH_TIME_BATCH` and `KEEL_BENCH_TIME_RUNS` change the full run's
//! entries (100,000), batch (10,000) and runs (3). `KEEL_BENCH_TIME_BACKENDS` (`postgres,sqlite`)
//! measures one backend alone, so that a long run can be split: `sqlite` alone copies the
//! SQLite run's `time_entries` rows into PostgreSQL first (untimed) and baselines them the same
//! way. To look into memory, `KEEL_BENCH_TIME_CONNECTIONS` changes each store's pool (10).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Weekday};
use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES};
use keel_proto::common::Money;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{CreateLegalEntityRequest, CreateProjectCodeRequest};
use keel_proto::hris::CreateEmployeeRequest;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::CreateAssignmentRequest;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use keel_proto::timecapture::{
    ApproveTimeRequest, PostApprovedTimeRequest, ProposedTimeEntry, RecordTimeRequest, SubmitTimeRequest,
};
use keel_store::bench::{Goal, Resident, Row, Scratch, count, fail, median, resident, smoke};
use keel_store::{Backend, StoreOptions, connect};
use keel_time_capture::{Downstream, Migrator, TimeCaptureGrpcService, TimePolicy, TimePosting};
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Retries of a posting step: quick, and never exhausted by a busy machine.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(50),
    factor: 2.0,
    max_delay: Duration::from_secs(1),
    max_attempts: 100,
};
const KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";
/// Half-hour entries, 19 a weekday (9.5 hours, under the 10-hour day and 50-hour week).
const HOURS: &str = "0.5";
const PER_DAY: usize = 19;

struct Settings {
    entries: usize,
    batch: usize,
    concurrency: usize,
    workers: usize,
    runs: usize,
    /// Connections of each store's pool.
    connections: u32,
    /// Whether to measure on PostgreSQL.
    postgres: bool,
    /// Whether to measure on SQLite.
    sqlite: bool,
}

fn settings() -> Settings {
    let (postgres, sqlite) = backends();
    if smoke() {
        Settings {
            entries: 20,
            batch: 10,
            concurrency: 4,
            workers: 2,
            runs: 1,
            connections: STORE_CONNECTIONS,
            postgres,
            sqlite,
        }
    } else {
        Settings {
            entries: count("KEEL_BENCH_TIME_ENTRIES", 100_000),
            batch: count("KEEL_BENCH_TIME_BATCH", 10_000),
            concurrency: 8,
            workers: 2,
            runs: count("KEEL_BENCH_TIME_RUNS", 3),
            connections: count("KEEL_BENCH_TIME_CONNECTIONS", STORE_CONNECTIONS as usize) as u32,
            postgres,
            sqlite,
        }
    }
}

/// `KEEL_BENCH_TIME_BACKENDS`: a comma-separated list of `postgres` and `sqlite`, both unless
/// set; whether to measure on each.
fn backends() -> (bool, bool) {
    let Ok(value) = std::env::var("KEEL_BENCH_TIME_BACKENDS") else {
        return (true, true);
    };
    let (mut postgres, mut sqlite) = (false, false);
    for word in value.split(',').map(str::trim) {
        match word {
            "postgres" => postgres = true,
            "sqlite" => sqlite = true,
            other => fail(format!(
                "KEEL_BENCH_TIME_BACKENDS names {other:?}: it takes `postgres`, `sqlite` or both, comma-separated"
            )),
        }
    }
    (postgres, sqlite)
}

impl Settings {
    /// Entries the whole measurement takes through the path: the warm-up and every run.
    fn processed(&self) -> usize {
        (self.batch / 10).max(10) + self.runs * self.entries
    }
}

/// Where the PostgreSQL run's writes went: rows inserted, updated and deleted per entry in
/// each service's store, from `pg_stat_user_tables` of this run's own schemas (other users of
/// the database do not count), e.g. `time_capture 14.0, psa 5.0`.
async fn rows_written_per_entry(db: &DatabaseConnection, prefix: &str, entries: usize) -> String {
    // The statistics collector is fed when a backend goes idle, at most once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    per_entry(
        db,
        prefix,
        entries,
        "schemaname::text, SUM(n_tup_ins + n_tup_upd + n_tup_del)::float8",
        "GROUP BY schemaname ORDER BY 2 DESC",
    )
    .await
    .join(", ")
}

/// Where the PostgreSQL run read rows by sequential scan: rows per entry by table, the
/// largest first, e.g. `erp.journals 812.4`. A table whose figure grows with the entries is
/// scanned whole by some statement of the path: the cause when posting slows batch by batch.
async fn rows_scanned_per_entry(db: &DatabaseConnection, prefix: &str, entries: usize) -> String {
    let parts = per_entry(
        db,
        prefix,
        entries,
        "schemaname::text || '.' || relname::text, seq_tup_read::float8",
        "AND seq_tup_read > 0 ORDER BY 2 DESC LIMIT 6",
    )
    .await;
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// `name count` per entry for each row of `SELECT {name_and_count} FROM pg_stat_user_tables`
/// over this run's schemas, the schema prefix left out of the name.
async fn per_entry(
    db: &DatabaseConnection,
    prefix: &str,
    entries: usize,
    name_and_count: &str,
    rest: &str,
) -> Vec<String> {
    let sql = format!("SELECT {name_and_count} FROM pg_stat_user_tables WHERE schemaname LIKE '{prefix}%' {rest}");
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| fail(format!("pg_stat_user_tables: {e}")));
    rows.iter()
        .filter_map(|row| {
            let name = row.try_get_by_index::<String>(0).ok()?;
            let count = row.try_get_by_index::<f64>(1).ok()?;
            Some(format!(
                "{} {:.1}",
                name.trim_start_matches(prefix),
                count / entries.max(1) as f64
            ))
        })
        .collect()
}

/// Connections of each store's pool, unless `KEEL_BENCH_TIME_CONNECTIONS` says otherwise.
const STORE_CONNECTIONS: u32 = 10;

/// The most one SQLite connection's page cache holds, KiB (`PRAGMA cache_size`: negative is KiB,
/// positive is pages of 4 KiB).
async fn sqlite_cache_kib(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA cache_size",
        ))
        .await
        .unwrap_or_else(|e| fail(format!("PRAGMA cache_size: {e}")))
        .unwrap_or_else(|| fail("PRAGMA cache_size answered no row"));
    let size = row
        .try_get_by_index::<i64>(0)
        .unwrap_or_else(|e| fail(format!("cache_size: {e}")));
    if size < 0 { -size } else { size * 4 }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 21).unwrap_or_default()
}

/// The weekdays of December 2026 up to the 18th.
fn working_days() -> Vec<NaiveDate> {
    (1..=18)
        .filter_map(|d| NaiveDate::from_ymd_opt(2026, 12, d))
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect()
}

async fn migrated<M: MigratorTrait>(options: &StoreOptions) -> DatabaseConnection {
    let db = connect(options).await.unwrap_or_else(|e| fail(format!("store: {e}")));
    M::up(&db, None).await.unwrap_or_else(|e| fail(format!("migrate: {e}")));
    db
}

/// Time capture over PSA, ERP and HRIS, one staffed project, its manager.
struct Platform {
    psa: Harness,
    psa_db: DatabaseConnection,
    project_id: String,
    legal_entity: String,
    manager: String,
    hris: Harness,
    engine: Engine,
    downstream: Downstream,
    service: Harness,
}

async fn platform(store: &dyn Fn(&str) -> StoreOptions) -> Platform {
    let psa_db = migrated::<keel_psa::reference::Migrator>(&store("psa")).await;
    let psa_ctx = keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(
        psa_db.clone(),
        Arc::new(Notify::new()),
    )))
    .await;
    let staffed = psa_ctx
        .staffed()
        .await
        .unwrap_or_else(|e| fail(format!("staffed project: {e}")));
    let psa = psa_ctx.harness;

    let erp_db = migrated::<keel_erp::reference::Migrator>(&store("erp")).await;
    let erp = Harness::serve(
        keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(erp_db, Arc::new(Notify::new()))))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .await;
    let legal_entity = format!(
        "KEEL-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
    );
    let mut erp_client = ErpServiceClient::new(erp.channel());
    erp_client
        .create_legal_entity(erp.service(CreateLegalEntityRequest {
            idempotency_key: format!("le-{legal_entity}"),
            code: legal_entity.clone(),
            name: "Keel Consulting Ltd".into(),
            functional_currency: "EUR".into(),
            country: "GB".into(),
        }))
        .await
        .unwrap_or_else(|e| fail(format!("legal entity: {e}")));
    erp_client
        .create_project_code(erp.service(CreateProjectCodeRequest {
            idempotency_key: format!("pc-{}", staffed.project.id),
            project_id: staffed.project.id.clone(),
            name: "Benchmark rollout".into(),
            legal_entity: legal_entity.clone(),
            currency: "EUR".into(),
        }))
        .await
        .unwrap_or_else(|e| fail(format!("project code: {e}")));

    let hris_db = migrated::<keel_hris::reference::Migrator>(&store("hris")).await;
    let hris = Harness::serve(
        keel_hris::service::server(Arc::new(keel_hris::ReferenceHris::new(
            hris_db,
            Arc::new(Notify::new()),
        )))
        .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .await;

    let manager = uuid::Uuid::now_v7().to_string();
    PsaServiceClient::new(psa.channel())
        .create_assignment(psa.service(CreateAssignmentRequest {
            idempotency_key: format!("assign-{manager}"),
            project_id: staffed.project.id.clone(),
            employee_id: manager.clone(),
            person_name: "Grace Hopper".into(),
            role: "project-manager".into(),
            bill_role: String::new(),
            start_date: "2026-12-01".into(),
            end_date: "2026-12-31".into(),
            allocation_percent: "20".into(),
        }))
        .await
        .unwrap_or_else(|e| fail(format!("manager assignment: {e}")));

    let db = migrated::<Migrator>(&store("time-capture")).await;
    let credentials = ServiceCredentials::minted(
        LocalKey::from_bytes(KEY.to_vec()).unwrap_or_else(|e| fail(format!("key: {e}"))),
        "keel-conformance",
        "keel",
        keel_time_capture::SERVICE_NAME,
    );
    let downstream = Downstream::new(
        psa.channel(),
        erp.channel(),
        hris.channel(),
        credentials,
        Duration::from_secs(30),
    );
    let engine = Engine::new(
        db,
        vec![Arc::new(TimePosting::with_retry(downstream.clone(), RETRY))],
        EngineOptions {
            owner: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(60),
            batch: 64,
            poll_interval: Duration::from_millis(10),
        },
    );
    let service = Harness::serve(
        TimeCaptureGrpcService::new(engine.clone(), downstream.clone(), TimePolicy::default())
            .with_today(today)
            .into_server(),
    )
    .await;
    // Keep ERP's server alive as long as the platform: leak its harness into a task.
    tokio::spawn(async move {
        let _erp = erp;
        std::future::pending::<()>().await;
    });
    Platform {
        psa,
        psa_db,
        project_id: staffed.project.id,
        legal_entity,
        manager,
        hris,
        engine,
        downstream,
        service,
    }
}

impl Platform {
    /// A person employed in HRIS and assigned to the project for December.
    async fn person(&self, n: usize) -> String {
        let employee = HrisServiceClient::new(self.hris.channel())
            .create_employee(self.hris.service(CreateEmployeeRequest {
                idempotency_key: format!("emp-{}", uuid::Uuid::new_v4()),
                employee_number: format!("E-{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                name: format!("Consultant {n}"),
                email: format!("consultant{n}@keel.example"),
                legal_entity: self.legal_entity.clone(),
                location: "London".into(),
                region: "emea".into(),
                labor_category: "solution-architect".into(),
                cost_rate: Some(Money {
                    amount: "92.50".into(),
                    currency: "EUR".into(),
                }),
                utilization_target: "0.8".into(),
                weekly_capacity_hours: "40".into(),
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|e| fail(format!("employee: {e}")))
            .into_inner();
        PsaServiceClient::new(self.psa.channel())
            .create_assignment(self.psa.service(CreateAssignmentRequest {
                idempotency_key: format!("assign-{}", employee.id),
                project_id: self.project_id.clone(),
                employee_id: employee.id.clone(),
                person_name: employee.name.clone(),
                role: "solution-architect".into(),
                bill_role: String::new(),
                start_date: "2026-12-01".into(),
                end_date: "2026-12-31".into(),
                allocation_percent: "100".into(),
            }))
            .await
            .unwrap_or_else(|e| fail(format!("assignment: {e}")));
        employee.id
    }

    fn client(&self) -> TimeCaptureServiceClient<tonic::transport::Channel> {
        TimeCaptureServiceClient::new(self.service.channel())
    }

    /// One person's `count` entries recorded (validated) and submitted; answers their ids.
    async fn record_and_submit(&self, person: &str, count: usize) -> Vec<String> {
        let mut client = self.client();
        let days = working_days();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let entry = client
                .record_time(self.service.request_as(
                    person,
                    Role::Consultant,
                    RecordTimeRequest {
                        idempotency_key: format!("rec-{}", uuid::Uuid::new_v4()),
                        entry: Some(ProposedTimeEntry {
                            id: String::new(),
                            project_id: self.project_id.clone(),
                            employee_id: person.to_string(),
                            date: days[(i / PER_DAY) % days.len()].to_string(),
                            hours: HOURS.into(),
                            narrative: format!("Ledger migration workshop, part {i}"),
                            billable: true,
                            labor_category: String::new(),
                        }),
                        task: String::new(),
                    },
                ))
                .await
                .unwrap_or_else(|e| fail(format!("RecordTime: {e}")))
                .into_inner();
            ids.push(entry.id);
        }
        for chunk in ids.chunks(100) {
            client
                .submit_time(self.service.request_as(
                    person,
                    Role::Consultant,
                    SubmitTimeRequest {
                        idempotency_key: format!("submit-{}", uuid::Uuid::new_v4()),
                        time_entry_ids: chunk.to_vec(),
                    },
                ))
                .await
                .unwrap_or_else(|e| fail(format!("SubmitTime: {e}")));
        }
        ids
    }

    async fn approve(&self, ids: &[String]) {
        let mut client = self.client();
        for id in ids {
            client
                .approve_time(self.service.request_as(
                    &self.manager,
                    Role::ProjectManager,
                    ApproveTimeRequest {
                        idempotency_key: format!("approve-{id}"),
                        time_entry_id: id.clone(),
                    },
                ))
                .await
                .unwrap_or_else(|e| fail(format!("ApproveTime: {e}")));
        }
    }

    async fn post(&self, ids: &[String]) {
        let mut client = self.client();
        for chunk in ids.chunks(100) {
            client
                .post_approved_time(self.service.request_as(
                    "finance",
                    Role::Finance,
                    PostApprovedTimeRequest {
                        time_entry_ids: chunk.to_vec(),
                    },
                ))
                .await
                .unwrap_or_else(|e| fail(format!("PostApprovedTime: {e}")));
        }
    }

    /// Posting instances not finished yet, and those in the exception queue: the statuses
    /// that stay few, read through the `(status, next_run_at)` index, so polling them does not
    /// grow with the instances already done (counting `DONE` would scan them all, every poll).
    async fn unfinished(&self) -> (u64, u64) {
        let backend = self.engine.db().get_database_backend();
        let sql = "SELECT \
             SUM(CASE WHEN status IN ('running', 'compensating', 'awaiting_approval') THEN 1 ELSE 0 END), \
             SUM(CASE WHEN status = 'exception' THEN 1 ELSE 0 END) \
             FROM workflow_instances \
             WHERE status IN ('running', 'compensating', 'awaiting_approval', 'exception')";
        let row = self
            .engine
            .db()
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .unwrap_or_else(|e| fail(format!("unfinished postings: {e}")))
            .unwrap_or_else(|| fail("unfinished postings: no row"));
        let get = |i: usize| row.try_get_by_index::<Option<i64>>(i).ok().flatten().unwrap_or(0) as u64;
        (get(0), get(1))
    }

    async fn count(&self, status: Status) -> u64 {
        self.engine
            .counts()
            .await
            .unwrap_or_else(|e| fail(format!("counts: {e}")))
            .into_iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Seconds per phase and memory, for one run.
#[derive(Debug, Default, Clone)]
struct Phases {
    record: f64,
    approve: f64,
    post: f64,
    /// Seconds each batch's posting took, per entry (ms): whether posting slows as the
    /// stores grow.
    post_per_batch: Vec<f64>,
    /// Memory after each batch: where it grows, which part, and whether it levels off.
    memory: Vec<Resident>,
}

impl Phases {
    /// VmRSS after the first batch, MiB.
    fn rss_first(&self) -> f64 {
        self.memory.first().map_or(0.0, |r| r.total)
    }

    /// VmRSS after the last batch, MiB.
    fn rss_last(&self) -> f64 {
        self.memory.last().map_or(0.0, |r| r.total)
    }

    /// VmRSS after each batch, MiB, to a tenth.
    fn rss_series(&self) -> Vec<f64> {
        self.memory.iter().map(|r| (r.total * 10.0).round() / 10.0).collect()
    }

    /// Anonymous and shared memory and threads after each batch, for the notes.
    fn memory_parts(&self) -> String {
        let series = |part: fn(&Resident) -> f64| {
            self.memory
                .iter()
                .map(|r| format!("{:.1}", part(r)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "of it anonymous (heap and stacks) [{}] MiB, shared (SQLite's WAL index among it) [{}] MiB, \
             file-backed [{}] MiB, threads [{}]",
            series(|r| r.anon),
            series(|r| r.shmem),
            series(|r| r.file),
            self.memory
                .iter()
                .map(|r| r.threads.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Runs `s.entries` entries through the path in batches; answers entries/s and the phases.
async fn capture(p: &Arc<Platform>, s: &Settings, people: &[String], per_person: usize) -> (f64, Phases) {
    let mut phases = Phases::default();
    let began = Instant::now();
    let mut done_people = 0;
    let mut total = 0;
    let posted_before = p.count(Status::Done).await;
    while total < s.entries {
        let want = s.batch.min(s.entries - total);
        let batch_people: Vec<String> = people[done_people..done_people + want.div_ceil(per_person)].to_vec();
        done_people += batch_people.len();

        let t = Instant::now();
        let mut remaining = want;
        let mut jobs = Vec::new();
        for person in batch_people {
            let n = per_person.min(remaining);
            remaining -= n;
            jobs.push((person, n));
        }
        let ids = run_concurrently(s.concurrency, jobs, {
            let p = p.clone();
            move |(person, n)| {
                let p = p.clone();
                async move { p.record_and_submit(&person, n).await }
            }
        })
        .await
        .concat();
        phases.record += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let chunks: Vec<Vec<String>> = ids
            .chunks(ids.len().div_ceil(s.concurrency).max(1))
            .map(<[String]>::to_vec)
            .collect();
        run_concurrently(s.concurrency, chunks, {
            let p = p.clone();
            move |chunk| {
                let p = p.clone();
                async move { p.approve(&chunk).await }
            }
        })
        .await;
        phases.approve += t.elapsed().as_secs_f64();

        let t = Instant::now();
        // PostApprovedTime starts every instance before it answers: the batch is posted when
        // none is left unfinished.
        p.post(&ids).await;
        loop {
            let (unfinished, stuck) = p.unfinished().await;
            if stuck > 0 {
                fail(format!("{stuck} postings went to the exception queue"));
            }
            if unfinished == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let posting = t.elapsed().as_secs_f64();
        phases.post += posting;
        phases
            .post_per_batch
            .push((posting * 10_000.0 / want.max(1) as f64).round() / 10.0);
        total += want;
        phases.memory.push(resident());
    }
    let rate = total as f64 / began.elapsed().as_secs_f64();
    let posted = p.count(Status::Done).await - posted_before;
    if posted != total as u64 {
        fail(format!("{posted} postings done, not {total}"));
    }
    (rate, phases)
}

async fn run_concurrently<J, F, Fut, T>(concurrency: usize, jobs: Vec<J>, f: F) -> Vec<T>
where
    J: Send + 'static,
    F: Fn(J) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for job in jobs {
        let permit = semaphore.clone().acquire_owned().await.unwrap_or_else(|e| fail(e));
        let fut = f(job);
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.unwrap_or_else(|e| fail(format!("task: {e}"))));
    }
    out
}

/// Starts `n` posting replicas over the platform's store, each with its own lease owner.
fn workers(p: &Platform, n: usize, shutdown: &CancellationToken) {
    for w in 0..n {
        let replica = Engine::new(
            p.engine.db().clone(),
            vec![Arc::new(TimePosting::with_retry(p.downstream.clone(), RETRY))],
            EngineOptions {
                owner: format!("{}-{w}", p.engine.options().owner),
                ..p.engine.options().clone()
            },
        );
        tokio::spawn(replica.run(shutdown.clone()));
    }
}

fn psql(url: &str, command: &str) {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", command])
        .output()
        .unwrap_or_else(|e| fail(format!("cannot run psql (Debian package postgresql-client): {e}")));
    if !output.status.success() {
        fail(format!(
            "psql -c {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

async fn measure(s: &Settings, store: &dyn Fn(&str) -> StoreOptions) -> (Vec<f64>, Phases, DatabaseConnection) {
    let p = Arc::new(platform(store).await);
    let per_person = PER_DAY * working_days().len();
    let warm_entries = (s.batch / 10).max(10);
    let warm_people = warm_entries.div_ceil(per_person);
    let per_run = s.entries.div_ceil(per_person) + s.entries.div_ceil(s.batch);
    let people_needed = warm_people + s.runs * per_run;
    let people: Vec<String> = run_concurrently(s.concurrency, (0..people_needed).collect(), {
        let p = p.clone();
        move |n| {
            let p = p.clone();
            async move { p.person(n).await }
        }
    })
    .await;
    let shutdown = CancellationToken::new();
    workers(&p, s.workers, &shutdown);
    // Warm up with a small batch of its own people.
    let warm = Settings {
        entries: warm_entries,
        batch: s.batch,
        concurrency: s.concurrency,
        workers: s.workers,
        runs: 1,
        connections: s.connections,
        postgres: s.postgres,
        sqlite: s.sqlite,
    };
    capture(&p, &warm, &people[..warm_people], per_person).await;
    let mut rates = Vec::new();
    let mut phases = Phases::default();
    let mut offset = warm_people;
    for _ in 0..s.runs {
        let (rate, ph) = capture(&p, s, &people[offset..offset + per_run], per_person).await;
        offset += per_run;
        if rates.is_empty() {
            // The first run's: its memory is read in a process that has done nothing else.
            phases = ph;
        }
        rates.push(rate);
    }
    shutdown.cancel();
    (rates, phases, p.psa_db.clone())
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
    let dir = keel_store::testing::TempDir::new();
    let connections = s.connections;

    let lite_path = dir.path().to_path_buf();
    let lite_store = move |service: &str| StoreOptions {
        backend: Backend::Sqlite {
            path: lite_path.join(format!("{service}.db")),
        },
        max_connections: connections,
    };
    // The baseline is a PostgreSQL COPY whichever backends are measured.
    let scratch = Scratch::connect().await;
    let pg_store = |service: &str| scratch.options(service, connections);
    let pg = if s.postgres {
        let (rates, phases, db) = measure(&s, &pg_store).await;
        let writes = rows_written_per_entry(&db, &scratch.prefix, s.processed()).await;
        let scans = rows_scanned_per_entry(&db, &scratch.prefix, s.processed()).await;
        Some((rates, phases, writes, scans))
    } else {
        None
    };
    let lite = if s.sqlite {
        let (rates, phases, db) = measure(&s, &lite_store).await;
        let cache_kib = sqlite_cache_kib(&db).await;
        Some((rates, phases, db, cache_kib))
    } else {
        None
    };

    // The baseline: the same time_entries rows, copied raw into a table of the same shape.
    let psa_schema = format!("{}psa", scratch.prefix);
    let copy_schema = scratch.schema("copy").await;
    let source = match (&pg, &lite) {
        (Some(_), _) => format!("\"{psa_schema}\".time_entries"),
        (None, Some((_, _, lite_db, _))) => {
            // The SQLite run's rows, moved into PostgreSQL (untimed) to be copied the same way.
            migrated::<keel_psa::reference::Migrator>(&pg_store("psa")).await;
            let source = format!("\"{copy_schema}\".source");
            scratch
                .execute(&format!(
                    "CREATE TABLE {source} (LIKE \"{psa_schema}\".time_entries INCLUDING ALL)"
                ))
                .await;
            let exported = dir.path().join("sqlite_time_entries.csv");
            export_sqlite_time_entries(lite_db, s.entries, &exported).await;
            psql(
                &scratch.url,
                &format!(
                    "\\copy {source} FROM '{}' WITH (FORMAT csv, NULL '{SQLITE_NULL}')",
                    exported.display()
                ),
            );
            source
        }
        (None, None) => fail("KEEL_BENCH_TIME_BACKENDS names no backend"),
    };
    scratch
        .execute(&format!(
            "CREATE TABLE \"{copy_schema}\".time_entries (LIKE \"{psa_schema}\".time_entries INCLUDING ALL)"
        ))
        .await;
    let csv = dir.path().join("time_entries.csv");
    let csv_path = csv.display().to_string();
    psql(
        &scratch.url,
        &format!(
            "\\copy (SELECT * FROM {source} ORDER BY created_at LIMIT {}) TO '{csv_path}' CSV",
            s.entries
        ),
    );
    let rows = std::fs::read_to_string(&csv).map(|t| t.lines().count()).unwrap_or(0);
    if rows < s.entries {
        fail(format!("only {rows} time entry rows to copy, not {}", s.entries));
    }
    let mut copies = Vec::new();
    for run in 0..4 {
        scratch
            .execute(&format!("TRUNCATE \"{copy_schema}\".time_entries"))
            .await;
        let began = Instant::now();
        psql(
            &scratch.url,
            &format!("\\copy \"{copy_schema}\".time_entries FROM '{csv_path}' CSV"),
        );
        let rate = rows as f64 / began.elapsed().as_secs_f64();
        if run > 0 {
            copies.push(rate); // the first is the warm-up
        }
    }
    let baseline = median(&copies);
    let baseline_name =
        "psql \\copy of the same time_entries rows (CSV) into a table LIKE psa.time_entries INCLUDING ALL";
    let per_entry_ms = |seconds: f64| seconds * 1000.0 / s.entries.max(1) as f64;
    let shape = |phases: &Phases| {
        format!(
            "{} entries in batches of {}, {} people x 266 half-hour entries, concurrency {}, {} posting replicas; \
             phases of the first run: record+validate+submit {:.1} s ({:.2} ms an entry), approve {:.1} s \
             ({:.2} ms), post to ERP {:.1} s ({:.2} ms; by batch {:?} ms an entry); VmRSS {:.1} MiB after the first batch, {:.1} MiB at the \
             end, after each batch {:?} MiB; {} run(s); COPY runs {copies:?} rows/s",
            s.entries,
            s.batch,
            s.entries.div_ceil(PER_DAY * working_days().len()),
            s.concurrency,
            s.workers,
            phases.record,
            per_entry_ms(phases.record),
            phases.approve,
            per_entry_ms(phases.approve),
            phases.post,
            per_entry_ms(phases.post),
            phases.post_per_batch,
            phases.rss_first(),
            phases.rss_last(),
            phases.rss_series(),
            s.runs
        )
    };
    if let Some((pg_rates, pg_phases, pg_writes, pg_scans)) = &pg {
        Row::new(
            "time-capture",
            "postgres",
            "entries/s",
            median(pg_rates),
            baseline,
            baseline_name,
            Goal::AtLeast(0.4),
        )
        .runs(s.runs)
        .notes(format!(
            "RecordTime, SubmitTime, ApproveTime, PostApprovedTime and the time-posting workflow per entry; {}; \
             rows written per entry by store: {pg_writes}; rows read by sequential scan per entry, by table: \
             {pg_scans}; runs {pg_rates:?}. Why the goal is missed: the COPY \
             writes each row once in one transaction; Keel takes each entry through four calls and a four-step \
             workflow, each its own transaction in one to three stores (the row writes above), one entry at a time. \
             Reaching 40% of COPY needs a bulk path (many entries a RecordTime, an ApproveTime, a posting \
             instance), not tuning",
            shape(pg_phases)
        ))
        .print();
    }
    if let Some((lite_rates, lite_phases, _, _)) = &lite {
        let rows_from = if pg.is_some() {
            "the PostgreSQL run's rows"
        } else {
            "the SQLite run's rows, moved into PostgreSQL first (untimed)"
        };
        Row::new(
            "time-capture",
            "sqlite",
            "entries/s",
            median(lite_rates),
            baseline,
            baseline_name,
            Goal::AtLeast(0.4),
        )
        .runs(s.runs)
        .notes(format!(
            "embedded SQLite stores; baseline is the PostgreSQL COPY of {rows_from}; {}; runs {lite_rates:?}",
            shape(lite_phases)
        ))
        .print();
    }
    if let Some((_, pg_phases, _, _)) = &pg {
        memory_row(&s, "postgres", pg_phases, None);
    }
    if let Some((_, lite_phases, _, cache_kib)) = &lite {
        memory_row(&s, "sqlite", lite_phases, Some(*cache_kib));
    }
    scratch.drop_all().await;
}

/// How [`export_sqlite_time_entries`] writes a NULL, for `\copy .. WITH (NULL ..)`.
const SQLITE_NULL: &str = "\\N";

/// The first `entries` `time_entries` rows of a SQLite PSA store, in creation order, as CSV in
/// the table's column order: every value as SQLite's text of it (booleans `0`/`1`, dates and
/// times ISO 8601, which PostgreSQL reads back into its types), NULL as [`SQLITE_NULL`].
async fn export_sqlite_time_entries(db: &DatabaseConnection, entries: usize, path: &std::path::Path) {
    let backend = db.get_database_backend();
    let columns: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, "PRAGMA table_info(time_entries)"))
        .await
        .unwrap_or_else(|e| fail(format!("time_entries columns: {e}")))
        .iter()
        .map(|row| {
            row.try_get::<String>("", "name")
                .unwrap_or_else(|e| fail(format!("time_entries column name: {e}")))
        })
        .collect();
    let select = columns
        .iter()
        .map(|c| format!("CAST(\"{c}\" AS TEXT)"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT {select} FROM time_entries ORDER BY created_at LIMIT {entries}"),
        ))
        .await
        .unwrap_or_else(|e| fail(format!("reading SQLite time_entries: {e}")));
    let mut out = csv::Writer::from_path(path).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    for row in &rows {
        let record: Vec<String> = (0..columns.len())
            .map(|i| {
                row.try_get_by_index::<Option<String>>(i)
                    .unwrap_or_else(|e| fail(format!("time_entries.{}: {e}", columns[i])))
                    .unwrap_or_else(|| SQLITE_NULL.to_string())
            })
            .collect();
        out.write_record(&record)
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    }
    out.flush().unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
}

/// The memory row of one backend: VmRSS after all the entries against after the first batch.
fn memory_row(s: &Settings, mode: &str, phases: &Phases, cache_kib: Option<i64>) {
    let first = s.batch.min(s.entries);
    let stores = 4 * s.connections;
    let cache_bound = cache_kib.map(|cache_kib| {
        format!(
            "; each SQLite connection keeps a page cache of up to {cache_kib} KiB (PRAGMA cache_size), so the 4 stores' \
             {stores} connections may hold {:.0} MiB of pages once their files outgrow it",
            stores as f64 * cache_kib as f64 / 1024.0
        )
    });
    let order = match (s.postgres, s.sqlite) {
        (true, true) => {
            "; the PostgreSQL run comes first in the process, so the SQLite run's figures include what it left"
        }
        (true, false) => "; PostgreSQL alone in the process (KEEL_BENCH_TIME_BACKENDS=postgres)",
        _ => "; SQLite alone in the process (KEEL_BENCH_TIME_BACKENDS=sqlite)",
    };
    Row::new(
        "time-capture-memory",
        mode,
        "RSS MiB",
        phases.rss_last(),
        phases.rss_first(),
        &format!("VmRSS after the first {first} entries"),
        Goal::AtMost(1.1),
    )
    .runs(1)
    .notes(format!(
        "VmRSS of the whole process (time capture, PSA, ERP and HRIS servers and the load) after {} entries \
         against after {first}; after each batch of the first run {:?} MiB, {}; {} connections a store{order}{}",
        s.entries,
        phases.rss_series(),
        phases.memory_parts(),
        s.connections,
        cache_bound.as_deref().unwrap_or("")
    ))
    .print();
}
