//! The JWT claims Keel issues and reads.
//!
//! [`Claims`] is what Keel's own issuers sign. Verification reads tokens leniently first
//! ([`ReadClaims`]) so that a missing claim is reported by name ("token has no `sub` claim")
//! rather than as a parse error; `iss`, `aud`, `exp` and `nbf` are checked by `jsonwebtoken`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

/// The claims of a Keel token. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token speaks for: a person's id, or `service:<name>`.
    pub sub: String,
    /// Who issued the token.
    pub iss: String,
    /// Who the token is meant for.
    pub aud: String,
    /// When the token expires.
    pub exp: u64,
    /// When the token was issued.
    pub iat: u64,
    /// The token is not valid before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Role names, snake_case (`project_manager`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The claims verification needs beyond what `jsonwebtoken` checks, all optional so that
/// their absence can be reported by name.
#[derive(Debug, Deserialize)]
pub(crate) struct ReadClaims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: Option<u64>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// A JSON NumericDate: an integer or a non-negative fraction of seconds (RFC 7519 §2).
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 && seconds < u64::MAX as f64 => Ok(Some(seconds as u64)),
        _ => Err(serde::de::Error::custom(
            "a NumericDate must be a non-negative number of seconds",
        )),
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_seconds() -> u64 {
    // A clock before 1970 is a broken host; treating it as the epoch makes every token look
    // expired, which fails closed.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
