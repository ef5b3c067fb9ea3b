//! Projects and their children: phases, tasks, billing milestones and budget baseline lines.
//! Money is integer minor units with its currency; hours are decimal text.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The foreign key from a child table's `project_id` to `projects`.
fn to_project(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_project"))
        .from(table, "project_id")
        .to("projects", "id")
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("opportunity_id", 36))
                    .col(string_len("account_id", 36))
                    .col(string_len("name", 200))
                    .col(string_len("status", 16))
                    .col(string_len("template_id", 64))
                    .col(integer("template_version"))
                    .col(string_len("service_line", 64))
                    .col(string_len("contract_type", 64))
                    .col(string_len("region", 64))
                    .col(string_len("client_tier", 64))
                    .col(string_len("currency", 3))
                    .col(big_integer("contract_value_minor"))
                    .col(date("start_date"))
                    .col(string_len("total_hours", 32))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(string_len("updated_by", 200))
                    .to_owned(),
            )
            .await?;
        // One project per opportunity, whatever the idempotency key.
        manager
            .create_index(
                Index::create()
                    .name("projects_opportunity_id")
                    .table("projects")
                    .col("opportunity_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_phases")
                    .if_not_exists()
                    .col(string_len("project_id", 36))
                    .col(integer("position"))
                    .col(string_len("name", 200))
                    .primary_key(Index::create().col("project_id").col("position"))
                    .foreign_key(&mut to_project("project_phases"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_tasks")
                    .if_not_exists()
                    .col(string_len("project_id", 36))
                    .col(integer("phase_position"))
                    .col(integer("position"))
                    .col(string_len("name", 200))
                    .col(string_len("role", 64))
                    .col(string_len("planned_hours", 32))
                    .primary_key(Index::create().col("project_id").col("phase_position").col("position"))
                    .foreign_key(&mut to_project("project_tasks"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_milestones")
                    .if_not_exists()
                    .col(string_len("project_id", 36))
                    .col(integer("position"))
                    .col(string_len("name", 200))
                    .col(string_len("currency", 3))
                    .col(big_integer("amount_minor"))
                    .col(date("due_date"))
                    .primary_key(Index::create().col("project_id").col("position"))
                    .foreign_key(&mut to_project("project_milestones"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_budget_lines")
                    .if_not_exists()
                    .col(string_len("project_id", 36))
                    .col(integer("position"))
                    .col(string_len("role", 64))
                    .col(string_len("hours", 32))
                    .col(string_len("currency", 3))
                    .col(big_integer("amount_minor"))
                    .primary_key(Index::create().col("project_id").col("position"))
                    .foreign_key(&mut to_project("project_budget_lines"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "project_budget_lines",
            "project_milestones",
            "project_tasks",
            "project_phases",
            "projects",
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
