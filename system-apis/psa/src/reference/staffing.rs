//! Rate cards and assignments: who may book time on a project, and at which rate.

use chrono::{DateTime, NaiveDate, Utc};
use keel_core::paging::Page;
use keel_core::{Error, Money};
use keel_proto::psa::{Assignment, AssignmentState, RateCard, RoleRate};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::entities::{assignment, project_rate_card};
use super::{money, projects};
use crate::domain::{AssignmentEnd, AssignmentFilter, NewAssignment, RateCardInput};

const ACTIVE: &str = "active";
const ENDED: &str = "ended";

/// One stored rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredRate {
    pub role: String,
    pub rate_minor: i64,
}

fn stored_rates(row: &project_rate_card::Model) -> Result<Vec<StoredRate>, Error> {
    serde_json::from_str(&row.rates).map_err(Error::internal)
}

fn rate_card_to_proto(row: &project_rate_card::Model) -> Result<RateCard, Error> {
    Ok(RateCard {
        project_id: row.project_id.clone(),
        rates: stored_rates(row)?
            .into_iter()
            .map(|rate| {
                Ok(RoleRate {
                    role: rate.role,
                    bill_rate: Some(money(rate.rate_minor, &row.currency)?.to_proto()),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?,
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

/// The rate card of a project, if it has one.
pub(crate) async fn find_rate_card<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
) -> Result<Option<project_rate_card::Model>, Error> {
    project_rate_card::Entity::find_by_id(project_id.to_string())
        .one(db)
        .await
        .map_err(db_error)
}

/// The rate for `role` on the project's card: FAILED_PRECONDITION when there is none.
pub(crate) async fn rate_for<C: ConnectionTrait>(db: &C, project_id: &str, role: &str) -> Result<Money, Error> {
    let card = find_rate_card(db, project_id).await?.ok_or_else(|| {
        Error::FailedPrecondition(format!(
            "project {project_id} has no rate card; set one before recording billable time"
        ))
    })?;
    let rate = stored_rates(&card)?
        .into_iter()
        .find(|rate| rate.role == role)
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "the rate card of project {project_id} has no rate for role {role:?}"
            ))
        })?;
    money(rate.rate_minor, &card.currency)
}

pub(crate) async fn get_rate_card<C: ConnectionTrait>(db: &C, project_id: &str) -> Result<RateCard, Error> {
    let card = find_rate_card(db, project_id)
        .await?
        .ok_or_else(|| Error::not_found("rate card of project", project_id))?;
    rate_card_to_proto(&card)
}

/// Replaces the rate card (see [`crate::PsaAdapter::set_project_rate_card`]).
pub(crate) async fn set_rate_card<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &RateCardInput,
    now: DateTime<Utc>,
) -> Result<RateCard, Error> {
    let project_id = input.project_id.to_string();
    let project = projects::find_row(txn, &project_id).await?;
    for (i, rate) in input.rates.iter().enumerate() {
        if rate.bill_rate.currency().code() != project.currency {
            return Err(Error::invalid(
                format!("rates[{i}].bill_rate.currency"),
                format!("must be the project's currency, {}", project.currency),
            ));
        }
    }
    let rates: Vec<StoredRate> = input
        .rates
        .iter()
        .map(|rate| StoredRate {
            role: rate.role.clone(),
            rate_minor: rate.bill_rate.to_minor_units(),
        })
        .collect();
    let rates_json = serde_json::to_string(&rates).map_err(Error::internal)?;
    let existing = find_rate_card(txn, &project_id).await?;
    let actual = existing.as_ref().map_or(0, |card| card.version);
    if actual != input.expected_version {
        return Err(Error::stale("rate card", &project_id, input.expected_version, actual));
    }
    let before = match &existing {
        Some(card) => serde_json::to_value(stored_rates(card)?).map_err(Error::internal)?,
        None => serde_json::Value::Null,
    };
    match existing {
        None => {
            let row = project_rate_card::Model {
                project_id: project_id.clone(),
                currency: project.currency.clone(),
                rates: rates_json,
                version: 1,
                created_at: now,
                created_by: actor.to_string(),
                updated_at: now,
                updated_by: actor.to_string(),
            };
            project_rate_card::Entity::insert(project_rate_card::ActiveModel::from(row))
                .exec_without_returning(txn)
                .await
                .map_err(|e| {
                    if keel_store::is_unique_violation(&e) {
                        Error::stale("rate card", &project_id, 0, 1)
                    } else {
                        db_error(e)
                    }
                })?;
        }
        Some(card) => {
            let result = project_rate_card::Entity::update_many()
                .col_expr(project_rate_card::Column::Rates, Expr::value(rates_json))
                .col_expr(project_rate_card::Column::Version, Expr::value(card.version + 1))
                .col_expr(project_rate_card::Column::UpdatedAt, Expr::value(now))
                .col_expr(project_rate_card::Column::UpdatedBy, Expr::value(actor.to_string()))
                .filter(project_rate_card::Column::ProjectId.eq(&project_id))
                .filter(project_rate_card::Column::Version.eq(card.version))
                .exec(txn)
                .await
                .map_err(db_error)?;
            if result.rows_affected != 1 {
                let actual = find_rate_card(txn, &project_id).await?.map_or(0, |c| c.version);
                return Err(Error::stale("rate card", &project_id, input.expected_version, actual));
            }
        }
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "rate_card",
            record_id: &project_id,
            action: "set",
            detail: serde_json::json!({
                "currency": project.currency,
                "rates": { "before": before, "after": rates },
                "version": { "before": actual, "after": actual + 1 },
            }),
        },
    )
    .await?;
    get_rate_card(txn, &project_id).await
}

