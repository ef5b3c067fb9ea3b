//! The people in each workspace, one row per person.

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
                    .table("workspace_members")
                    .if_not_exists()
                    .col(string_len("workspace_id", 36))
                    .col(string_len("person_id", 36))
                    .col(string_len("email", 200))
                    .col(integer("role"))
                    .col(timestamp_with_time_zone("added_at"))
                    .col(string_len("added_by", 200))
                    .primary_key(Index::create().col("workspace_id").col("person_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("workspace_members_workspace")
                            .from("workspace_members", "workspace_id")
                            .to("workspaces", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("workspace_members").to_owned())
            .await
    }
}
