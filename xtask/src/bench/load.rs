//! The HTTP load generator: GraphQL POSTs over HTTP/1.1 keep-alive connections, in a closed
//! loop (a fixed number of clients, each sending its next request when the last is answered)
//! or an open loop (requests started at a fixed rate whatever the answers, so a slow answer
//! does not hide the ones queued behind it). It runs on one thread; `cargo xtask bench` runs it
//! as its own process pinned to a core of its own (`taskset -c 1 xtask bench-load …`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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
    pub warmup_seconds: f64,
    pub seconds: f64,
}

/// What a load run measured (warm-up excluded).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    pub requests: u64,
    /// Answers that were not `200` with data and no `errors`, and requests that failed.
    pub errors: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The first error seen, to say why.
    pub first_error: Option<String>,
    /// Whether the generator that measured this was an optimized build: a debug one bounds
    /// a fast query's closed loop itself (about 5,700 requests/s on a core, where Keel
    /// answers `{ __typename }` at over 20,000).
    #[serde(default)]
    pub optimized: bool,
}

/// The `q`-quantile (0..=1) of sorted latencies, nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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

struct Outcome {
    /// When the request was due (open loop) or sent (closed loop).
    started: Instant,
    latency: Duration,
    error: Option<String>,
}

async fn one(client: &reqwest::Client, spec: &LoadSpec, body: &str, due: Instant) -> Outcome {
    let result = client
        .post(&spec.url)
        .bearer_auth(&spec.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let error = match result {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(bytes) if status == 200 && !has_errors(&bytes) => None,
                Ok(bytes) => Some(format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                )),
                Err(e) => Some(format!("reading the answer: {e}")),
            }
        }
        Err(e) => Some(format!("sending: {e}")),
    };
    Outcome {
        started: due,
        latency: due.elapsed(),
        error,
    }
}

/// Whether a GraphQL answer carries top-level `errors` (a cheap look, not a parse: `"errors"`
/// as a key appears only there in Keel's answers, whose field names are camelCase words).
fn has_errors(body: &[u8]) -> bool {
    body.windows(9).any(|w| w == b"\"errors\":")
}

/// Runs the load on the current thread's runtime and measures it.
pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let body = serde_json::to_string(&serde_json::json!({ "query": spec.query }))?;
    let spec = Arc::new(spec);
    let body = Arc::new(body);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(spec.warmup_seconds);
    let end = measure_from + Duration::from_secs_f64(spec.seconds);

    let outcomes: Vec<Outcome> = match spec.rate {
        None => {
            let mut clients = tokio::task::JoinSet::new();
            for _ in 0..spec.concurrency.max(1) {
                let (client, spec, body) = (client.clone(), spec.clone(), body.clone());
                clients.spawn_local(async move {
                    let mut mine = Vec::new();
                    while Instant::now() < end {
                        mine.push(one(&client, &spec, &body, Instant::now()).await);
                    }
                    mine
                });
            }
            let mut all = Vec::new();
            while let Some(mine) = clients.join_next().await {
                all.extend(mine?);
            }
            all
        }
        Some(rate) => {
            anyhow::ensure!(rate > 0.0, "the open loop's rate must be above 0 (got {rate})");
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut requests = tokio::task::JoinSet::new();
            let mut all = Vec::new();
            let mut due = start;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                let (client, spec, body) = (client.clone(), spec.clone(), body.clone());
                requests.spawn_local(async move { one(&client, &spec, &body, due).await });
                due += interval;
                // Collect the answered ones as we go, so the set stays small.
                while let Some(outcome) = requests.try_join_next() {
                    all.push(outcome?);
                }
            }
            while let Some(outcome) = requests.join_next().await {
                all.push(outcome?);
            }
            all
        }
    };

    let measured: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.started >= measure_from && o.started < end)
        .collect();
    let errors = measured.iter().filter(|o| o.error.is_some()).count() as u64;
    let first_error = measured.iter().find_map(|o| o.error.clone());
    let mut latencies: Vec<Duration> = measured
        .iter()
        .filter(|o| o.error.is_none())
        .map(|o| o.latency)
        .collect();
    latencies.sort();
    let requests = latencies.len() as u64;
    let seconds = spec.seconds;
    Ok(LoadResult {
        requests,
        errors,
        seconds,
        requests_per_second: requests as f64 / seconds,
        p50_ms: quantile(&latencies, 0.50).as_secs_f64() * 1000.0,
        p99_ms: quantile(&latencies, 0.99).as_secs_f64() * 1000.0,
        first_error,
        optimized: !cfg!(debug_assertions),
    })
}

/// `xtask bench-load SPEC_JSON`: runs one load on a single thread and prints its result as
/// one JSON line.
pub fn main(spec_json: &str) -> anyhow::Result<()> {
    let spec: LoadSpec = serde_json::from_str(spec_json)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, run(spec))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
