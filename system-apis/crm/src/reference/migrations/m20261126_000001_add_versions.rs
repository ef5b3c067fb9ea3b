//! Optimistic concurrency: a `version` on accounts and opportunities (existing rows start at
//! 1), and the reason a lost opportunity was lost.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One change per statement: SQLite alters one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("accounts")
                    .add_column(big_integer("version").default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("opportunities")
                    .add_column(big_integer("version").default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("opportunities")
                    .add_column(string_len_null("lost_reason", 200))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("opportunities")
                    .drop_column("lost_reason")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("opportunities").drop_column("version").to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table("accounts").drop_column("version").to_owned())
            .await
    }
}
