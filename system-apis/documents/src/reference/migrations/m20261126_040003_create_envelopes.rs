//! E-signature envelopes, their signers kept in order as JSON.

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
                    .table("envelopes")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("document_id", 36))
                    .col(integer("document_version"))
                    .col(integer("status"))
                    .col(text("signers"))
                    .col(string_len("declined_by", 200))
                    .col(string_len("decline_reason", 200))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .foreign_key(
                        ForeignKey::create()
                            .name("envelopes_document")
                            .from("envelopes", "document_id")
                            .to("documents", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("envelopes_document")
                    .table("envelopes")
                    .col("document_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("envelopes").to_owned()).await
    }
}
