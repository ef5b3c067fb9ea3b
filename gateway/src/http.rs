//! The gateway's HTTP routes: GraphQL (authenticated), GraphiQL, the WebSocket endpoint,
//! health, readiness and metrics; with the request body capped and every request counted.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use keel_auth::Verifier;
use keel_core::ErrorCode;
use keel_experience_common::{BackendCalls, RequestMemo};
use keel_telemetry::{METRICS_CONTENT_TYPE, Metrics};

use crate::auth;
use crate::metrics::record_http_request;
use crate::options::GatewayOptions;
use crate::readiness::Readiness;
use crate::schema::KeelSchema;
use crate::ws::graphql_ws;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: KeelSchema,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) metrics: Metrics,
    pub(crate) readiness: Readiness,
    pub(crate) max_body_bytes: usize,
    pub(crate) report_backend_calls: bool,
}

/// The gateway's routes:
///
/// - `POST /graphql`: a GraphQL request (JSON), as the caller of its
///   `Authorization: Bearer <jwt>` header; without a valid one, 401 `UNAUTHENTICATED`.
/// - `GET /graphql`: the GraphiQL page.
/// - `GET /graphql/ws`: GraphQL over WebSocket, authenticated by the `connection_init` payload.
/// - `GET /healthz`: 200 while the process runs; `GET /readyz`: 200 when [`Readiness::check`]
///   passes, else 503 with what is not ready; `GET /metrics`: the metrics text.
///
/// Bodies larger than `options.max_body_bytes` are answered 413.
pub fn router(
    schema: KeelSchema,
    verifier: Arc<Verifier>,
    metrics: Metrics,
    readiness: Readiness,
    options: &GatewayOptions,
) -> Router {
    let state = AppState {
        schema,
        verifier,
        metrics: metrics.clone(),
        readiness,
        max_body_bytes: options.max_body_bytes,
        report_backend_calls: options.report_backend_calls,
    };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(middleware::from_fn_with_state(metrics, record_http_request))
        .with_state(state)
}

/// Authenticates, then reads the body (within the limit) and runs the request as the caller.
/// The body of an unauthenticated request is never read.
async fn graphql(State(state): State<AppState>, request: Request) -> Response {
    let identity = match auth::from_headers(&state.verifier, request.headers()).await {
        Ok(identity) => identity,
        Err(error) => return auth::unauthenticated(&error),
    };
    let body = match Bytes::from_request(request, &state).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the request body is larger than the limit of {} bytes",
                state.max_body_bytes
            );
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadUserInput, &message);
        }
        Err(rejection) => return error_response(rejection.status(), ErrorCode::BadUserInput, &rejection.body_text()),
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return bad_request("batched requests are not accepted: send one operation per request");
    }
    let query: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(query) => query,
        Err(error) => return bad_request(&format!("the body is not a GraphQL request: {error}")),
    };
    let calls = BackendCalls::default();
    let mut response = state
        .schema
        .execute(query.data(identity).data(calls.clone()).data(RequestMemo::default()))
        .await;
    if state.report_backend_calls {
        let counted = serde_json::to_value(calls.snapshot()).unwrap_or_default();
        response.extensions.insert(
            "backendCalls".into(),
            async_graphql::Value::from_json(counted).unwrap_or_default(),
        );
    }
    GraphQLResponse::from(response).into_response()
}

/// HTTP 400 with a GraphQL-shaped body.
fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, message)
}

/// An HTTP error with a GraphQL-shaped body, so clients read every refusal the same way.
fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, axum::Json(body)).into_response()
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .title("Keel GraphQL")
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.check().await {
        Ok(()) => axum::Json(serde_json::json!({ "ready": true, "notReady": [] })).into_response(),
        Err(not_ready) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "ready": false, "notReady": not_ready })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], state.metrics.encode()).into_response()
}
