//! The reference support adapter passes the conformance kit every support adapter must pass
//! (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_support::ReferenceSupport;
use keel_support::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_support_passes_every_check() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("support").await;
    let report = keel_conformance::support::run(Arc::new(ReferenceSupport::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(report.passed().len(), keel_conformance::support::kit().names().len());
}
