//! The project-setup process API (`keel.projectsetup.v1`): turns a won opportunity into a
//! delivery-ready project.
//!
//! On `crm.opportunity.won` it records a setup, then works through its steps: validate the
//! mandatory commercial fields, select the delivery template (service line, contract type,
//! region, client tier), create the PSA project, open the ERP project code, post the budget.
//! Every check that can fail on the deal's data runs before the first write, so a setup that
//! stops for a missing field or an unmatched template leaves nothing half-made. Each step's
//! downstream call carries an idempotency key derived from the setup and the step, so a
//! retried step never creates twice. Transient failures retry with backoff; anything a person
//! must fix puts the setup in the exception list with its reason.
//!
//! With a statement of work, intake (`intake`) recommends the delivery template first: the
//! recommendation is recorded, a person other than the requester accepts or overrides it, and
//! the setup waits at template selection until then and uses only the approved template.
//!
//! This crate owns setup state, never a system's records: it reaches CRM, PSA and ERP only
//! through their gRPC APIs.

#![forbid(unsafe_code)]

pub mod clients;
pub mod consumer;
pub mod intake;
pub mod migrations;
pub mod policy;
pub mod service;
pub mod setups;
pub mod worker;

pub use clients::Downstream;
pub use consumer::OpportunityWonConsumer;
pub use intake::{Intake, IntakePolicy};
pub use migrations::Migrator;
pub use service::ProjectSetupGrpcService;
pub use worker::{Worker, WorkerOptions};

/// The service's name: its store, its audit actor, its consumer names.
pub const SERVICE_NAME: &str = "project-setup";
