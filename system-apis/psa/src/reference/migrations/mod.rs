//! The PSA's own tables. [`crate::reference::Migrator`] runs them after the shared ones.

use sea_orm_migration::MigrationTrait;

mod m20261126_000201_create_delivery_templates;
mod m20261126_000202_create_projects;
mod m20261126_000203_add_project_versions;
mod m20261126_000204_create_delivery_records;
mod m20261126_000205_create_expenses_and_resource_requests;
mod m20261126_000206_add_time_entry_submitted_at;

/// The PSA tables, in order.
pub fn psa() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261126_000201_create_delivery_templates::Migration),
        Box::new(m20261126_000202_create_projects::Migration),
        Box::new(m20261126_000203_add_project_versions::Migration),
        Box::new(m20261126_000204_create_delivery_records::Migration),
        Box::new(m20261126_000205_create_expenses_and_resource_requests::Migration),
        Box::new(m20261126_000206_add_time_entry_submitted_at::Migration),
    ]
}
