//! Change requests: DRAFT -> SUBMITTED -> APPROVED | REJECTED; APPROVED -> APPLIED. Applying
//! one moves the project's budget baseline (the role's line, total hours, total value) and
//! spreads the delta amount over the affected milestones in proportion to their amounts.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use keel_core::paging::Page;
use keel_core::{Currency, Error, Money};
use keel_events::{EventEnvelope, outbox};
use keel_proto::psa::{ChangeRequest, ChangeRequestChanged, ChangeRequestState, Project};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use rust_decimal::Decimal;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ConnectionTrait, QueryOrder, QuerySelect};

use super::entities::{change_request, project, project_budget_line, project_milestone};
use super::projects::{self, ProjectRecord};
use crate::SERVICE_NAME;
use crate::domain::{ChangeRequestStep, ChangeRequestTransition, NewChangeRequest, decimal_text};

const DRAFT: &str = "draft";
const SUBMITTED: &str = "submitted";
const APPROVED: &str = "approved";
const REJECTED: &str = "rejected";
const APPLIED: &str = "applied";

/// Event types the PSA emits for change requests.
pub const CHANGE_REQUEST_APPROVED: &str = "psa.change_request.approved";
pub const CHANGE_REQUEST_APPLIED: &str = "psa.change_request.applied";

fn state(text: &str) -> ChangeRequestState {
    match text {
        DRAFT => ChangeRequestState::Draft,
        SUBMITTED => ChangeRequestState::Submitted,
        APPROVED => ChangeRequestState::Approved,
        REJECTED => ChangeRequestState::Rejected,
        APPLIED => ChangeRequestState::Applied,
        _ => ChangeRequestState::Unspecified,
    }
}

