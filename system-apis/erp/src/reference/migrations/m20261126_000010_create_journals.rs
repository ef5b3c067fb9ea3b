//! Journals: immutable once posted, numbered `JE-000001`.

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
                    .table("journals")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_uniq("number", 16))
                    .col(string_len("journal_date", 10))
                    .col(string_len("description", 1000))
                    .col(string_len("source", 200))
                    .col(string_len_null("reverses_journal_id", 36))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("journals").to_owned()).await?;
        Ok(())
    }
}
