//! The records kept against a project while it is delivered: its rate card, assignments,
//! time entries and change requests. Money is integer minor units with its currency; hours
//! and percentages are decimal text.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn to_project(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_project"))
        .from(table, "project_id")
        .to("projects", "id")
        .to_owned()
}

/// Who made and last changed a row, and its version.
fn stamped(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(big_integer("version"))
        .col(timestamp_with_time_zone("created_at"))
        .col(string_len("created_by", 200))
        .col(timestamp_with_time_zone("updated_at"))
        .col(string_len("updated_by", 200))
}

async fn index(manager: &SchemaManager<'_>, table: &'static str, columns: &[&'static str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(format!("{table}_{}", columns.join("_"))).table(table);
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                stamped(
                    Table::create()
                        .table("project_rate_cards")
                        .if_not_exists()
                        .col(string_len("project_id", 36).primary_key())
                        .col(string_len("currency", 3))
                        // [{"role": "...", "rate_minor": 18500}, ...]
                        .col(text("rates")),
                )
                .foreign_key(&mut to_project("project_rate_cards"))
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                stamped(
                    Table::create()
                        .table("assignments")
                        .if_not_exists()
                        .col(string_len("id", 36).primary_key())
                        .col(string_len("project_id", 36))
                        .col(string_len("employee_id", 36))
                        .col(string_len("person_name", 200))
                        .col(string_len("role", 64))
                        .col(string_len("bill_role", 64))
                        .col(date("start_date"))
                        .col(date("end_date"))
                        .col(string_len("allocation_percent", 16))
                        .col(string_len("state", 16)),
                )
                .foreign_key(&mut to_project("assignments"))
                .to_owned(),
            )
            .await?;
        index(manager, "assignments", &["project_id", "employee_id"]).await?;
        index(manager, "assignments", &["employee_id"]).await?;
        manager
            .create_table(
                stamped(
                    Table::create()
                        .table("time_entries")
                        .if_not_exists()
                        .col(string_len("id", 36).primary_key())
                        .col(string_len("project_id", 36))
                        .col(string_len("employee_id", 36))
                        .col(string_len("assignment_id", 36))
                        .col(string_len("task", 200))
                        .col(date("work_date"))
                        .col(string_len("hours", 16))
                        .col(string_len("narrative", 200))
                        .col(boolean("billable"))
                        .col(string_len("role", 64))
                        .col(string_len("currency", 3))
                        .col(big_integer("rate_minor"))
                        .col(big_integer("amount_minor"))
                        .col(string_len("exact_amount", 48))
                        .col(string_len("state", 16))
                        .col(string_len("rejection_reason", 200))
                        .col(string_len("approver_id", 36))
                        .col(boolean("reapproval_required"))
                        .col(string_len("journal_reference", 200)),
                )
                .foreign_key(&mut to_project("time_entries"))
                .foreign_key(
                    ForeignKey::create()
                        .name("time_entries_assignment")
                        .from("time_entries", "assignment_id")
                        .to("assignments", "id"),
                )
                .to_owned(),
            )
            .await?;
        index(manager, "time_entries", &["project_id", "state"]).await?;
        index(manager, "time_entries", &["employee_id"]).await?;
        manager
            .create_table(
                stamped(
                    Table::create()
                        .table("change_requests")
                        .if_not_exists()
                        .col(string_len("id", 36).primary_key())
                        .col(string_len("project_id", 36))
                        .col(string_len("title", 200))
                        .col(string_len("description", 200))
                        .col(string_len("role", 64))
                        .col(string_len("delta_hours", 32))
                        .col(string_len("currency", 3))
                        .col(big_integer("delta_amount_minor"))
                        // Milestone positions, comma-separated: "2,3".
                        .col(text("affected_milestones"))
                        .col(string_len("state", 16))
                        .col(string_len("reason", 200)),
                )
                .foreign_key(&mut to_project("change_requests"))
                .to_owned(),
            )
            .await?;
        index(manager, "change_requests", &["project_id"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["change_requests", "time_entries", "assignments", "project_rate_cards"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
