//! `keel up --demo` under measurement: started pinned to core 0 on a data directory of its
//! own (SQLite, or PostgreSQL schemas of its own), given projects to show, and read for its
//! memory.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel_proto::common::PageRequest;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{CreateOpportunityRequest, ListOpportunitiesRequest, MarkOpportunityWonRequest, Opportunity};
use tonic::transport::Channel;

/// Where the stores of a run live.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite files under the data directory (embedded mode's default).
    Sqlite,
    /// Schemas `<prefix><service>` in this PostgreSQL database.
    Postgres { url: String, prefix: String },
}

impl Store {
    pub fn mode(&self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres { .. } => "postgres",
        }
    }
}

/// A running `keel up --demo`.
#[derive(Debug)]
pub struct Keel {
    child: Child,
    pub http: String,
    pub grpc: String,
    /// From launch to `/readyz` answering 200.
    pub ready_after: Duration,
    /// From launch to the HTTP port answering at all (`/readyz` with any status).
    pub http_after: Duration,
}

/// A free loopback port (the OS picks it; it is released for Keel to bind).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Keel {
    /// Starts `taskset -c 0 keel up --demo` and waits until it printed its ready line and
    /// `/readyz` answers 200.
    pub async fn start(binary: &Path, data_dir: &Path, store: &Store, timeout: Duration) -> anyhow::Result<Keel> {
        let (grpc_port, http_port) = (free_port()?, free_port()?);
        let mut command = Command::new("taskset");
        command
            .args(["-c", "0"])
            .arg(binary)
            .args(["up", "--demo", "--data-dir"])
            .arg(data_dir)
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}")])
            .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
            .env("RUST_LOG", "warn")
            .env_remove("KEEL__DATABASE__URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Store::Postgres { url, prefix } = store {
            // 14 service stores in one process: pools of 3 keep it within PostgreSQL's 100
            // connections beside anything else using the server.
            command
                .env("KEEL__DATABASE__URL", url)
                .env("KEEL__DATABASE__SCHEMA_PREFIX", prefix)
                .env("KEEL__DATABASE__MAX_CONNECTIONS", "3");
        }
        let launched = Instant::now();
        let mut child = command.spawn().context("starting `taskset -c 0 keel up --demo`")?;
        let stdout = child.stdout.take().context("keel's stdout")?;
        // Read the ready line on a thread, and keep draining so Keel never blocks on the pipe.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.starts_with("keel ready:") {
                    let _ = ready_tx.send(());
                    sent = true;
                }
            }
        });
        let http = format!("http://127.0.0.1:{http_port}");
        let mut keel = Keel {
            child,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            http,
            ready_after: Duration::ZERO,
            http_after: Duration::ZERO,
        };
        let client = reqwest::Client::new();
        let deadline = launched + timeout;
        let mut ready_at = None;
        let mut printed = false;
        loop {
            if let Ok(Some(status)) = keel.child.try_wait() {
                bail!("keel up --demo exited before it was ready ({status})");
            }
            if ready_at.is_none() {
                let answer = client
                    .get(format!("{}/readyz", keel.http))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if let Ok(answer) = answer {
                    if keel.http_after.is_zero() {
                        keel.http_after = launched.elapsed();
                    }
                    if answer.status() == 200 {
                        ready_at = Some(launched.elapsed());
                    }
                }
            }
            printed = printed || ready_rx.try_recv().is_ok();
            if let (Some(after), true) = (ready_at, printed) {
                keel.ready_after = after;
                return Ok(keel);
            }
            if Instant::now() > deadline {
                bail!("keel up --demo was not ready within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops Keel as Ctrl-C would (SIGTERM), and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Keel {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A token for `role`, signed with the data directory's local key by `keel token`.
pub fn token(binary: &Path, data_dir: &Path, role: &str, sub: &str) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .args([
            "token",
            "--role",
            role,
            "--sub",
            sub,
            "--ttl-minutes",
            "600",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("KEEL__DATABASE__URL")
        .output()
        .context("running `keel token`")?;
    if !output.status.success() {
        bail!("keel token failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

fn authorized<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

fn complete(o: &Opportunity) -> bool {
    [
        &o.service_line,
        &o.contract_type,
        &o.region,
        &o.client_tier,
        &o.close_date,
        &o.sow_reference,
    ]
    .iter()
    .all(|f| !f.trim().is_empty())
        && o.amount.is_some()
}

/// Gives the demo firm `projects` projects: copies of the demo's complete opportunities are
/// created in CRM and every complete one is marked won, so project setup creates a project for
/// each, as it would for a real deal. Returns how many were won.
pub async fn win_projects(grpc: &str, admin: &str, projects: usize) -> anyhow::Result<usize> {
    let channel = Channel::from_shared(grpc.to_string())?.connect().await?;
    let mut crm = CrmServiceClient::new(channel);
    let listed = crm
        .list_opportunities(authorized(
            admin,
            ListOpportunitiesRequest {
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
                stage: 0,
            },
        )?)
        .await
        .context("listing the demo opportunities")?
        .into_inner()
        .opportunities;
    let originals: Vec<Opportunity> = listed.into_iter().filter(complete).collect();
    anyhow::ensure!(
        !originals.is_empty(),
        "the demo firm has no complete opportunity to win"
    );
    let mut ids: Vec<String> = originals.iter().map(|o| o.id.clone()).collect();
    let mut copy = 0;
    while ids.len() < projects {
        let o = &originals[copy % originals.len()];
        copy += 1;
        let created = crm
            .create_opportunity(authorized(
                admin,
                CreateOpportunityRequest {
                    idempotency_key: format!("bench-opportunity-{copy}"),
                    account_id: o.account_id.clone(),
                    name: format!("{} (bench copy {copy})", o.name),
                    service_line: o.service_line.clone(),
                    contract_type: o.contract_type.clone(),
                    region: o.region.clone(),
                    client_tier: o.client_tier.clone(),
                    amount: o.amount.clone(),
                    close_date: o.close_date.clone(),
                    sow_reference: format!("{}-bench-{copy}", o.sow_reference),
                },
            )?)
            .await
            .context("creating a bench opportunity")?
            .into_inner();
        ids.push(created.id);
    }
    for id in &ids {
        crm.mark_opportunity_won(authorized(
            admin,
            MarkOpportunityWonRequest {
                idempotency_key: format!("bench-win-{id}"),
                id: id.clone(),
            },
        )?)
        .await
        .context("marking a bench opportunity won")?;
    }
    Ok(ids.len())
}

/// VmRSS and VmHWM of a process, in MiB.
pub fn memory_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("{name} in /proc/{pid}/status"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds a process has used so far (user and system, `/proc/<pid>/stat`).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    cpu_seconds_of(&stat, clock_ticks()).with_context(|| format!("/proc/{pid}/stat: {stat}"))
}

/// User and system time from a `/proc/<pid>/stat` line, in seconds at `ticks` a second. The
/// command name (2nd field) may hold spaces and parentheses: fields count from its last `)`.
pub fn cpu_seconds_of(stat: &str, ticks: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// The kernel's clock ticks a second (`getconf CLK_TCK`; 100 where it cannot be asked).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The directory `cargo build` puts the `keel` binary in, for a profile.
pub fn binary(root: &Path, release: bool) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() {
        root.join(target)
    } else {
        target
    };
    target.join(if release { "release" } else { "debug" }).join("keel")
}
