//! Exchange rates: one decimal rate (text) per currency pair and date.

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
                    .table("exchange_rates")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("from_currency", 3))
                    .col(string_len("to_currency", 3))
                    .col(string_len("rate_date", 10))
                    .col(string_len("rate", 64))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("exchange_rates_pair_date")
                    .table("exchange_rates")
                    .col("from_currency")
                    .col("to_currency")
                    .col("rate_date")
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("exchange_rates").to_owned())
            .await?;
        Ok(())
    }
}
