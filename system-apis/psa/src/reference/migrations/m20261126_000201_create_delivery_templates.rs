//! Delivery templates at their current version, and every version ever stored (a project
//! records the version it was made from).

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
                    .table("delivery_templates")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len("name", 200))
                    .col(integer("version"))
                    .col(string_len("service_line", 64))
                    .col(string_len("contract_type", 64))
                    .col(string_len("region", 64))
                    .col(string_len("client_tier", 64))
                    .col(text("content"))
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
                    .table("delivery_template_versions")
                    .if_not_exists()
                    .col(string_len("template_id", 64))
                    .col(integer("version"))
                    .col(text("content"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .primary_key(Index::create().col("template_id").col("version"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("delivery_template_versions_template")
                            .from("delivery_template_versions", "template_id")
                            .to("delivery_templates", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("delivery_template_versions").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("delivery_templates").to_owned())
            .await
    }
}
