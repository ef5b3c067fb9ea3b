//! The close-out store: the shared platform tables (audit chain, idempotency), the event
//! inbox, and the workflow engine's tables. Close-outs keep no tables of their own: their
//! state, the review included, is the `close-out` instances and their journals.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Migrates the close-out store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(keel_workflow::migrations::workflow());
        all
    }
}
