//! Documents with their retention, legal hold and record version.

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
                    .table("documents")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(integer("document_type"))
                    .col(string_len("title", 200))
                    .col(string_len("client_id", 36))
                    .col(string_len_null("project_id", 36))
                    .col(big_integer("version"))
                    .col(integer("version_count"))
                    .col(string_len_null("retain_until", 10))
                    .col(boolean("legal_hold"))
                    .col(string_len("legal_hold_reason", 200))
                    .col(string_len_null("signing_envelope_id", 36))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .to_owned(),
            )
            .await?;
        for column in ["project_id", "client_id"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("documents_{column}"))
                        .table("documents")
                        .col(column)
                        .col("id")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("documents").to_owned()).await
    }
}
