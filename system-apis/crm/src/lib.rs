//! The CRM system API (`keel.crm.v1`): client accounts and the opportunities sold to them.
//!
//! Marking an opportunity won emits `crm.opportunity.won` through the outbox, which starts
//! project setup. Opportunities are versioned (optimistic concurrency), move through their
//! open stages, and close as won or lost; accounts have contacts. [`webhook`] receives
//! HubSpot's deal-stage webhooks and closes the linked opportunities. The service speaks to a [`CrmAdapter`]; [`ReferenceCrm`] is the complete,
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
pub mod webhook;

pub use adapter::CrmAdapter;
pub use reference::ReferenceCrm;
pub use service::CrmGrpcService;
pub use webhook::{HubSpotWebhook, HubSpotWebhookConfig};

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "crm";

/// Emitted when an opportunity is won; the payload is `keel.crm.v1.OpportunityWon`.
pub const OPPORTUNITY_WON: &str = "crm.opportunity.won";

/// Emitted when an opportunity's commercial fields change; payload `keel.crm.v1.OpportunityUpdated`.
pub const OPPORTUNITY_UPDATED: &str = "crm.opportunity.updated";

/// Emitted when an open opportunity moves to its next stage; payload
/// `keel.crm.v1.OpportunityStageAdvanced`.
pub const OPPORTUNITY_STAGE_ADVANCED: &str = "crm.opportunity.stage_advanced";

/// Emitted when an opportunity is lost; the payload is `keel.crm.v1.OpportunityLost`.
pub const OPPORTUNITY_LOST: &str = "crm.opportunity.lost";

/// Emitted when a contact is added to an account; payload `keel.crm.v1.ContactCreated`.
pub const CONTACT_CREATED: &str = "crm.contact.created";
