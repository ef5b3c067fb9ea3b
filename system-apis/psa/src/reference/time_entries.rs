//! Time entries and their states: DRAFT -> SUBMITTED -> APPROVED | REJECTED; APPROVED ->
//! POSTED. An approved entry is locked: an edit sends it back to SUBMITTED for re-approval.
//! The first submission's time is kept (`submitted_at`) through every later state.

use chrono::{DateTime, Utc};
use keel_core::paging::Page;
use keel_core::{Currency, Error, Money};
use keel_events::{EventEnvelope, outbox};
use keel_proto::psa::{TimeEntry, TimeEntryChanged, TimeEntryState};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ConnectionTrait, QueryOrder, QuerySelect};

use super::entities::time_entry;
use super::{money, projects, staffing};
use crate::SERVICE_NAME;
use crate::domain::{
    Decision, EntryOfWork, TimeEntryDecision, TimeEntryEdit, TimeEntryFilter, TimeEntryPosting, TimeEntrySubmission,
    WorkDone, decimal_text,
};

const DRAFT: &str = "draft";
const SUBMITTED: &str = "submitted";
const APPROVED: &str = "approved";
const REJECTED: &str = "rejected";
const POSTED: &str = "posted";

/// Event types the PSA emits for time entries.
pub const TIME_ENTRY_SUBMITTED: &str = "psa.time_entry.submitted";
pub const TIME_ENTRY_APPROVED: &str = "psa.time_entry.approved";
pub const TIME_ENTRY_REJECTED: &str = "psa.time_entry.rejected";
pub const TIME_ENTRY_POSTED: &str = "psa.time_entry.posted";

pub(crate) fn state(text: &str) -> TimeEntryState {
    match text {
        DRAFT => TimeEntryState::Draft,
        SUBMITTED => TimeEntryState::Submitted,
        APPROVED => TimeEntryState::Approved,
        REJECTED => TimeEntryState::Rejected,
        POSTED => TimeEntryState::Posted,
        _ => TimeEntryState::Unspecified,
    }
}

fn state_text(state: TimeEntryState) -> &'static str {
    match state {
        TimeEntryState::Draft => DRAFT,
        TimeEntryState::Submitted => SUBMITTED,
        TimeEntryState::Approved => APPROVED,
        TimeEntryState::Rejected => REJECTED,
        TimeEntryState::Posted => POSTED,
        TimeEntryState::Unspecified => "unspecified",
    }
}

/// `hours × rate`: the exact product, and the product rounded half-to-even to the currency's
/// minor unit.
pub fn price(hours: Decimal, rate: Money) -> Result<(Money, Decimal), Error> {
    let exact = hours
        .checked_mul(rate.amount())
        .ok_or_else(|| Error::invalid("hours", "times the rate is beyond the largest amount Keel accepts"))?
        .normalize();
    let rounded = exact.round_dp_with_strategy(
        rate.currency().minor_unit_digits(),
        RoundingStrategy::MidpointNearestEven,
    );
    let amount = Money::new(rounded, rate.currency()).map_err(|e| Error::invalid("hours", e))?;
    Ok((amount, exact))
}

pub(crate) fn to_proto(row: &time_entry::Model) -> Result<TimeEntry, Error> {
    Ok(TimeEntry {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        employee_id: row.employee_id.clone(),
        assignment_id: row.assignment_id.clone(),
        task: row.task.clone(),
        date: row.work_date.to_string(),
        hours: row.hours.clone(),
        narrative: row.narrative.clone(),
        billable: row.billable,
        role: row.role.clone(),
        rate: Some(money(row.rate_minor, &row.currency)?.to_proto()),
        amount: Some(money(row.amount_minor, &row.currency)?.to_proto()),
        exact_amount: row.exact_amount.clone(),
        state: state(&row.state) as i32,
        rejection_reason: row.rejection_reason.clone(),
        approver_id: row.approver_id.clone(),
        reapproval_required: row.reapproval_required,
        journal_reference: row.journal_reference.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
        submitted_at: row.submitted_at.map(keel_core::time::to_timestamp),
    })
}

/// What a priced entry stores about the work and its money.
struct Priced {
    assignment_id: String,
    role: String,
    rate: Money,
    amount: Money,
    exact: Decimal,
}

