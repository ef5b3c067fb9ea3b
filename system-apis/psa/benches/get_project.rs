//! Figure 2 of the performance page: `GetProject` of the reference PSA over real gRPC on
//! loopback (tonic server behind Keel's authentication layer), requests per second at
//! concurrency C, against `pgbench -S` (select-only, built-in script) at the same concurrency
//! on the same PostgreSQL for the same duration; and the same Get on the embedded SQLite
//! store beside it, against the same baseline.
//!
//! The server runs on its own runtime (threads `keel-server`, pinned to core 0), the load on
//! another (`keel-load`, core 1); pgbench runs under `taskset -c 1`. Median of 3 runs after a
//! warm-up. `KEEL_BENCH_SMOKE=1` runs tiny durations. Prints one `BENCH {json}` row per mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keel_auth::{GrpcAuthLayer, KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_proto::psa::GetProjectRequest;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_psa::ReferencePsa;
use keel_psa::reference::Migrator;
use keel_store::bench::{Goal, Row, Scratch, fail, median, pgbench_tps, pin_threads, smoke};
use keel_store::{StoreOptions, connect};
use sea_orm_migration::MigratorTrait;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tonic::transport::Channel;

const KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";
const ISSUER: &str = "keel-conformance";
const AUDIENCE: &str = "keel";

struct Settings {
    concurrency: usize,
    warmup: Duration,
    run: Duration,
    runs: usize,
    projects: usize,
}

fn settings() -> Settings {
    if smoke() {
        Settings {
            concurrency: 2,
            warmup: Duration::from_millis(300),
            run: Duration::from_secs(1),
            runs: 1,
            projects: 2,
        }
    } else {
        Settings {
            concurrency: 8,
            warmup: Duration::from_secs(3),
            run: Duration::from_secs(10),
            runs: 3,
            projects: 50,
        }
    }
}

fn runtime(name: &'static str, threads: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot build the {name} runtime: {e}")))
}

/// The reference PSA on `options`, migrated, seeded with `projects` staffed projects and served
/// behind the authentication layer on a loopback port of the server runtime. Answers the port
/// and the project ids.
async fn serve(options: &StoreOptions, projects: usize) -> (std::net::SocketAddr, Vec<String>) {
    let db = connect(options).await.unwrap_or_else(|e| fail(format!("store: {e}")));
    Migrator::up(&db, None)
        .await
        .unwrap_or_else(|e| fail(format!("migrate: {e}")));
    let adapter = Arc::new(ReferencePsa::new(db, Arc::new(Notify::new())));
    let seed = keel_conformance::psa::Context::new(adapter.clone()).await;
    let mut ids = Vec::with_capacity(projects);
    for _ in 0..projects {
        let staffed = seed.staffed().await.unwrap_or_else(|e| fail(format!("seed: {e}")));
        ids.push(staffed.project.id);
    }
    drop(seed);
    let verifier = Verifier::new(VerifierConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_seconds: 0,
        keys: KeySource::Hs256(KEY.to_vec()),
    })
    .await
    .unwrap_or_else(|e| fail(format!("verifier: {e}")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| fail(format!("bind: {e}")));
    let addr = listener.local_addr().unwrap_or_else(|e| fail(format!("bind: {e}")));
    let service = keel_psa::service::server(adapter).max_decoding_message_size(4 * 1024 * 1024);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .layer(GrpcAuthLayer::new(Arc::new(verifier)))
            .add_service(service)
            .serve_with_incoming(keel_core::grpc::incoming(listener))
            .await;
    });
    (addr, ids)
}

