//! The CRM system API (`keel.crm.v1`): client accounts and the opportunities sold to them.
//!
//! Marking an opportunity won emits `crm.opportunity.won` through the outbox, which starts
//! project setup. The service speaks to a [`CrmAdapter`]; [`ReferenceCrm`] is the complete,
//! persisted adapter Keel runs on its own.
//!
//! This crate knows nothing of projects, templates or workflows: it keeps CRM's records and
//! announces what happened to them.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod demo;
pub mod domain;
pub mod reference;
pub mod service;

pub use adapter::CrmAdapter;
pub use reference::ReferenceCrm;
pub use service::CrmGrpcService;

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "crm";

/// Emitted when an opportunity is won; the payload is `keel.crm.v1.OpportunityWon`.
pub const OPPORTUNITY_WON: &str = "crm.opportunity.won";
