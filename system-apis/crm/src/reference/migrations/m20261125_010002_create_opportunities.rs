//! Opportunities, with money as integer minor units.

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
                    .table("opportunities")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("account_id", 36))
                    .col(string_len("name", 200))
                    .col(integer("stage"))
                    .col(string_len("service_line", 64))
                    .col(string_len("contract_type", 32))
                    .col(string_len("region", 64))
                    .col(string_len("client_tier", 32))
                    .col(big_integer("amount_minor"))
                    .col(string_len("currency", 3))
                    .col(string_len_null("close_date", 10))
                    .col(string_len("sow_reference", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .foreign_key(
                        ForeignKey::create()
                            .name("opportunities_account")
                            .from("opportunities", "account_id")
                            .to("accounts", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("opportunities_account")
                    .table("opportunities")
                    .col("account_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("opportunities").to_owned())
            .await
    }
}
