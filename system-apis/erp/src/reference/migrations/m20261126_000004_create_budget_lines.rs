//! Budget lines: a role, its hours (decimal text) and its amount (minor units), in order.

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
                    .table("budget_lines")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("budget_id", 36))
                    .col(integer("line_number"))
                    .col(string_len("role", 64))
                    .col(string_len("hours", 64))
                    .col(big_integer("amount_minor_units"))
                    .col(string_len("currency", 3))
                    .foreign_key(
                        ForeignKey::create()
                            .name("budget_lines_budget")
                            .from("budget_lines", "budget_id")
                            .to("budgets", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("budget_lines_position")
                    .table("budget_lines")
                    .col("budget_id")
                    .col("line_number")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("budget_lines").to_owned()).await
    }
}
