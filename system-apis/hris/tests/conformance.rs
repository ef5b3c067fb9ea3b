//! The reference HRIS passes the HRIS conformance kit (SQLite, or PostgreSQL under
//! KEEL_TEST_DATABASE_URL).

use std::sync::Arc;

use keel_hris::ReferenceHris;
use keel_hris::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hris_passes_the_conformance_kit() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("hris").await;
    let report = keel_conformance::hris::run(Arc::new(ReferenceHris::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(report.passed().len(), keel_conformance::hris::kit().names().len());
}
