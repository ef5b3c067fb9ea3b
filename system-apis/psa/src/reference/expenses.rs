//! Expenses and their states: DRAFT -> SUBMITTED -> APPROVED | REJECTED; APPROVED -> POSTED.
//! A rejected expense is edited back to DRAFT; a submitted or approved one is locked.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::psa::{Expense, ExpenseChanged, ExpenseState};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, ConnectionTrait, QueryOrder, QuerySelect};

use super::entities::expense;
use super::{money, projects, staffing};
use crate::SERVICE_NAME;
use crate::domain::{
    Decision, ExpenseDecision, ExpenseEdit, ExpenseFilter, ExpensePosting, ExpenseSubmission, NewExpense, Spend,
};

const DRAFT: &str = "draft";
const SUBMITTED: &str = "submitted";
const APPROVED: &str = "approved";
const REJECTED: &str = "rejected";
const POSTED: &str = "posted";

/// Event types the PSA emits for expenses.
pub const EXPENSE_SUBMITTED: &str = "psa.expense.submitted";
pub const EXPENSE_APPROVED: &str = "psa.expense.approved";
pub const EXPENSE_REJECTED: &str = "psa.expense.rejected";
pub const EXPENSE_POSTED: &str = "psa.expense.posted";

fn state(text: &str) -> ExpenseState {
    match text {
        DRAFT => ExpenseState::Draft,
        SUBMITTED => ExpenseState::Submitted,
        APPROVED => ExpenseState::Approved,
        REJECTED => ExpenseState::Rejected,
        POSTED => ExpenseState::Posted,
        _ => ExpenseState::Unspecified,
    }
}

fn state_text(state: ExpenseState) -> &'static str {
    match state {
        ExpenseState::Draft => DRAFT,
        ExpenseState::Submitted => SUBMITTED,
        ExpenseState::Approved => APPROVED,
        ExpenseState::Rejected => REJECTED,
        ExpenseState::Posted => POSTED,
        ExpenseState::Unspecified => "unspecified",
    }
}

fn to_proto(row: &expense::Model) -> Result<Expense, Error> {
    Ok(Expense {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        employee_id: row.employee_id.clone(),
        assignment_id: row.assignment_id.clone(),
        date: row.expense_date.to_string(),
        category: row.category.clone(),
        description: row.description.clone(),
        amount: Some(money(row.amount_minor, &row.currency)?.to_proto()),
        billable: row.billable,
        receipt_document_id: row.receipt_document_id.clone(),
        state: state(&row.state) as i32,
        rejection_reason: row.rejection_reason.clone(),
        approver_id: row.approver_id.clone(),
        journal_reference: row.journal_reference.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

/// Writes what an expense says about the spend onto `row`.
fn apply(row: &mut expense::Model, spend: &Spend) {
    row.expense_date = spend.date;
    row.category = spend.category.clone();
    row.description = spend.description.clone();
    row.currency = spend.amount.currency().code().to_string();
    row.amount_minor = spend.amount.to_minor_units();
    row.billable = spend.billable;
    row.receipt_document_id = spend.receipt_document_id.map(|id| id.to_string()).unwrap_or_default();
}

fn detail(row: &expense::Model) -> serde_json::Value {
    serde_json::json!({
        "date": row.expense_date.to_string(),
        "category": row.category,
        "description": row.description,
        "currency": row.currency,
        "amount_minor": row.amount_minor,
        "billable": row.billable,
        "receipt_document_id": row.receipt_document_id,
        "state": row.state,
        "version": row.version,
    })
}

/// Records a DRAFT expense against the person's assignment covering its date.
pub(crate) async fn record<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    input: &NewExpense,
    now: DateTime<Utc>,
) -> Result<Expense, Error> {
    let project = projects::find_row(txn, &input.project_id.to_string()).await?;
    projects::ensure_open(&project)?;
    let employee_id = input.employee_id.to_string();
    let assignment = staffing::covering_assignment(txn, &project.id, &employee_id, input.spend.date).await?;
    let mut row = expense::Model {
        id: keel_core::ids::new_id().to_string(),
        project_id: project.id.clone(),
        employee_id,
        assignment_id: assignment.id,
        expense_date: input.spend.date,
        category: String::new(),
        description: String::new(),
        currency: String::new(),
        amount_minor: 0,
        billable: false,
        receipt_document_id: String::new(),
        state: DRAFT.to_string(),
        rejection_reason: String::new(),
        approver_id: String::new(),
        journal_reference: String::new(),
        version: 1,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    apply(&mut row, &input.spend);
    expense::Entity::insert(expense::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "expense",
            record_id: &row.id,
            action: "recorded",
            detail: serde_json::json!({
                "project_id": row.project_id,
                "employee_id": row.employee_id,
                "after": detail(&row),
            }),
        },
    )
    .await?;
    to_proto(&row)
}

async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<expense::Model, Error> {
    expense::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("expense", id))
}

pub(crate) async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<Expense, Error> {
    to_proto(&find(db, id).await?)
}

fn check_version(row: &expense::Model, expected: i64) -> Result<(), Error> {
    if row.version != expected {
        return Err(Error::stale("expense", &row.id, expected, row.version));
    }
    Ok(())
}

fn wrong_state(row: &expense::Model, action: &str, allowed: &str) -> Error {
    Error::FailedPrecondition(format!(
        "expense {} is {}; only {allowed} expenses can be {action}",
        row.id, row.state
    ))
}

/// Writes `after` over `before` if the stored version is still `before`'s, bumping it.
async fn save<C: ConnectionTrait>(
    txn: &C,
    before: &expense::Model,
    mut after: expense::Model,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<expense::Model, Error> {
    after.version = before.version + 1;
    after.updated_at = now;
    after.updated_by = actor.to_string();
    let result = expense::Entity::update_many()
        .set(expense::ActiveModel::from(after.clone()).reset_all())
        .filter(expense::Column::Id.eq(&before.id))
        .filter(expense::Column::Version.eq(before.version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected != 1 {
        let actual = find(txn, &before.id).await?.version;
        return Err(Error::stale("expense", &before.id, before.version, actual));
    }
    Ok(after)
}

/// Edits a DRAFT or REJECTED expense; it is DRAFT afterwards.
pub(crate) async fn update<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    edit: &ExpenseEdit,
    now: DateTime<Utc>,
) -> Result<Expense, Error> {
    let before = find(txn, &edit.id.to_string()).await?;
    check_version(&before, edit.expected_version)?;
    if before.state != DRAFT && before.state != REJECTED {
        return Err(wrong_state(&before, "edited", "draft or rejected"));
    }
    let assignment =
        staffing::covering_assignment(txn, &before.project_id, &before.employee_id, edit.spend.date).await?;
    let mut after = before.clone();
    apply(&mut after, &edit.spend);
    after.assignment_id = assignment.id;
    after.state = DRAFT.to_string();
    after.rejection_reason = String::new();
    let after = save(txn, &before, after, actor, now).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "expense",
            record_id: &after.id,
            action: "edited",
            detail: serde_json::json!({ "before": detail(&before), "after": detail(&after) }),
        },
    )
    .await?;
    to_proto(&after)
}

/// Moves `before` to `after`, audits it and emits `event_type`.
async fn transition<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    before: &expense::Model,
    after: expense::Model,
    action: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<Expense, Error> {
    let after = save(txn, before, after, actor, now).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "expense",
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
    let expense = to_proto(&after)?;
    let event = EventEnvelope::new(
        event_type,
        SERVICE_NAME,
        &expense.id,
        &ExpenseChanged {
            expense: Some(expense.clone()),
        },
    );
    outbox::enqueue(txn, &event).await?;
    Ok(expense)
}

/// Submits DRAFT expenses, all or none.
pub(crate) async fn submit<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    submission: &ExpenseSubmission,
    now: DateTime<Utc>,
) -> Result<Vec<Expense>, Error> {
    let mut expenses = Vec::with_capacity(submission.ids.len());
    for id in &submission.ids {
        let before = find(txn, &id.to_string()).await?;
        if before.state != DRAFT {
            return Err(wrong_state(&before, "submitted", "draft"));
        }
        let mut after = before.clone();
        after.state = SUBMITTED.to_string();
        expenses.push(transition(txn, actor, &before, after, "submitted", EXPENSE_SUBMITTED, now).await?);
    }
    Ok(expenses)
}

