//! The documents system API (`keel.documents.v1`): a client's contract documents (SOWs,
//! change orders, invoice backup), their immutable content versions, their retention and legal
//! holds, and the e-signature envelopes they are sent out in.
//!
//! A decided envelope emits `documents.envelope.signed` or `documents.envelope.declined`
//! through the outbox. The service speaks to a [`DocumentsAdapter`]; [`ReferenceDocuments`] is
//! the complete, persisted adapter Keel runs on its own.
//!
//! This crate knows nothing of projects' workflows or of CRM and PSA: a client or project id
//! is an opaque reference, and close-out is a call ([`DocumentsAdapter::apply_retention`]),
//! not something this crate watches for.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod demo;
pub mod domain;
pub mod reference;
pub mod service;

pub use adapter::DocumentsAdapter;
pub use reference::ReferenceDocuments;
pub use service::DocumentsGrpcService;

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "documents";

/// Emitted when every signer signed an envelope; the payload is
/// `keel.documents.v1.EnvelopeSigned`.
pub const ENVELOPE_SIGNED: &str = "documents.envelope.signed";

/// Emitted when a signer declined an envelope; the payload is
/// `keel.documents.v1.EnvelopeDeclined`.
pub const ENVELOPE_DECLINED: &str = "documents.envelope.declined";
