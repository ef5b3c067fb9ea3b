//! Billing milestones: PLANNED, REACHED, INVOICED.

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
                    .table("billing_milestones")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_code", 16))
                    .col(string_len("name", 200))
                    .col(big_integer("amount_minor_units"))
                    .col(string_len("currency", 3))
                    .col(string_len("due_date", 10))
                    .col(string_len("status", 16))
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
                    .name("billing_milestones_project")
                    .table("billing_milestones")
                    .col("project_code")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("billing_milestones").to_owned())
            .await?;
        Ok(())
    }
}
