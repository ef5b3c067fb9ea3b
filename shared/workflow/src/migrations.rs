//! The engine's schema. A process API's migrator lists [`workflow`] after the platform's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The engine's migrations, in order.
pub fn workflow() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateWorkflowTables),
        Box::new(IndexAuditByAction),
        Box::new(IndexInstancesByKey),
    ]
}

struct CreateWorkflowTables;

impl MigrationName for CreateWorkflowTables {
    fn name(&self) -> &str {
        "m20261126_090001_create_workflow_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWorkflowTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("workflow_instances")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("kind", 64))
                    .col(string_len("business_key", 200))
                    .col(string_len_null("open_key", 270))
                    .col(string_len("status", 24))
                    .col(text("input"))
                    .col(text("versions"))
                    .col(integer("step_index"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_run_at"))
                    .col(string_len_null("lease_owner", 64))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(string_len_null("reason", 64))
                    .col(text_null("last_error"))
                    .col(string_len("owning_team", 64))
                    .col(text_null("note"))
                    .col(string_len("created_by", 200))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("workflow_instances_open_key")
                    .table("workflow_instances")
                    .col("open_key")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("workflow_instances_due")
                    .table("workflow_instances")
                    .col("status")
                    .col("next_run_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("workflow_steps")
                    .if_not_exists()
                    .col(string_len("instance_id", 36))
                    .col(string_len("step", 64))
                    .col(text("result"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("completed_at"))
                    .col(timestamp_with_time_zone_null("compensated_at"))
                    .primary_key(Index::create().col("instance_id").col("step"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("workflow_approvals")
                    .if_not_exists()
                    .col(string_len("instance_id", 36))
                    .col(string_len("step", 64))
                    .col(string_len("role", 64))
                    .col(string_len("submitter", 200))
                    .col(text("summary"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(string_len_null("escalate_to", 64))
                    .col(boolean("escalated"))
                    .col(string_len_null("decision", 16))
                    .col(string_len_null("decided_by", 200))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .col(text_null("note"))
                    .primary_key(Index::create().col("instance_id").col("step"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("workflow_incidents")
                    .if_not_exists()
                    .col(string_len("id", 36).primary_key())
                    .col(string_len("system", 64))
                    .col(string_len_null("open_system", 64))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(text("first_error"))
                    .col(big_integer("failures"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("workflow_incidents_open_system")
                    .table("workflow_incidents")
                    .col("open_system")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// The exception history reads `exception_raised` entries out of the audit log: an index on
/// the action keeps that a lookup rather than a scan of every step ever audited.
struct IndexAuditByAction;

impl MigrationName for IndexAuditByAction {
    fn name(&self) -> &str {
        "m20261126_090002_index_audit_by_action"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexAuditByAction {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("audit_log_record_type_action")
                    .table("audit_log")
                    .col("record_type")
                    .col("action")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// `start_once` looks for a key's finished instance and `find` for a key's latest one: without
/// an index on `(kind, business_key)` each read every instance ever run, so starting a posting
/// slowed as the postings done grew (10 ms an entry at 10,000, 40 ms at 100,000).
struct IndexInstancesByKey;

/// The index's name: tests read query plans for it.
pub const INSTANCES_BY_KEY: &str = "workflow_instances_kind_key";

impl MigrationName for IndexInstancesByKey {
    fn name(&self) -> &str {
        "m20261127_090003_index_instances_by_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexInstancesByKey {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INSTANCES_BY_KEY)
                    .table("workflow_instances")
                    .col("kind")
                    .col("business_key")
                    .col("created_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
