//! The gRPC authentication layer: directly on a tower service, and in front of a real tonic
//! server with the health service and a service that reads the caller.

mod common;

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use keel_auth::{GrpcAuthLayer, Identity, Role};
use serde_json::json;
use tonic::Code;
use tower::{Layer, ServiceExt};

/// A service answering with the subject of the identity it was handed, or `<none>`.
fn echo_subject() -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<String>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<String>, Infallible>>,
> + Clone {
    tower::service_fn(|request: http::Request<()>| async move {
        let subject = request
            .extensions()
            .get::<Identity>()
            .map_or("<none>".to_string(), |id| id.subject.clone());
        Ok::<_, Infallible>(http::Response::new(subject))
    })
}

async fn call(path: &str, authorization: Option<&str>) -> http::Response<String> {
    let layer = GrpcAuthLayer::new(Arc::new(hs256_verifier().await));
    let mut request = http::Request::builder().uri(format!("http://keel.test{path}"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    layer
        .layer(echo_subject())
        .oneshot(request.body(()).unwrap())
        .await
        .unwrap()
}

fn grpc_status(response: &http::Response<String>) -> Option<tonic::Status> {
    tonic::Status::from_header_map(response.headers())
}

#[tokio::test]
async fn health_and_reflection_pass_without_a_token() {
    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ] {
        let response = call(path, None).await;
        assert!(grpc_status(&response).is_none(), "{path} was refused");
        assert_eq!(response.body(), "<none>", "{path}");
    }
}

#[tokio::test]
async fn other_paths_need_a_valid_bearer_token() {
    let expired = format!("Bearer {}", sign_hs256(&claims_with(json!({"exp": now() - 3600}))));
    let table = [
        ("/keel.erp.v1.Erp/PostTimeEntry", None, "missing bearer token"),
        (
            "/keel.erp.v1.Erp/PostTimeEntry",
            Some("Basic dXNlcjpwYXNz"),
            "authorization header is not a bearer token",
        ),
        (
            "/keel.erp.v1.Erp/PostTimeEntry",
            Some("Bearer "),
            "authorization header is not a bearer token",
        ),
        (
            "/keel.erp.v1.Erp/PostTimeEntry",
            Some(expired.as_str()),
            "token expired",
        ),
        // Near misses of the public prefixes are not public.
        ("/grpc.health.v2.Health/Check", None, "missing bearer token"),
        ("/grpc.healthz/Check", None, "missing bearer token"),
    ];
    for (path, authorization, reason) in table {
        let response = call(path, authorization).await;
        assert_eq!(response.status(), http::StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "application/grpc", "{path}");
        assert_eq!(response.headers()["grpc-status"], "16", "{path}");
        let status = grpc_status(&response).unwrap();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), reason, "{path} {authorization:?}");
        assert!(response.body().is_empty(), "the inner service ran for {path}");
    }
}

#[tokio::test]
async fn a_valid_token_puts_the_identity_in_the_request() {
    let token = sign_hs256(&good_claims());
    for scheme in ["Bearer", "bearer"] {
        let response = call("/keel.erp.v1.Erp/PostTimeEntry", Some(&format!("{scheme} {token}"))).await;
        assert!(grpc_status(&response).is_none());
        assert_eq!(response.body(), "u-42");
    }
}

/// A hand-written unary gRPC service, `/keel.test.Whoami/Get`, that answers with the caller's
/// subject if they are in finance.
#[derive(Clone)]
struct Whoami;

impl tonic::server::NamedService for Whoami {
    const NAME: &'static str = "keel.test.Whoami";
}

struct WhoamiGet;

impl tonic::server::UnaryService<String> for WhoamiGet {
    type Response = String;
    type Future = Ready<Result<tonic::Response<String>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        ready(keel_auth::authorize(&request, &[Role::Finance]).map(|caller| tonic::Response::new(caller.subject)))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Whoami {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<String, String>::default());
            Ok(grpc.unary(WhoamiGet, request).await)
        })
    }
}

#[tokio::test]
async fn a_real_server_serves_health_openly_and_its_services_only_to_authenticated_callers() {
    let verifier = Arc::new(hs256_verifier().await);
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcAuthLayer::new(verifier))
            .add_service(health)
            .add_service(Whoami)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut health_client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let answer = health_client
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap();
    assert_eq!(
        answer.into_inner().status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    let whoami = |token: Option<String>| {
        let channel = channel.clone();
        async move {
            let mut client = tonic::client::Grpc::new(channel);
            client.ready().await.unwrap();
            let mut request = tonic::Request::new(String::new());
            if let Some(token) = token {
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
            let path = http::uri::PathAndQuery::from_static("/keel.test.Whoami/Get");
            client
                .unary(request, path, tonic_prost::ProstCodec::<String, String>::default())
                .await
        }
    };

    let refused = whoami(None).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "missing bearer token");

    let answer = whoami(Some(sign_hs256(&good_claims()))).await.unwrap();
    assert_eq!(answer.into_inner(), "u-42");

    let consultant = sign_hs256(&claims_with(json!({"sub": "u-9", "roles": ["consultant"]})));
    let denied = whoami(Some(consultant)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "role consultant may not perform this operation (allowed: finance)"
    );

    let admin = sign_hs256(&claims_with(json!({"sub": "u-1", "roles": ["admin"]})));
    assert_eq!(whoami(Some(admin)).await.unwrap().into_inner(), "u-1");
}
