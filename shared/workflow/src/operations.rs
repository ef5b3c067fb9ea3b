//! What people do to instances: decide approvals, and work the exception queue (retry,
//! resolve with a note, abandon). Every action is audited, refusals included.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_store::audit::{self, AuditEntry};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::engine::{Engine, RECORD_TYPE};
use crate::entities::{approval, incident, instance, step};
use crate::status::Status;

/// The person acting, as the API layer authenticated them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: String,
    /// Roles as named in approval requests (`project-manager`); `admin` decides any.
    pub roles: Vec<String>,
}

/// One journaled step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    pub step: String,
    pub result: Value,
    pub attempts: u32,
    pub completed_at: DateTime<Utc>,
    pub compensated_at: Option<DateTime<Utc>>,
}

/// A decision a step waits for (or got).
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalView {
    pub instance_id: Uuid,
    pub step: String,
    pub role: String,
    pub submitter: String,
    pub summary: String,
    pub requested_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub escalated: bool,
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

/// An instance as operations sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub id: Uuid,
    pub kind: String,
    pub business_key: String,
    pub status: Status,
    /// The step it is at (or stopped at); `None` once past the last.
    pub step: Option<String>,
    pub attempts: u32,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub owning_team: String,
    pub note: Option<String>,
    pub input: Value,
    pub versions: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub journal: Vec<StepView>,
}

/// An outage of a system API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentView {
    pub id: String,
    pub system: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub first_error: String,
    pub failures: i64,
}

fn db_error(e: sea_orm::DbErr) -> Error {
    keel_store::db_error(e)
}

