//! The reference collaboration adapter passes the conformance kit every collaboration adapter
//! must pass (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_collaboration::ReferenceCollaboration;
use keel_collaboration::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_collaboration_passes_every_check() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("collaboration").await;
    let report =
        keel_conformance::collaboration::run(Arc::new(ReferenceCollaboration::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(
        report.passed().len(),
        keel_conformance::collaboration::kit().names().len()
    );
}
