//! The reference ERP's schema: the platform tables (idempotency keys, audit log), the event
//! outbox and inbox, then the ERP's own tables, one migration per file.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_000001_create_number_sequences;
mod m20261126_000002_create_project_codes;
mod m20261126_000003_create_budgets;
mod m20261126_000004_create_budget_lines;

/// Every migration of the ERP database, in order.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_000001_create_number_sequences::Migration));
        all.push(Box::new(m20261126_000002_create_project_codes::Migration));
        all.push(Box::new(m20261126_000003_create_budgets::Migration));
        all.push(Box::new(m20261126_000004_create_budget_lines::Migration));
        all
    }
}
