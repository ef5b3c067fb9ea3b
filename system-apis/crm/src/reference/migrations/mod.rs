//! CRM's schema: the shared tables, then accounts and opportunities.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261125_010001_create_accounts;
mod m20261125_010002_create_opportunities;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261125_010001_create_accounts::Migration));
        all.push(Box::new(m20261125_010002_create_opportunities::Migration));
        all
    }
}
