//! The billing process API (`keel.billing.v1`): is a milestone ready to invoice, its
//! pre-validated draft invoice in ERP, and the reconciliation of PSA against ERP.
//!
//! - [`readiness`]: the prerequisites of invoicing a PSA milestone, each failed one a named
//!   blocker (pure rule, and the read of its facts).
//! - [`acceptance`]: the client's acceptance of a milestone's deliverable, in billing's table.
//! - [`workflow::BillingReadiness`]: the `billing-readiness` workflow, one instance per
//!   milestone: `check` → `draft-invoice`.
//! - [`reconcile`]: the comparison of one project in PSA and ERP (pure), and
//!   [`reconciliation`]: the `reconciliation` workflow (one per run) and the
//!   `reconciliation-difference` workflow (one per difference, in the exception queue while
//!   it persists); [`reports`] keeps the runs' reports.
//! - [`MilestoneReachedConsumer`]: `erp.milestone.reached` starts a preparation.
//! - [`service`]: the gRPC service.
//! - [`Migrator`]: the platform tables, the inbox, the workflow tables and billing's own.
//!
//! A PSA milestone (`"1"`, `"2"`: its position in the project) stands for the ERP billing
//! milestone of the same name under the project's code: project setup opens the code for the
//! PSA project, and billing milestones are created in ERP under that code with the PSA
//! milestone's name, amount and due date.
//!
//! This crate owns its workflow state, acceptances and reports, never a system's records: it
//! reaches PSA and ERP only through their gRPC APIs.

#![forbid(unsafe_code)]

pub mod acceptance;
pub mod clients;
pub mod consumer;
pub mod migrations;
pub mod readiness;
pub mod reconcile;
pub mod reconciliation;
pub mod reports;
pub mod service;
pub mod workflow;

use std::sync::Arc;

pub use clients::Downstream;
pub use consumer::MilestoneReachedConsumer;
pub use migrations::Migrator;
pub use reconciliation::{Reconciliation, ReconciliationDifference};
pub use service::BillingGrpcService;
pub use workflow::BillingReadiness;

use keel_workflow::RetryPolicy;
use sea_orm::DatabaseConnection;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "billing";

/// The workflows billing registers with its engine, over billing's store `db` (the engine's).
pub fn workflows(downstream: Downstream, db: DatabaseConnection) -> Vec<Arc<dyn keel_workflow::Workflow>> {
    workflows_with_retry(downstream, db, RetryPolicy::default())
}

/// The same with every step retried under `retry` (tests use millisecond delays).
pub fn workflows_with_retry(
    downstream: Downstream,
    db: DatabaseConnection,
    retry: RetryPolicy,
) -> Vec<Arc<dyn keel_workflow::Workflow>> {
    vec![
        Arc::new(BillingReadiness::with_retry(downstream.clone(), db.clone(), retry)),
        Arc::new(Reconciliation::with_retry(downstream.clone(), db, retry)),
        Arc::new(ReconciliationDifference::with_retry(downstream, retry)),
    ]
}
