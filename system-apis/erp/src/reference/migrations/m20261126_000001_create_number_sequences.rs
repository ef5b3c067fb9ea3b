//! Named counters for the numbers the ERP assigns, seeded with the project code sequence.

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
                    .table("number_sequences")
                    .if_not_exists()
                    .col(string_len("name", 64).primary_key())
                    .col(big_integer("last_value").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO number_sequences (name, last_value) VALUES ('project_code', 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("number_sequences").to_owned())
            .await
    }
}
