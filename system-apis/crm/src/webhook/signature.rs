//! HubSpot's v3 request signature: `X-HubSpot-Signature-v3` is
//! base64(HMAC-SHA256(client secret, method + URI + body + timestamp)), with the timestamp (in
//! milliseconds) from `X-HubSpot-Request-Timestamp`. Requests older than five minutes are
//! refused, so a captured request cannot be replayed later.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
/// The header carrying the request time, in milliseconds since the epoch.
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// A header is missing or not what HubSpot sends.
    Missing,
    /// The timestamp is further than the allowed age from now.
    Stale,
    /// The signature does not match.
    Mismatch,
}

/// The URI as HubSpot signs it: the full URL with these percent-escapes decoded.
pub fn signed_uri(uri: &str) -> String {
    const DECODED: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = uri.to_string();
    for (escaped, plain) in DECODED {
        out = out.replace(escaped, plain).replace(&escaped.to_lowercase(), plain);
    }
    out
}

fn mac(secret: &[u8], method: &str, uri: &str, body: &[u8], timestamp: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(method.as_bytes());
    mac.update(signed_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// The signature HubSpot would send: for senders and tests.
pub fn sign(secret: &[u8], method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    STANDARD.encode(mac(secret, method, uri, body, timestamp).finalize().into_bytes())
}

/// The parts of a request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The full URL HubSpot called, as configured there (`https://keel.example.com/webhooks/hubspot`).
    pub uri: &'a str,
    pub body: &'a [u8],
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks freshness, then the signature in constant time.
pub fn verify(
    secret: &[u8],
    request: SignedRequest<'_>,
    now_millis: i64,
    max_age: Duration,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (request.timestamp, request.signature) else {
        return Err(SignatureError::Missing);
    };
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Missing)?;
    let max_age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    // Too old, or from further in the future than clocks drift.
    if now_millis.saturating_sub(sent_at).abs() > max_age {
        return Err(SignatureError::Stale);
    }
    let expected = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Mismatch)?;
    mac(secret, request.method, request.uri, request.body, timestamp)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "https://keel.example.com/webhooks/hubspot";
    const BODY: &[u8] = br#"[{"eventId":1}]"#;
    const NOW: i64 = 1_764_000_000_000;
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn request<'a>(timestamp: &'a str, signature: &'a str) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            uri: URI,
            body: BODY,
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn a_signed_fresh_request_verifies_and_anything_else_does_not() {
        let ts = NOW.to_string();
        let good = sign(SECRET, "POST", URI, BODY, &ts);
        assert_eq!(verify(SECRET, request(&ts, &good), NOW, FIVE_MINUTES), Ok(()));
        assert_eq!(verify(SECRET, request(&ts, &good), NOW + 299_000, FIVE_MINUTES), Ok(()));

        let other_secret = sign(b"another secret", "POST", URI, BODY, &ts);
        let other_body = sign(SECRET, "POST", URI, b"[]", &ts);
        let other_uri = sign(SECRET, "POST", "https://evil.example.com/webhooks/hubspot", BODY, &ts);
        let other_method = sign(SECRET, "PUT", URI, BODY, &ts);
        for bad in [
            other_secret.as_str(),
            &other_body,
            &other_uri,
            &other_method,
            "not base64!",
            "",
        ] {
            assert_eq!(
                verify(SECRET, request(&ts, bad), NOW, FIVE_MINUTES),
                Err(SignatureError::Mismatch),
                "{bad}"
            );
        }
        // The timestamp is signed: moving it breaks the signature.
        let moved = (NOW + 1).to_string();
        assert_eq!(
            verify(SECRET, request(&moved, &good), NOW, FIVE_MINUTES),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamps_are_stale_and_missing_headers_are_missing() {
        for sent in [NOW - 300_001, NOW + 300_001, 0] {
            let ts = sent.to_string();
            let signature = sign(SECRET, "POST", URI, BODY, &ts);
            assert_eq!(
                verify(SECRET, request(&ts, &signature), NOW, FIVE_MINUTES),
                Err(SignatureError::Stale)
            );
        }
        let ts = NOW.to_string();
        let mut no_signature = request(&ts, "");
        no_signature.signature = None;
        assert_eq!(
            verify(SECRET, no_signature, NOW, FIVE_MINUTES),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, request("yesterday", "x"), NOW, FIVE_MINUTES),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn escapes_hubspot_decodes_are_decoded_before_signing() {
        assert_eq!(
            signed_uri("https://keel.example.com/webhooks/hubspot?a=b%3Ac%2Cd%20e"),
            "https://keel.example.com/webhooks/hubspot?a=b:c,d%20e"
        );
    }
}