/// Approves or rejects a SUBMITTED expense; its own person may not decide.
pub(crate) async fn decide<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    decision: &ExpenseDecision,
    now: DateTime<Utc>,
) -> Result<Expense, Error> {
    let before = find(txn, &decision.id.to_string()).await?;
    check_version(&before, decision.expected_version)?;
    let (verb, event_type) = match decision.decision {
        Decision::Approve => ("approved", EXPENSE_APPROVED),
        Decision::Reject { .. } => ("rejected", EXPENSE_REJECTED),
    };
    if before.state != SUBMITTED {
        return Err(wrong_state(&before, verb, "submitted"));
    }
    let approver_id = decision.approver_id.to_string();
    if approver_id == before.employee_id {
        return Err(Error::FailedPrecondition(format!(
            "expense {} belongs to employee {approver_id}, who cannot approve or reject their own expense",
            before.id
        )));
    }
    let mut after = before.clone();
    after.approver_id = approver_id;
    match &decision.decision {
        Decision::Approve => after.state = APPROVED.to_string(),
        Decision::Reject { reason } => {
            after.state = REJECTED.to_string();
            after.rejection_reason = reason.clone();
        }
    }
    transition(txn, actor, &before, after, verb, event_type, now).await
}

/// Marks an APPROVED expense POSTED with the ERP journal it went into.
pub(crate) async fn mark_posted<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    posting: &ExpensePosting,
    now: DateTime<Utc>,
) -> Result<Expense, Error> {
    let before = find(txn, &posting.id.to_string()).await?;
    check_version(&before, posting.expected_version)?;
    if before.state != APPROVED {
        return Err(wrong_state(&before, "posted", "approved"));
    }
    let mut after = before.clone();
    after.state = POSTED.to_string();
    after.journal_reference = posting.journal_reference.clone();
    transition(txn, actor, &before, after, "posted", EXPENSE_POSTED, now).await
}

pub(crate) async fn list<C: ConnectionTrait>(db: &C, filter: ExpenseFilter, page: Page) -> Result<Vec<Expense>, Error> {
    let mut query = expense::Entity::find()
        .order_by_asc(expense::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(expense::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = filter.project_id {
        query = query.filter(expense::Column::ProjectId.eq(project_id.to_string()));
    }
    if let Some(employee_id) = filter.employee_id {
        query = query.filter(expense::Column::EmployeeId.eq(employee_id.to_string()));
    }
    if let Some(state) = filter.state {
        query = query.filter(expense::Column::State.eq(state_text(state)));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}
