//! The gRPC trace layer on a real tonic server, and its span parenting.

use std::convert::Infallible;
use std::time::Duration;

use keel_telemetry::{GrpcTraceLayer, Metrics, propagation::trace_id};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn a_tonic_server_with_the_layer_counts_each_rpc_with_its_status_code() {
    let metrics = Metrics::new();
    let (_reporter, health_service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcTraceLayer::new(metrics.clone()))
            .add_service(health_service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("the whole server is serving");
    let not_found = client
        .check(HealthCheckRequest {
            service: "keel.nope.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found.code(), tonic::Code::NotFound);

    let text = metrics.encode();
    for line in [
        r#"keel_grpc_requests_total{service="grpc.health.v1.Health",method="Check",code="0"} 1"#,
        r#"keel_grpc_requests_total{service="grpc.health.v1.Health",method="Check",code="5"} 1"#,
        r#"keel_grpc_request_duration_seconds_count{service="grpc.health.v1.Health",method="Check"} 2"#,
    ] {
        assert!(
            text.lines().any(|candidate| candidate == line),
            "missing `{line}` in:\n{text}"
        );
    }
    server.abort();
}

/// The handler sees the caller's trace: its current span is a child of the remote parent.
#[tokio::test(flavor = "current_thread")]
async fn the_request_span_continues_the_callers_trace() {
    let provider = SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);
    // The other test of this binary may have met the layer's span first, on another thread with
    // no subscriber, and left that callsite cached as disabled: recompute with this one in place.
    tracing::callsite::rebuild_interest_cache();

    let handler = tower::service_fn(|_request: http::Request<()>| async {
        let seen = trace_id(&tracing::Span::current()).unwrap_or_default();
        let response = http::Response::builder()
            .header("seen-trace-id", seen)
            .header("grpc-status", "3")
            .body(())
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let metrics = Metrics::new();
    let mut service = GrpcTraceLayer::new(metrics.clone()).layer(handler);

    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = http::Request::builder()
        .uri("/keel.crm.v1.CrmService/GetAccount")
        .header("traceparent", format!("00-{caller_trace}-00f067aa0ba902b7-01"))
        .body(())
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.headers()["seen-trace-id"], caller_trace);
    assert!(
        metrics
            .encode()
            .contains(r#"keel_grpc_requests_total{service="keel.crm.v1.CrmService",method="GetAccount",code="3"} 1"#)
    );

    // Without a caller context the request starts its own trace.
    let request = http::Request::builder()
        .uri("/keel.crm.v1.CrmService/GetAccount")
        .body(())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), service.oneshot(request))
        .await
        .unwrap()
        .unwrap();
    let own_trace = response.headers()["seen-trace-id"].to_str().unwrap();
    assert_eq!(own_trace.len(), 32);
    assert_ne!(own_trace, caller_trace);
}
