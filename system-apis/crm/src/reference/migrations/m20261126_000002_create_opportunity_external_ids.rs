//! Ids of opportunities in other systems (HubSpot deal ids), unique per source.

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
                    .table("opportunity_external_ids")
                    .if_not_exists()
                    .col(string_len("source", 64))
                    .col(string_len("external_id", 200))
                    .col(string_len("opportunity_id", 36))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("source").col("external_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("opportunity_external_ids_opportunity")
                            .from("opportunity_external_ids", "opportunity_id")
                            .to("opportunities", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("opportunity_external_ids_opportunity")
                    .table("opportunity_external_ids")
                    .col("opportunity_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("opportunity_external_ids").to_owned())
            .await
    }
}
