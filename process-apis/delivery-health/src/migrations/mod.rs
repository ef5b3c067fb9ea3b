//! Delivery health's schema: the shared platform tables (audit chain, idempotency), the event
//! inbox, and its own tables: the latest evaluation per project, alerts, and notifications with
//! their webhook delivery state; the margin forecasts and time-entry anomalies insight records;
//! and when each recorded evaluation read its project (`health_evaluations.read_at`).

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_020001_create_delivery_health;
mod m20261126_160001_create_insight;
mod m20261128_020001_add_evaluation_read_at;

/// Migrates delivery health's store.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_020001_create_delivery_health::Migration));
        all.push(Box::new(m20261126_160001_create_insight::Migration));
        all.push(Box::new(m20261128_020001_add_evaluation_read_at::Migration));
        all
    }
}
