//! JSON Web Key Sets: loading them from a URL or a file, choosing a key by `kid`, and keeping
//! the cached set fresh.
//!
//! The cached set is read synchronously under a `std::sync::RwLock`, so verification can run in
//! a sync tonic interceptor. Refreshes happen asynchronously:
//!
//! - on demand, when a token names a `kid` the set does not hold (a key rotation), at most once
//!   per [`ON_DEMAND_REFRESH_INTERVAL`]; the initial load does not count, so the first rotation
//!   after start-up is picked up at once;
//! - periodically, every [`PERIODIC_REFRESH_INTERVAL`], so that a key removed by the issuer
//!   stops being trusted;
//! - explicitly, through [`Jwks::refresh`].
//!
//! A failed refresh keeps the previous keys and logs a warning. The background task ends when
//! the owning [`Jwks`] is dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use keel_core::Error;
use serde::Deserialize;
use tokio::sync::mpsc;

/// The shortest time between two refreshes triggered by unknown `kid`s.
pub const ON_DEMAND_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How often the key set is reloaded regardless of the tokens seen.
pub const PERIODIC_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How long fetching a JWKS over HTTP may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWKS larger than this is refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where a key set is loaded from.
pub(crate) enum JwksLocation {
    Url { client: reqwest::Client, url: reqwest::Url },
    File(PathBuf),
}

impl JwksLocation {
    pub(crate) fn url(url: &str) -> Result<JwksLocation, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::invalid("keys.url", format!("{url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Error::invalid("keys.url", format!("{url:?} is not an http(s) URL")));
        }
        if parsed.scheme() == "http" && !parsed.host_str().is_some_and(is_loopback) {
            tracing::warn!(jwks.url = %parsed, "JWKS fetched over plain HTTP; use HTTPS outside local development");
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| Error::internal(format!("building the JWKS HTTP client: {}", error_chain(&e))))?;
        Ok(JwksLocation::Url { client, url: parsed })
    }

    async fn load(&self, algorithm: Algorithm) -> Result<KeySet, Error> {
        let document = match self {
            JwksLocation::Url { client, url } => fetch(client, url)
                .await
                .map_err(|cause| Error::Unavailable(format!("could not fetch the JWKS from {url}: {cause}")))?,
            JwksLocation::File(path) => std::fs::read(path).map_err(|e| {
                Error::Unavailable(format!(
                    "could not read the JWKS file {}: {}",
                    path.display(),
                    error_chain(&e)
                ))
            })?,
        };
        KeySet::parse(&document, algorithm).map_err(|why| Error::Unavailable(format!("JWKS from {self}: {why}")))
    }
}

impl std::fmt::Display for JwksLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksLocation::Url { url, .. } => write!(f, "{url}"),
            JwksLocation::File(path) => write!(f, "{}", path.display()),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let response = client.get(url.clone()).send().await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = response.bytes().await.map_err(|e| error_chain(&e))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("the document is larger than {MAX_JWKS_BYTES} bytes"));
    }
    Ok(body.to_vec())
}

/// `outer: inner: root` for an error and its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// The keys of one JWKS that can verify tokens of the pinned algorithm.
pub(crate) struct KeySet {
    by_kid: HashMap<String, DecodingKey>,
    /// The only usable key, when there is exactly one: used for tokens without a `kid`.
    sole: Option<DecodingKey>,
}

/// Why no key was found for a token.
pub(crate) enum KeyMiss {
    /// The token names a `kid` the set does not hold; a refresh may find it.
    UnknownKid,
    /// The token has no `kid` and the set holds several keys.
    NoKid,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document, keeping the keys usable with `algorithm`. Keys of other types or
    /// uses, and keys this library cannot read, are skipped (logged at debug level) so that one
    /// odd key does not break the whole set.
    pub(crate) fn parse(document: &[u8], algorithm: Algorithm) -> Result<KeySet, String> {
        let raw: RawKeySet = serde_json::from_slice(document).map_err(|e| format!("not a JWKS document ({e})"))?;
        let mut by_kid = HashMap::new();
        let mut usable = Vec::new();
        for value in raw.keys {
            let kid = value.get("kid").and_then(|kid| kid.as_str()).unwrap_or("").to_string();
            match serde_json::from_value::<Jwk>(value)
                .map_err(|e| e.to_string())
                .and_then(|jwk| usable_key(&jwk, algorithm))
            {
                Ok(key) => {
                    if !kid.is_empty() {
                        by_kid.insert(kid, key.clone());
                    }
                    usable.push(key);
                }
                Err(why) => tracing::debug!(jwk.kid = %kid, reason = %why, "JWKS key skipped"),
            }
        }
        if usable.is_empty() {
            return Err(format!("no {} signing key in the set", algorithm_name(algorithm)));
        }
        let sole = if usable.len() == 1 { usable.pop() } else { None };
        Ok(KeySet { by_kid, sole })
    }

