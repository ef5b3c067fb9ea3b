//! Resource requests: OPEN -> PROPOSED -> FILLED; a proposal withdrawn goes back to OPEN;
//! OPEN or PROPOSED -> CANCELLED. Filling one needs an active assignment of the proposed
//! person on the request's project.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::psa::{RequiredLanguage, RequiredSkill, ResourceRequest, ResourceRequestChanged, ResourceRequestState};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::entities::{assignment, resource_request};
use super::projects;
use crate::SERVICE_NAME;
use crate::domain::{NewResourceRequest, ResourceRequestFilter, ResourceStep, ResourceTransition, decimal_text};

const OPEN: &str = "open";
const PROPOSED: &str = "proposed";
const FILLED: &str = "filled";
const CANCELLED: &str = "cancelled";

/// Event types the PSA emits for resource requests.
pub const RESOURCE_REQUEST_OPENED: &str = "psa.resource_request.opened";
pub const RESOURCE_REQUEST_PROPOSED: &str = "psa.resource_request.proposed";
pub const RESOURCE_REQUEST_WITHDRAWN: &str = "psa.resource_request.withdrawn";
pub const RESOURCE_REQUEST_FILLED: &str = "psa.resource_request.filled";
pub const RESOURCE_REQUEST_CANCELLED: &str = "psa.resource_request.cancelled";

/// The stored requirements.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Requirements {
    skills: Vec<(String, i32)>,
    certifications: Vec<String>,
    languages: Vec<(String, String)>,
}

fn state(text: &str) -> ResourceRequestState {
    match text {
        OPEN => ResourceRequestState::Open,
        PROPOSED => ResourceRequestState::Proposed,
        FILLED => ResourceRequestState::Filled,
        CANCELLED => ResourceRequestState::Cancelled,
        _ => ResourceRequestState::Unspecified,
    }
}

fn state_text(state: ResourceRequestState) -> &'static str {
    match state {
        ResourceRequestState::Open => OPEN,
        ResourceRequestState::Proposed => PROPOSED,
        ResourceRequestState::Filled => FILLED,
        ResourceRequestState::Cancelled => CANCELLED,
        ResourceRequestState::Unspecified => "unspecified",
    }
}

