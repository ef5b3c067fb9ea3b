//! Helpers shared by keel-auth's integration tests: fixture keys, token signing, verifiers.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_auth::{JwksAlgorithm, KeySource, Verifier, VerifierConfig};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://id.keel.test";
pub const AUDIENCE: &str = "keel";
pub const SECRET: &[u8] = b"keel-auth-tests-0123456789abcdef-0123456789";

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

/// Valid claims for a project manager who is also in finance.
pub fn good_claims() -> Value {
    let now = now();
    json!({
        "sub": "u-42",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "roles": ["project_manager", "finance"],
    })
}

/// `good_claims()` with `changes` applied; a `null` value removes the claim.
pub fn claims_with(changes: Value) -> Value {
    let mut claims = good_claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

pub fn sign_hs(algorithm: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret)).unwrap()
}

pub fn sign_hs256(claims: &Value) -> String {
    sign_hs(Algorithm::HS256, claims, SECRET)
}

/// Signs RS256 with a fixture key (`rsa-1.pem`), naming `kid` in the header.
pub fn sign_rs256(pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture(pem)).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

pub fn sign_es256(kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&std::fs::read(fixture("ec-1.pem")).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// An unsigned token (`alg: none`), as an attacker would send it.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let encode = |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", encode(&json!({"alg": "none", "typ": "JWT"})), encode(claims))
}

pub fn config(keys: KeySource) -> VerifierConfig {
    VerifierConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_seconds: 5,
        keys,
    }
}

pub async fn hs256_verifier() -> Verifier {
    Verifier::new(config(KeySource::Hs256(SECRET.to_vec()))).await.unwrap()
}

pub async fn rs256_file_verifier() -> Verifier {
    let keys = KeySource::JwksFile {
        path: fixture("jwks-rsa-1.json"),
        algorithm: JwksAlgorithm::Rs256,
    };
    Verifier::new(config(keys)).await.unwrap()
}
