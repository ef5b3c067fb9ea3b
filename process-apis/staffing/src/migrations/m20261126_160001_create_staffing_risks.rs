//! Staffing risk flags: one row per project, kind, person and skill, with its reason, figures,
//! the versions it was assessed under, and what became of it.

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
                    .table("staffing_risks")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_id", 64))
                    .col(string_len("kind", 32))
                    .col(string_len("employee_id", 64))
                    .col(string_len("skill", 200))
                    .col(text("reason"))
                    .col(text("figures"))
                    .col(text("inputs"))
                    .col(string_len("model_version", 200))
                    .col(string_len("policy_version", 64))
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("assessed_at"))
                    .col(string_len_null("decided_by", 200))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .col(text_null("note"))
                    .col(string_len_null("decision_key", 200))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(text_null("resolution"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("staffing_risks_once")
                    .table("staffing_risks")
                    .col("project_id")
                    .col("kind")
                    .col("employee_id")
                    .col("skill")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("staffing_risks").to_owned())
            .await
    }
}
