//! The staffing process API (`keel.staffing.v1`): from a PSA resource request to a filled
//! assignment, with the candidates ranked and explained and leadership's approval where the
//! policy asks for it.
//!
//! - [`scoring`]: how a candidate scores (skills, availability, utilization against target,
//!   location) and what staffing them costs and earns (pure, decimal).
//! - [`policy::StaffingPolicy`]: the versioned thresholds (`config/policies/staffing.toml`).
//! - [`workflow::Staffing`]: the `staffing` workflow on Keel's engine, one instance per
//!   resource request: `fetch` → `rank` → `approve` → `propose` → `assign` → `fill`.
//! - [`ResourceRequestOpenedConsumer`]: starts an instance per `psa.resource_request.opened`.
//! - [`risk`]: staffing risk on a project's team (keel-insight's assessment), each flag
//!   recorded once and decided once by a resource manager, behind `insight.staffing_risk`;
//!   of two concurrent assessments of a project, the one that read later is recorded.
//! - [`ResourceRequestFilledConsumer`]: assesses the project's staffing risk per
//!   `psa.resource_request.filled`.
//! - [`service`]: the gRPC service: `StaffResourceRequest` (accepted and queued),
//!   `RankCandidates` (read-only), `GetStaffing`, `AssessStaffingRisk`, `ListStaffingRisks`,
//!   `ReviewStaffingRisk`.
//! - [`Migrator`]: the platform tables, the inbox, the workflow tables, `staffing_risks` and
//!   `staffing_assessments`.
//!
//! Staffing owns no system's records: it reaches PSA and HRIS only through their gRPC APIs.

#![forbid(unsafe_code)]

pub mod clients;
pub mod consumer;
pub mod migrations;
pub mod policy;
pub mod risk;
pub mod scoring;
pub mod service;
pub mod workflow;

pub use clients::Downstream;
pub use consumer::{ResourceRequestFilledConsumer, ResourceRequestOpenedConsumer};
pub use migrations::Migrator;
pub use policy::{InsightSwitches, StaffingPolicy};
pub use risk::Risks;
pub use workflow::Staffing;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "staffing";
