//! The PSA system API: Keel's view of the professional-services automation system, where
//! delivery templates live, where a won deal becomes a project with its work breakdown,
//! billing milestones and budget baseline, and where delivery is recorded against it: rate
//! cards, assignments, time entries (DRAFT → SUBMITTED → APPROVED | REJECTED → POSTED),
//! change requests and budget actuals. Events: `psa.project.closed`,
//! `psa.time_entry.submitted|approved|rejected|posted`, `psa.change_request.approved|applied`.
//!
//! - [`adapter::PsaAdapter`]: the one trait a PSA product implements, taking checked inputs
//!   from [`domain`] and answering in the canonical contract (`keel.psa.v1`).
//! - [`reference::ReferencePsa`]: the complete adapter persisted with sea-orm, so Keel runs
//!   without a vendor PSA; [`reference::Migrator`] creates its tables.
//! - [`service::PsaGrpcService`]: the tonic service: authorize, parse, call the adapter.
//! - [`templates`]: delivery templates as versioned files (`config/templates/`), checked at
//!   start against the template policy's allowed overrides.
//! - [`demo::templates`]: the shipped template files, built in, for `keel up --demo` and tests.
//!
//! What this crate deliberately does not know: CRM or ERP records, which template a deal
//! should use (the project-setup process API picks it), or the richer rules of time capture
//! (those live in the process API; here only the record's own states and invariants).

#![forbid(unsafe_code)]

pub mod adapter;
pub mod demo;
pub mod domain;
pub mod reference;
pub mod service;
pub mod templates;

pub use adapter::PsaAdapter;
pub use reference::ReferencePsa;
pub use service::PsaGrpcService;

/// The service's name: its store (`psa.db`, schema `keel_psa`), its audit actor scope and its
/// `--target`.
pub const SERVICE_NAME: &str = "psa";