    fn select(&self, kid: Option<&str>) -> Result<&DecodingKey, KeyMiss> {
        match kid {
            Some(kid) => self.by_kid.get(kid).ok_or(KeyMiss::UnknownKid),
            None => self.sole.as_ref().ok_or(KeyMiss::NoKid),
        }
    }
}

/// The decoding key for `jwk`, if it can verify `algorithm` signatures.
fn usable_key(jwk: &Jwk, algorithm: Algorithm) -> Result<DecodingKey, String> {
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err("not a signing key".into());
    }
    if let Some(key_algorithm) = jwk.common.key_algorithm
        && key_algorithm.to_string() != algorithm_name(algorithm)
    {
        return Err(format!("key is for {key_algorithm}"));
    }
    let fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => params.curve == EllipticCurve::P256,
        _ => false,
    };
    if !fits {
        return Err(format!("key type does not fit {}", algorithm_name(algorithm)));
    }
    DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())
}

/// The JOSE name of a pinned algorithm.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        // Keel pins only the three above; anything else is named generically.
        _ => "another algorithm",
    }
}

/// What the background task and the verifier share.
struct Shared {
    location: JwksLocation,
    algorithm: Algorithm,
    keys: RwLock<KeySet>,
    last_on_demand_refresh: Mutex<Option<Instant>>,
}

impl Shared {
    async fn reload(&self) -> Result<(), Error> {
        match self.location.load(self.algorithm).await {
            Ok(keys) => {
                let count = keys.by_kid.len();
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
                tracing::debug!(jwks.source = %self.location, jwks.keys = count, "JWKS refreshed");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(jwks.source = %self.location, error = %error, "JWKS refresh failed; keeping the previous keys");
                Err(error)
            }
        }
    }

    /// Whether an on-demand refresh may run now; if so, records it as started.
    fn claim_on_demand_refresh(&self) -> bool {
        let mut last = self
            .last_on_demand_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < ON_DEMAND_REFRESH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// A cached key set with its refresh task.
pub(crate) struct Jwks {
    shared: Arc<Shared>,
    /// Wakes the background task; dropping it (with the `Jwks`) ends the task.
    wake: mpsc::Sender<()>,
}

impl Jwks {
    /// Loads the set once (failing if that fails) and starts the background refresh task.
    /// Must be called inside a tokio runtime.
    pub(crate) async fn start(location: JwksLocation, algorithm: Algorithm) -> Result<Jwks, Error> {
        let keys = location.load(algorithm).await?;
        let shared = Arc::new(Shared {
            location,
            algorithm,
            keys: RwLock::new(keys),
            last_on_demand_refresh: Mutex::new(None),
        });
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(refresh_in_background(Arc::clone(&shared), woken));
        Ok(Jwks { shared, wake })
    }

    /// Runs `use_key` with the key for `kid`.
    pub(crate) fn with_key<R>(&self, kid: Option<&str>, use_key: impl FnOnce(&DecodingKey) -> R) -> Result<R, KeyMiss> {
        let keys = self.shared.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.select(kid).map(use_key)
    }

    /// Asks the background task to reload the set, unless an on-demand refresh ran less than
    /// [`ON_DEMAND_REFRESH_INTERVAL`] ago. Returns at once.
    pub(crate) fn request_refresh(&self) {
        if self.shared.claim_on_demand_refresh() {
            // A full channel means a refresh is already pending.
            let _ = self.wake.try_send(());
        }
    }

    /// Reloads the set now, within the on-demand rate limit. Returns whether it reloaded.
    pub(crate) async fn refresh_on_demand(&self) -> bool {
        self.shared.claim_on_demand_refresh() && self.shared.reload().await.is_ok()
    }

    /// Reloads the set now, regardless of the rate limit.
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        self.shared.reload().await
    }
}

async fn refresh_in_background(shared: Arc<Shared>, mut woken: mpsc::Receiver<()>) {
    loop {
        tokio::select! {
            signal = woken.recv() => {
                if signal.is_none() {
                    break;
                }
            }
            () = tokio::time::sleep(PERIODIC_REFRESH_INTERVAL) => {}
        }
        // Failures are logged by `reload`; the old keys stay in place.
        let _ = shared.reload().await;
    }
}