fn assignment_state(text: &str) -> AssignmentState {
    match text {
        ACTIVE => AssignmentState::Active,
        ENDED => AssignmentState::Ended,
        _ => AssignmentState::Unspecified,
    }
}

pub(crate) fn assignment_to_proto(row: &assignment::Model) -> Assignment {
    Assignment {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        employee_id: row.employee_id.clone(),
        person_name: row.person_name.clone(),
        role: row.role.clone(),
        bill_role: row.bill_role.clone(),
        start_date: row.start_date.to_string(),
        end_date: row.end_date.to_string(),
        allocation_percent: row.allocation_percent.clone(),
        state: assignment_state(&row.state) as i32,
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

/// Creates an assignment (see [`crate::PsaAdapter::create_assignment`]).
pub(crate) async fn create_assignment<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &NewAssignment,
    now: DateTime<Utc>,
) -> Result<Assignment, Error> {
    let project = projects::find_row(txn, &input.project_id.to_string()).await?;
    projects::ensure_open(&project)?;
    let row = assignment::Model {
        id: keel_core::ids::new_id().to_string(),
        project_id: project.id.clone(),
        employee_id: input.employee_id.to_string(),
        person_name: input.person_name.clone(),
        role: input.role.clone(),
        bill_role: input.bill_role.clone(),
        start_date: input.start_date,
        end_date: input.end_date,
        allocation_percent: crate::domain::decimal_text(input.allocation_percent),
        state: ACTIVE.to_string(),
        version: 1,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    assignment::Entity::insert(assignment::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "assignment",
            record_id: &row.id,
            action: "created",
            detail: serde_json::json!({
                "project_id": row.project_id,
                "employee_id": row.employee_id,
                "role": row.role,
                "bill_role": row.bill_role,
                "start_date": row.start_date.to_string(),
                "end_date": row.end_date.to_string(),
                "allocation_percent": row.allocation_percent,
            }),
        },
    )
    .await?;
    Ok(assignment_to_proto(&row))
}

async fn find_assignment<C: ConnectionTrait>(db: &C, id: &str) -> Result<assignment::Model, Error> {
    assignment::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("assignment", id))
}

/// Ends an assignment (see [`crate::PsaAdapter::end_assignment`]).
pub(crate) async fn end_assignment<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &AssignmentEnd,
    now: DateTime<Utc>,
) -> Result<Assignment, Error> {
    let id = input.id.to_string();
    let row = find_assignment(txn, &id).await?;
    if row.version != input.expected_version {
        return Err(Error::stale("assignment", &id, input.expected_version, row.version));
    }
    if row.state == ENDED {
        return Err(Error::FailedPrecondition(format!("assignment {id} has already ended")));
    }
    if input.end_date < row.start_date || input.end_date > row.end_date {
        return Err(Error::invalid(
            "end_date",
            format!(
                "must be within the assignment's period, {} to {}",
                row.start_date, row.end_date
            ),
        ));
    }
    let result = assignment::Entity::update_many()
        .col_expr(assignment::Column::EndDate, Expr::value(input.end_date))
        .col_expr(assignment::Column::State, Expr::value(ENDED))
        .col_expr(assignment::Column::Version, Expr::value(row.version + 1))
        .col_expr(assignment::Column::UpdatedAt, Expr::value(now))
        .col_expr(assignment::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(assignment::Column::Id.eq(&id))
        .filter(assignment::Column::Version.eq(row.version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        let actual = find_assignment(txn, &id).await?.version;
        return Err(Error::stale("assignment", &id, input.expected_version, actual));
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "assignment",
            record_id: &id,
            action: "ended",
            detail: serde_json::json!({
                "end_date": { "before": row.end_date.to_string(), "after": input.end_date.to_string() },
                "state": { "before": row.state, "after": ENDED },
            }),
        },
    )
    .await?;
    Ok(assignment_to_proto(&find_assignment(txn, &id).await?))
}

/// The person's assignment on the project covering `date` (its start to its end, inclusive):
/// FAILED_PRECONDITION naming them when there is none.
pub(crate) async fn covering_assignment<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
    employee_id: &str,
    date: NaiveDate,
) -> Result<assignment::Model, Error> {
    assignment::Entity::find()
        .filter(assignment::Column::ProjectId.eq(project_id))
        .filter(assignment::Column::EmployeeId.eq(employee_id))
        .filter(assignment::Column::StartDate.lte(date))
        .filter(assignment::Column::EndDate.gte(date))
        .order_by_asc(assignment::Column::Id)
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "employee {employee_id} has no assignment on project {project_id} covering {date}"
            ))
        })
}

/// Every assignment of the projects `ids`, in id order.
pub(crate) async fn assignments_of_projects<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<Vec<Assignment>, Error> {
    let rows = assignment::Entity::find()
        .filter(assignment::Column::ProjectId.is_in(ids.iter().cloned()))
        .order_by_asc(assignment::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(assignment_to_proto).collect())
}

pub(crate) async fn list_assignments<C: ConnectionTrait>(
    db: &C,
    filter: AssignmentFilter,
    page: Page,
) -> Result<Vec<Assignment>, Error> {
    let mut query = assignment::Entity::find()
        .order_by_asc(assignment::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(assignment::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = filter.project_id {
        query = query.filter(assignment::Column::ProjectId.eq(project_id.to_string()));
    }
    if let Some(employee_id) = filter.employee_id {
        query = query.filter(assignment::Column::EmployeeId.eq(employee_id.to_string()));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    Ok(rows.iter().map(assignment_to_proto).collect())
}
