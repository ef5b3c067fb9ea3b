//! The adapters each system API can run on, by the name `[adapters]` in `keel.toml` selects.
//!
//! Registering an integrator's adapter is one line in its system's function here, beside
//! `reference`; `cargo xtask new-adapter` prints the line to add.

use std::sync::Arc;

use anyhow::bail;
use keel_config::ServiceName;
use keel_store::DatabaseConnection;
use tokio::sync::Notify;

/// What an adapter is built from: the system's own store and the waker of its outbox relay.
/// The reference adapters keep their records there; a vendor adapter may keep nothing.
pub struct AdapterContext {
    pub db: DatabaseConnection,
    pub relay_waker: Arc<Notify>,
}

fn unknown<T>(system: ServiceName, name: &str, known: &[&str]) -> anyhow::Result<T> {
    bail!(
        "adapters.{}: no {} adapter is called {name:?}; the known ones are {} (see src/adapters.rs)",
        system.config_key(),
        system.as_str(),
        known.join(", ")
    )
}

pub fn crm(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_crm::CrmAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_crm::ReferenceCrm::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Crm, other, &["reference"]),
    }
}

pub fn psa(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_psa::PsaAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_psa::ReferencePsa::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Psa, other, &["reference"]),
    }
}

pub fn erp(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_erp::ErpAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_erp::ReferenceErp::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Erp, other, &["reference"]),
    }
}

pub fn hris(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_hris::HrisAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_hris::ReferenceHris::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Hris, other, &["reference"]),
    }
}

pub fn documents(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_documents::DocumentsAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_documents::ReferenceDocuments::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Documents, other, &["reference"]),
    }
}

pub fn collaboration(
    name: &str,
    cx: AdapterContext,
) -> anyhow::Result<Arc<dyn keel_collaboration::CollaborationAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_collaboration::ReferenceCollaboration::new(
            cx.db,
            cx.relay_waker,
        ))),
        other => unknown(ServiceName::Collaboration, other, &["reference"]),
    }
}

pub fn support(name: &str, cx: AdapterContext) -> anyhow::Result<Arc<dyn keel_support::SupportAdapter>> {
    match name {
        "reference" => Ok(Arc::new(keel_support::ReferenceSupport::new(cx.db, cx.relay_waker))),
        other => unknown(ServiceName::Support, other, &["reference"]),
    }
}
