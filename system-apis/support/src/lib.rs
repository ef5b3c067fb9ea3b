//! The support system API (`keel.support.v1`): tickets a client raises against a delivery
//! project, their lifecycle (OPEN → IN_PROGRESS → RESOLVED → CLOSED), severity and escalations,
//! and the per-project summary that feeds project health.
//!
//! Opening a ticket emits `support.ticket.opened`, each status change
//! `support.ticket.status_changed`, each escalation `support.ticket.escalated`. The service
//! speaks to a [`SupportAdapter`]; [`ReferenceSupport`] is the complete, persisted adapter Keel
//! runs on its own.
//!
//! This crate knows nothing of how project health is scored: it keeps the support product's
//! records, counts them exactly, and announces what happened to them.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod domain;
pub mod reference;
pub mod service;

pub use adapter::SupportAdapter;
pub use reference::ReferenceSupport;
pub use service::SupportGrpcService;

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "support";

/// Emitted when a ticket is opened; the payload is `keel.support.v1.TicketOpened`.
pub const TICKET_OPENED: &str = "support.ticket.opened";
/// Emitted when a ticket changes status; the payload is `keel.support.v1.TicketStatusChanged`.
pub const TICKET_STATUS_CHANGED: &str = "support.ticket.status_changed";
/// Emitted when a ticket is escalated; the payload is `keel.support.v1.TicketEscalated`.
pub const TICKET_ESCALATED: &str = "support.ticket.escalated";
