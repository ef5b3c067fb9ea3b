//! The reference ERP's schema: the platform tables (idempotency keys, audit log), the event
//! outbox and inbox, then the ERP's own tables, one migration per file.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_000001_create_number_sequences;
mod m20261126_000002_create_project_codes;
mod m20261126_000003_create_budgets;
mod m20261126_000004_create_budget_lines;
mod m20261126_000005_add_versions_and_sequences;
mod m20261126_000006_create_legal_entities;
mod m20261126_000007_create_accounts;
mod m20261126_000008_create_cost_centers;
mod m20261126_000009_create_exchange_rates;
mod m20261126_000010_create_journals;
mod m20261126_000011_create_journal_lines;
mod m20261126_000012_create_work_postings;
mod m20261126_000013_create_billing_milestones;
mod m20261126_000014_create_invoices;
mod m20261126_000015_create_revenue_schedules;

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
        all.push(Box::new(m20261126_000005_add_versions_and_sequences::Migration));
        all.push(Box::new(m20261126_000006_create_legal_entities::Migration));
        all.push(Box::new(m20261126_000007_create_accounts::Migration));
        all.push(Box::new(m20261126_000008_create_cost_centers::Migration));
        all.push(Box::new(m20261126_000009_create_exchange_rates::Migration));
        all.push(Box::new(m20261126_000010_create_journals::Migration));
        all.push(Box::new(m20261126_000011_create_journal_lines::Migration));
        all.push(Box::new(m20261126_000012_create_work_postings::Migration));
        all.push(Box::new(m20261126_000013_create_billing_milestones::Migration));
        all.push(Box::new(m20261126_000014_create_invoices::Migration));
        all.push(Box::new(m20261126_000015_create_revenue_schedules::Migration));
        all
    }
}
