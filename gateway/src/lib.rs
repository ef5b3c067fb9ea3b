//! Keel's GraphQL gateway: the role views of `experience-apis/` composed into one
//! async-graphql schema and served over HTTP and WebSocket by axum.
//!
//! - [`build_schema`] composes the schema ([`QueryRoot`], [`SubscriptionRoot`]) with its
//!   depth, complexity and directive limits; [`export_sdl`] prints it without backends.
//! - [`router`] serves it: `POST /graphql` (bearer JWT required), `GET /graphql` (GraphiQL),
//!   `/graphql/ws` (GraphQL over WebSocket, token in `connection_init`), `/healthz`,
//!   `/readyz` ([`Readiness`]) and `/metrics`, with the request body capped.
//!
//! What this crate does not know: what a view shows or which backend it reads (each
//! experience API decides), how tokens are issued, or how channels are configured (the
//! composition root hands them in).

#![forbid(unsafe_code)]

mod auth;
mod http;
mod limits;
mod metrics;
mod options;
mod policy;
mod readiness;
mod schema;
mod ws;

pub use http::router;
pub use options::{GatewayOptions, MAX_DIRECTIVES_PER_FIELD};
pub use policy::field_policy;
pub use readiness::{READINESS_TIMEOUT, Readiness};
pub use schema::{KeelSchema, MutationRoot, QueryRoot, SubscriptionRoot, ViewBackends, build_schema, export_sdl};
pub use ws::CONNECTION_INIT_TIMEOUT;
