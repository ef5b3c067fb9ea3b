//! The conformance kit: what every system-API adapter must do, checked through the real gRPC
//! service on loopback.
//!
//! Each system's kit is behind a feature of the same name. An adapter's own test runs its
//! system's kit with one call:
//!
//! ```no_run
//! # async fn example(adapter: std::sync::Arc<dyn keel_crm::CrmAdapter>) {
//! keel_conformance::crm::run(adapter).await;
//! # }
//! ```
//!
//! The kit serves the adapter behind Keel's own gRPC service (authentication, parsing, error
//! mapping) and checks the rules every system API follows: idempotency keys with Stripe's
//! semantics, optimistic concurrency, page tokens with a default of 50 and a cap of 100, field
//! violations on bad input, typed not-supported answers. Every check runs, and the kit fails
//! with a report naming each check that did not pass and why, so an adapter under
//! construction sees exactly what is left.

mod harness;
mod kit;
pub mod rules;

#[cfg(feature = "collaboration")]
pub mod collaboration;
#[cfg(feature = "crm")]
pub mod crm;
#[cfg(feature = "documents")]
pub mod documents;
#[cfg(feature = "erp")]
pub mod erp;
#[cfg(feature = "hris")]
pub mod hris;
#[cfg(feature = "psa")]
pub mod psa;
#[cfg(feature = "support")]
pub mod support;

pub use harness::{Harness, MAX_MESSAGE_BYTES, migrated_store};
pub use kit::{Check, CheckFuture, CheckResult, Kit, Outcome, Report};
