//! The ERP system API: the project codes the firm's ERP opens for PSA projects, and the budget
//! posted against each code, in the canonical model of `proto/keel/erp/v1`.
//!
//! - [`service`] is the tonic service: it authorizes the caller, parses the request once
//!   ([`domain`]) and hands checked input to an [`ErpAdapter`].
//! - [`adapter`] is the trait every ERP product implements.
//! - [`reference`] is the complete, persisted adapter (sea-orm on SQLite or PostgreSQL), so Keel
//!   runs without a vendor ERP. It is shaped to grow into a double-entry ledger: amounts are
//!   integer minor units with a currency column, and document numbers come from
//!   `number_sequences`.
//!
//! What this crate does not know: PSA, CRM or any workflow. It checks the integrity of its own
//! records (one code per project, one budget per code, the code's currency) and no more.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod domain;
pub mod financials;
pub mod reference;
pub mod service;

pub use adapter::ErpAdapter;
pub use reference::ReferenceErp;
pub use service::ErpGrpcService;

/// The service's name: its database (`erp.db`, schema `keel_erp`) and its `keel run --target`.
pub const SERVICE_NAME: &str = "erp";
