//! Project setup's schema: the shared tables, the inbox, setups and intake's recommendation records.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261125_020001_create_setups;
mod m20261126_070001_create_recommendations;
mod m20261126_090002_setup_template_version;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261125_020001_create_setups::Migration));
        all.push(Box::new(m20261126_070001_create_recommendations::Migration));
        all.push(Box::new(m20261126_090002_setup_template_version::Migration));
        all
    }
}
