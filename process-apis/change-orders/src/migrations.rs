//! The change-order store: the shared platform tables (audit chain, idempotency), the event
//! inbox, and the workflow engine's tables. Change orders keep no tables of their own: their
//! state is the `change-order` instances and their journals.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Migrates the change-order store.
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
