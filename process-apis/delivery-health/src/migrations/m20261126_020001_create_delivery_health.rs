//! The latest evaluation of each project, the alerts (one open per project and kind, through
//! the unique `open_key`, NULL once resolved), and the notifications with their webhook
//! delivery state (one per alert or approval request, through `(kind, subject_id)`).

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
                    .table("health_evaluations")
                    .if_not_exists()
                    .col(string_len("project_id", 64).primary_key())
                    .col(string_len("status", 8))
                    .col(blob("health"))
                    .col(string_len("policy_version", 64))
                    .col(timestamp_with_time_zone("evaluated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("health_alerts")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_id", 64))
                    .col(string_len("kind", 32))
                    .col(string_len("state", 16))
                    .col(string_len_null("open_key", 100).unique_key())
                    .col(string_len("measured", 64))
                    .col(string_len("threshold", 64))
                    .col(text("summary"))
                    .col(text("recipients"))
                    .col(string_len("policy_version", 64))
                    .col(integer("evaluations"))
                    .col(string_len_null("acknowledged_by", 200))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("acknowledged_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("health_alerts_project")
                    .table("health_alerts")
                    .col("project_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("kind", 32))
                    .col(string_len("subject_id", 100))
                    .col(string_len("project_id", 64))
                    .col(text("text"))
                    .col(text("payload"))
                    .col(text("recipients"))
                    .col(string_len("delivery", 16))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_subject")
                    .table("notifications")
                    .col("kind")
                    .col("subject_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_due")
                    .table("notifications")
                    .col("delivery")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["notifications", "health_alerts", "health_evaluations"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
