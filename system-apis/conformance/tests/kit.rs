//! The kit itself: it passes a conforming adapter and names what a broken one gets wrong.

use std::sync::Arc;

use keel_crm::ReferenceCrm;
use keel_crm::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_crm_passes_every_check() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("crm").await;
    let report = keel_conformance::crm::run(Arc::new(ReferenceCrm::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(report.failed(), Vec::<(&str, &str)>::new());
    assert_eq!(report.passed().len(), keel_conformance::crm::kit().names().len());
}
