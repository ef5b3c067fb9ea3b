//! The reference support product: tickets persisted with sea-orm, each change in one
//! transaction with its audit entry, its idempotency record and its event.
//!
//! Changes are conditional UPDATEs on the version the caller read, so two writers holding the
//! same version cannot both win, on SQLite or PostgreSQL.

mod entities;
mod migrations;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::support::{
    ProjectSupportSummary, Severity, Ticket, TicketEscalated, TicketOpened, TicketStatus, TicketStatusChanged,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect};
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::SupportAdapter;
use crate::domain::{
    Escalation, NewTicket, StatusChange, TicketFilter, is_open, raised, severity_name, status_name, transition_allowed,
};
use crate::{SERVICE_NAME, TICKET_ESCALATED, TICKET_OPENED, TICKET_STATUS_CHANGED};
use entities::ticket;

/// The persisted support product.
#[derive(Clone)]
pub struct ReferenceSupport {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceSupport").finish_non_exhaustive()
    }
}

impl ReferenceSupport {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceSupport {
        ReferenceSupport { db, relay_waker }
    }

    fn wake_relay<T>(&self, result: &Result<T, Error>) {
        if result.is_ok() {
            // Wake the relay now rather than at its next interval.
            self.relay_waker.notify_one();
        }
    }
}

fn status_of(row: &ticket::Model) -> Result<TicketStatus, Error> {
    TicketStatus::try_from(row.status)
        .map_err(|_| Error::internal(format!("ticket {} has status {}", row.id, row.status)))
}

fn severity_of(row: &ticket::Model) -> Result<Severity, Error> {
    Severity::try_from(row.severity)
        .map_err(|_| Error::internal(format!("ticket {} has severity {}", row.id, row.severity)))
}

