//! Time capture's schema: the shared platform tables (audit chain, idempotency), the event
//! inbox, the workflow engine's instances, journal, approvals and incidents, and its own
//! `time_approval_steps`: the approvals given so far in each entry's approval chain.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_090001_create_approval_steps;

/// Migrates time capture's store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(keel_workflow::migrations::workflow());
        all.push(Box::new(m20261126_090001_create_approval_steps::Migration));
        all
    }
}
