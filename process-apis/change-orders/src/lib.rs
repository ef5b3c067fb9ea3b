//! The change-order process API (`keel.changeorders.v1`): applies an approved PSA change
//! request to every system it touches (PSA scope and budget, the ERP budget, billing schedule
//! and revenue forecast, and the filed change-order document), all of it or none.
//!
//! - [`plan`]: what a change order will do, worked out once from the before-images (pure),
//!   with the delta spread over milestones exactly as PSA spreads it.
//! - [`workflow::ChangeOrder`]: the `change-order` workflow on Keel's engine, one instance per
//!   change request: `fetch` → `erp-budget` → `erp-billing-schedule` →
//!   `erp-revenue-forecast` → `file-document` → `psa-apply` (the commit point). A saga: when
//!   a system refuses, the engine runs the undos (`undo.rs`) of every step done, latest
//!   first, and the change order ends compensated with the refusal on record.
//! - [`ChangeRequestApprovedConsumer`]: starts a change order per
//!   `psa.change_request.approved` event, deduplicated with the inbox in this crate's store.
//! - [`service`]: the gRPC service: `ApplyChangeOrder` (accepted and queued),
//!   `GetChangeOrder`, and `RaiseChangeRequest` ([`raise`]: a project manager's change
//!   request created and submitted in PSA).
//! - [`Migrator`]: the platform tables, the inbox and the workflow tables.
//!
//! This crate owns change-order state, never a system's records: it reaches PSA, ERP and
//! documents only through their gRPC APIs.

#![forbid(unsafe_code)]

pub mod clients;
pub mod consumer;
pub mod migrations;
pub mod plan;
pub mod raise;
pub mod service;
mod undo;
pub mod workflow;

use std::sync::Arc;

pub use clients::Downstream;
pub use consumer::ChangeRequestApprovedConsumer;
pub use migrations::Migrator;
pub use service::{ChangeOrderGrpcService, server};
pub use workflow::ChangeOrder;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "change-orders";

/// The workflows the change-order service registers with its engine.
pub fn workflows(downstream: Downstream) -> Vec<Arc<dyn keel_workflow::Workflow>> {
    vec![Arc::new(ChangeOrder::new(downstream))]
}
