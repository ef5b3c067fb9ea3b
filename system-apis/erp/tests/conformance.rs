//! The ERP conformance kit on the reference adapter (SQLite, or PostgreSQL when
//! `KEEL_TEST_DATABASE_URL` is set).

use std::sync::Arc;

use keel_erp::ReferenceErp;
use keel_erp::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_erp_passes_every_check() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("erp").await;
    let report = keel_conformance::erp::run(Arc::new(ReferenceErp::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(report.failed(), Vec::<(&str, &str)>::new());
    assert_eq!(report.passed().len(), keel_conformance::erp::kit().names().len());
}
