//! HRIS's schema: the shared tables, then employees and imports.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_040001_create_employees;
mod m20261126_040002_create_employee_imports;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_040001_create_employees::Migration));
        all.push(Box::new(m20261126_040002_create_employee_imports::Migration));
        all
    }
}
