//! Starts the real `keel` binary on free ports with a fresh data directory, and talks to it
//! over real gRPC and HTTP. On SQLite and the in-process bus by default; on PostgreSQL and
//! NATS JetStream when `KEEL_TEST_DATABASE_URL` and `KEEL_TEST_NATS_URL` are set.

#![allow(dead_code)] // each test file uses its own part of the harness

pub mod distributed;
pub mod scenario;
pub mod ws;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_auth::{LocalKey, Role};
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::events::outbox_admin_client::OutboxAdminClient;
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_store::testing::{TempDir, test_database_url, test_nats_url, unique_prefix};
use serde_json::{Value, json};
use tonic::Request;
use tonic::transport::Channel;

pub struct Keel {
    child: Child,
    pub data_dir: TempDir,
    pub prefix: String,
    pub grpc: String,
    pub http: String,
    /// The one gRPC endpoint of `keel up`; `None` when each service is its own process.
    channel: Option<Channel>,
    /// Each service's own channel, by target name, when each service is its own process.
    routes: HashMap<&'static str, Channel>,
    /// The other processes of a distributed platform (the gateway is `child`).
    services: Vec<distributed::Service>,
    key: LocalKey,
    http_client: reqwest::Client,
}

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keel` with the test's stores and bus in its environment.
/// The HubSpot app secret and public URL every test Keel is configured with.
pub const HUBSPOT_SECRET: &str = "hubspot-test-client-secret-5f0c";
pub const HUBSPOT_PUBLIC_URL: &str = "https://keel.example.test";

pub fn keel_command(data_dir: &Path, prefix: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn,keel=info")
        .env("KEEL__SERVER__DATA_DIR", data_dir)
        .env("KEEL__SERVER__SHUTDOWN_GRACE_SECONDS", "5")
        .env("KEEL__WEBHOOKS__HUBSPOT__CLIENT_SECRET", HUBSPOT_SECRET)
        .env("KEEL__WEBHOOKS__HUBSPOT__PUBLIC_URL", HUBSPOT_PUBLIC_URL);
    if let Some(url) = test_database_url() {
        // `keel up` keeps a pool per service store: small pools keep two platforms running
        // side by side (the test threads) within PostgreSQL's 100 connections.
        command
            .env("KEEL__DATABASE__URL", url)
            .env("KEEL__DATABASE__SCHEMA_PREFIX", prefix)
            .env("KEEL__DATABASE__MAX_CONNECTIONS", "3");
    }
    if let Some(url) = test_nats_url() {
        command
            .env("KEEL__EVENTS__NATS_URL", url)
            .env(
                "KEEL__EVENTS__STREAM_PREFIX",
                prefix.trim_end_matches('_').to_uppercase(),
            )
            .env("KEEL__EVENTS__SUBJECT_PREFIX", prefix.trim_end_matches('_'));
    }
    command
}

impl Keel {
    /// `keel up --demo` on free ports.
    pub async fn start() -> Keel {
        Keel::start_in(TempDir::new(), unique_prefix()).await
    }

    /// `keel up --demo` over an existing data directory and store prefix (a restart).
    pub async fn start_in(data_dir: TempDir, prefix: String) -> Keel {
        let command = keel_command(data_dir.path(), &prefix);
        let (child, grpc, http) = spawn_ready(
            command,
            &[
                "up",
                "--demo",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ],
        )
        .await;
        let channel = Channel::from_shared(grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("gRPC reachable");
        let key = LocalKey::load_or_create(data_dir.path()).expect("the key keel made");
        Keel {
            child,
            data_dir,
            prefix,
            grpc,
            http,
            channel: Some(channel),
            routes: HashMap::new(),
            services: Vec::new(),
            key,
            http_client: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn token(&self, role: Role) -> String {
        self.token_as(&format!("test-{}", role.as_str()), role)
    }

    /// A token for the person `subject` (their HRIS employee id) in `role`.
    pub fn token_as(&self, subject: &str, role: Role) -> String {
        self.key
            .issue("keel-local", "keel", subject, &[role], Duration::from_secs(600))
    }

    pub fn request<T>(&self, role: Role, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", self.token(role)).parse().unwrap());
        request
    }

    pub fn crm(&self) -> CrmServiceClient<Channel> {
        CrmServiceClient::new(self.channel_for("crm"))
    }

    pub fn psa(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.channel_for("psa"))
    }

    pub fn erp(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.channel_for("erp"))
    }

    pub fn setup(&self) -> ProjectSetupServiceClient<Channel> {
        ProjectSetupServiceClient::new(self.channel_for("project-setup"))
    }

    pub fn outbox(&self) -> OutboxAdminClient<Channel> {
        OutboxAdminClient::new(self.channel())
    }

    /// The one gRPC endpoint of `keel up`.
    pub fn channel(&self) -> Channel {
        self.channel
            .clone()
            .expect("each service is its own process here: ask channel_for(target)")
    }

    /// The channel of the service `target` (its `keel run --target` name): its own process
    /// when distributed, the one endpoint under `keel up`.
    pub fn channel_for(&self, target: &str) -> Channel {
        match &self.channel {
            Some(channel) => channel.clone(),
            None => self
                .routes
                .get(target)
                .cloned()
                .unwrap_or_else(|| panic!("no {target} process in this platform")),
        }
    }

    /// The channels of every workflow admin: the one of `keel up`, or each process API's own.
    pub fn workflow_admins(&self) -> Vec<Channel> {
        match &self.channel {
            Some(channel) => vec![channel.clone()],
            None => distributed::WORKFLOW_TARGETS
                .iter()
                .map(|target| self.channel_for(target))
                .collect(),
        }
    }

    /// POST /graphql as `role` (no token when `None`); the status and the JSON body.
    pub async fn graphql(&self, role: Option<Role>, query: &str) -> (u16, Value) {
        self.graphql_with(role.map(|role| self.token(role)), query, json!({}))
            .await
    }

    /// POST /graphql with `token` (none when `None`) and `variables`; the status and the JSON body.
    pub async fn graphql_with(&self, token: Option<String>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self
            .http_client
            .post(format!("{}/graphql", self.http))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("HTTP reachable");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http_client
            .get(format!("{}{path}", self.http))
            .send()
            .await
            .expect("HTTP reachable");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    pub fn http_client(&self) -> &reqwest::Client {
        &self.http_client
    }
}

/// Polls `check` until it gives a value or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `keel <args>` and waits for its ready line; returns the child and its gRPC and HTTP
/// URLs (`-` when the target serves none).
pub async fn spawn_ready(mut command: Command, args: &[&str]) -> (Child, String, String) {
    let mut child = command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start keel");
    let stdout = child.stdout.take().expect("stdout");
    let (grpc, http) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.starts_with("keel ready:"))
            .expect("keel printed its ready line");
        // Keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .expect("address in ready line")
                .to_string()
        };
        (field("grpc="), field("http="))
    })
    .await
    .unwrap();
    (child, grpc, http)
}

/// Kills a child process when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
