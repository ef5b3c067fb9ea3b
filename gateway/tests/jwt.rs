//! The JWT attack set through the gateway's real HTTP endpoint, and key rotation without a
//! restart.
//!
//! The gateway runs on 127.0.0.1:0 with a verifier that trusts an RS256 JWKS served over HTTP
//! by a small axum server in this file. The keys are keel-auth's test fixtures, read in place.
//! Every forged or stale token must be answered 401 `UNAUTHENTICATED` with a
//! `WWW-Authenticate: Bearer` challenge, for its own reason, before the body is read; a good
//! token must pass, so the refusals are not an artefact of a broken setup. Then the issuer
//! rotates keys and the same running gateway follows.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_auth::{JwksAlgorithm, KeySource, Verifier, VerifierConfig};
use keel_gateway::Readiness;
use keel_telemetry::Metrics;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use support::backends::Backends;
use support::options;
use support::ws_client::{Frame, WsClient};
use tonic::transport::Endpoint;

const ISSUER: &str = "https://id.keel.test";
const AUDIENCE: &str = "keel-gateway";
const KID_1: &str = "test-rsa-1";
const KID_2: &str = "test-rsa-2";
const TYPENAME: &str = "{ __typename }";

/// A keel-auth fixture, read where it lives (the keys are not copied).
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../shared/auth/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A JWKS holding the keys of the named fixture documents.
fn jwks_of(names: &[&str]) -> Value {
    let keys: Vec<Value> = names
        .iter()
        .flat_map(|name| fixture_json(name)["keys"].as_array().unwrap().clone())
        .collect();
    json!({ "keys": keys })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims the gateway accepts: an operations user, valid for ten minutes.
fn good_claims() -> Value {
    let now = now();
    json!({
        "sub": "u-jwt",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "roles": ["operations"],
    })
}

/// `good_claims()` with `changes` applied; a `null` value removes the claim.
fn claims_with(changes: Value) -> Value {
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

/// An RS256 token signed with the fixture key `pem`, naming `kid`.
fn sign_rs256(pem: &str, kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&fixture(pem)).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A good token of key 1 (`rsa-1.pem`, kid `test-rsa-1`).
fn good_token_1() -> String {
    sign_rs256("rsa-1.pem", KID_1, &good_claims())
}

/// A good token of key 2 (`rsa-2.pem`, kid `test-rsa-2`).
fn good_token_2() -> String {
    sign_rs256("rsa-2.pem", KID_2, &good_claims())
}

/// An unsigned token (`alg: none`, empty signature) claiming key 1's kid.
fn unsigned(claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.",
        encode(&json!({ "alg": "none", "typ": "JWT", "kid": KID_1 })),
        encode(claims)
    )
}

/// Algorithm confusion: HS256, with key 1's public PEM (which anyone can read) as the HMAC
/// secret. A verifier that let the token choose the algorithm would accept it.
fn hs256_with_public_key_as_secret(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID_1.to_string());
    let secret = EncodingKey::from_secret(&fixture("rsa-1.pub.pem"));
    jsonwebtoken::encode(&header, claims, &secret).unwrap()
}

/// `token` with the first character of its signature changed.
fn tampered_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", chars.into_iter().collect::<String>())
}

/// The identity provider's JWKS endpoint: the test changes the document it serves and counts
/// the fetches.
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
        tokio::spawn(async move { axum::serve(listener, app).await });
        JwksServer { url, document, fetches }
    }

    fn serve(&self, document: Value) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The gateway on 127.0.0.1:0, verifying RS256 tokens against the JWKS server's URL. The test
/// keeps the very `Verifier` the running gateway uses, to trigger a refresh.
struct RsGateway {
    url: String,
    addr: SocketAddr,
    jwks: JwksServer,
    verifier: Arc<Verifier>,
    backends: Backends,
    http: reqwest::Client,
}

