//! CRM's schema: the shared tables, then accounts, opportunities, their versions and external
//! ids, contacts, and the inbound webhook deliveries already handled.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261125_010001_create_accounts;
mod m20261125_010002_create_opportunities;
mod m20261126_000001_add_versions;
mod m20261126_000002_create_opportunity_external_ids;
mod m20261126_000003_create_contacts;
mod m20261126_000004_create_inbound_deliveries;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261125_010001_create_accounts::Migration));
        all.push(Box::new(m20261125_010002_create_opportunities::Migration));
        all.push(Box::new(m20261126_000001_add_versions::Migration));
        all.push(Box::new(m20261126_000002_create_opportunity_external_ids::Migration));
        all.push(Box::new(m20261126_000003_create_contacts::Migration));
        all.push(Box::new(m20261126_000004_create_inbound_deliveries::Migration));
        all
    }
}