fn to_proto(row: &resource_request::Model) -> Result<ResourceRequest, Error> {
    let requirements: Requirements = serde_json::from_str(&row.requirements)
        .map_err(|e| Error::internal(format!("resource request {} requirements: {e}", row.id)))?;
    Ok(ResourceRequest {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        role: row.role.clone(),
        bill_role: row.bill_role.clone(),
        start_date: row.start_date.to_string(),
        end_date: row.end_date.to_string(),
        allocation_percent: row.allocation_percent.clone(),
        skills: requirements
            .skills
            .into_iter()
            .map(|(name, min_proficiency)| RequiredSkill { name, min_proficiency })
            .collect(),
        certifications: requirements.certifications,
        languages: requirements
            .languages
            .into_iter()
            .map(|(code, min_level)| RequiredLanguage { code, min_level })
            .collect(),
        region: row.region.clone(),
        location: row.location.clone(),
        requested_by: row.requested_by.clone(),
        notes: row.notes.clone(),
        state: state(&row.state) as i32,
        proposed_employee_id: row.proposed_employee_id.clone(),
        assignment_id: row.assignment_id.clone(),
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

async fn emit<C: ConnectionTrait>(txn: &C, event_type: &str, request: &ResourceRequest) -> Result<(), Error> {
    let event = EventEnvelope::new(
        event_type,
        SERVICE_NAME,
        &request.id,
        &ResourceRequestChanged {
            resource_request: Some(request.clone()),
        },
    );
    outbox::enqueue(txn, &event).await
}

/// Opens a request on an open project; emits `psa.resource_request.opened`.
pub(crate) async fn create<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &NewResourceRequest,
    now: DateTime<Utc>,
) -> Result<ResourceRequest, Error> {
    let project = projects::find_row(txn, &input.project_id.to_string()).await?;
    projects::ensure_open(&project)?;
    let requirements = Requirements {
        skills: input
            .skills
            .iter()
            .map(|s| (s.name.clone(), s.min_proficiency))
            .collect(),
        certifications: input.certifications.clone(),
        languages: input
            .languages
            .iter()
            .map(|l| (l.code.clone(), l.min_level.clone()))
            .collect(),
    };
    let row = resource_request::Model {
        id: keel_core::ids::new_id().to_string(),
        project_id: project.id.clone(),
        role: input.role.clone(),
        bill_role: input.bill_role.clone(),
        start_date: input.start_date,
        end_date: input.end_date,
        allocation_percent: decimal_text(input.allocation_percent),
        requirements: serde_json::to_string(&requirements).map_err(Error::internal)?,
        region: input.region.clone(),
        location: input.location.clone(),
        requested_by: input.requested_by.to_string(),
        notes: input.notes.clone(),
        state: OPEN.to_string(),
        proposed_employee_id: String::new(),
        assignment_id: String::new(),
        reason: String::new(),
        version: 1,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    resource_request::Entity::insert(resource_request::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "resource_request",
            record_id: &row.id,
            action: "opened",
            detail: serde_json::json!({
                "project_id": row.project_id,
                "role": row.role,
                "start_date": row.start_date.to_string(),
                "end_date": row.end_date.to_string(),
                "allocation_percent": row.allocation_percent,
                "requirements": row.requirements,
            }),
        },
    )
    .await?;
    let request = to_proto(&row)?;
    emit(txn, RESOURCE_REQUEST_OPENED, &request).await?;
    Ok(request)
}

async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<resource_request::Model, Error> {
    resource_request::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("resource request", id))
}

pub(crate) async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<ResourceRequest, Error> {
    to_proto(&find(db, id).await?)
}

fn wrong_state(row: &resource_request::Model, action: &str, allowed: &str) -> Error {
    Error::FailedPrecondition(format!(
        "resource request {} is {}; only {allowed} requests can be {action}",
        row.id, row.state
    ))
}

/// Proposes, withdraws, fills or cancels a request at its expected version.
pub(crate) async fn transition<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &ResourceTransition,
    now: DateTime<Utc>,
) -> Result<ResourceRequest, Error> {
    let before = find(txn, &input.id.to_string()).await?;
    if before.version != input.expected_version {
        return Err(Error::stale(
            "resource request",
            &before.id,
            input.expected_version,
            before.version,
        ));
    }
    let mut after = before.clone();
    let event_type = match &input.step {
        ResourceStep::Propose { employee_id } => {
            if before.state != OPEN {
                return Err(wrong_state(&before, "proposed for", "open"));
            }
            after.state = PROPOSED.to_string();
            after.proposed_employee_id = employee_id.to_string();
            after.reason = String::new();
            RESOURCE_REQUEST_PROPOSED
        }
        ResourceStep::Withdraw { reason } => {
            if before.state != PROPOSED {
                return Err(wrong_state(&before, "withdrawn", "proposed"));
            }
            after.state = OPEN.to_string();
            after.proposed_employee_id = String::new();
            after.reason = reason.clone();
            RESOURCE_REQUEST_WITHDRAWN
        }
        ResourceStep::Fill { assignment_id } => {
            if before.state != PROPOSED {
                return Err(wrong_state(&before, "filled", "proposed"));
            }
            let assignment = assignment::Entity::find_by_id(assignment_id.to_string())
                .one(txn)
                .await
                .map_err(db_error)?
                .ok_or_else(|| Error::invalid("assignment_id", format!("assignment {assignment_id} does not exist")))?;
            if assignment.project_id != before.project_id || assignment.employee_id != before.proposed_employee_id {
                return Err(Error::FailedPrecondition(format!(
                    "assignment {assignment_id} is not the proposed employee {} on project {}",
                    before.proposed_employee_id, before.project_id
                )));
            }
            if assignment.state != "active" {
                return Err(Error::FailedPrecondition(format!(
                    "assignment {assignment_id} is {}; a request is filled by an active assignment",
                    assignment.state
                )));
            }
            after.state = FILLED.to_string();
            after.assignment_id = assignment.id;
            RESOURCE_REQUEST_FILLED
        }
        ResourceStep::Cancel { reason } => {
            if before.state != OPEN && before.state != PROPOSED {
                return Err(wrong_state(&before, "cancelled", "open or proposed"));
            }
            after.state = CANCELLED.to_string();
            after.reason = reason.clone();
            RESOURCE_REQUEST_CANCELLED
        }
    };
    after.version = before.version + 1;
    after.updated_at = now;
    after.updated_by = actor.to_string();
    let result = resource_request::Entity::update_many()
        .set(resource_request::ActiveModel::from(after.clone()).reset_all())
        .filter(resource_request::Column::Id.eq(&before.id))
        .filter(resource_request::Column::Version.eq(before.version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        let actual = find(txn, &before.id).await?.version;
        return Err(Error::stale("resource request", &before.id, before.version, actual));
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "resource_request",
            record_id: &after.id,
            action: input.step.name(),
            detail: serde_json::json!({
                "state": { "before": before.state, "after": after.state },
                "version": { "before": before.version, "after": after.version },
                "proposed_employee_id": after.proposed_employee_id,
                "assignment_id": after.assignment_id,
                "reason": after.reason,
            }),
        },
    )
    .await?;
    let request = to_proto(&after)?;
    emit(txn, event_type, &request).await?;
    Ok(request)
}

pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    filter: ResourceRequestFilter,
    page: Page,
) -> Result<Vec<ResourceRequest>, Error> {
    let mut query = resource_request::Entity::find()
        .order_by_asc(resource_request::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(resource_request::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = filter.project_id {
        query = query.filter(resource_request::Column::ProjectId.eq(project_id.to_string()));
    }
    if let Some(state) = filter.state {
        query = query.filter(resource_request::Column::State.eq(state_text(state)));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}
