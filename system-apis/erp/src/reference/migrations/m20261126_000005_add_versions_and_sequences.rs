//! Versions on project codes and budgets (optimistic concurrency), and the journal and invoice
//! number sequences.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["project_codes", "budgets"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer("version").default(1))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO number_sequences (name, last_value) VALUES ('journal', 0), ('invoice', 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["project_codes", "budgets"] {
            manager
                .alter_table(Table::alter().table(table).drop_column("version").to_owned())
                .await?;
        }
        Ok(())
    }
}
