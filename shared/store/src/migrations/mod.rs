//! Migrations for the tables every service has: idempotency keys and the audit log.
//! A service's migrator lists [`platform`] first, then its own.

use sea_orm_migration::MigrationTrait;

mod m20261125_000001_create_idempotency_keys;
mod m20261125_000002_create_audit_log;

/// The shared tables, in order.
pub fn platform() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261125_000001_create_idempotency_keys::Migration),
        Box::new(m20261125_000002_create_audit_log::Migration),
    ]
}
