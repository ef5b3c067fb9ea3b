//! Verifying bearer tokens into an [`Identity`].
//!
//! The algorithm is pinned by the key source: HS256 for a shared secret, RS256 or ES256 for a
//! JWKS. A token signed with anything else (`none`, HS256 against an RS256 verifier, ...) is
//! refused before its signature is looked at. `exp`, `iss`, `aud` and `sub` are required;
//! `nbf` is checked when present; `iat` is required and may not lie in the future. Every
//! refusal is `Error::Unauthenticated` with a short reason meant for the caller.
//!
//! [`Verifier::verify`] is synchronous and reads cached keys, so it runs inside a tonic
//! interceptor or tower layer. A JWKS is loaded when the verifier is built, then reloaded (by a
//! background task unless noted):
//!
//! - when a token names a `kid` the cached set lacks (a key rotation): that token is refused
//!   and a reload is scheduled, at most once per [`ON_DEMAND_REFRESH_INTERVAL`] (the initial
//!   load does not count, so the first rotation after start-up is picked up at once);
//!   [`Verifier::verify_with_refresh`] instead waits for that reload and checks again;
//! - every [`PERIODIC_REFRESH_INTERVAL`], so that a key the issuer withdrew stops being trusted;
//! - when [`Verifier::refresh`] is awaited.
//!
//! A failed reload keeps the previous keys and logs a warning. The task ends with the verifier.
//!
//! [`ON_DEMAND_REFRESH_INTERVAL`]: crate::ON_DEMAND_REFRESH_INTERVAL
//! [`PERIODIC_REFRESH_INTERVAL`]: crate::PERIODIC_REFRESH_INTERVAL

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keel_core::Error;
use serde::Deserialize;

use crate::claims::{ReadClaims, now_seconds};
use crate::identity::Identity;
use crate::jwks::{Jwks, JwksLocation, KeyMiss, algorithm_name};
use crate::role::Role;

/// The clock skew tolerated on `exp`, `nbf` and `iat` unless configured otherwise.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
/// Tokens longer than this are refused unread.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a [`Verifier`] accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The only accepted `aud` (a token listing several audiences must include it).
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: u64,
    /// Where the verification keys come from; this also pins the algorithm.
    pub keys: KeySource,
}

/// Where verification keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A shared HS256 secret (embedded mode), at least [`MIN_HS256_SECRET_BYTES`] long.
    Hs256(Vec<u8>),
    /// A JWKS served by the identity provider, fetched when the verifier is built and reloaded
    /// on key rotation and every [`PERIODIC_REFRESH_INTERVAL`](crate::PERIODIC_REFRESH_INTERVAL).
    JwksUrl {
        /// The JWKS document's `https://` URL (plain `http://` is meant for local development).
        url: String,
        /// The only algorithm accepted.
        algorithm: JwksAlgorithm,
    },
    /// A JWKS in a local file, read when the verifier is built and re-read like a URL.
    JwksFile {
        /// The JWKS document's path.
        path: PathBuf,
        /// The only algorithm accepted.
        algorithm: JwksAlgorithm,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Hs256(_) => f.write_str("Hs256(<redacted>)"),
            KeySource::JwksUrl { url, algorithm } => f
                .debug_struct("JwksUrl")
                .field("url", url)
                .field("algorithm", algorithm)
                .finish(),
            KeySource::JwksFile { path, algorithm } => f
                .debug_struct("JwksFile")
                .field("path", path)
                .field("algorithm", algorithm)
                .finish(),
        }
    }
}

