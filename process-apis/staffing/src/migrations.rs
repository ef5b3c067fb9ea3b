//! Staffing's schema: the shared platform tables (audit chain, idempotency), the event inbox,
//! the workflow engine's tables, and the staffing risk flags (`staffing_risks`). Staffing's
//! state is otherwise the `staffing` instances and their journals.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_160001_create_staffing_risks;

/// Migrates staffing's store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(keel_workflow::migrations::workflow());
        all.push(Box::new(m20261126_160001_create_staffing_risks::Migration));
        all
    }
}