/// Finds the assignment covering the work and prices it: the rate card's rate for the
/// assignment's bill role when billable, zero otherwise. `keep_rate` is the entry's stored
/// rate, kept when the role is unchanged (a rate card change applies to new entries).
async fn price_work<C: ConnectionTrait>(
    txn: &C,
    project: &super::entities::project::Model,
    employee_id: &str,
    work: &WorkDone,
    keep_rate: Option<(&str, Money)>,
) -> Result<Priced, Error> {
    let assignment = staffing::covering_assignment(txn, &project.id, employee_id, work.date).await?;
    let currency = Currency::parse(&project.currency).map_err(Error::internal)?;
    let rate = if !work.billable {
        Money::zero(currency)
    } else {
        match keep_rate {
            Some((role, rate)) if role == assignment.bill_role && !rate.amount().is_zero() => rate,
            _ => staffing::rate_for(txn, &project.id, &assignment.bill_role).await?,
        }
    };
    let (amount, exact) = price(work.hours, rate)?;
    Ok(Priced {
        assignment_id: assignment.id,
        role: assignment.bill_role,
        rate,
        amount,
        exact,
    })
}

/// Records a DRAFT entry (see [`crate::PsaAdapter::record_time_entry`]).
pub(crate) async fn record<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &EntryOfWork,
    now: DateTime<Utc>,
) -> Result<TimeEntry, Error> {
    let project = projects::find_row(txn, &input.project_id.to_string()).await?;
    projects::ensure_open(&project)?;
    let employee_id = input.employee_id.to_string();
    let priced = price_work(txn, &project, &employee_id, &input.work, None).await?;
    let row = time_entry::Model {
        id: keel_core::ids::new_id().to_string(),
        project_id: project.id.clone(),
        employee_id,
        assignment_id: priced.assignment_id,
        task: input.work.task.clone(),
        work_date: input.work.date,
        hours: decimal_text(input.work.hours),
        narrative: input.work.narrative.clone(),
        billable: input.work.billable,
        role: priced.role,
        currency: project.currency.clone(),
        rate_minor: priced.rate.to_minor_units(),
        amount_minor: priced.amount.to_minor_units(),
        exact_amount: decimal_text(priced.exact),
        state: DRAFT.to_string(),
        rejection_reason: String::new(),
        approver_id: String::new(),
        reapproval_required: false,
        journal_reference: String::new(),
        version: 1,
        submitted_at: None,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    time_entry::Entity::insert(time_entry::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "time_entry",
            record_id: &row.id,
            action: "recorded",
            detail: serde_json::json!({
                "project_id": row.project_id,
                "employee_id": row.employee_id,
                "date": row.work_date.to_string(),
                "hours": row.hours,
                "role": row.role,
                "rate": priced.rate.amount().to_string(),
                "amount": priced.amount.amount().to_string(),
                "exact_amount": row.exact_amount,
                "currency": row.currency,
            }),
        },
    )
    .await?;
    to_proto(&row)
}

async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<time_entry::Model, Error> {
    time_entry::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("time entry", id))
}

pub(crate) async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<TimeEntry, Error> {
    to_proto(&find(db, id).await?)
}

/// Writes `after` over `before` if the stored version is still `before`'s, as one
/// conditional UPDATE, bumping the version; [`Error::stale`] otherwise.
async fn save<C: ConnectionTrait>(
    txn: &C,
    before: &time_entry::Model,
    mut after: time_entry::Model,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<time_entry::Model, Error> {
    after.version = before.version + 1;
    after.updated_at = now;
    after.updated_by = actor.to_string();
    let result = time_entry::Entity::update_many()
        .set(time_entry::ActiveModel::from(after.clone()).reset_all())
        .filter(time_entry::Column::Id.eq(&before.id))
        .filter(time_entry::Column::Version.eq(before.version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        let actual = find(txn, &before.id).await?.version;
        return Err(Error::stale("time entry", &before.id, before.version, actual));
    }
    Ok(after)
}

fn check_version(row: &time_entry::Model, expected: i64) -> Result<(), Error> {
    if row.version != expected {
        return Err(Error::stale("time entry", &row.id, expected, row.version));
    }
    Ok(())
}

fn wrong_state(row: &time_entry::Model, action: &str, allowed: &str) -> Error {
    Error::FailedPrecondition(format!(
        "time entry {} is {}; only {allowed} entries can be {action}",
        row.id, row.state
    ))
}

async fn emit<C: ConnectionTrait>(txn: &C, event_type: &str, entry: &TimeEntry) -> Result<(), Error> {
    let event = EventEnvelope::new(
        event_type,
        SERVICE_NAME,
        &entry.id,
        &TimeEntryChanged {
            entry: Some(entry.clone()),
        },
    );
    outbox::enqueue(txn, &event).await
}

/// Edits an entry (see [`crate::PsaAdapter::update_time_entry`]). Returns the entry and
/// whether it emitted an event.
pub(crate) async fn update<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    edit: &TimeEntryEdit,
    now: DateTime<Utc>,
) -> Result<TimeEntry, Error> {
    let before = find(txn, &edit.id.to_string()).await?;
    check_version(&before, edit.expected_version)?;
    let next_state = match before.state.as_str() {
        DRAFT | REJECTED => DRAFT,
        SUBMITTED => SUBMITTED,
        APPROVED if edit.request_reapproval => SUBMITTED,
        APPROVED => {
            return Err(Error::FailedPrecondition(format!(
                "time entry {} is approved and locked; edit it with request_reapproval to send it back for re-approval",
                before.id
            )));
        }
        _ => return Err(wrong_state(&before, "edited", "draft, submitted, rejected or approved")),
    };
    let project = projects::find_row(txn, &before.project_id).await?;
    let stored_rate = money(before.rate_minor, &before.currency)?;
    let priced = price_work(
        txn,
        &project,
        &before.employee_id,
        &edit.work,
        Some((before.role.as_str(), stored_rate)),
    )
    .await?;
    let mut after = before.clone();
    after.assignment_id = priced.assignment_id;
    after.task = edit.work.task.clone();
    after.work_date = edit.work.date;
    after.hours = decimal_text(edit.work.hours);
    after.narrative = edit.work.narrative.clone();
    after.billable = edit.work.billable;
    after.role = priced.role;
    after.rate_minor = priced.rate.to_minor_units();
    after.amount_minor = priced.amount.to_minor_units();
    after.exact_amount = decimal_text(priced.exact);
    after.state = next_state.to_string();
    let reapproval = before.state == APPROVED;
    if reapproval {
        after.reapproval_required = true;
        after.approver_id = String::new();
    }
    if before.state == REJECTED {
        after.rejection_reason = String::new();
    }
    let after = save(txn, &before, after, actor, now).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "time_entry",
            record_id: &after.id,
            action: if reapproval { "edited_for_reapproval" } else { "edited" },
            detail: serde_json::json!({
                "before": edit_detail(&before),
                "after": edit_detail(&after),
            }),
        },
    )
    .await?;
    let entry = to_proto(&after)?;
    if reapproval {
        emit(txn, TIME_ENTRY_SUBMITTED, &entry).await?;
    }
    Ok(entry)
}

