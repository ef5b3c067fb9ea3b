//! The time-capture process API (`keel.timecapture.v1`): checks proposed time against the
//! firm's time policy, and posts approved PSA time entries to the ERP ledger exactly once.
//!
//! - [`rules`]: the named validation rules (pure), under a [`TimePolicy`].
//! - [`workflow::TimePosting`]: the `time-posting` workflow on Keel's engine, one instance
//!   per approved entry: `fetch` (PSA) → `cost` (HRIS) → `post-to-erp` (ERP) →
//!   `mark-posted` (PSA).
//! - [`expenses::ExpensePostingWorkflow`]: the `expense-posting` workflow, one instance per
//!   approved expense: `fetch` (PSA) → `employer` (HRIS) → `post-to-erp` (ERP) → `mark-posted`
//!   (PSA); [`ExpenseApprovedConsumer`] starts one per `psa.expense.approved` event.
//! - [`TimeEntryApprovedConsumer`]: starts an instance per `psa.time_entry.approved` event,
//!   deduplicated with the inbox in time capture's store.
//! - [`service`]: the gRPC service: `ValidateTimeEntry`, `PostApprovedTime` (accepted and
//!   queued), `GetPosting`, and the people's actions of [`actions`]: `RecordTime`,
//!   `SubmitTime` (a consultant's own time), `ApproveTime`, `RejectTime` (a manager of the
//!   project, never on their own time: that refusal is audited).
//! - [`Migrator`]: the platform tables, the inbox and the workflow tables.
//!
//! This crate owns posting state, never a system's records: it reaches PSA and ERP only
//! through their gRPC APIs.

#![forbid(unsafe_code)]

pub mod actions;
pub mod approvals;
pub mod clients;
pub mod consumer;
pub mod expenses;
pub mod migrations;
pub mod policy;
pub mod rules;
pub mod service;
pub mod workflow;

use std::sync::Arc;

pub use clients::Downstream;
pub use consumer::{ExpenseApprovedConsumer, TimeEntryApprovedConsumer};
pub use migrations::Migrator;
pub use policy::TimePolicy;
pub use service::TimeCaptureGrpcService;
pub use workflow::TimePosting;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "time-capture";

/// The workflows time capture registers with its engine.
pub fn workflows(downstream: Downstream) -> Vec<Arc<dyn keel_workflow::Workflow>> {
    vec![
        Arc::new(TimePosting::new(downstream.clone())),
        Arc::new(expenses::ExpensePostingWorkflow::with_retry(
            downstream,
            keel_workflow::RetryPolicy::default(),
        )),
    ]
}