impl Engine {
    /// One instance with its journal.
    pub async fn instance(&self, id: Uuid) -> Result<InstanceView, Error> {
        let row = instance::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("workflow instance", id.to_string()))?;
        self.view(row).await
    }

    /// The open or last instance of a business key.
    pub async fn find(&self, kind: &str, business_key: &str) -> Result<Option<InstanceView>, Error> {
        let row = instance::Entity::find()
            .filter(instance::Column::Kind.eq(kind))
            .filter(instance::Column::BusinessKey.eq(business_key))
            .order_by_desc(instance::Column::CreatedAt)
            .one(self.db())
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => Ok(Some(self.view(row).await?)),
            None => Ok(None),
        }
    }

    async fn view(&self, row: instance::Model) -> Result<InstanceView, Error> {
        let journal = step::Entity::find()
            .filter(step::Column::InstanceId.eq(row.id.clone()))
            .order_by_asc(step::Column::CompletedAt)
            .all(self.db())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|s| {
                Ok(StepView {
                    result: serde_json::from_str(&s.result).map_err(Error::internal)?,
                    step: s.step,
                    attempts: u32::try_from(s.attempts).unwrap_or(0),
                    completed_at: s.completed_at,
                    compensated_at: s.compensated_at,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let step = self
            .step_names(&row.kind)
            .and_then(|names| names.get(usize::try_from(row.step_index).ok()?).map(|s| s.to_string()));
        Ok(InstanceView {
            id: crate::engine::parse_id(&row.id)?,
            status: Status::parse(&row.status)
                .ok_or_else(|| Error::internal(format!("unknown workflow status {:?}", row.status)))?,
            step,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            input: serde_json::from_str(&row.input).map_err(Error::internal)?,
            versions: serde_json::from_str(&row.versions).map_err(Error::internal)?,
            kind: row.kind,
            business_key: row.business_key,
            reason: row.reason,
            last_error: row.last_error,
            owning_team: row.owning_team,
            note: row.note,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            journal,
        })
    }

    /// Instances in `status` (every status with `None`; optionally of one kind), oldest first,
    /// a page at a time (keyset on the UUIDv7 id).
    pub async fn list(
        &self,
        status: Option<Status>,
        kind: Option<&str>,
        page: Page,
    ) -> Result<Vec<InstanceView>, Error> {
        let mut query = instance::Entity::find()
            .order_by_asc(instance::Column::Id)
            .limit(page.size);
        if let Some(status) = status {
            query = query.filter(instance::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = kind {
            query = query.filter(instance::Column::Kind.eq(kind));
        }
        if let Some(after) = page.after {
            query = query.filter(instance::Column::Id.gt(after.to_string()));
        }
        let rows = query.all(self.db()).await.map_err(db_error)?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.view(row).await?);
        }
        Ok(views)
    }

    /// The exception queue.
    pub async fn exceptions(&self, page: Page) -> Result<Vec<InstanceView>, Error> {
        self.list(Some(Status::Exception), None, page).await
    }

    /// How many instances are in each status.
    pub async fn counts(&self) -> Result<Vec<(Status, u64)>, Error> {
        let mut counts = Vec::new();
        for status in Status::ALL {
            let n = sea_orm::PaginatorTrait::count(
                instance::Entity::find().filter(instance::Column::Status.eq(status.as_str())),
                self.db(),
            )
            .await
            .map_err(db_error)?;
            counts.push((status, n));
        }
        Ok(counts)
    }

    /// How many instances of each kind are in each status (kinds and statuses with none are
    /// left out), in one grouped query.
    pub async fn counts_by_kind(&self) -> Result<Vec<(String, String, u64)>, Error> {
        use sea_orm::QuerySelect;
        use sea_orm::sea_query::{Expr, ExprTrait};
        let rows: Vec<(String, String, i64)> = instance::Entity::find()
            .select_only()
            .column(instance::Column::Kind)
            .column(instance::Column::Status)
            .column_as(Expr::col(instance::Column::Id).count(), "n")
            .group_by(instance::Column::Kind)
            .group_by(instance::Column::Status)
            .into_tuple()
            .all(self.db())
            .await
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(kind, status, n)| (kind, status, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// System API outages, latest first.
    pub async fn incidents(&self) -> Result<Vec<IncidentView>, Error> {
        Ok(incident::Entity::find()
            .order_by_desc(incident::Column::OpenedAt)
            .all(self.db())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|i| IncidentView {
                id: i.id,
                system: i.system,
                opened_at: i.opened_at,
                closed_at: i.closed_at,
                first_error: i.first_error,
                failures: i.failures,
            })
            .collect())
    }

    /// Decisions waiting for `role` (every undecided one when `None`).
    pub async fn pending_approvals(&self, role: Option<&str>) -> Result<Vec<ApprovalView>, Error> {
        let mut query = approval::Entity::find()
            .filter(approval::Column::Decision.is_null())
            .order_by_asc(approval::Column::RequestedAt);
        if let Some(role) = role {
            query = query.filter(approval::Column::Role.eq(role));
        }
        query
            .all(self.db())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(approval_view)
            .collect()
    }

    /// Records a person's decision on the step an instance waits at. The submitter can never
    /// decide their own request: that refusal is audited too.
    pub async fn decide(&self, id: Uuid, actor: &Actor, approve: bool, note: &str) -> Result<InstanceView, Error> {
        let row = self.instance_row(id).await?;
        if Status::parse(&row.status) != Some(Status::AwaitingApproval) {
            return Err(Error::FailedPrecondition(format!(
                "workflow instance {id} is {} and waits for no decision",
                row.status
            )));
        }
        let pending = approval::Entity::find()
            .filter(approval::Column::InstanceId.eq(row.id.clone()))
            .filter(approval::Column::Decision.is_null())
            .one(self.db())
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::FailedPrecondition(format!("workflow instance {id} waits for no decision")))?;
        if pending.submitter == actor.subject {
            let txn = keel_store::begin_write(self.db()).await?;
            audit::append(
                &txn,
                AuditEntry {
                    actor: &actor.subject,
                    record_type: RECORD_TYPE,
                    record_id: &row.id,
                    action: "self_approval_refused",
                    detail: json!({ "step": pending.step, "approve": approve }),
                },
            )
            .await?;
            txn.commit().await.map_err(db_error)?;
            return Err(Error::Forbidden(format!(
                "{} submitted this request and cannot decide it; someone else with the role {} must",
                actor.subject, pending.role
            )));
        }
        if !actor.roles.iter().any(|r| r == &pending.role || r == "admin") {
            return Err(Error::Forbidden(format!(
                "deciding this request needs the role {}",
                pending.role
            )));
        }
        let now = Utc::now();
        let decision = if approve { "approved" } else { "rejected" };
        // The request's time goes into the journaled decision with the decision's own (the
        // step's `completed_at`), so how long the decision took can be read from the journal.
        let result = json!({
            "approved": approve,
            "by": actor.subject,
            "note": note,
            "role": pending.role,
            "requested_at": pending.requested_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        });
        let txn = keel_store::begin_write(self.db()).await?;
        let decided = approval::Entity::update_many()
            .filter(approval::Column::InstanceId.eq(row.id.clone()))
            .filter(approval::Column::Step.eq(pending.step.clone()))
            .filter(approval::Column::Decision.is_null())
            .col_expr(approval::Column::Decision, Expr::value(decision))
            .col_expr(approval::Column::DecidedBy, Expr::value(actor.subject.clone()))
            .col_expr(approval::Column::DecidedAt, Expr::value(now))
            .col_expr(approval::Column::Note, Expr::value(note.to_string()))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if decided.rows_affected != 1 {
            return Err(Error::Aborted(format!(
                "workflow instance {id} was decided by someone else meanwhile"
            )));
        }
        let journaled = step::ActiveModel {
            instance_id: sea_orm::ActiveValue::Set(row.id.clone()),
            step: sea_orm::ActiveValue::Set(pending.step.clone()),
            result: sea_orm::ActiveValue::Set(result.to_string()),
            attempts: sea_orm::ActiveValue::Set(1),
            completed_at: sea_orm::ActiveValue::Set(now),
            compensated_at: sea_orm::ActiveValue::Set(None),
        };
        step::Entity::insert(journaled).exec(&txn).await.map_err(db_error)?;
        instance::Entity::update_many()
            .filter(instance::Column::Id.eq(row.id.clone()))
            .col_expr(instance::Column::Status, Expr::value(Status::Running.as_str()))
            .col_expr(instance::Column::StepIndex, Expr::value(row.step_index + 1))
            .col_expr(instance::Column::Attempts, Expr::value(0))
            .col_expr(instance::Column::NextRunAt, Expr::value(now))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        audit::append(
            &txn,
            AuditEntry {
                actor: &actor.subject,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action: if approve { "approved" } else { "rejected" },
                detail: json!({ "step": pending.step, "role": pending.role, "submitter": pending.submitter, "note": note }),
            },
        )
        .await?;
        txn.commit().await.map_err(db_error)?;
        self.waker().notify_one();
        self.instance(id).await
    }

    /// Runs an instance from the exception queue again, from the step it stopped at (or
    /// resumes its undo, if that is what failed).
    pub async fn retry(&self, id: Uuid, actor: &str) -> Result<InstanceView, Error> {
        let row = self.exception_row(id).await?;
        let back_to = if row.reason.as_deref() == Some("COMPENSATION_FAILED") {
            Status::Compensating
        } else {
            Status::Running
        };
        let now = Utc::now();
        self.operate(
            &row,
            actor,
            "retried",
            json!({ "reason": row.reason, "last_error": row.last_error }),
            |update| {
                update
                    .col_expr(instance::Column::Status, Expr::value(back_to.as_str()))
                    .col_expr(instance::Column::Attempts, Expr::value(0))
                    .col_expr(instance::Column::NextRunAt, Expr::value(now))
            },
        )
        .await?;
        self.waker().notify_one();
        self.instance(id).await
    }

    /// Closes an instance from the exception queue: someone dealt with it outside Keel.
    pub async fn resolve(&self, id: Uuid, actor: &str, note: &str) -> Result<InstanceView, Error> {
        if note.trim().is_empty() {
            return Err(Error::invalid(
                "note",
                "is required: say how the exception was resolved",
            ));
        }
        let row = self.exception_row(id).await?;
        let note = note.trim().to_string();
        self.operate(
            &row,
            actor,
            "resolved",
            json!({ "reason": row.reason, "note": note }),
            |update| {
                update
                    .col_expr(instance::Column::Status, Expr::value(Status::Resolved.as_str()))
                    .col_expr(instance::Column::OpenKey, Expr::value(Option::<String>::None))
                    .col_expr(instance::Column::Note, Expr::value(note.clone()))
            },
        )
        .await?;
        self.instance(id).await
    }

    /// Abandons an open instance: its done steps with an undo are undone, latest first, then
    /// it is closed. An instance in the exception queue, running or waiting may be abandoned.
    pub async fn abandon(&self, id: Uuid, actor: &str, note: &str) -> Result<InstanceView, Error> {
        if note.trim().is_empty() {
            return Err(Error::invalid("note", "is required: say why the work is abandoned"));
        }
        let row = self.instance_row(id).await?;
        let status = Status::parse(&row.status);
        if !matches!(
            status,
            Some(Status::Exception | Status::Running | Status::AwaitingApproval)
        ) {
            return Err(Error::FailedPrecondition(format!(
                "workflow instance {id} is {} and cannot be abandoned",
                row.status
            )));
        }
        let now = Utc::now();
        let note = note.trim().to_string();
        self.operate(
            &row,
            actor,
            "abandon_requested",
            json!({ "status_before": row.status, "note": note }),
            |update| {
                update
                    .col_expr(instance::Column::Status, Expr::value(Status::Compensating.as_str()))
                    .col_expr(instance::Column::Attempts, Expr::value(0))
                    .col_expr(instance::Column::NextRunAt, Expr::value(now))
                    .col_expr(instance::Column::Note, Expr::value(note.clone()))
            },
        )
        .await?;
        self.waker().notify_one();
        self.instance(id).await
    }

    async fn instance_row(&self, id: Uuid) -> Result<instance::Model, Error> {
        instance::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("workflow instance", id.to_string()))
    }

    async fn exception_row(&self, id: Uuid) -> Result<instance::Model, Error> {
        let row = self.instance_row(id).await?;
        if Status::parse(&row.status) != Some(Status::Exception) {
            return Err(Error::FailedPrecondition(format!(
                "workflow instance {id} is {}, not in the exception queue",
                row.status
            )));
        }
        Ok(row)
    }

    /// Applies an operator's change, guarded on the status read, with its audit entry.
    async fn operate(
        &self,
        row: &instance::Model,
        actor: &str,
        action: &str,
        detail: Value,
        change: impl FnOnce(sea_orm::UpdateMany<instance::Entity>) -> sea_orm::UpdateMany<instance::Entity>,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(self.db()).await?;
        let update = instance::Entity::update_many()
            .filter(instance::Column::Id.eq(row.id.clone()))
            .filter(instance::Column::Status.eq(row.status.clone()))
            .col_expr(instance::Column::Reason, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        let updated = change(update).exec(&txn).await.map_err(db_error)?;
        if updated.rows_affected != 1 {
            return Err(Error::Aborted(format!(
                "workflow instance {} changed meanwhile; read it again",
                row.id
            )));
        }
        audit::append(
            &txn,
            AuditEntry {
                actor,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action,
                detail,
            },
        )
        .await?;
        txn.commit().await.map_err(db_error)
    }
}

fn approval_view(a: approval::Model) -> Result<ApprovalView, Error> {
    Ok(ApprovalView {
        instance_id: crate::engine::parse_id(&a.instance_id)?,
        step: a.step,
        role: a.role,
        submitter: a.submitter,
        summary: a.summary,
        requested_at: a.requested_at,
        due_at: a.due_at,
        escalated: a.escalated,
        decision: a.decision,
        decided_by: a.decided_by,
        note: a.note,
    })
}
