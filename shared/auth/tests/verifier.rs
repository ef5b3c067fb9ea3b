//! Token verification with real signed tokens: what is refused and why, what is accepted, and
//! JWKS loading and refresh (from a file and from a live HTTP endpoint).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use jsonwebtoken::Algorithm;
use keel_auth::{JwksAlgorithm, KeySource, Role, Verifier};
use keel_core::ErrorCode;
use serde_json::{Value, json};

/// Verifies `token` and returns the refusal message, failing the test if it was accepted or
/// refused with another code.
fn refusal(verifier: &Verifier, token: &str) -> String {
    let error = verifier.verify(token).expect_err("token was accepted");
    assert_eq!(error.code(), ErrorCode::Unauthenticated, "{error}");
    error.to_string()
}

#[tokio::test]
async fn hs256_verifier_refuses_bad_tokens_with_a_clear_reason() {
    let verifier = hs256_verifier().await;
    let now = now();
    let good = sign_hs256(&good_claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_payload = sign_hs256(&claims_with(json!({"roles": ["admin"]})));
    let other_payload = other_payload.split('.').nth(1).unwrap();

    let table: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            sign_hs256(&claims_with(json!({"exp": now - 3600}))),
            "token expired",
        ),
        (
            "nbf in the future",
            sign_hs256(&claims_with(json!({"nbf": now + 3600}))),
            "not yet valid",
        ),
        (
            "wrong issuer",
            sign_hs256(&claims_with(json!({"iss": "https://evil.test"}))),
            "wrong issuer",
        ),
        (
            "wrong audience",
            sign_hs256(&claims_with(json!({"aud": "other-app"}))),
            "wrong audience",
        ),
        (
            "audience list without ours",
            sign_hs256(&claims_with(json!({"aud": ["a", "b"]}))),
            "wrong audience",
        ),
        (
            "missing audience",
            sign_hs256(&claims_with(json!({"aud": null}))),
            "token has no `aud` claim",
        ),
        (
            "missing issuer",
            sign_hs256(&claims_with(json!({"iss": null}))),
            "token has no `iss` claim",
        ),
        (
            "missing subject",
            sign_hs256(&claims_with(json!({"sub": null}))),
            "token has no `sub` claim",
        ),
        (
            "empty subject",
            sign_hs256(&claims_with(json!({"sub": " "}))),
            "empty `sub` claim",
        ),
        (
            "missing expiry",
            sign_hs256(&claims_with(json!({"exp": null}))),
            "token has no `exp` claim",
        ),
        (
            "missing iat",
            sign_hs256(&claims_with(json!({"iat": null}))),
            "token has no `iat` claim",
        ),
        (
            "iat in the future",
            sign_hs256(&claims_with(json!({"iat": now + 3600}))),
            "issued in the future",
        ),
        (
            "alg none",
            unsigned(&good_claims()),
            "token signed with none, expected HS256",
        ),
        (
            "HS512",
            sign_hs(Algorithm::HS512, &good_claims(), SECRET),
            "token signed with HS512, expected HS256",
        ),
        (
            "wrong secret",
            sign_hs(Algorithm::HS256, &good_claims(), b"another-secret-another-secret-xx"),
            "invalid signature",
        ),
        (
            "tampered signature",
            format!("{head}.{}.{}", rest.split_once('.').unwrap().0, flip_first(signature)),
            "invalid signature",
        ),
        (
            "payload swapped",
            format!("{head}.{other_payload}.{signature}"),
            "invalid signature",
        ),
        (
            "unknown role",
            sign_hs256(&claims_with(json!({"roles": ["finance", "superuser"]}))),
            "unknown role \"superuser\"",
        ),
        (
            "roles not strings",
            sign_hs256(&claims_with(json!({"roles": [1]}))),
            "malformed token claims",
        ),
        ("not a JWT", "hello".to_string(), "malformed token"),
        ("five parts (JWE)", "a.b.c.d.e".to_string(), "malformed token"),
        (
            "header not JSON",
            format!("bm90IGpzb24.{rest}"),
            "malformed token header",
        ),
        (
            "too large",
            format!("{head}.{}.{signature}", "A".repeat(10_000)),
            "token is too large",
        ),
    ];
    for (case, token, expected) in table {
        let message = refusal(&verifier, &token);
        assert!(
            message.contains(expected),
            "{case}: {message:?} does not mention {expected:?}"
        );
        assert!(
            !message.contains("ErrorKind"),
            "{case}: internal detail leaked: {message}"
        );
    }
}

