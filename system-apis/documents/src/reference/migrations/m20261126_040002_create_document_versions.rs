//! Immutable content versions: their description, and their bytes in a table of their own.

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
                    .table("document_versions")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("document_id", 36))
                    .col(integer("number"))
                    .col(string_len("file_name", 200))
                    .col(string_len("content_type", 100))
                    .col(big_integer("size_bytes"))
                    .col(string_len("sha256", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .foreign_key(
                        ForeignKey::create()
                            .name("document_versions_document")
                            .from("document_versions", "document_id")
                            .to("documents", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("document_versions_number")
                    .table("document_versions")
                    .col("document_id")
                    .col("number")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("document_contents")
                    .if_not_exists()
                    .col(string_len("version_id", 36).primary_key())
                    .col(blob("content"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("document_contents_version")
                            .from("document_contents", "version_id")
                            .to("document_versions", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("document_contents").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("document_versions").to_owned())
            .await
    }
}