/// Gets from `concurrency` clients, each on its own connection, for `duration`: requests/s.
async fn load(addr: std::net::SocketAddr, ids: &[String], concurrency: usize, duration: Duration) -> f64 {
    let token = LocalKey::from_bytes(KEY.to_vec())
        .unwrap_or_else(|e| fail(format!("key: {e}")))
        .issue(
            ISSUER,
            AUDIENCE,
            "bench-reader",
            &[Role::ProjectManager],
            Duration::from_secs(3600),
        );
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .unwrap_or_else(|_| fail("token is not ascii"));
    let done = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap_or_else(|e| fail(format!("uri: {e}")))
            .connect()
            .await
            .unwrap_or_else(|e| fail(format!("connect: {e}")));
        let ids = ids.to_vec();
        let bearer = bearer.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = PsaServiceClient::new(channel);
            let mut i = worker;
            while began.elapsed() < duration {
                let mut request = tonic::Request::new(GetProjectRequest {
                    id: ids[i % ids.len()].clone(),
                    opportunity_id: String::new(),
                });
                request.metadata_mut().insert("authorization", bearer.clone());
                let project = client
                    .get_project(request)
                    .await
                    .unwrap_or_else(|s| fail(format!("GetProject: {s}")))
                    .into_inner();
                if project.id != ids[i % ids.len()] {
                    fail("GetProject answered another project");
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += concurrency;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| fail(format!("load task: {e}")));
    }
    done.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    let s = settings();
    let server = runtime("keel-server", 1);
    let client = runtime("keel-load", 1);
    let scratch = server.block_on(Scratch::connect());
    let sqlite_dir = keel_store::testing::TempDir::new();

    let postgres = scratch.options("psa", s.concurrency as u32);
    let (pg_addr, pg_ids) = server.block_on(serve(&postgres, s.projects));
    let sqlite = StoreOptions {
        backend: keel_store::Backend::Sqlite {
            path: sqlite_dir.path().join("psa.db"),
        },
        max_connections: s.concurrency as u32,
    };
    let (lite_addr, lite_ids) = server.block_on(serve(&sqlite, s.projects));

    let baseline_schema = server.block_on(scratch.schema("pgbench"));
    scratch.pgbench(&baseline_schema, None, &["-i", "-q", "-s", "1"]);

    // Touch both runtimes so their threads exist, then pin them.
    server.block_on(async {});
    client.block_on(async {});
    let pinned = pin_threads("keel-server", "0") + pin_threads("keel-load", "1");

    let c = s.concurrency.to_string();
    let secs = s.run.as_secs().max(1).to_string();
    let warm = s.warmup.as_secs().max(1).to_string();
    client.block_on(load(pg_addr, &pg_ids, s.concurrency, s.warmup));
    client.block_on(load(lite_addr, &lite_ids, s.concurrency, s.warmup));
    scratch.pgbench(
        &baseline_schema,
        Some("1"),
        &["-S", "-n", "-c", &c, "-j", &c, "-T", &warm],
    );

    let (mut pg, mut lite, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..s.runs {
        pg.push(client.block_on(load(pg_addr, &pg_ids, s.concurrency, s.run)));
        lite.push(client.block_on(load(lite_addr, &lite_ids, s.concurrency, s.run)));
        let report = scratch.pgbench(
            &baseline_schema,
            Some("1"),
            &["-S", "-n", "-c", &c, "-j", &c, "-T", &secs],
        );
        base.push(pgbench_tps(&report));
    }
    let baseline = median(&base);
    let baseline_name = format!("pgbench -S -c {c} -j {c}");
    let notes = |mode: &str| {
        format!(
            "{mode}; GetProject over gRPC on loopback with JWT auth, {} projects, concurrency {c} (one HTTP/2 \
             connection each), {secs} s, median of {}; server on core 0, load and pgbench on core 1 ({pinned} threads \
             pinned); a Get reads the project, its phases, tasks, milestones and budget lines (5 queries), \
             pgbench -S one; runs {:?} req/s, pgbench {:?} tps",
            s.projects,
            s.runs,
            if mode.starts_with("postgres") { &pg } else { &lite },
            base
        )
    };
    Row::new(
        "system-api-read",
        "postgres",
        "requests/s",
        median(&pg),
        baseline,
        &baseline_name,
        Goal::AtLeast(0.4),
    )
    .runs(s.runs)
    .notes(notes("postgres"))
    .print();
    Row::new(
        "system-api-read",
        "sqlite",
        "requests/s",
        median(&lite),
        baseline,
        &baseline_name,
        Goal::AtLeast(0.4),
    )
    .runs(s.runs)
    .notes(notes("sqlite (embedded store; baseline is the PostgreSQL pgbench)"))
    .print();
    server.block_on(scratch.drop_all());
}
