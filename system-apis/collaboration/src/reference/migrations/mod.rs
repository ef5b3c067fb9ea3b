//! Collaboration's schema: the shared tables, then workspaces and their members.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_070001_create_workspaces;
mod m20261126_070002_create_workspace_members;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_070001_create_workspaces::Migration));
        all.push(Box::new(m20261126_070002_create_workspace_members::Migration));
        all
    }
}