/// The algorithm pinned for tokens verified with a JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl JwksAlgorithm {
    fn algorithm(self) -> Algorithm {
        match self {
            JwksAlgorithm::Rs256 => Algorithm::RS256,
            JwksAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

/// Verifies bearer tokens against one issuer, one audience and one pinned algorithm.
/// Share it behind an `Arc`.
pub struct Verifier {
    algorithm: Algorithm,
    validation: Validation,
    leeway_seconds: u64,
    keys: Keys,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

/// Why a token was refused, before it becomes an `Error`.
enum Rejection {
    /// Signed with a `kid` the cached JWKS does not hold.
    UnknownKid,
    Invalid(String),
}

impl Rejection {
    fn invalid(reason: impl Into<String>) -> Rejection {
        Rejection::Invalid(reason.into())
    }
}

const UNKNOWN_KEY: &str = "token signed by an unknown key";

impl Verifier {
    /// Builds a verifier. For a JWKS source this loads the key set (an unreachable or empty
    /// set is `Error::Unavailable`) and starts its refresh task, so it must run inside a tokio
    /// runtime. Bad settings are `Error::InvalidInput`.
    pub async fn new(config: VerifierConfig) -> Result<Verifier, Error> {
        if config.issuer.trim().is_empty() {
            return Err(Error::invalid("issuer", "must not be empty"));
        }
        if config.audience.trim().is_empty() {
            return Err(Error::invalid("audience", "must not be empty"));
        }
        let (algorithm, keys) = match config.keys {
            KeySource::Hs256(secret) => {
                if secret.len() < MIN_HS256_SECRET_BYTES {
                    return Err(Error::invalid(
                        "keys.secret",
                        format!("an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} bytes"),
                    ));
                }
                (Algorithm::HS256, Keys::Secret(DecodingKey::from_secret(&secret)))
            }
            KeySource::JwksUrl { url, algorithm } => {
                let algorithm = algorithm.algorithm();
                (
                    algorithm,
                    Keys::Jwks(Jwks::start(JwksLocation::url(&url)?, algorithm).await?),
                )
            }
            KeySource::JwksFile { path, algorithm } => {
                let algorithm = algorithm.algorithm();
                (
                    algorithm,
                    Keys::Jwks(Jwks::start(JwksLocation::File(path), algorithm).await?),
                )
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = config.leeway_seconds;
        Ok(Verifier {
            algorithm,
            validation,
            leeway_seconds: config.leeway_seconds,
            keys,
        })
    }

    /// Verifies `token` (without the `Bearer ` prefix) with the cached keys. A token signed
    /// by a key the cached JWKS does not know is refused and schedules a background reload.
    pub fn verify(&self, token: &str) -> Result<Identity, Error> {
        self.check(token).map_err(|rejection| match rejection {
            Rejection::UnknownKid => {
                if let Keys::Jwks(jwks) = &self.keys {
                    jwks.request_refresh();
                }
                Error::Unauthenticated(UNKNOWN_KEY.into())
            }
            Rejection::Invalid(reason) => Error::Unauthenticated(reason),
        })
    }

    /// Like [`verify`](Self::verify), but a token signed by an unknown key waits for a JWKS
    /// reload (within the once-a-minute limit) and is checked again. For async callers such as
    /// the GraphQL gateway.
    pub async fn verify_with_refresh(&self, token: &str) -> Result<Identity, Error> {
        match self.check(token) {
            Ok(identity) => Ok(identity),
            Err(Rejection::Invalid(reason)) => Err(Error::Unauthenticated(reason)),
            Err(Rejection::UnknownKid) => match &self.keys {
                Keys::Jwks(jwks) if jwks.refresh_on_demand().await => self.verify(token),
                _ => Err(Error::Unauthenticated(UNKNOWN_KEY.into())),
            },
        }
    }

    /// Reloads the JWKS now, whatever the rate limit. Does nothing for an HS256 secret. On
    /// failure the previous keys stay in use.
    pub async fn refresh(&self) -> Result<(), Error> {
        match &self.keys {
            Keys::Secret(_) => Ok(()),
            Keys::Jwks(jwks) => jwks.refresh().await,
        }
    }

    fn check(&self, token: &str) -> Result<Identity, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::invalid("token is too large"));
        }
        let header = peek_header(token)?;
        let expected = algorithm_name(self.algorithm);
        if header.alg != expected {
            return Err(Rejection::Invalid(format!(
                "token signed with {}, expected {expected}",
                shown_alg(&header.alg)
            )));
        }
        let decoded = match &self.keys {
            Keys::Secret(key) => jsonwebtoken::decode::<ReadClaims>(token, key, &self.validation),
            Keys::Jwks(jwks) => jwks
                .with_key(header.kid.as_deref(), |key| {
                    jsonwebtoken::decode::<ReadClaims>(token, key, &self.validation)
                })
                .map_err(|miss| match miss {
                    KeyMiss::UnknownKid => Rejection::UnknownKid,
                    KeyMiss::NoKid => Rejection::invalid("token has no key id (kid)"),
                })?,
        };
        let claims = decoded.map_err(|error| Rejection::Invalid(reason(&error)))?.claims;
        self.identity(claims, token)
    }

    /// The checks `jsonwebtoken` does not make, and the conversion to an [`Identity`].
    fn identity(&self, claims: ReadClaims, token: &str) -> Result<Identity, Rejection> {
        let subject = claims.sub.unwrap_or_default();
        if subject.trim().is_empty() {
            return Err(Rejection::invalid("token has an empty `sub` claim"));
        }
        let Some(issued_at) = claims.iat else {
            return Err(Rejection::invalid("token has no `iat` claim"));
        };
        if issued_at > now_seconds().saturating_add(self.leeway_seconds) {
            return Err(Rejection::invalid("token issued in the future"));
        }
        let mut roles: Vec<Role> = Vec::new();
        for name in claims.roles.unwrap_or_default() {
            let role = name
                .parse::<Role>()
                .map_err(|_| Rejection::Invalid(format!("token carries an unknown role {:?}", shorten(&name))))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(Identity {
            subject,
            roles,
            token: token.to_string(),
        })
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &algorithm_name(self.algorithm))
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish_non_exhaustive()
    }
}

/// The header fields read before the signature is checked.
#[derive(Deserialize)]
struct PeekedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Reads the header of a compact JWS (three dot-separated parts) without trusting it.
fn peek_header(token: &str) -> Result<PeekedHeader, Rejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::invalid("malformed token"));
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::invalid("malformed token"))?;
    serde_json::from_slice(&json).map_err(|_| Rejection::invalid("malformed token header"))
}

/// The header's `alg`, echoed back only when it looks like an algorithm name.
fn shown_alg(alg: &str) -> &str {
    if !alg.is_empty() && alg.len() <= 16 && alg.chars().all(|c| c.is_ascii_alphanumeric()) {
        alg
    } else {
        "an unsupported algorithm"
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The caller-facing reason for a `jsonwebtoken` failure.
fn reason(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf is in the future)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("token has no `{claim}` claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("token claim `{claim}` is malformed"),
        ErrorKind::InvalidSignature => "invalid signature".into(),
        ErrorKind::InvalidAlgorithm => "token algorithm does not fit the verification key".into(),
        ErrorKind::Json(cause) => format!("malformed token claims ({cause})"),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "malformed token".into(),
        other => {
            tracing::debug!(error = ?other, "token refused");
            "invalid token".into()
        }
    }
}
