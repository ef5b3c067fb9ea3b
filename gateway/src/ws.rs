//! `/graphql/ws`: GraphQL over WebSocket (`graphql-transport-ws` and the older
//! `graphql-ws`). The caller authenticates in the `connection_init` payload
//! (`{"Authorization": "Bearer <jwt>"}`); without a valid token the connection is refused
//! before any operation runs, and a connection that sends no `connection_init` within
//! [`CONNECTION_INIT_TIMEOUT`] is dropped. Operations then see that caller as the
//! connection's data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;

use crate::auth;
use crate::http::AppState;

/// How long a new WebSocket connection may wait before sending `connection_init`.
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let AppState { schema, verifier, .. } = state;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let initialised = Arc::new(AtomicBool::new(false));
            let init_seen = initialised.clone();
            let connection = GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    init_seen.store(true, Ordering::Release);
                    match auth::from_connection_init(&verifier, &payload).await {
                        Ok(identity) => {
                            let mut data = Data::default();
                            data.insert(identity);
                            Ok(data)
                        }
                        Err(error) => {
                            tracing::debug!(error = %error, "WebSocket connection refused");
                            Err(async_graphql::Error::new(format!(
                                "unauthenticated: {}",
                                error.public_message()
                            )))
                        }
                    }
                })
                .serve();
            let init_deadline = async {
                tokio::time::sleep(CONNECTION_INIT_TIMEOUT).await;
                if initialised.load(Ordering::Acquire) {
                    std::future::pending::<()>().await;
                }
            };
            // Dropping the connection closes the socket.
            tokio::select! {
                () = connection => {}
                () = init_deadline => tracing::debug!("WebSocket closed: no connection_init in time"),
            }
        })
}
