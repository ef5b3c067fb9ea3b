//! Budgets: one per project code, with the exact total of their lines in minor units.

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
                    .table("budgets")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_uniq("project_code_id", 36))
                    .col(string_len("currency", 3))
                    .col(big_integer("total_minor_units"))
                    .col(timestamp_with_time_zone("posted_at"))
                    .col(string_len("posted_by", 200))
                    .foreign_key(
                        ForeignKey::create()
                            .name("budgets_project_code")
                            .from("budgets", "project_code_id")
                            .to("project_codes", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("budgets").to_owned()).await
    }
}
