//! Deliverable acceptances (one per PSA milestone) and reconciliation runs with their
//! differences.

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
                    .table("deliverable_acceptances")
                    .if_not_exists()
                    .col(string_len("project_id", 36))
                    .col(string_len("milestone_id", 8))
                    .col(string_len("milestone_name", 200))
                    .col(string_len("accepted_by", 200))
                    .col(text("note"))
                    .col(string_len("recorded_by", 200))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .primary_key(Index::create().col("project_id").col("milestone_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reconciliation_runs")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("project_id", 36))
                    .col(string_len("requested_by", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("compared_at"))
                    .col(integer("projects_compared"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reconciliation_differences")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("run_id", 36))
                    .col(integer("position"))
                    .col(string_len("identity", 300))
                    .col(string_len("project_id", 36))
                    .col(string_len("kind", 32))
                    .col(string_len("record_type", 32))
                    .col(string_len("record_id", 64))
                    .col(text("psa_value"))
                    .col(text("erp_value"))
                    .col(text("message"))
                    .col(string_len_null("exception_id", 36))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reconciliation_differences_run")
                    .table("reconciliation_differences")
                    .col("run_id")
                    .col("position")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "reconciliation_differences",
            "reconciliation_runs",
            "deliverable_acceptances",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
