//! When each project's recorded evaluation began reading its facts, so an evaluation that read
//! earlier never overwrites one that read later (none for evaluations kept before it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("health_evaluations")
                    .add_column(timestamp_with_time_zone_null("read_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("health_evaluations")
                    .drop_column("read_at")
                    .to_owned(),
            )
            .await
    }
}
