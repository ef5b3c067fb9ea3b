//! Delivery health's insight records: every margin forecast an evaluation made (inputs,
//! output with its interval, model and policy versions), and the time-entry anomalies it
//! flagged, one per project, kind and subject (an entry or a consultant's week), with the
//! person's review.

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
                    .table("health_margin_forecasts")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_id", 64))
                    .col(string_len("as_of", 10))
                    .col(string_len("margin_percent", 32))
                    .col(string_len_null("alert_basis", 16))
                    .col(text("input"))
                    .col(text("output"))
                    .col(blob("view"))
                    .col(string_len("model_version", 64))
                    .col(string_len("policy_version", 64))
                    .col(string_len("insight_policy_version", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("health_margin_forecasts_project")
                    .table("health_margin_forecasts")
                    .col("project_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("health_time_anomalies")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_id", 64))
                    .col(string_len("kind", 32))
                    .col(string_len("subject", 200))
                    .col(string_len("employee_id", 200))
                    .col(text("entry_ids"))
                    .col(text("reason"))
                    .col(text("figures"))
                    .col(text("reviewers"))
                    .col(string_len("status", 16))
                    .col(string_len_null("reviewed_by", 200))
                    .col(text_null("review_note"))
                    .col(timestamp_with_time_zone_null("reviewed_at"))
                    .col(string_len("model_version", 64))
                    .col(string_len("insight_policy_version", 64))
                    .col(timestamp_with_time_zone("detected_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("health_time_anomalies_subject")
                    .table("health_time_anomalies")
                    .col("project_id")
                    .col("kind")
                    .col("subject")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("health_time_anomalies_project")
                    .table("health_time_anomalies")
                    .col("project_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["health_time_anomalies", "health_margin_forecasts"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
