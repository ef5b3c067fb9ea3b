//! Staffing's schema: the shared platform tables (audit chain, idempotency), the event inbox,
//! the workflow engine's tables, the staffing risk flags (`staffing_risks`) and when each
//! project's recorded assessment read its staffing (`staffing_assessments`). Staffing's
//! state is otherwise the `staffing` instances and their journals.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_160001_create_staffing_risks;
mod m20261128_010001_create_staffing_assessments;

/// Migrates staffing's store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(keel_workflow::migrations::workflow());
        all.push(Box::new(m20261126_160001_create_staffing_risks::Migration));
        all.push(Box::new(m20261128_010001_create_staffing_assessments::Migration));
        all
    }
}
