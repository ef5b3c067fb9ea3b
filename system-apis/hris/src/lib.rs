//! The HRIS system API (`keel.hris.v1`): the firm's people, their cost, skills,
//! certifications, languages and availability, and bulk imports from HR exports.
//!
//! Every change to an employee emits `hris.employee.created` or `hris.employee.updated`
//! through the outbox, with the employee as payload. The service speaks to an
//! [`HrisAdapter`]; [`ReferenceHris`] is the complete, persisted adapter Keel runs on its own.
//!
//! This crate knows nothing of projects or staffing workflows: it keeps HR's records, answers
//! who could do a piece of work, and announces what changed.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod demo;
pub mod domain;
pub mod reference;
pub mod service;

pub use adapter::{HrisAdapter, ImportProgressSink};
pub use reference::ReferenceHris;
pub use service::HrisGrpcService;

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "hris";

/// Emitted when an employee is created; the payload is `keel.hris.v1.Employee`.
pub const EMPLOYEE_CREATED: &str = "hris.employee.created";
/// Emitted when an employee changes; the payload is `keel.hris.v1.Employee` after the change.
pub const EMPLOYEE_UPDATED: &str = "hris.employee.updated";
