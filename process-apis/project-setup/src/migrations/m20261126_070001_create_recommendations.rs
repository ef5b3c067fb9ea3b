//! Intake's recommendation records: what a model was given and answered, and the decision a
//! person took on it, kept for audit and retraining.

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
                    .table("recommendations")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_uniq("idempotency_key", 200))
                    .col(string_len("capability", 32))
                    .col(string_len("subject", 64))
                    .col(text("inputs"))
                    .col(text("output"))
                    .col(string_len("model_version", 200))
                    .col(string_len("policy_version", 64))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("status", 16))
                    .col(string_len_null("decided_by", 200))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .col(string_len_null("chosen_value", 200))
                    .col(text_null("reason"))
                    .col(string_len_null("decision_key", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("recommendations_subject")
                    .table("recommendations")
                    .col("subject")
                    .col("capability")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("recommendations").to_owned())
            .await
    }
}
