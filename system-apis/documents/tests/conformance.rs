//! The documents conformance kit on the reference adapter (SQLite by default; PostgreSQL when
//! KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_documents::ReferenceDocuments;
use keel_documents::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test]
async fn the_reference_documents_system_passes_the_kit() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("documents").await;
    let report = keel_conformance::documents::run(Arc::new(ReferenceDocuments::new(db, Arc::new(Notify::new())))).await;
    assert_eq!(report.passed().len(), keel_conformance::documents::kit().names().len());
}