fn edit_detail(row: &time_entry::Model) -> serde_json::Value {
    serde_json::json!({
        "task": row.task,
        "date": row.work_date.to_string(),
        "hours": row.hours,
        "narrative": row.narrative,
        "billable": row.billable,
        "role": row.role,
        "rate_minor": row.rate_minor,
        "amount_minor": row.amount_minor,
        "exact_amount": row.exact_amount,
        "state": row.state,
        "version": row.version,
    })
}

/// Moves `before` to `next`, audits it and emits `event_type`.
async fn transition<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    before: &time_entry::Model,
    after: time_entry::Model,
    action: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<TimeEntry, Error> {
    let after = save(txn, before, after, actor, now).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "time_entry",
            record_id: &after.id,
            action,
            detail: serde_json::json!({
                "state": { "before": before.state, "after": after.state },
                "version": { "before": before.version, "after": after.version },
                "approver_id": after.approver_id,
                "rejection_reason": after.rejection_reason,
                "journal_reference": after.journal_reference,
            }),
        },
    )
    .await?;
    let entry = to_proto(&after)?;
    emit(txn, event_type, &entry).await?;
    Ok(entry)
}

/// Submits DRAFT entries, all or none (see [`crate::PsaAdapter::submit_time_entries`]).
pub(crate) async fn submit<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    submission: &TimeEntrySubmission,
    now: DateTime<Utc>,
) -> Result<Vec<TimeEntry>, Error> {
    let mut entries = Vec::with_capacity(submission.ids.len());
    for id in &submission.ids {
        let before = find(txn, &id.to_string()).await?;
        if before.state != DRAFT {
            return Err(wrong_state(&before, "submitted", "draft"));
        }
        let mut after = before.clone();
        after.state = SUBMITTED.to_string();
        // The first submission is the one compliance counts; a resubmission keeps it.
        after.submitted_at = before.submitted_at.or(Some(now));
        entries.push(transition(txn, actor, &before, after, "submitted", TIME_ENTRY_SUBMITTED, now).await?);
    }
    Ok(entries)
}

