//! Counts every answered HTTP request in `keel_http_requests_total`, by route template and
//! status, so that label values stay a small set whatever paths clients send.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use keel_telemetry::Metrics;

/// The `path` label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Middleware: runs the request, then records its route and status.
pub(crate) async fn record_http_request(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let response = next.run(request).await;
    metrics.record_http_request(&path, response.status().as_u16());
    response
}
