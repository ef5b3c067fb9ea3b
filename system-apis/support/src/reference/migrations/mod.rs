//! Support's schema: the shared tables, then tickets.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_080001_create_tickets;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_080001_create_tickets::Migration));
        all
    }
}
