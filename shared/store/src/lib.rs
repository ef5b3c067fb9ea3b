//! Persistence every Keel service shares: connections (a SQLite file per service in
//! embedded mode, a PostgreSQL schema per service otherwise), the shared migrations, replay-safe
//! idempotency for mutating calls, and the hash-chained audit log.
//!
//! This crate knows nothing of any service's records; each service brings its own migrations
//! and runs them together with [`migrations::platform`].

#![forbid(unsafe_code)]

pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod connect;
pub mod errors;
pub mod idempotency;
pub mod migrations;
pub mod testing;
pub mod transaction;

pub use connect::{Backend, SQLITE_CACHE_KIB_PER_STORE, StoreOptions, connect, sqlite_cache_kib_per_connection};
pub use errors::{db_error, is_unique_violation};
pub use sea_orm::{DatabaseConnection, DatabaseTransaction};
pub use transaction::begin_write;
