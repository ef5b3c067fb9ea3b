//! The gateway's HTTP load, driven by [oha](https://crates.io/crates/oha) (`cargo install oha
//! --locked`): GraphQL POSTs over HTTP/1.1 keep-alive connections, in a closed loop (`-c`
//! clients, each sending its next request when the last is answered) or an open loop (`-q`
//! requests a second whatever the answers, latency counted from when each was due:
//! `--latency-correction`, so a slow answer does not hide the ones queued behind it).
//! `cargo xtask bench` runs it as its own process pinned to a core of its own (`taskset -c 1
//! oha …`), reads its `--output-format json` summary, and checks what oha cannot: oha sees
//! status codes, not GraphQL `errors`, so each run's average answer size is held against one
//! answer checked in full.

use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The load generator's command.
pub const OHA: &str = "oha";

/// How to install it, for the error that says it is missing.
pub const OHA_INSTALL: &str = "cargo install oha --locked --no-default-features --features native-tls";

/// One load run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSpec {
    /// `http://IP:port/graphql`
    pub url: String,
    pub token: String,
    /// The GraphQL query.
    pub query: String,
    /// Closed loop: this many clients. Open loop: at most this many connections kept.
    pub concurrency: usize,
    /// Open loop: requests per second; `None` for a closed loop.
    pub rate: Option<f64>,
    /// A run of this length first, not measured (none when 0).
    pub warmup_seconds: f64,
    pub seconds: f64,
}

/// What a load run measured (warm-up excluded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    /// Answers `200`.
    pub requests: u64,
    /// Answers not `200`, and requests that failed (those cut off by the run's end aside).
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The average size of an answer's body, to hold against a checked answer's.
    pub bytes_per_request: f64,
    /// The commonest error, to say why.
    pub first_error: Option<String>,
    /// Cores the server was busy during the run (its CPU time over the run's length): near
    /// the cores it is pinned to, the rate is the server's, not the generator's.
    #[serde(default)]
    pub server_cores: f64,
    /// Cores oha was busy during the run.
    #[serde(default)]
    pub generator_cores: f64,
}

/// oha's arguments for one run of `seconds` (the URL last).
pub fn oha_args(spec: &LoadSpec, seconds: f64) -> Vec<String> {
    let body = serde_json::json!({ "query": spec.query }).to_string();
    let mut args: Vec<String> = vec![
        "--no-tui".into(),
        "--output-format".into(),
        "json".into(),
        "--stats-success-breakdown".into(),
        "-z".into(),
        format!("{}ms", (seconds * 1000.0).round().max(1.0) as u64),
        "-c".into(),
        spec.concurrency.max(1).to_string(),
        "-t".into(),
        "30s".into(),
        "-m".into(),
        "POST".into(),
        "-H".into(),
        format!("authorization: Bearer {}", spec.token),
        "-T".into(),
        "application/json".into(),
        "-d".into(),
        body,
    ];
    if let Some(rate) = spec.rate {
        args.extend(["-q".into(), format!("{rate:.3}"), "--latency-correction".into()]);
    }
    args.push(spec.url.clone());
    args
}

/// Reads oha's JSON summary of a run of `seconds`.
pub fn parse_oha(json: &[u8], seconds: f64) -> anyhow::Result<LoadResult> {
    let summary: Value = serde_json::from_slice(json).context("oha's JSON summary")?;
    let count = |v: &Value| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)).unwrap_or(0);
    let statuses = summary["statusCodeDistribution"]
        .as_object()
        .context("oha's summary has no statusCodeDistribution")?;
    let mut requests = 0;
    let mut errors = 0;
    let mut reasons: Vec<(u64, String)> = Vec::new();
    for (status, n) in statuses {
        let n = count(n);
        if status == "200" {
            requests += n;
        } else {
            errors += n;
            reasons.push((n, format!("status {status}")));
        }
    }
    if let Some(failures) = summary["errorDistribution"].as_object() {
        for (reason, n) in failures {
            // A request in flight when the run ends is cut off, not failed.
            if reason.contains("deadline") {
                continue;
            }
            errors += count(n);
            reasons.push((count(n), reason.clone()));
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    // The successful answers' latency (`--stats-success-breakdown`; oha 1.16 writes
    // `latencyPercentilesSuccessful`, its schema `latencyPercentileSuccessful`).
    let latency = [
        "latencyPercentilesSuccessful",
        "latencyPercentileSuccessful",
        "latencyPercentiles",
    ]
    .iter()
    .map(|key| &summary[*key])
    .find(|v| v.is_object())
    .unwrap_or(&Value::Null);
    let ms = |key: &str| latency[key].as_f64().map_or(f64::NAN, |s| s * 1000.0);
    if seconds <= 0.0 {
        bail!("a load run must last some time (got {seconds} s)");
    }
    Ok(LoadResult {
        requests,
        errors,
        seconds,
        requests_per_second: requests as f64 / seconds,
        p50_ms: if requests > 0 { ms("p50") } else { f64::NAN },
        p99_ms: if requests > 0 { ms("p99") } else { f64::NAN },
        bytes_per_request: summary["summary"]["sizePerRequest"].as_f64().unwrap_or(0.0),
        first_error: reasons.into_iter().next().map(|(n, why)| format!("{why} ({n} times)")),
        server_cores: 0.0,
        generator_cores: 0.0,
    })
}

/// oha's version, or an error that says how to install it.
pub fn oha_version() -> anyhow::Result<String> {
    let output = Command::new(OHA).arg("--version").output().with_context(|| {
        format!("the gateway's load generator `{OHA}` is not on PATH; install it with `{OHA_INSTALL}`")
    })?;
    if !output.status.success() {
        bail!(
            "`{OHA} --version` failed ({}); reinstall it with `{OHA_INSTALL}`",
            output.status
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The median of some runs' figures.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