fn flip_first(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_valid_token_yields_the_identity_with_its_roles() {
    let verifier = hs256_verifier().await;
    let token = sign_hs256(&claims_with(
        json!({"roles": ["project_manager", "finance", "finance"]}),
    ));
    let identity = verifier.verify(&token).unwrap();
    assert_eq!(identity.subject, "u-42");
    assert_eq!(identity.roles, [Role::ProjectManager, Role::Finance]);
    assert_eq!(identity.token, token);
    assert!(identity.has_any(&[Role::Finance]));
    assert!(!identity.has_any(&[Role::Executive]));

    let no_roles = verifier
        .verify(&sign_hs256(&claims_with(json!({"roles": null, "nbf": null}))))
        .unwrap();
    assert!(no_roles.roles.is_empty());
    let in_our_audience_list = sign_hs256(&claims_with(json!({"aud": ["crm", AUDIENCE]})));
    assert!(verifier.verify(&in_our_audience_list).is_ok());
}

#[tokio::test]
async fn leeway_is_the_configured_one() {
    let recently_expired = sign_hs256(&claims_with(json!({"exp": now() - 10})));
    let lenient = Verifier::new(keel_auth::VerifierConfig {
        leeway_seconds: 60,
        ..config(KeySource::Hs256(SECRET.to_vec()))
    })
    .await
    .unwrap();
    assert!(lenient.verify(&recently_expired).is_ok());
    assert!(refusal(&hs256_verifier().await, &recently_expired).contains("expired"));
}

#[tokio::test]
async fn bad_settings_are_refused_at_construction() {
    let short_secret = Verifier::new(config(KeySource::Hs256(b"too-short".to_vec())))
        .await
        .unwrap_err();
    assert_eq!(short_secret.code(), ErrorCode::BadUserInput);
    let mut no_issuer = config(KeySource::Hs256(SECRET.to_vec()));
    no_issuer.issuer = String::new();
    assert_eq!(
        Verifier::new(no_issuer).await.unwrap_err().code(),
        ErrorCode::BadUserInput
    );
    let not_http = KeySource::JwksUrl {
        url: "ftp://id.test/jwks".into(),
        algorithm: JwksAlgorithm::Rs256,
    };
    assert_eq!(
        Verifier::new(config(not_http)).await.unwrap_err().code(),
        ErrorCode::BadUserInput
    );
    let missing_file = KeySource::JwksFile {
        path: fixture("absent.json"),
        algorithm: JwksAlgorithm::Rs256,
    };
    assert_eq!(
        Verifier::new(config(missing_file)).await.unwrap_err().code(),
        ErrorCode::Unavailable
    );
    // The RSA set holds no key an ES256 verifier could use.
    let wrong_type = KeySource::JwksFile {
        path: fixture("jwks-rsa-1.json"),
        algorithm: JwksAlgorithm::Es256,
    };
    let error = Verifier::new(config(wrong_type)).await.unwrap_err();
    assert!(error.to_string().contains("no ES256 signing key"), "{error}");
}

#[tokio::test]
async fn rs256_jwks_file_verifier_accepts_its_keys_and_refuses_algorithm_confusion() {
    let verifier = rs256_file_verifier().await;

    let identity = verifier
        .verify(&sign_rs256("rsa-1.pem", Some("test-rsa-1"), &good_claims()))
        .unwrap();
    assert_eq!(identity.subject, "u-42");
    assert_eq!(identity.roles, [Role::ProjectManager, Role::Finance]);
    // No kid: the set's only key is used.
    assert!(verifier.verify(&sign_rs256("rsa-1.pem", None, &good_claims())).is_ok());

    // HS256 with the public key as the HMAC secret: the classic confusion attack.
    let public_pem = std::fs::read(fixture("rsa-1.pub.pem")).unwrap();
    let table: Vec<(&str, String, &str)> = vec![
        (
            "HS256 signed with the public key",
            sign_hs(Algorithm::HS256, &good_claims(), &public_pem),
            "token signed with HS256, expected RS256",
        ),
        (
            "alg none",
            unsigned(&good_claims()),
            "token signed with none, expected RS256",
        ),
        (
            "ES256",
            sign_es256(Some("test-rsa-1"), &good_claims()),
            "token signed with ES256, expected RS256",
        ),
        (
            "another key claiming our kid",
            sign_rs256("rsa-2.pem", Some("test-rsa-1"), &good_claims()),
            "invalid signature",
        ),
        (
            "unknown kid",
            sign_rs256("rsa-2.pem", Some("test-rsa-2"), &good_claims()),
            "unknown key",
        ),
        (
            "expired",
            sign_rs256(
                "rsa-1.pem",
                Some("test-rsa-1"),
                &claims_with(json!({"exp": now() - 600})),
            ),
            "expired",
        ),
    ];
    for (case, token, expected) in table {
        let message = refusal(&verifier, &token);
        assert!(
            message.contains(expected),
            "{case}: {message:?} does not mention {expected:?}"
        );
    }
}

#[tokio::test]
async fn es256_jwks_file_verifier_accepts_p256_tokens() {
    let keys = KeySource::JwksFile {
        path: fixture("jwks-ec-1.json"),
        algorithm: JwksAlgorithm::Es256,
    };
    let verifier = Verifier::new(config(keys)).await.unwrap();
    let identity = verifier.verify(&sign_es256(Some("test-ec-1"), &good_claims())).unwrap();
    assert_eq!(identity.subject, "u-42");
    let message = refusal(&verifier, &sign_rs256("rsa-1.pem", Some("test-ec-1"), &good_claims()));
    assert!(message.contains("token signed with RS256, expected ES256"), "{message}");
}

/// A JWKS endpoint whose document the test can change, counting fetches.
struct JwksServer {
    url: String,
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(document: Value) -> JwksServer {
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&document), Arc::clone(&fetches));
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(served.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer { url, document, fetches }
    }

    fn serve(&self, document: Value) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    async fn verifier(&self) -> Verifier {
        let keys = KeySource::JwksUrl {
            url: self.url.clone(),
            algorithm: JwksAlgorithm::Rs256,
        };
        Verifier::new(config(keys)).await.unwrap()
    }
}

