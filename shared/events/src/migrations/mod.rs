//! The outbox and inbox tables. A service that publishes or consumes events lists
//! [`events`] in its migrator after `keel_store::migrations::platform()`.

use sea_orm_migration::MigrationTrait;

mod m20261125_000101_create_outbox;
mod m20261125_000102_create_inbox;
mod m20261127_000103_index_inbox_applied_at;

pub fn events() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261125_000101_create_outbox::Migration),
        Box::new(m20261125_000102_create_inbox::Migration),
        Box::new(m20261127_000103_index_inbox_applied_at::Migration),
    ]
}
