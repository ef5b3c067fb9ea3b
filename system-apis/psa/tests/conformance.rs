//! The PSA conformance kit against the reference adapter, on SQLite by default and on
//! PostgreSQL when `KEEL_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use keel_psa::ReferencePsa;
use keel_psa::reference::Migrator;
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_psa_passes_the_conformance_kit() {
    let (_store, db) = keel_conformance::migrated_store::<Migrator>("psa").await;
    keel_conformance::psa::run(Arc::new(ReferencePsa::new(db, Arc::new(Notify::new())))).await;
}
