//! Time entries keep when they were first submitted, for time-entry compliance. Entries
//! submitted before this column existed keep it null: their submission time is unknown.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("time_entries")
                    .add_column(timestamp_with_time_zone_null("submitted_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("time_entries")
                    .drop_column("submitted_at")
                    .to_owned(),
            )
            .await
    }
}
