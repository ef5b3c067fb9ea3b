//! One row per won opportunity being set up.

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
                    .table("setups")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_uniq("opportunity_id", 36))
                    .col(string_len("opportunity_name", 200))
                    .col(blob("opportunity"))
                    .col(string_len("state", 16))
                    .col(string_len("step", 32))
                    .col(string_len("template_id", 64))
                    .col(string_len("project_id", 36))
                    .col(string_len("project_code", 32))
                    .col(string_len_null("exception_code", 32))
                    .col(text_null("exception_reason"))
                    .col(text("exception_fields"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(string_len_null("lease_owner", 64))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(string_len("started_by", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("setups_due")
                    .table("setups")
                    .col("state")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("setups").to_owned()).await
    }
}
