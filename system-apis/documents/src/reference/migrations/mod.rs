//! The documents schema: the shared tables, then documents, their versions and envelopes.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261126_040001_create_documents;
mod m20261126_040002_create_document_versions;
mod m20261126_040003_create_envelopes;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.push(Box::new(m20261126_040001_create_documents::Migration));
        all.push(Box::new(m20261126_040002_create_document_versions::Migration));
        all.push(Box::new(m20261126_040003_create_envelopes::Migration));
        all
    }
}