fn milestone_positions(row: &change_request::Model) -> Vec<String> {
    row.affected_milestones
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn to_proto(row: &change_request::Model) -> Result<ChangeRequest, Error> {
    Ok(ChangeRequest {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        title: row.title.clone(),
        description: row.description.clone(),
        role: row.role.clone(),
        delta_hours: row.delta_hours.clone(),
        delta_amount: Some(super::money(row.delta_amount_minor, &row.currency)?.to_proto()),
        affected_milestone_ids: milestone_positions(row),
        state: state(&row.state) as i32,
        reason: row.reason.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

/// Opens a DRAFT change request (see [`crate::PsaAdapter::create_change_request`]).
pub(crate) async fn create<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &NewChangeRequest,
    now: DateTime<Utc>,
) -> Result<ChangeRequest, Error> {
    let record = projects::load(txn, &input.project_id.to_string()).await?;
    projects::ensure_open(&record.project)?;
    if input.delta_amount.currency().code() != record.project.currency {
        return Err(Error::invalid(
            "delta_amount.currency",
            format!("must be the project's currency, {}", record.project.currency),
        ));
    }
    for (i, position) in input.affected_milestones.iter().enumerate() {
        if !record
            .milestones
            .iter()
            .any(|m| i64::from(m.position) + 1 == i64::from(*position))
        {
            return Err(Error::invalid(
                format!("affected_milestone_ids[{i}]"),
                format!("project {} has no milestone {position}", record.project.id),
            ));
        }
    }
    let row = change_request::Model {
        id: keel_core::ids::new_id().to_string(),
        project_id: record.project.id.clone(),
        title: input.title.clone(),
        description: input.description.clone(),
        role: input.role.clone(),
        delta_hours: decimal_text(input.delta_hours),
        currency: record.project.currency.clone(),
        delta_amount_minor: input.delta_amount.to_minor_units(),
        affected_milestones: input
            .affected_milestones
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        state: DRAFT.to_string(),
        reason: String::new(),
        version: 1,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    change_request::Entity::insert(change_request::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "change_request",
            record_id: &row.id,
            action: "created",
            detail: serde_json::json!({
                "project_id": row.project_id,
                "role": row.role,
                "delta_hours": row.delta_hours,
                "delta_amount": input.delta_amount.amount().to_string(),
                "currency": row.currency,
                "affected_milestones": row.affected_milestones,
            }),
        },
    )
    .await?;
    to_proto(&row)
}

async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<change_request::Model, Error> {
    change_request::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("change request", id))
}

pub(crate) async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<ChangeRequest, Error> {
    to_proto(&find(db, id).await?)
}

pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    project_id: Option<Uuid>,
    page: Page,
) -> Result<Vec<ChangeRequest>, Error> {
    let mut query = change_request::Entity::find()
        .order_by_asc(change_request::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(change_request::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = project_id {
        query = query.filter(change_request::Column::ProjectId.eq(project_id.to_string()));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

/// Every change request of the projects `ids`, in id order.
pub(crate) async fn of_projects<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<ChangeRequest>, Error> {
    let rows = change_request::Entity::find()
        .filter(change_request::Column::ProjectId.is_in(ids.iter().cloned()))
        .order_by_asc(change_request::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

/// Moves a change request one step (see [`crate::PsaAdapter::transition_change_request`]).
pub(crate) async fn transition<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &ChangeRequestTransition,
    now: DateTime<Utc>,
) -> Result<ChangeRequest, Error> {
    let id = input.id.to_string();
    let before = find(txn, &id).await?;
    if before.version != input.expected_version {
        return Err(Error::stale(
            "change request",
            &id,
            input.expected_version,
            before.version,
        ));
    }
    let (from, to) = match input.step {
        ChangeRequestStep::Submit => (DRAFT, SUBMITTED),
        ChangeRequestStep::Approve => (SUBMITTED, APPROVED),
        ChangeRequestStep::Reject => (SUBMITTED, REJECTED),
        ChangeRequestStep::Apply => (APPROVED, APPLIED),
    };
    if before.state != from {
        return Err(Error::FailedPrecondition(format!(
            "change request {id} is {}; only {from} change requests can be {}",
            before.state,
            input.step.name()
        )));
    }
    let mut detail = serde_json::json!({
        "state": { "before": before.state, "after": to },
        "version": { "before": before.version, "after": before.version + 1 },
    });
    let applied_project = if input.step == ChangeRequestStep::Apply {
        let (project, baseline) = apply(txn, actor, &before, now).await?;
        detail["baseline"] = baseline;
        Some(project)
    } else {
        None
    };
    let mut after = before.clone();
    after.state = to.to_string();
    if input.step == ChangeRequestStep::Reject {
        after.reason = input.reason.clone();
    }
    after.version = before.version + 1;
    after.updated_at = now;
    after.updated_by = actor.to_string();
    let result = change_request::Entity::update_many()
        .set(change_request::ActiveModel::from(after.clone()).reset_all())
        .filter(change_request::Column::Id.eq(&id))
        .filter(change_request::Column::Version.eq(before.version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        let actual = find(txn, &id).await?.version;
        return Err(Error::stale("change request", &id, input.expected_version, actual));
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "change_request",
            record_id: &id,
            action: input.step.name(),
            detail,
        },
    )
    .await?;
    let change_request = to_proto(&after)?;
    let event_type = match input.step {
        ChangeRequestStep::Approve => Some(CHANGE_REQUEST_APPROVED),
        ChangeRequestStep::Apply => Some(CHANGE_REQUEST_APPLIED),
        _ => None,
    };
    if let Some(event_type) = event_type {
        let event = EventEnvelope::new(
            event_type,
            SERVICE_NAME,
            &id,
            &ChangeRequestChanged {
                change_request: Some(change_request.clone()),
                project: applied_project,
            },
        );
        outbox::enqueue(txn, &event).await?;
    }
    Ok(change_request)
}

/// The baseline and milestones of a project as JSON, for the audit log.
fn baseline_json(record: &ProjectRecord) -> serde_json::Value {
    let mut lines: Vec<_> = record.budget_lines.iter().collect();
    lines.sort_by_key(|l| l.position);
    let mut milestones: Vec<_> = record.milestones.iter().collect();
    milestones.sort_by_key(|m| m.position);
    serde_json::json!({
        "total_hours": record.project.total_hours,
        "total_minor": record.project.contract_value_minor,
        "lines": lines.iter().map(|l| serde_json::json!({
            "role": l.role, "hours": l.hours, "amount_minor": l.amount_minor,
        })).collect::<Vec<_>>(),
        "milestones": milestones.iter().map(|m| serde_json::json!({
            "id": (m.position + 1).to_string(), "name": m.name, "amount_minor": m.amount_minor,
        })).collect::<Vec<_>>(),
    })
}

fn hours(text: &str) -> Result<Decimal, Error> {
    Decimal::from_str(text).map_err(Error::internal)
}

fn negative(what: String) -> Error {
    Error::FailedPrecondition(format!("applying the change request would make {what} negative"))
}

/// Applies an approved change request to its project: the role's baseline line, the totals
/// and the affected milestones, exactly. Returns the project after and the audit detail.
async fn apply<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    request: &change_request::Model,
    now: DateTime<Utc>,
) -> Result<(Project, serde_json::Value), Error> {
    let record = projects::load(txn, &request.project_id).await?;
    projects::ensure_open(&record.project)?;
    let currency = Currency::parse(&record.project.currency).map_err(Error::internal)?;
    if request.currency != record.project.currency {
        return Err(Error::FailedPrecondition(format!(
            "change request {} is in {}, project {} in {}",
            request.id, request.currency, record.project.id, record.project.currency
        )));
    }
    let delta_hours = hours(&request.delta_hours)?;
    let delta = Money::from_minor_units(request.delta_amount_minor, currency);
    let before = baseline_json(&record);
    let project_id = record.project.id.clone();

    // The role's baseline line, or a new one after the last.
    let line = record.budget_lines.iter().find(|l| l.role == request.role);
    let (line_hours, line_minor) = match line {
        Some(line) => (
            hours(&line.hours)? + delta_hours,
            line.amount_minor + delta.to_minor_units(),
        ),
        None => (delta_hours, delta.to_minor_units()),
    };
    if line_hours.is_sign_negative() && !line_hours.is_zero() || line_minor < 0 {
        return Err(negative(format!("the baseline line of role {:?}", request.role)));
    }
    let total_hours = hours(&record.project.total_hours)? + delta_hours;
    let total_minor = record.project.contract_value_minor + delta.to_minor_units();
    if total_hours.is_sign_negative() && !total_hours.is_zero() || total_minor < 0 {
        return Err(negative(format!("the baseline of project {project_id}")));
    }

    // The delta spread over the affected milestones by their amounts (equally when all are 0).
    let mut affected = Vec::new();
    for id in milestone_positions(request) {
        let milestone = record
            .milestones
            .iter()
            .find(|m| (m.position + 1).to_string() == id)
            .ok_or_else(|| Error::FailedPrecondition(format!("project {project_id} has no milestone {id}")))?;
        affected.push(milestone);
    }
    let mut weights: Vec<Decimal> = affected.iter().map(|m| Decimal::from(m.amount_minor)).collect();
    if weights.iter().all(|w| w.is_zero()) {
        weights = vec![Decimal::ONE; affected.len()];
    }
    let shares = if delta.amount().is_zero() {
        vec![Money::zero(currency); affected.len()]
    } else {
        delta.allocate(&weights)
    };
    if shares.len() != affected.len() {
        return Err(Error::FailedPrecondition(format!(
            "change request {} changes money but names no milestone to carry it",
            request.id
        )));
    }
    for (milestone, share) in affected.iter().zip(&shares) {
        let amount = milestone.amount_minor + share.to_minor_units();
        if amount < 0 {
            return Err(negative(format!("milestone {}", milestone.position + 1)));
        }
        project_milestone::Entity::update_many()
            .col_expr(project_milestone::Column::AmountMinor, Expr::value(amount))
            .filter(project_milestone::Column::ProjectId.eq(&project_id))
            .filter(project_milestone::Column::Position.eq(milestone.position))
            .exec(txn)
            .await
            .map_err(db_error)?;
    }
    match line {
        Some(line) => {
            project_budget_line::Entity::update_many()
                .col_expr(
                    project_budget_line::Column::Hours,
                    Expr::value(decimal_text(line_hours)),
                )
                .col_expr(project_budget_line::Column::AmountMinor, Expr::value(line_minor))
                .filter(project_budget_line::Column::ProjectId.eq(&project_id))
                .filter(project_budget_line::Column::Position.eq(line.position))
                .exec(txn)
                .await
                .map_err(db_error)?;
        }
        None => {
            let position = record.budget_lines.iter().map(|l| l.position + 1).max().unwrap_or(0);
            project_budget_line::Entity::insert(project_budget_line::ActiveModel::from(project_budget_line::Model {
                project_id: project_id.clone(),
                position,
                role: request.role.clone(),
                hours: decimal_text(line_hours),
                currency: record.project.currency.clone(),
                amount_minor: line_minor,
            }))
            .exec_without_returning(txn)
            .await
            .map_err(db_error)?;
        }
    }
    projects::bump(
        txn,
        &project_id,
        record.project.version,
        actor,
        now,
        project::Entity::update_many()
            .col_expr(project::Column::TotalHours, Expr::value(decimal_text(total_hours)))
            .col_expr(project::Column::ContractValueMinor, Expr::value(total_minor)),
    )
    .await?;
    let after_record = projects::load(txn, &project_id).await?;
    let detail = serde_json::json!({ "before": before, "after": baseline_json(&after_record) });
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "project",
            record_id: &project_id,
            action: "change_request_applied",
            detail: serde_json::json!({ "change_request_id": request.id, "baseline": detail }),
        },
    )
    .await?;
    Ok((after_record.to_proto()?, detail))
}
