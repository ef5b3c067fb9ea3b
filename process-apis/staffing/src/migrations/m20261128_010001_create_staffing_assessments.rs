//! Staffing assessments: per project, when the recorded assessment read PSA and HRIS, so an
//! assessment that read earlier never overwrites one that read later.

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
                    .table("staffing_assessments")
                    .if_not_exists()
                    .col(string_len("project_id", 64).primary_key())
                    .col(timestamp_with_time_zone("read_at"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(string_len("actor", 200))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("staffing_assessments").to_owned())
            .await
    }
}
