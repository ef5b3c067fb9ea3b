//! Posted time entries and expenses: one row per entry, which makes posting an entry twice
//! impossible whatever key it arrives under.

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
                    .table("work_postings")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("kind", 8))
                    .col(string_len("entry_id", 36))
                    .col(string_len("project_code", 16))
                    .col(string_len("person_id", 36))
                    .col(string_len("person_legal_entity", 16))
                    .col(string_len("description", 1000))
                    .col(big_integer("bill_minor_units"))
                    .col(string_len("currency", 3))
                    .col(string_len("journal_ids", 200))
                    .col(string_len_null("invoice_id", 36))
                    .col(timestamp_with_time_zone("posted_at"))
                    .col(string_len("posted_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("work_postings_entry")
                    .table("work_postings")
                    .col("kind")
                    .col("entry_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("work_postings_project")
                    .table("work_postings")
                    .col("project_code")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("work_postings").to_owned())
            .await?;
        Ok(())
    }
}
