//! Invoices and their lines; a milestone is on at most one invoice.

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
                    .table("invoices")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_null("number", 16).unique_key())
                    .col(string_len("project_code", 16))
                    .col(string_len("legal_entity", 16))
                    .col(string_len("currency", 3))
                    .col(string_len("status", 16))
                    .col(string_len_null("milestone_id", 36).unique_key())
                    .col(big_integer("total_minor_units"))
                    .col(string_len_null("issue_date", 10))
                    .col(string_len_null("journal_id", 36))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("invoice_lines")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("invoice_id", 36))
                    .col(integer("line_number"))
                    .col(string_len("description", 1000))
                    .col(big_integer("amount_minor_units"))
                    .col(string_len("currency", 3))
                    .col(string_len("source", 100))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoice_lines_position")
                    .table("invoice_lines")
                    .col("invoice_id")
                    .col("line_number")
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("invoice_lines").to_owned())
            .await?;
        manager.drop_table(Table::drop().table("invoices").to_owned()).await?;
        Ok(())
    }
}
