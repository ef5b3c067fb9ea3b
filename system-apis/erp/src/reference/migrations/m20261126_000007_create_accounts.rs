//! The chart of accounts: one code per account per legal entity.

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
                    .table("accounts")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("legal_entity", 16))
                    .col(string_len("code", 10))
                    .col(string_len("name", 200))
                    .col(string_len("kind", 16))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("accounts_entity_code")
                    .table("accounts")
                    .col("legal_entity")
                    .col("code")
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("accounts").to_owned()).await?;
        Ok(())
    }
}
