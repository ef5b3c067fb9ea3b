//! Staffing's schema: the shared platform tables (audit chain, idempotency), the event inbox,
//! and the workflow engine's tables. Staffing keeps no tables of its own: its state is the
//! `staffing` instances and their journals.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Migrates staffing's store.
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
