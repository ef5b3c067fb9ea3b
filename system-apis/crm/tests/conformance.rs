//! The CRM conformance kit, run against the reference adapter.

use std::sync::Arc;

use keel_crm::ReferenceCrm;
use keel_crm::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_crm_passes_the_conformance_kit() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("crm").await;
    keel_conformance::crm::run(Arc::new(ReferenceCrm::new(db, Arc::new(Notify::new())))).await;
}
