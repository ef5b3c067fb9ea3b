//! A tower layer for tonic servers: every RPC gets a `grpc.request` span, parented on the
//! caller's W3C trace context, and is counted and timed in [`Metrics`].
//!
//! ```no_run
//! # async fn serve(routes: tonic::service::Routes) -> anyhow::Result<()> {
//! let metrics = keel_telemetry::Metrics::new();
//! tonic::transport::Server::builder()
//!     .layer(keel_telemetry::GrpcTraceLayer::new(metrics.clone()))
//!     .add_routes(routes)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::trace::TraceContextExt;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::Metrics;
use crate::propagation::extract_http;

/// Wraps a tonic server's services; see the module documentation.
#[derive(Debug, Clone)]
pub struct GrpcTraceLayer {
    metrics: Metrics,
}

impl GrpcTraceLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcTraceLayer {
    type Service = GrpcTraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTraceService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcTraceLayer`] produces.
#[derive(Debug, Clone)]
pub struct GrpcTraceService<S> {
    inner: S,
    metrics: Metrics,
}

/// The future of [`GrpcTraceService`]: the inner response, once recorded.
pub type GrpcTraceFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcTraceService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = GrpcTraceFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (service, method) = split_grpc_path(request.uri().path());
        let span = tracing::info_span!(
            "grpc.request",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
        );
        let parent = extract_http(request.headers());
        if parent.span().span_context().is_valid() {
            // Fails only when no OpenTelemetry layer is installed; the span is then local anyway.
            let _ = span.set_parent(parent);
        }
        let started = Instant::now();
        let response = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let result = response.await;
                let code = match &result {
                    Ok(response) => grpc_status_code(response.headers()),
                    Err(_) => tonic::Code::Unknown as i32,
                };
                let span = tracing::Span::current();
                span.record("rpc.grpc.status_code", code);
                if is_server_error(code) {
                    span.record("otel.status_code", "ERROR");
                }
                metrics.record_grpc_request(&service, &method, code, started.elapsed());
                result
            }
            .instrument(span),
        )
    }
}

/// `/keel.crm.v1.CrmService/GetAccount` → (`keel.crm.v1.CrmService`, `GetAccount`).
fn split_grpc_path(path: &str) -> (String, String) {
    match path.strip_prefix('/').and_then(|rest| rest.split_once('/')) {
        Some((service, method)) if !service.is_empty() && !method.is_empty() && !method.contains('/') => {
            (service.to_owned(), method.to_owned())
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

/// The `grpc-status` of a response's headers. A trailers-only response (an error) carries it
/// there; a successful unary response carries it in the trailers, so its absence means OK.
fn grpc_status_code(headers: &http::HeaderMap) -> i32 {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(tonic::Code::Ok as i32)
}

/// Whether a status code means the server failed (OpenTelemetry's rule for server spans), as
/// opposed to the caller sending a bad request.
fn is_server_error(code: i32) -> bool {
    use tonic::Code;
    [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
    ]
    .iter()
    .any(|server_error| *server_error as i32 == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_paths_split_into_service_and_method() {
        let cases = [
            (
                "/keel.crm.v1.CrmService/GetAccount",
                ("keel.crm.v1.CrmService", "GetAccount"),
            ),
            ("/grpc.health.v1.Health/Check", ("grpc.health.v1.Health", "Check")),
            ("/", ("unknown", "unknown")),
            ("/only-service", ("unknown", "unknown")),
            ("/a/b/c", ("unknown", "unknown")),
        ];
        for (path, (service, method)) in cases {
            assert_eq!(split_grpc_path(path), (service.to_owned(), method.to_owned()), "{path}");
        }
    }

    #[test]
    fn status_code_comes_from_headers_and_defaults_to_ok() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status_code(&headers), 0);
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status_code(&headers), 5);
        assert!(is_server_error(13));
        assert!(!is_server_error(3));
    }
}
