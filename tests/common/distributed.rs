//! Keel as a firm runs it when it outgrows one process: every target its own `keel run
//! --target` OS process on loopback, finding the others through `KEEL__SERVICES__*`, on the
//! test's stores and NATS JetStream, with one signing key shared as a deployment's Secret
//! would hold it. The demo firm is seeded with `keel seed`, as an operator would.

use std::collections::HashMap;
use std::time::Duration;

use keel_auth::LocalKey;
use keel_store::testing::{TempDir, test_nats_url, unique_prefix};
use tonic::transport::Channel;

use super::{Keel, KillOnDrop, keel_command, spawn_ready};

/// The key every process shares (what a Secret holds in a deployment).
pub const SHARED_KEY: &str = "distributed-test-key-shared-by-every-service-0123456789";

/// The process APIs that run workflows, each serving its own workflow admin.
pub const WORKFLOW_TARGETS: &[&str] = &["time-capture", "staffing", "billing", "change-orders", "close-out"];

/// One `keel run --target` process.
pub struct Service {
    process: KillOnDrop,
    _data_dir: TempDir,
    /// Its gRPC URL (`-` when it serves none).
    pub grpc: String,
    /// Its HTTP URL (`-` when it serves none).
    pub http: String,
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// Starts `keel run --target <target>` with `env` on free ports.
pub async fn run(target: &str, prefix: &str, env: &[(&str, String)]) -> Service {
    let data_dir = TempDir::new();
    let mut command = keel_command(data_dir.path(), prefix);
    command.env("KEEL__AUTH__LOCAL_KEY", SHARED_KEY);
    for (key, value) in env {
        command.env(key, value);
    }
    let (child, grpc, http) = spawn_ready(
        command,
        &[
            "run",
            "--target",
            target,
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    )
    .await;
    Service {
        process: KillOnDrop(child),
        _data_dir: data_dir,
        grpc,
        http,
    }
}

/// `KEEL__SERVICES__<TARGET>` for `target`.
fn service_key(target: &str) -> &'static str {
    match target {
        "crm" => "KEEL__SERVICES__CRM",
        "psa" => "KEEL__SERVICES__PSA",
        "erp" => "KEEL__SERVICES__ERP",
        "hris" => "KEEL__SERVICES__HRIS",
        "collaboration" => "KEEL__SERVICES__COLLABORATION",
        "documents" => "KEEL__SERVICES__DOCUMENTS",
        "support" => "KEEL__SERVICES__SUPPORT",
        "project-setup" => "KEEL__SERVICES__PROJECT_SETUP",
        "delivery-health" => "KEEL__SERVICES__DELIVERY_HEALTH",
        "time-capture" => "KEEL__SERVICES__TIME_CAPTURE",
        "staffing" => "KEEL__SERVICES__STAFFING",
        "billing" => "KEEL__SERVICES__BILLING",
        "change-orders" => "KEEL__SERVICES__CHANGE_ORDERS",
        "close-out" => "KEEL__SERVICES__CLOSE_OUT",
        other => panic!("no service {other}"),
    }
}

/// Each target in start order (everything a target calls starts before it), with the targets
/// it calls.
const TOPOLOGY: &[(&str, &[&str])] = &[
    ("crm", &[]),
    ("psa", &[]),
    ("erp", &[]),
    ("hris", &[]),
    ("collaboration", &[]),
    ("documents", &[]),
    ("support", &[]),
    ("project-setup", &["crm", "psa", "erp", "collaboration", "documents"]),
    ("delivery-health", &["psa", "erp", "support"]),
    ("time-capture", &["psa", "erp", "hris"]),
    ("staffing", &["psa", "erp", "hris"]),
    ("billing", &["psa", "erp"]),
    ("change-orders", &["psa", "erp", "documents"]),
    (
        "close-out",
        &[
            "psa",
            "erp",
            "collaboration",
            "documents",
            "time-capture",
            "staffing",
            "billing",
            "change-orders",
        ],
    ),
];

/// What the gateway calls.
const GATEWAY_CALLS: &[&str] = &[
    "psa",
    "erp",
    "project-setup",
    "delivery-health",
    "close-out",
    "time-capture",
    "staffing",
    "billing",
    "change-orders",
];

/// Whether this run has what distributed mode needs (NATS); says why not when it has not.
pub fn available() -> bool {
    if test_nats_url().is_none() {
        eprintln!("distributed mode needs NATS: set KEEL_TEST_NATS_URL (.ci/run does); not run here");
        return false;
    }
    true
}

impl Keel {
    /// Every target its own process, the gateway last, and the demo firm seeded with
    /// `keel seed`. Needs NATS (see [`available`]).
    pub async fn start_distributed() -> Keel {
        let prefix = unique_prefix();
        let mut started: Vec<(&'static str, Service)> = Vec::new();
        let env_for = |calls: &[&str], started: &[(&'static str, Service)]| -> Vec<(&'static str, String)> {
            calls
                .iter()
                .map(|called| {
                    let (_, service) = started
                        .iter()
                        .find(|(name, _)| name == called)
                        .unwrap_or_else(|| panic!("{called} starts before what calls it"));
                    (service_key(called), service.grpc.clone())
                })
                .collect()
        };
        for (target, calls) in TOPOLOGY {
            let env = env_for(calls, &started);
            started.push((target, run(target, &prefix, &env).await));
        }
        let gateway_env = env_for(GATEWAY_CALLS, &started);
        let data_dir = TempDir::new();
        let mut command = keel_command(data_dir.path(), &prefix);
        command.env("KEEL__AUTH__LOCAL_KEY", SHARED_KEY);
        for (key, value) in &gateway_env {
            command.env(key, value);
        }
        let (child, grpc, http) = spawn_ready(
            command,
            &[
                "run",
                "--target",
                "gateway",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ],
        )
        .await;

        let seed_env = env_for(&["psa", "hris", "crm"], &started);
        let seed_dir = TempDir::new();
        let mut seed = keel_command(seed_dir.path(), &prefix);
        seed.env("KEEL__AUTH__LOCAL_KEY", SHARED_KEY).arg("seed");
        for (key, value) in &seed_env {
            seed.env(key, value);
        }
        let output = tokio::task::spawn_blocking(move || seed.output().expect("run keel seed"))
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "keel seed: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let mut routes = HashMap::new();
        for (target, service) in &started {
            if service.grpc != "-" {
                let channel = Channel::from_shared(service.grpc.clone())
                    .unwrap()
                    .connect_timeout(Duration::from_secs(5))
                    .connect_lazy();
                routes.insert(*target, channel);
            }
        }
        Keel {
            child,
            data_dir,
            prefix,
            grpc,
            http,
            channel: None,
            routes,
            services: started.into_iter().map(|(_, service)| service).collect(),
            key: LocalKey::from_bytes(SHARED_KEY.as_bytes().to_vec()).unwrap(),
            http_client: reqwest::Client::new(),
        }
    }

    /// The process of `target` in a distributed platform.
    pub fn service(&self, target: &str) -> &Service {
        let index = TOPOLOGY
            .iter()
            .position(|(name, _)| *name == target)
            .unwrap_or_else(|| panic!("no {target} process in this platform"));
        &self.services[index]
    }
}
