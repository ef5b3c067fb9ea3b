//! Authentication and authorization for Keel.
//!
//! - [`Verifier`] turns a bearer JWT into an [`Identity`]: HS256 with the embedded
//!   [`LocalKey`], or RS256/ES256 through a JWKS, the algorithm always pinned.
//! - [`Identity::require`] checks [`Role`]s; admin passes every such check.
//! - On gRPC servers, [`GrpcAuthLayer`] authenticates every request but health and reflection;
//!   handlers read the caller with [`identity`] or [`authorize`].
//! - On gRPC clients, [`forward`] passes the caller's token on, and [`ServiceCredentials`]
//!   supplies a service's own token when it acts for itself.
//!
//! What this crate does not know: which roles an operation needs (each API decides), how
//! configuration is read (callers hand in [`VerifierConfig`]), or how users log in.

#![forbid(unsafe_code)]

mod claims;
mod credentials;
mod grpc;
mod grpc_layer;
mod identity;
mod jwks;
mod local_key;
mod role;
mod verifier;

pub use claims::Claims;
pub use credentials::{SERVICE_TOKEN_TTL, ServiceCredentials};
pub use grpc::{AUTHORIZATION, GrpcAuth, authorize, forward, identity};
pub use grpc_layer::{GrpcAuthLayer, GrpcAuthService, UNAUTHENTICATED_PATH_PREFIXES};
pub use identity::Identity;
pub use jwks::{ON_DEMAND_REFRESH_INTERVAL, PERIODIC_REFRESH_INTERVAL};
pub use local_key::{LOCAL_KEY_FILE, LocalKey, issue_hs256};
pub use role::Role;
pub use verifier::{
    DEFAULT_LEEWAY_SECONDS, JwksAlgorithm, KeySource, MIN_HS256_SECRET_BYTES, Verifier, VerifierConfig,
};
