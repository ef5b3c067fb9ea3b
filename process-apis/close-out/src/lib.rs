//! The close-out process API (`keel.closeout.v1`): when the last billing milestone of a
//! project is invoiced, it checks that nothing is left unposted or unbilled, archives the
//! project's collaboration workspace, applies its documents' retention, closes it in PSA and
//! produces the post-project review.
//!
//! - [`check`]: what is left on a project (pure): time and expenses approved but not posted
//!   or awaiting approval, milestones not invoiced, invoices in draft, each named.
//! - [`costs`], [`exceptions`], [`review`]: the review's figures (pure): ERP cost postings by
//!   source, the exception episodes that were about the project, and margin and effort
//!   against the baseline, change orders and exceptions.
//! - [`workflow::CloseOut`]: the `close-out` workflow on Keel's engine, one instance per
//!   project: `check` → `archive-workspace` → `apply-retention` → `close-project` → `review`.
//! - [`InvoiceIssuedConsumer`]: starts a close-out per `erp.invoice.issued` event that
//!   invoices a project's last milestone, deduplicated with the inbox in this crate's store.
//! - [`service`]: the gRPC service: `StartCloseOut` (accepted and queued), `GetCloseOut`,
//!   `ListCloseOuts`, `GetReview`.
//! - [`Migrator`]: the platform tables, the inbox and the workflow tables.
//!
//! This crate owns close-out state, never a system's records: it reaches PSA, ERP,
//! collaboration and documents only through their gRPC APIs, and the other process APIs only
//! through their workflow admin's read-only exception history.

#![forbid(unsafe_code)]

pub mod check;
pub mod clients;
pub mod consumer;
pub mod costs;
pub mod exceptions;
pub mod migrations;
pub mod policy;
pub mod review;
pub mod service;
pub mod view;
pub mod workflow;

use std::sync::Arc;

pub use clients::{Channels, Downstream};
pub use consumer::InvoiceIssuedConsumer;
pub use migrations::Migrator;
pub use policy::CloseOutPolicy;
pub use service::{CloseOutGrpcService, server};
pub use workflow::CloseOut;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "close-out";

/// The workflows the close-out service registers with its engine. `own_history` reads the
/// close-out's own store for the exceptions close-outs raised (an engine with no workflows
/// over the same connection).
pub fn workflows(
    downstream: Downstream,
    policy: Arc<CloseOutPolicy>,
    own_history: Option<keel_workflow::Engine>,
) -> Vec<Arc<dyn keel_workflow::Workflow>> {
    vec![Arc::new(CloseOut::new(downstream, policy, own_history))]
}