/// One answer of `POST /graphql`.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl RsGateway {
    async fn spawn(initial_jwks: Value) -> RsGateway {
        let jwks = JwksServer::start(initial_jwks).await;
        let verifier = Arc::new(
            Verifier::new(VerifierConfig {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                leeway_seconds: 5,
                keys: KeySource::JwksUrl {
                    url: jwks.url.clone(),
                    algorithm: JwksAlgorithm::Rs256,
                },
            })
            .await
            .unwrap(),
        );
        let backends = Backends::spawn().await;
        let channel = Endpoint::from_shared(format!("http://{}", backends.addr))
            .unwrap()
            .connect_lazy();
        let options = options();
        let readiness = Readiness::new(Vec::new());
        readiness.mark_migrated();
        let schema = keel_gateway::build_schema(&options, support::view_backends(&channel, &channel));
        let router = keel_gateway::router(schema, Arc::clone(&verifier), Metrics::new(), readiness, &options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        RsGateway {
            url: format!("http://{addr}"),
            addr,
            jwks,
            verifier,
            backends,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` to `/graphql` with `authorization` as the header (none if `None`).
    async fn post(&self, authorization: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Answer { status, headers, body }
    }

    /// `{ __typename }` as the holder of `token`.
    async fn typename(&self, token: &str) -> Answer {
        let body = json!({ "query": TYPENAME }).to_string();
        self.post(Some(&format!("Bearer {token}")), body).await
    }

    /// Checks `token` is accepted: 200 and `data.__typename == "Query"`.
    async fn assert_accepted(&self, case: &str, token: &str) {
        let answer = self.typename(token).await;
        assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.body);
        assert_eq!(answer.body["data"]["__typename"], "Query", "{case}: {}", answer.body);
        assert!(answer.body.get("errors").is_none(), "{case}: {}", answer.body);
    }
}

/// Checks `answer` is the gateway's 401: `UNAUTHENTICATED`, the `Bearer` challenge, a message
/// naming `reason`, and no `data` (nothing ran).
fn assert_refused(case: &str, answer: &Answer, reason: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}: {}", answer.body);
    assert_eq!(
        answer.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()),
        Some("Bearer"),
        "{case}: the 401 carries the Bearer challenge"
    );
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{case}: {}",
        answer.body
    );
    let message = answer.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(reason),
        "{case}: refused for {message:?}, not for {reason:?}"
    );
    assert!(
        answer.body.get("data").is_none(),
        "{case}: nothing may run: {}",
        answer.body
    );
}

#[tokio::test]
async fn every_token_of_the_attack_set_is_refused_401_before_the_body_is_read() {
    let gateway = RsGateway::spawn(fixture_json("jwks-rsa-1.json")).await;
    assert_eq!(gateway.jwks.fetches(), 1, "the JWKS is loaded at start-up");

    // The control: the setup accepts a good token of the served key.
    gateway.assert_accepted("valid RS256", &good_token_1()).await;

    let now = now();
    let good = good_token_1();
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let table: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing bearer token"),
        (
            "Basic scheme",
            Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("admin:admin"))),
            "not a bearer token",
        ),
        (
            "a valid token under another scheme",
            Some(format!("Token {good}")),
            "not a bearer token",
        ),
        (
            "alg none",
            bearer(unsigned(&good_claims())),
            "token signed with none, expected RS256",
        ),
        (
            "HS256 with the RSA public key as secret",
            bearer(hs256_with_public_key_as_secret(&good_claims())),
            "token signed with HS256, expected RS256",
        ),
        (
            "expired",
            bearer(sign_rs256(
                "rsa-1.pem",
                KID_1,
                &claims_with(json!({ "exp": now - 3600 })),
            )),
            "token expired",
        ),
        (
            "nbf in the future",
            bearer(sign_rs256(
                "rsa-1.pem",
                KID_1,
                &claims_with(json!({ "nbf": now + 3600 })),
            )),
            "not yet valid",
        ),
        (
            "missing aud",
            bearer(sign_rs256("rsa-1.pem", KID_1, &claims_with(json!({ "aud": null })))),
            "token has no `aud` claim",
        ),
        (
            "another audience",
            bearer(sign_rs256(
                "rsa-1.pem",
                KID_1,
                &claims_with(json!({ "aud": "another-app" })),
            )),
            "wrong audience",
        ),
        (
            "wrong iss",
            bearer(sign_rs256(
                "rsa-1.pem",
                KID_1,
                &claims_with(json!({ "iss": "https://evil.test" })),
            )),
            "wrong issuer",
        ),
        (
            "key 2 signing under key 1's kid",
            bearer(sign_rs256("rsa-2.pem", KID_1, &good_claims())),
            "invalid signature",
        ),
        (
            "tampered signature",
            bearer(tampered_signature(&good)),
            "invalid signature",
        ),
        // Last: a kid the set lacks makes the gateway reload the JWKS once (rate-limited).
        (
            "unknown kid",
            bearer(sign_rs256("rsa-1.pem", "test-rsa-9", &good_claims())),
            "unknown key",
        ),
    ];
    for (case, authorization, reason) in table {
        let query = json!({ "query": TYPENAME }).to_string();
        let answer = gateway.post(authorization.as_deref(), query).await;
        assert_refused(case, &answer, reason);
        // The body is never read: one that is not JSON at all, which an authenticated
        // request would get 400 for, is refused 401 for the same reason.
        let answer = gateway.post(authorization.as_deref(), "not json [").await;
        assert_refused(&format!("{case} (unreadable body)"), &answer, reason);
    }
    assert!(
        gateway.backends.recorded.authorizations.lock().unwrap().is_empty(),
        "no backend was called"
    );
    assert_eq!(
        gateway.jwks.fetches(),
        2,
        "only the unknown kid reloaded the JWKS (the other refusals never reach the key set)"
    );

    // And the control again, after all that: the good token still passes.
    gateway.assert_accepted("valid RS256, afterwards", &good).await;
}

#[tokio::test]
async fn a_rotated_key_is_trusted_and_a_withdrawn_key_refused_without_a_restart() {
    let gateway = RsGateway::spawn(fixture_json("jwks-rsa-1.json")).await;
    let old = good_token_1();
    let rotated = good_token_2();
    gateway.assert_accepted("key 1 at start", &old).await;
    assert_eq!(gateway.jwks.fetches(), 1);

    // The issuer publishes key 2 next to key 1. The first token of key 2 names a kid the
    // gateway has not seen; it reloads the JWKS and accepts the token in the same request.
    gateway.jwks.serve(jwks_of(&["jwks-rsa-1.json", "jwks-rsa-2.json"]));
    gateway.assert_accepted("key 2 after rotation", &rotated).await;
    assert_eq!(gateway.jwks.fetches(), 2, "the unknown kid reloaded the JWKS once");
    gateway.assert_accepted("key 1 during the overlap", &old).await;

    // The issuer withdraws key 1. Until the verifier reloads, the cached key still verifies
    // (a known kid triggers no reload); after the reload it is gone.
    gateway.jwks.serve(fixture_json("jwks-rsa-2.json"));
    gateway.assert_accepted("key 1 before the reload", &old).await;
    assert_eq!(gateway.jwks.fetches(), 2);
    gateway.verifier.refresh().await.unwrap();
    assert_eq!(gateway.jwks.fetches(), 3);
    let answer = gateway.typename(&old).await;
    assert_refused("key 1 after withdrawal", &answer, "unknown key");
    gateway.assert_accepted("key 2 after withdrawal", &rotated).await;
    assert_eq!(
        gateway.jwks.fetches(),
        3,
        "the withdrawn kid does not reload again within the on-demand limit"
    );
}

#[tokio::test]
async fn a_websocket_connection_init_with_an_expired_token_is_refused() {
    let gateway = RsGateway::spawn(fixture_json("jwks-rsa-1.json")).await;

    let expired = sign_rs256("rsa-1.pem", KID_1, &claims_with(json!({ "exp": now() - 3600 })));
    let mut ws = WsClient::connect(gateway.addr, "/graphql/ws").await;
    ws.send(&json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {expired}") } }))
        .await;
    match ws.next(Duration::from_secs(5)).await {
        Frame::Close(code, reason) => {
            assert_eq!(code, 1002);
            assert!(reason.starts_with("unauthenticated"), "{reason}");
            assert!(reason.contains("token expired"), "{reason}");
        }
        other => panic!("expected the connection closed, got {other:?}"),
    }

    // The control: the same connection_init with a good token is acknowledged and queries run.
    let mut ws = WsClient::connect(gateway.addr, "/graphql/ws").await;
    ws.send(
        &json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", good_token_1()) } }),
    )
    .await;
    match ws.next(Duration::from_secs(5)).await {
        Frame::Text(message) => assert_eq!(message["type"], "connection_ack", "{message}"),
        other => panic!("expected connection_ack, got {other:?}"),
    }
    ws.send(&json!({ "id": "1", "type": "subscribe", "payload": { "query": TYPENAME } }))
        .await;
    match ws.next(Duration::from_secs(5)).await {
        Frame::Text(message) => {
            assert_eq!(message["type"], "next", "{message}");
            assert_eq!(message["payload"]["data"]["__typename"], "Query", "{message}");
        }
        other => panic!("expected the query's result, got {other:?}"),
    }
}