fn both_rsa_keys() -> Value {
    let mut keys = fixture_json("jwks-rsa-1.json")["keys"].as_array().unwrap().clone();
    keys.extend(
        fixture_json("jwks-rsa-2.json")["keys"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    // An encryption key and a key of an unknown type must not spoil the set.
    keys.push(json!({"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}));
    keys.push(json!({"kty": "XYZ", "kid": "odd-1"}));
    json!({ "keys": keys })
}

#[tokio::test]
async fn jwks_url_is_fetched_at_start_and_refreshed_in_the_background_on_an_unknown_kid() {
    let server = JwksServer::start(fixture_json("jwks-rsa-1.json")).await;
    let verifier = server.verifier().await;
    assert_eq!(server.fetches(), 1);
    assert!(
        verifier
            .verify(&sign_rs256("rsa-1.pem", Some("test-rsa-1"), &good_claims()))
            .is_ok()
    );

    // The issuer rotates in a second key; the first token signed with it is refused and
    // triggers a background reload, after which it passes.
    server.serve(both_rsa_keys());
    let rotated = sign_rs256("rsa-2.pem", Some("test-rsa-2"), &good_claims());
    assert!(refusal(&verifier, &rotated).contains("unknown key"));
    let mut accepted = false;
    for _ in 0..250 {
        if verifier.verify(&rotated).is_ok() {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "the rotated key was never picked up");
    assert_eq!(server.fetches(), 2);

    // Another unknown kid within the minute does not fetch again.
    let unknown = sign_rs256("rsa-2.pem", Some("test-rsa-3"), &good_claims());
    assert!(refusal(&verifier, &unknown).contains("unknown key"));
    assert!(verifier.verify_with_refresh(&unknown).await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.fetches(), 2, "refreshes are limited to one a minute");
}

#[tokio::test]
async fn verify_with_refresh_waits_for_the_rotated_key() {
    let server = JwksServer::start(fixture_json("jwks-rsa-1.json")).await;
    let verifier = server.verifier().await;
    server.serve(both_rsa_keys());
    let rotated = sign_rs256("rsa-2.pem", Some("test-rsa-2"), &good_claims());
    let identity = verifier.verify_with_refresh(&rotated).await.unwrap();
    assert_eq!(identity.subject, "u-42");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn an_explicit_refresh_drops_a_withdrawn_key() {
    let server = JwksServer::start(both_rsa_keys()).await;
    let verifier = server.verifier().await;
    let old = sign_rs256("rsa-1.pem", Some("test-rsa-1"), &good_claims());
    assert!(verifier.verify(&old).is_ok());
    // Two keys: a token without kid cannot pick one.
    assert!(refusal(&verifier, &sign_rs256("rsa-1.pem", None, &good_claims())).contains("no key id"));

    server.serve(fixture_json("jwks-rsa-2.json"));
    verifier.refresh().await.unwrap();
    assert!(refusal(&verifier, &old).contains("unknown key"));
    assert!(
        verifier
            .verify(&sign_rs256("rsa-2.pem", Some("test-rsa-2"), &good_claims()))
            .is_ok()
    );

    // A failed refresh keeps the keys in use.
    server.serve(json!({"not": "a jwks"}));
    assert_eq!(verifier.refresh().await.unwrap_err().code(), ErrorCode::Unavailable);
    assert!(
        verifier
            .verify(&sign_rs256("rsa-2.pem", Some("test-rsa-2"), &good_claims()))
            .is_ok()
    );
}

#[tokio::test]
async fn an_unreachable_jwks_url_fails_construction() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let keys = KeySource::JwksUrl {
        url,
        algorithm: JwksAlgorithm::Rs256,
    };
    let error = Verifier::new(config(keys)).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(error.to_string().contains("could not fetch the JWKS"), "{error}");
}
