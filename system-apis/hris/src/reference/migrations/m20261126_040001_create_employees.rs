//! Employees, with the cost rate as integer minor units and the profile as JSON.

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
                    .table("employees")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len_uniq("employee_number", 32))
                    .col(string_len("name", 200))
                    .col(string_len("email", 254))
                    .col(string_len("legal_entity", 32))
                    .col(string_len("location", 200))
                    .col(string_len("region", 16))
                    .col(string_len("labor_category", 64))
                    .col(big_integer("cost_rate_minor"))
                    .col(string_len("currency", 3))
                    .col(string_len("utilization_target", 32))
                    .col(string_len("manager_employee_number", 32))
                    .col(boolean("active"))
                    .col(text("skills"))
                    .col(text("certifications"))
                    .col(text("languages"))
                    .col(text("time_off"))
                    .col(string_len("weekly_capacity_hours", 32))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .to_owned(),
            )
            .await?;
        for column in ["legal_entity", "region", "labor_category"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("employees_{column}"))
                        .table("employees")
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("employees").to_owned()).await
    }
}