fn ticket_to_proto(row: &ticket::Model) -> Ticket {
    Ticket {
        id: row.id.clone(),
        account_id: row.account_id.clone(),
        project_id: row.project_id.clone(),
        title: row.title.clone(),
        description: row.description.clone(),
        severity: row.severity,
        status: row.status,
        escalated: row.escalated,
        escalation_count: i64::from(row.escalation_count),
        escalation_reason: row.escalation_reason.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

/// The ticket row, locked for the rest of the transaction on PostgreSQL.
async fn lock_ticket<C: ConnectionTrait>(txn: &C, id: Uuid) -> Result<ticket::Model, Error> {
    ticket::Entity::find_by_id(id.to_string())
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("ticket", id.to_string()))
}

/// Writes `after` over the ticket if it is still at `expected_version`, moving it to the next
/// version; `Error::Aborted` (stale) otherwise.
async fn save_if_unchanged<C: ConnectionTrait>(
    txn: &C,
    after: &ticket::Model,
    expected_version: i64,
) -> Result<(), Error> {
    let update = ticket::ActiveModel {
        severity: Set(after.severity),
        status: Set(after.status),
        escalated: Set(after.escalated),
        escalation_count: Set(after.escalation_count),
        escalation_reason: Set(after.escalation_reason.clone()),
        version: Set(after.version),
        updated_at: Set(after.updated_at),
        updated_by: Set(after.updated_by.clone()),
        ..Default::default()
    };
    let result = ticket::Entity::update_many()
        .set(update)
        .filter(ticket::Column::Id.eq(after.id.clone()))
        .filter(ticket::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    if result.rows_affected != 1 {
        let actual = ticket::Entity::find_by_id(after.id.clone())
            .one(txn)
            .await
            .map_err(keel_store::db_error)?
            .map(|t| t.version)
            .unwrap_or_default();
        return Err(Error::stale("ticket", after.id.clone(), expected_version, actual));
    }
    Ok(())
}

fn refuse_stale(row: &ticket::Model, expected_version: i64) -> Result<(), Error> {
    if row.version != expected_version {
        return Err(Error::stale("ticket", row.id.clone(), expected_version, row.version));
    }
    Ok(())
}

async fn emit<C: ConnectionTrait, M: prost::Message>(
    txn: &C,
    event_type: &str,
    ticket_id: &str,
    payload: &M,
) -> Result<(), Error> {
    let mut event = EventEnvelope::new(event_type, SERVICE_NAME, ticket_id, payload);
    // The consumer's work joins this request's trace.
    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
    outbox::enqueue(txn, &event).await
}

/// Now, to the microsecond both databases store, so an answer equals a later read.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[async_trait]
impl SupportAdapter for ReferenceSupport {
    async fn open_ticket(&self, actor: &str, idempotency_key: &str, new: NewTicket) -> Result<Ticket, Error> {
        let request = new.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(&self.db, "support.open_ticket", idempotency_key, &request, move |txn| {
            Box::pin(async move {
                let now = now();
                let id = keel_core::ids::new_id().to_string();
                let row = ticket::Model {
                    id: id.clone(),
                    account_id: new.account_id.to_string(),
                    project_id: new.project_id.to_string(),
                    title: new.title,
                    description: new.description,
                    severity: new.severity as i32,
                    status: TicketStatus::Open as i32,
                    escalated: false,
                    escalation_count: 0,
                    escalation_reason: String::new(),
                    version: 1,
                    created_at: now,
                    created_by: actor.clone(),
                    updated_at: now,
                    updated_by: actor.clone(),
                };
                ticket::Entity::insert(ticket::ActiveModel::from(row.clone()))
                    .exec(txn)
                    .await
                    .map_err(keel_store::db_error)?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "ticket",
                        record_id: &id,
                        action: "opened",
                        detail: serde_json::json!({
                            "account_id": row.account_id,
                            "project_id": row.project_id,
                            "title": row.title,
                            "severity": severity_name(new.severity),
                            "status": "open",
                            "version": 1,
                        }),
                    },
                )
                .await?;
                let opened = ticket_to_proto(&row);
                emit(
                    txn,
                    TICKET_OPENED,
                    &id,
                    &TicketOpened {
                        ticket: Some(opened.clone()),
                    },
                )
                .await?;
                Ok(opened)
            })
        })
        .await;
        self.wake_relay(&result);
        result
    }

    async fn get_ticket(&self, id: Uuid) -> Result<Ticket, Error> {
        ticket::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(keel_store::db_error)?
            .map(|row| ticket_to_proto(&row))
            .ok_or_else(|| Error::not_found("ticket", id.to_string()))
    }

    async fn list_tickets(&self, page: Page, filter: TicketFilter) -> Result<Vec<Ticket>, Error> {
        let mut query = ticket::Entity::find().order_by_asc(ticket::Column::Id).limit(page.size);
        if let Some(after) = page.after {
            query = query.filter(ticket::Column::Id.gt(after.to_string()));
        }
        if let Some(project_id) = filter.project_id {
            query = query.filter(ticket::Column::ProjectId.eq(project_id.to_string()));
        }
        if let Some(status) = filter.status {
            query = query.filter(ticket::Column::Status.eq(status as i32));
        }
        if let Some(minimum) = filter.minimum_severity {
            query = query.filter(ticket::Column::Severity.gte(minimum as i32));
        }
        let rows = query.all(&self.db).await.map_err(keel_store::db_error)?;
        Ok(rows.iter().map(ticket_to_proto).collect())
    }

    async fn change_ticket_status(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: StatusChange,
    ) -> Result<Ticket, Error> {
        let request = change.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "support.change_ticket_status",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let before = lock_ticket(txn, change.id).await?;
                    let from = status_of(&before)?;
                    // Asking for the status it has changes nothing, whatever version was read.
                    if from == change.status {
                        return Ok(ticket_to_proto(&before));
                    }
                    refuse_stale(&before, change.expected_version)?;
                    if !transition_allowed(from, change.status) {
                        return Err(Error::FailedPrecondition(format!(
                            "ticket {} is {} and cannot move to {}",
                            before.id,
                            status_name(from),
                            status_name(change.status)
                        )));
                    }
                    let mut after = before.clone();
                    after.status = change.status as i32;
                    after.version += 1;
                    after.updated_at = now();
                    after.updated_by = actor.clone();
                    save_if_unchanged(txn, &after, change.expected_version).await?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "ticket",
                            record_id: &after.id,
                            action: "status_changed",
                            detail: serde_json::json!({
                                "before": { "status": status_name(from), "version": before.version },
                                "after": { "status": status_name(change.status), "version": after.version },
                            }),
                        },
                    )
                    .await?;
                    let changed = ticket_to_proto(&after);
                    emit(
                        txn,
                        TICKET_STATUS_CHANGED,
                        &after.id,
                        &TicketStatusChanged {
                            ticket: Some(changed.clone()),
                            previous_status: from as i32,
                        },
                    )
                    .await?;
                    Ok(changed)
                })
            },
        )
        .await;
        self.wake_relay(&result);
        result
    }

    async fn escalate_ticket(
        &self,
        actor: &str,
        idempotency_key: &str,
        escalation: Escalation,
    ) -> Result<Ticket, Error> {
        let request = escalation.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "support.escalate_ticket",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let before = lock_ticket(txn, escalation.id).await?;
                    refuse_stale(&before, escalation.expected_version)?;
                    let status = status_of(&before)?;
                    if !is_open(status) {
                        return Err(Error::FailedPrecondition(format!(
                            "ticket {} is {}; only an open or in-progress ticket can be escalated",
                            before.id,
                            status_name(status)
                        )));
                    }
                    let previous_severity = severity_of(&before)?;
                    let severity = raised(previous_severity);
                    let mut after = before.clone();
                    after.severity = severity as i32;
                    after.escalated = true;
                    after.escalation_count += 1;
                    after.escalation_reason = escalation.reason.clone();
                    after.version += 1;
                    after.updated_at = now();
                    after.updated_by = actor.clone();
                    save_if_unchanged(txn, &after, escalation.expected_version).await?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "ticket",
                            record_id: &after.id,
                            action: "escalated",
                            detail: serde_json::json!({
                                "reason": escalation.reason,
                                "before": {
                                    "severity": severity_name(previous_severity),
                                    "escalated": before.escalated,
                                    "escalation_count": before.escalation_count,
                                    "version": before.version,
                                },
                                "after": {
                                    "severity": severity_name(severity),
                                    "escalated": true,
                                    "escalation_count": after.escalation_count,
                                    "version": after.version,
                                },
                            }),
                        },
                    )
                    .await?;
                    let escalated = ticket_to_proto(&after);
                    emit(
                        txn,
                        TICKET_ESCALATED,
                        &after.id,
                        &TicketEscalated {
                            ticket: Some(escalated.clone()),
                            previous_severity: previous_severity as i32,
                            reason: escalation.reason.clone(),
                        },
                    )
                    .await?;
                    Ok(escalated)
                })
            },
        )
        .await;
        self.wake_relay(&result);
        result
    }

    async fn project_support_summary(&self, project_id: Uuid) -> Result<ProjectSupportSummary, Error> {
        // One statement, so every count is of the same instant.
        let groups: Vec<(i32, i32, i64, i64, i64)> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Severity)
            .column(ticket::Column::Status)
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "tickets")
            .column_as(
                Expr::cust("CAST(SUM(CASE WHEN escalation_count > 0 THEN 1 ELSE 0 END) AS BIGINT)"),
                "escalated_tickets",
            )
            .column_as(Expr::cust("CAST(SUM(escalation_count) AS BIGINT)"), "escalations")
            .filter(ticket::Column::ProjectId.eq(project_id.to_string()))
            .group_by(ticket::Column::Severity)
            .group_by(ticket::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(keel_store::db_error)?;
        let mut summary = ProjectSupportSummary {
            project_id: project_id.to_string(),
            ..Default::default()
        };
        for (severity, status, tickets, escalated_tickets, escalations) in groups {
            summary.escalations += escalations;
            let status = TicketStatus::try_from(status).map_err(|_| Error::internal(format!("status {status}")))?;
            if !is_open(status) {
                continue;
            }
            summary.open_total += tickets;
            summary.open_escalated += escalated_tickets;
            let bucket = match Severity::try_from(severity) {
                Ok(Severity::Low) => &mut summary.open_low,
                Ok(Severity::Medium) => &mut summary.open_medium,
                Ok(Severity::High) => &mut summary.open_high,
                Ok(Severity::Critical) => &mut summary.open_critical,
                _ => return Err(Error::internal(format!("severity {severity}"))),
            };
            *bucket += tickets;
        }
        Ok(summary)
    }
}
