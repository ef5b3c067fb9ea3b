//! Expenses and resource requests. Money is integer minor units with its currency; a
//! request's requirements are JSON.

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
                        .table("expenses")
                        .if_not_exists()
                        .col(string_len("id", 36).primary_key())
                        .col(string_len("project_id", 36))
                        .col(string_len("employee_id", 36))
                        .col(string_len("assignment_id", 36))
                        .col(date("expense_date"))
                        .col(string_len("category", 32))
                        .col(string_len("description", 200))
                        .col(string_len("currency", 3))
                        .col(big_integer("amount_minor"))
                        .col(boolean("billable"))
                        .col(string_len("receipt_document_id", 36))
                        .col(string_len("state", 16))
                        .col(string_len("rejection_reason", 200))
                        .col(string_len("approver_id", 36))
                        .col(string_len("journal_reference", 200)),
                )
                .foreign_key(&mut to_project("expenses"))
                .foreign_key(
                    ForeignKey::create()
                        .name("expenses_assignment")
                        .from("expenses", "assignment_id")
                        .to("assignments", "id"),
                )
                .to_owned(),
            )
            .await?;
        index(manager, "expenses", &["project_id", "state"]).await?;
        index(manager, "expenses", &["employee_id"]).await?;
        manager
            .create_table(
                stamped(
                    Table::create()
                        .table("resource_requests")
                        .if_not_exists()
                        .col(string_len("id", 36).primary_key())
                        .col(string_len("project_id", 36))
                        .col(string_len("role", 64))
                        .col(string_len("bill_role", 64))
                        .col(date("start_date"))
                        .col(date("end_date"))
                        .col(string_len("allocation_percent", 16))
                        // {"skills": [...], "certifications": [...], "languages": [...]}
                        .col(text("requirements"))
                        .col(string_len("region", 16))
                        .col(string_len("location", 200))
                        .col(string_len("requested_by", 36))
                        .col(string_len("notes", 200))
                        .col(string_len("state", 16))
                        .col(string_len("proposed_employee_id", 36))
                        .col(string_len("assignment_id", 36))
                        .col(string_len("reason", 200)),
                )
                .foreign_key(&mut to_project("resource_requests"))
                .to_owned(),
            )
            .await?;
        index(manager, "resource_requests", &["project_id", "state"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["resource_requests", "expenses"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
