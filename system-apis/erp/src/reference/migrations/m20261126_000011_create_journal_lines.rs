//! Journal lines: one side, a positive amount in minor units, per legal entity and currency.

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
                    .table("journal_lines")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("journal_id", 36))
                    .col(integer("line_number"))
                    .col(string_len("legal_entity", 16))
                    .col(string_len("account_code", 10))
                    .col(string_len_null("cost_center", 32))
                    .col(string_len_null("project_code", 16))
                    .col(string_len("side", 8))
                    .col(big_integer("amount_minor_units"))
                    .col(string_len("currency", 3))
                    .col(string_len("memo", 1000))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("journal_lines_position")
                    .table("journal_lines")
                    .col("journal_id")
                    .col("line_number")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("journal_lines_entity")
                    .table("journal_lines")
                    .col("legal_entity")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("journal_lines_project")
                    .table("journal_lines")
                    .col("project_code")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("journal_lines").to_owned())
            .await?;
        Ok(())
    }
}
