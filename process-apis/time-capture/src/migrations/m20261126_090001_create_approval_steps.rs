//! One row per approval given in a time entry's approval chain.

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
                    .table("time_approval_steps")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("time_entry_id", 36))
                    .col(big_integer("entry_version"))
                    .col(integer("step"))
                    .col(integer("steps_required"))
                    .col(string_len("approver_id", 36))
                    .col(timestamp_with_time_zone("approved_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("time_approval_steps_entry_step")
                    .table("time_approval_steps")
                    .col("time_entry_id")
                    .col("entry_version")
                    .col("step")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("time_approval_steps").to_owned())
            .await
    }
}
