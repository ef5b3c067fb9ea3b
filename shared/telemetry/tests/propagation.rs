//! A trace context injected by one side is extracted, same trace, by the other.

use std::collections::HashMap;

use keel_telemetry::propagation::{extract_http, inject_grpc_context, inject_http_context, trace_id};
use keel_telemetry::{extract_grpc, extract_headers, inject_grpc, inject_headers};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::metadata::MetadataMap;
use tracing_subscriber::layer::SubscriberExt;

/// Runs `body` under a subscriber whose spans get OpenTelemetry trace ids.
fn with_otel_subscriber(body: impl FnOnce()) {
    let provider = SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, body);
}

fn trace_id_of(cx: &opentelemetry::Context) -> String {
    cx.span().span_context().trace_id().to_string()
}

#[test]
fn grpc_metadata_carries_the_trace_from_client_to_server() {
    with_otel_subscriber(|| {
        let span = tracing::info_span!("client.call");
        let sent = trace_id(&span).expect("span has a trace id");

        let mut metadata = MetadataMap::new();
        inject_grpc(&span, &mut metadata);
        let traceparent = metadata.get("traceparent").unwrap().to_str().unwrap().to_owned();
        assert!(traceparent.starts_with(&format!("00-{sent}-")), "{traceparent}");

        let received = extract_grpc(&metadata);
        assert!(received.span().span_context().is_remote());
        assert_eq!(trace_id_of(&received), sent);
    });
}

#[test]
fn event_headers_carry_the_trace_from_publisher_to_consumer() {
    with_otel_subscriber(|| {
        let span = tracing::info_span!("event.publish");
        let sent = trace_id(&span).unwrap();

        let mut headers = HashMap::from([("event-id".to_owned(), "evt-1".to_owned())]);
        inject_headers(&span, &mut headers);
        assert!(headers.contains_key("traceparent"));
        assert_eq!(trace_id_of(&extract_headers(&headers)), sent);

        // A producer that capitalised the header name is understood too.
        let shouted: HashMap<String, String> =
            HashMap::from([("Traceparent".to_owned(), headers["traceparent"].clone())]);
        assert_eq!(trace_id_of(&extract_headers(&shouted)), sent);
    });
}

#[test]
fn a_context_survives_a_chain_of_http_then_grpc_hops() {
    with_otel_subscriber(|| {
        let span = tracing::info_span!("gateway.request");
        let sent = trace_id(&span).unwrap();

        let mut http_headers = http::HeaderMap::new();
        inject_http_context(
            &tracing_opentelemetry::OpenTelemetrySpanExt::context(&span),
            &mut http_headers,
        );
        let at_gateway = extract_http(&http_headers);

        let mut metadata = MetadataMap::new();
        inject_grpc_context(&at_gateway, &mut metadata);
        assert_eq!(trace_id_of(&extract_grpc(&metadata)), sent);
    });
}

#[test]
fn nothing_to_extract_gives_an_empty_context_and_no_trace_id() {
    assert!(!extract_grpc(&MetadataMap::new()).span().span_context().is_valid());
    assert!(!extract_headers(&HashMap::new()).span().span_context().is_valid());
    // Without an OpenTelemetry layer, spans have no trace and nothing is injected.
    let span = tracing::info_span!("untraced");
    assert_eq!(trace_id(&span), None);
    let mut metadata = MetadataMap::new();
    inject_grpc(&span, &mut metadata);
    assert!(metadata.get("traceparent").is_none());
}
