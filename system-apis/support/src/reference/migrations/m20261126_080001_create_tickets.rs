//! Tickets, indexed by project for lists and the project summary.

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
                    .table("tickets")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("account_id", 36))
                    .col(string_len("project_id", 36))
                    .col(string_len("title", 200))
                    .col(text("description"))
                    .col(integer("severity"))
                    .col(integer("status"))
                    .col(boolean("escalated"))
                    .col(integer("escalation_count"))
                    .col(text("escalation_reason"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tickets_project")
                    .table("tickets")
                    .col("project_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("tickets").to_owned()).await
    }
}
