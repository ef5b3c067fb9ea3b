//! W3C trace context (`traceparent`, `tracestate`) carried across process boundaries: gRPC
//! metadata, HTTP headers, and the string headers of events.
//!
//! These functions always speak W3C TraceContext, whatever the global propagator is, so two Keel
//! services agree even before [`crate::init`] runs.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the trace context of `span` into outgoing gRPC metadata (e.g. `request.metadata_mut()`).
pub fn inject_grpc(span: &tracing::Span, metadata: &mut MetadataMap) {
    inject_grpc_context(&span.context(), metadata);
}

/// Writes the trace context `cx` into outgoing gRPC metadata.
pub fn inject_grpc_context(cx: &Context, metadata: &mut MetadataMap) {
    TraceContextPropagator::new().inject_context(cx, &mut MetadataInjector(metadata));
}

/// Reads the trace context of incoming gRPC metadata; an empty context when there is none.
pub fn extract_grpc(metadata: &MetadataMap) -> Context {
    TraceContextPropagator::new().extract(&MetadataExtractor(metadata))
}

/// Writes the trace context of `span` into an event's headers.
pub fn inject_headers(span: &tracing::Span, headers: &mut HashMap<String, String>) {
    inject_headers_context(&span.context(), headers);
}

/// Writes the trace context `cx` into an event's headers.
pub fn inject_headers_context(cx: &Context, headers: &mut HashMap<String, String>) {
    TraceContextPropagator::new().inject_context(cx, headers);
}

/// Reads the trace context of an event's headers (names compared case-insensitively); an empty
/// context when there is none.
pub fn extract_headers(headers: &HashMap<String, String>) -> Context {
    TraceContextPropagator::new().extract(&StringHeadersExtractor(headers))
}

/// Writes the trace context `cx` into HTTP headers (an outgoing HTTP call).
pub fn inject_http_context(cx: &Context, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HttpInjector(headers));
}

/// Reads the trace context of HTTP headers (an incoming HTTP or gRPC request).
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HttpExtractor(headers))
}

/// The trace id of `span` as 32 hex digits, when the span belongs to a trace (e.g. to show
/// operations which trace to look up).
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                KeyRef::Ascii(key) => Some(key.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

struct HttpInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HttpInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HttpExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HttpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Event headers may have been written by any producer, in any case.
struct StringHeadersExtractor<'a>(&'a HashMap<String, String>);

impl Extractor for StringHeadersExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).or_else(|| {
            self.0
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, value)| value.as_str())
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
