//! Billing's schema: the shared platform tables (audit chain, idempotency), the event inbox,
//! the workflow engine's tables, and billing's own: deliverable acceptances and
//! reconciliation reports.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_030001_create_billing_tables;

/// Migrates billing's store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(keel_workflow::migrations::workflow());
        all.push(Box::new(m20261126_030001_create_billing_tables::Migration));
        all
    }
}
