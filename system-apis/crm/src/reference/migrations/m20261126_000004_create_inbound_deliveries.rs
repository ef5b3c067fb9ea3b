//! Webhook deliveries already handled, keyed by source and the sender's delivery id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("inbound_deliveries")
                    .if_not_exists()
                    .col(string_len("source", 64))
                    .col(string_len("delivery_id", 200))
                    .col(string_len("outcome", 64))
                    .col(timestamp_with_time_zone("received_at"))
                    .primary_key(Index::create().col("source").col("delivery_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("inbound_deliveries").to_owned())
            .await
    }
}