/// Approves or rejects a SUBMITTED entry (see [`crate::PsaAdapter::decide_time_entry`]).
pub(crate) async fn decide<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    decision: &TimeEntryDecision,
    now: DateTime<Utc>,
) -> Result<TimeEntry, Error> {
    let before = find(txn, &decision.id.to_string()).await?;
    check_version(&before, decision.expected_version)?;
    let (verb, action, event_type) = match decision.decision {
        Decision::Approve => ("approved", "approved", TIME_ENTRY_APPROVED),
        Decision::Reject { .. } => ("rejected", "rejected", TIME_ENTRY_REJECTED),
    };
    if before.state != SUBMITTED {
        return Err(wrong_state(&before, verb, "submitted"));
    }
    let approver_id = decision.approver_id.to_string();
    if approver_id == before.employee_id {
        return Err(Error::FailedPrecondition(format!(
            "time entry {} belongs to employee {approver_id}, who cannot approve or reject their own time",
            before.id
        )));
    }
    let mut after = before.clone();
    after.approver_id = approver_id;
    match &decision.decision {
        Decision::Approve => {
            after.state = APPROVED.to_string();
            after.reapproval_required = false;
        }
        Decision::Reject { reason } => {
            after.state = REJECTED.to_string();
            after.rejection_reason = reason.clone();
        }
    }
    transition(txn, actor, &before, after, action, event_type, now).await
}

/// Marks an APPROVED entry POSTED (see [`crate::PsaAdapter::mark_time_entry_posted`]).
pub(crate) async fn mark_posted<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    posting: &TimeEntryPosting,
    now: DateTime<Utc>,
) -> Result<TimeEntry, Error> {
    let before = find(txn, &posting.id.to_string()).await?;
    check_version(&before, posting.expected_version)?;
    if before.state != APPROVED {
        return Err(wrong_state(&before, "posted", "approved"));
    }
    let mut after = before.clone();
    after.state = POSTED.to_string();
    after.journal_reference = posting.journal_reference.clone();
    transition(txn, actor, &before, after, "posted", TIME_ENTRY_POSTED, now).await
}

pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    filter: TimeEntryFilter,
    page: Page,
) -> Result<Vec<TimeEntry>, Error> {
    let mut query = time_entry::Entity::find()
        .order_by_asc(time_entry::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(time_entry::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = filter.project_id {
        query = query.filter(time_entry::Column::ProjectId.eq(project_id.to_string()));
    }
    if let Some(employee_id) = filter.employee_id {
        query = query.filter(time_entry::Column::EmployeeId.eq(employee_id.to_string()));
    }
    if let Some(state) = filter.state {
        query = query.filter(time_entry::Column::State.eq(state_text(state)));
    }
    if let Some(from) = filter.date_from {
        query = query.filter(time_entry::Column::WorkDate.gte(from));
    }
    if let Some(to) = filter.date_to {
        query = query.filter(time_entry::Column::WorkDate.lte(to));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

/// Every entry of the projects `ids` (in `state`, when given), in id order.
pub(crate) async fn of_projects<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
    state: Option<TimeEntryState>,
) -> Result<Vec<TimeEntry>, Error> {
    let mut query = time_entry::Entity::find()
        .filter(time_entry::Column::ProjectId.is_in(ids.iter().cloned()))
        .order_by_asc(time_entry::Column::Id);
    if let Some(state) = state {
        query = query.filter(time_entry::Column::State.eq(state_text(state)));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

/// Every entry of the projects `ids` in `states`, for actuals.
pub(crate) async fn of_projects_in<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
    states: &[&str],
) -> Result<Vec<time_entry::Model>, Error> {
    time_entry::Entity::find()
        .filter(time_entry::Column::ProjectId.is_in(ids.iter().cloned()))
        .filter(time_entry::Column::State.is_in(states.iter().copied()))
        .all(db)
        .await
        .map_err(db_error)
}

/// Every entry of a project in `states`, for actuals.
pub(crate) async fn of_project_in<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
    states: &[&str],
) -> Result<Vec<time_entry::Model>, Error> {
    time_entry::Entity::find()
        .filter(time_entry::Column::ProjectId.eq(project_id))
        .filter(time_entry::Column::State.is_in(states.iter().copied()))
        .all(db)
        .await
        .map_err(db_error)
}

pub(crate) const ACTUAL_STATES: [&str; 2] = [APPROVED, POSTED];
pub(crate) const POSTED_STATE: &str = POSTED;

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn amounts_are_hours_times_rate_exactly() {
        let eur = Currency::parse("EUR").unwrap();
        let rate = |s: &str| Money::new(Decimal::from_str(s).unwrap(), eur).unwrap();
        let table = [
            ("7.5", "185.00", "1387.50", "1387.5"),
            ("1.25", "100.01", "125.01", "125.0125"),
            ("0.5", "0.05", "0.02", "0.025"),
            ("0.5", "0.07", "0.04", "0.035"),
            ("24", "999999.99", "23999999.76", "23999999.76"),
        ];
        for (hours, per_hour, rounded, exact) in table {
            let (amount, precise) = price(Decimal::from_str(hours).unwrap(), rate(per_hour)).unwrap();
            assert_eq!(amount.to_proto().amount, rounded, "{hours} × {per_hour}");
            assert_eq!(decimal_text(precise), exact, "{hours} × {per_hour}");
        }
    }
}
