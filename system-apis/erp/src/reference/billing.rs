//! Budget change orders, billing milestones, invoices and revenue recognition.
//!
//! Issuing an invoice posts, in the project's legal entity, Dr 1200 receivables and Cr 2400
//! deferred revenue (a milestone invoice) or Cr 1250 unbilled WIP (time and materials, whose
//! revenue was recognised as the work was posted). Recognising revenue moves deferred revenue
//! to 4000: for a milestone schedule, up to the invoiced milestones; for a percent-complete
//! schedule, up to that share of the contract value (rounded half-even to the minor unit).

use keel_core::paging::Page;
use keel_core::time::audit_info;
use keel_core::{Error, Money, Violations};
use keel_proto::common::PageResponse;
use keel_proto::erp::{
    BillingMilestone, Budget, Invoice, InvoiceEvent, InvoiceLine, InvoiceStatus, ListBillingMilestonesResponse,
    ListInvoicesResponse, MilestoneStatus, RecognizeRevenueResponse, RevenueSchedule,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::{db_error, is_unique_violation};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{DatabaseConnection, DatabaseTransaction, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::entities::{budget, budget_line, project_code};
use super::ledger::{JournalDraft, find_legal_entity, insert_journal};
use super::ledger_entities::{billing_milestone, invoice, invoice_line, revenue_schedule, work_posting};
use super::{budget_to_proto, emit, next_number, now, stored_currency};
use crate::domain::billing::{
    BudgetUpdate, InvoiceIssue, InvoiceSource, NewDraftInvoice, NewMilestone, NewRevenueSchedule, Recognition,
    RecognitionMethod, VersionedChange, percent_of,
};
use crate::domain::ledger::{LedgerLine, Side, accounts};
use crate::domain::{LegalEntity, ProjectCodeNumber};

pub(super) const PLANNED: &str = "planned";
pub(super) const REACHED: &str = "reached";
const INVOICED: &str = "invoiced";
const DRAFT: &str = "draft";
const ISSUED: &str = "issued";
const INVOICE_SEQUENCE: &str = "invoice";

pub(super) async fn require_project<C: ConnectionTrait>(
    db: &C,
    code: &ProjectCodeNumber,
) -> Result<project_code::Model, Error> {
    project_code::Entity::find()
        .filter(project_code::Column::Code.eq(code.as_str()))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("project code", code.as_str()))
}

/// The project's legal entity, which must keep a ledger before anything is posted for it.
async fn ledger_entity_of(txn: &DatabaseTransaction, project: &project_code::Model) -> Result<LegalEntity, Error> {
    if find_legal_entity(txn, &project.legal_entity).await?.is_none() {
        return Err(Error::FailedPrecondition(format!(
            "{} is booked in {}, which has no ledger yet (create the legal entity first)",
            project.code, project.legal_entity
        )));
    }
    LegalEntity::parse(&project.legal_entity).map_err(Error::internal)
}

pub(super) fn money(minor: i64, currency: &str) -> Result<Money, Error> {
    Ok(Money::from_minor_units(minor, stored_currency(currency)?))
}

// ---- budgets ----

pub(super) async fn update_budget(
    txn: &DatabaseTransaction,
    actor: &str,
    update: &BudgetUpdate,
) -> Result<Budget, Error> {
    let new = &update.budget;
    let code = new.project_code.as_str();
    let project = require_project(txn, &new.project_code).await?;
    let before = budget::Entity::find()
        .filter(budget::Column::ProjectCodeId.eq(project.id.as_str()))
        .one(txn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("budget of project code", code))?;
    let mut violations = Violations::new();
    for (index, line) in new.lines.iter().enumerate() {
        if line.amount.currency().code() != project.currency {
            violations.add(
                format!("lines[{index}].amount.currency"),
                format!(
                    "is {}, but {code} is kept in {}",
                    line.amount.currency(),
                    project.currency
                ),
            );
        }
    }
    violations.finish()?;
    let at = now();
    let total = new.total();
    let changed = budget::Entity::update_many()
        .col_expr(budget::Column::TotalMinorUnits, Expr::value(total.to_minor_units()))
        .col_expr(budget::Column::Version, Expr::col(budget::Column::Version).add(1))
        .col_expr(budget::Column::PostedAt, Expr::value(at))
        .col_expr(budget::Column::PostedBy, Expr::value(actor.to_string()))
        .filter(budget::Column::Id.eq(before.id.as_str()))
        .filter(budget::Column::Version.eq(update.expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if changed.rows_affected != 1 {
        return Err(Error::stale("budget", code, update.expected_version, before.version));
    }
    budget_line::Entity::delete_many()
        .filter(budget_line::Column::BudgetId.eq(before.id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let mut line_rows = Vec::with_capacity(new.lines.len());
    for (index, line) in new.lines.iter().enumerate() {
        line_rows.push(budget_line::Model {
            id: keel_core::ids::new_id().to_string(),
            budget_id: before.id.clone(),
            line_number: i32::try_from(index).map_err(Error::internal)?,
            role: line.role.to_string(),
            hours: line.hours.to_string(),
            amount_minor_units: line.amount.to_minor_units(),
            currency: line.amount.currency().code().to_string(),
        });
    }
    budget_line::Entity::insert_many(line_rows.iter().cloned().map(budget_line::ActiveModel::from))
        .exec(txn)
        .await
        .map_err(db_error)?;
    project_code::Entity::update_many()
        .col_expr(project_code::Column::UpdatedAt, Expr::value(at))
        .col_expr(project_code::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(project_code::Column::Id.eq(project.id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let after = budget::Entity::find_by_id(before.id.clone())
        .one(txn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::internal("the updated budget vanished"))?;
    let budget = budget_to_proto(code, &after, &line_rows)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "project_code",
            record_id: &project.id,
            action: "budget_updated",
            detail: json!({
                "code": code,
                "before": { "total_minor_units": before.total_minor_units, "version": before.version },
                "after": { "total_minor_units": after.total_minor_units, "version": after.version,
                    "lines": budget.lines.iter().map(|l| json!({
                        "role": l.role, "hours": l.hours, "amount": l.amount.as_ref().map(|m| &m.amount),
                    })).collect::<Vec<_>>() },
            }),
        },
    )
    .await?;
    emit(txn, "erp.budget.updated", &project.id, &budget).await?;
    Ok(budget)
}

// ---- milestones ----

pub(super) fn milestone_to_proto(row: &billing_milestone::Model) -> Result<BillingMilestone, Error> {
    let status = match row.status.as_str() {
        PLANNED => MilestoneStatus::Planned,
        REACHED => MilestoneStatus::Reached,
        INVOICED => MilestoneStatus::Invoiced,
        other => return Err(Error::internal(format!("milestone {} has status {other:?}", row.id))),
    };
    Ok(BillingMilestone {
        id: row.id.clone(),
        project_code: row.project_code.clone(),
        name: row.name.clone(),
        amount: Some(money(row.amount_minor_units, &row.currency)?.to_proto()),
        due_date: row.due_date.clone(),
        status: status as i32,
        version: row.version,
    })
}

pub(super) async fn require_milestone<C: ConnectionTrait>(db: &C, id: &str) -> Result<billing_milestone::Model, Error> {
    billing_milestone::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("billing milestone", id))
}

pub(super) async fn create_milestone(
    txn: &DatabaseTransaction,
    actor: &str,
    new: &NewMilestone,
) -> Result<BillingMilestone, Error> {
    let project = require_project(txn, &new.project_code).await?;
    if new.amount.currency().code() != project.currency {
        return Err(Error::invalid(
            "amount.currency",
            format!(
                "is {}, but {} is kept in {}",
                new.amount.currency(),
                project.code,
                project.currency
            ),
        ));
    }
    let at = now();
    let row = billing_milestone::Model {
        id: keel_core::ids::new_id().to_string(),
        project_code: project.code.clone(),
        name: new.name.clone(),
        amount_minor_units: new.amount.to_minor_units(),
        currency: project.currency.clone(),
        due_date: new.due_date.to_string(),
        status: PLANNED.to_string(),
        version: 1,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    billing_milestone::Entity::insert(billing_milestone::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "billing_milestone",
            record_id: &row.id,
            action: "created",
            detail: json!({ "project_code": row.project_code, "name": row.name, "amount": new.amount.to_string(), "due_date": row.due_date }),
        },
    )
    .await?;
    let milestone = milestone_to_proto(&row)?;
    emit(txn, "erp.milestone.created", &row.id, &milestone).await?;
    Ok(milestone)
}

/// Moves a milestone from `from` to `to` if its version is `expected`.
async fn move_milestone(
    txn: &DatabaseTransaction,
    actor: &str,
    id: &str,
    expected: i64,
    to: &str,
) -> Result<billing_milestone::Model, Error> {
    let changed = billing_milestone::Entity::update_many()
        .col_expr(billing_milestone::Column::Status, Expr::value(to.to_string()))
        .col_expr(
            billing_milestone::Column::Version,
            Expr::col(billing_milestone::Column::Version).add(1),
        )
        .col_expr(billing_milestone::Column::UpdatedAt, Expr::value(now()))
        .col_expr(billing_milestone::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(billing_milestone::Column::Id.eq(id))
        .filter(billing_milestone::Column::Version.eq(expected))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let after = require_milestone(txn, id).await?;
    if changed.rows_affected != 1 {
        return Err(Error::stale("billing milestone", id, expected, after.version));
    }
    Ok(after)
}

pub(super) async fn mark_milestone_reached(
    txn: &DatabaseTransaction,
    actor: &str,
    change: &VersionedChange,
) -> Result<BillingMilestone, Error> {
    let id = change.id.to_string();
    let before = require_milestone(txn, &id).await?;
    if before.version != change.expected_version {
        return Err(Error::stale(
            "billing milestone",
            id,
            change.expected_version,
            before.version,
        ));
    }
    if before.status != PLANNED {
        return Err(Error::FailedPrecondition(format!(
            "billing milestone {id} is {}, not planned",
            before.status
        )));
    }
    let after = move_milestone(txn, actor, &id, change.expected_version, REACHED).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "billing_milestone",
            record_id: &id,
            action: "reached",
            detail: json!({ "before": { "status": before.status, "version": before.version }, "after": { "status": after.status, "version": after.version } }),
        },
    )
    .await?;
    let milestone = milestone_to_proto(&after)?;
    emit(txn, "erp.milestone.reached", &id, &milestone).await?;
    Ok(milestone)
}

pub(super) async fn list_milestones(
    db: &DatabaseConnection,
    code: &ProjectCodeNumber,
    page: Page,
) -> Result<ListBillingMilestonesResponse, Error> {
    require_project(db, code).await?;
    let mut query = billing_milestone::Entity::find().filter(billing_milestone::Column::ProjectCode.eq(code.as_str()));
    if let Some(after) = page.after {
        query = query.filter(billing_milestone::Column::Id.gt(after.to_string()));
    }
    let rows = query
        .order_by_asc(billing_milestone::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(db_error)?;
    let last = rows
        .last()
        .map(|r| Uuid::parse_str(&r.id))
        .transpose()
        .map_err(Error::internal)?;
    Ok(ListBillingMilestonesResponse {
        milestones: rows.iter().map(milestone_to_proto).collect::<Result<_, _>>()?,
        page: Some(PageResponse {
            next_page_token: page.next_token(rows.len(), last),
        }),
    })
}

// ---- invoices ----

async fn invoice_to_proto<C: ConnectionTrait>(db: &C, row: &invoice::Model) -> Result<Invoice, Error> {
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(row.id.as_str()))
        .order_by_asc(invoice_line::Column::LineNumber)
        .all(db)
        .await
        .map_err(db_error)?;
    let status = match row.status.as_str() {
        DRAFT => InvoiceStatus::Draft,
        ISSUED => InvoiceStatus::Issued,
        other => return Err(Error::internal(format!("invoice {} has status {other:?}", row.id))),
    };
    Ok(Invoice {
        id: row.id.clone(),
        number: row.number.clone().unwrap_or_default(),
        project_code: row.project_code.clone(),
        legal_entity: row.legal_entity.clone(),
        status: status as i32,
        lines: lines
            .iter()
            .map(|l| {
                Ok(InvoiceLine {
                    description: l.description.clone(),
                    amount: Some(money(l.amount_minor_units, &l.currency)?.to_proto()),
                    source: l.source.clone(),
                })
            })
            .collect::<Result<_, Error>>()?,
        total: Some(money(row.total_minor_units, &row.currency)?.to_proto()),
        issue_date: row.issue_date.clone().unwrap_or_default(),
        journal_id: row.journal_id.clone().unwrap_or_default(),
        version: row.version,
        audit: Some(audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

async fn require_invoice<C: ConnectionTrait>(db: &C, id: &str) -> Result<invoice::Model, Error> {
    invoice::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("invoice", id))
}

pub(super) async fn create_draft_invoice(
    txn: &DatabaseTransaction,
    actor: &str,
    draft: &NewDraftInvoice,
) -> Result<Invoice, Error> {
    let project = require_project(txn, &draft.project_code).await?;
    let invoice_id = keel_core::ids::new_id().to_string();
    // (description, minor units, source)
    let mut lines: Vec<(String, i64, String)> = Vec::new();
    let mut milestone_id = None;
    match draft.source {
        InvoiceSource::Milestone(id) => {
            let id = id.to_string();
            let milestone = require_milestone(txn, &id).await?;
            if milestone.project_code != project.code {
                return Err(Error::invalid(
                    "milestone_id",
                    format!(
                        "milestone {id} belongs to {}, not {}",
                        milestone.project_code, project.code
                    ),
                ));
            }
            if let Some(existing) = invoice::Entity::find()
                .filter(invoice::Column::MilestoneId.eq(id.as_str()))
                .one(txn)
                .await
                .map_err(db_error)?
            {
                return Err(Error::FailedPrecondition(format!(
                    "milestone {id} is already on invoice {}",
                    existing.id
                )));
            }
            if milestone.status != REACHED {
                return Err(Error::FailedPrecondition(format!(
                    "milestone {id} is {}; only a reached milestone is invoiced",
                    milestone.status
                )));
            }
            lines.push((
                milestone.name.clone(),
                milestone.amount_minor_units,
                format!("milestone:{id}"),
            ));
            milestone_id = Some(id);
        }
        InvoiceSource::TimeAndMaterials => {
            let postings = work_posting::Entity::find()
                .filter(work_posting::Column::ProjectCode.eq(project.code.as_str()))
                .filter(work_posting::Column::BillMinorUnits.gt(0))
                .filter(work_posting::Column::InvoiceId.is_null())
                .order_by_asc(work_posting::Column::Id)
                .all(txn)
                .await
                .map_err(db_error)?;
            if postings.is_empty() {
                return Err(Error::FailedPrecondition(format!(
                    "{} has no uninvoiced billable time or expenses",
                    project.code
                )));
            }
            let claimed = work_posting::Entity::update_many()
                .col_expr(work_posting::Column::InvoiceId, Expr::value(invoice_id.clone()))
                .filter(work_posting::Column::Id.is_in(postings.iter().map(|p| p.id.clone())))
                .filter(work_posting::Column::InvoiceId.is_null())
                .exec(txn)
                .await
                .map_err(db_error)?;
            if claimed.rows_affected != postings.len() as u64 {
                return Err(Error::Unavailable(
                    "a concurrent invoice took some of these postings; retry".into(),
                ));
            }
            for posting in &postings {
                lines.push((
                    posting.description.clone(),
                    posting.bill_minor_units,
                    format!("{}:{}", posting.kind, posting.entry_id),
                ));
            }
        }
    }
    let total: i128 = lines.iter().map(|(_, minor, _)| i128::from(*minor)).sum();
    let total = i64::try_from(total).map_err(|_| Error::FailedPrecondition("the invoice total is too large".into()))?;
    let at = now();
    let row = invoice::Model {
        id: invoice_id.clone(),
        number: None,
        project_code: project.code.clone(),
        legal_entity: project.legal_entity.clone(),
        currency: project.currency.clone(),
        status: DRAFT.to_string(),
        milestone_id,
        total_minor_units: total,
        issue_date: None,
        journal_id: None,
        version: 1,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    match invoice::Entity::insert(invoice::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::FailedPrecondition(
                "the milestone is already on an invoice".into(),
            ));
        }
        Err(e) => return Err(db_error(e)),
    }
    let line_rows = lines
        .iter()
        .enumerate()
        .map(|(index, (description, minor, source))| {
            Ok(invoice_line::ActiveModel::from(invoice_line::Model {
                id: keel_core::ids::new_id().to_string(),
                invoice_id: invoice_id.clone(),
                line_number: i32::try_from(index).map_err(Error::internal)?,
                description: description.clone(),
                amount_minor_units: *minor,
                currency: project.currency.clone(),
                source: source.clone(),
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    invoice_line::Entity::insert_many(line_rows)
        .exec(txn)
        .await
        .map_err(db_error)?;
    let invoice = invoice_to_proto(txn, &row).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "invoice",
            record_id: &invoice_id,
            action: "drafted",
            detail: json!({ "project_code": row.project_code, "total_minor_units": total, "currency": row.currency, "lines": lines.len() }),
        },
    )
    .await?;
    emit(
        txn,
        "erp.invoice.drafted",
        &invoice_id,
        &InvoiceEvent {
            invoice: Some(invoice.clone()),
        },
    )
    .await?;
    Ok(invoice)
}

pub(super) async fn issue_invoice(
    txn: &DatabaseTransaction,
    actor: &str,
    issue: &InvoiceIssue,
) -> Result<Invoice, Error> {
    let id = issue.invoice_id.to_string();
    let before = require_invoice(txn, &id).await?;
    if before.version != issue.expected_version {
        return Err(Error::stale("invoice", id, issue.expected_version, before.version));
    }
    if before.status != DRAFT {
        return Err(Error::FailedPrecondition(format!(
            "invoice {} is already issued",
            before.number.clone().unwrap_or(id)
        )));
    }
    let project = require_project(
        txn,
        &ProjectCodeNumber::parse(&before.project_code).map_err(Error::internal)?,
    )
    .await?;
    let entity = ledger_entity_of(txn, &project).await?;
    let code = ProjectCodeNumber::parse(&project.code).map_err(Error::internal)?;
    let number = format!("INV-{:06}", next_number(txn, INVOICE_SEQUENCE).await?);
    let total = money(before.total_minor_units, &before.currency)?;
    let credit_account = if before.milestone_id.is_some() {
        accounts::DEFERRED_REVENUE
    } else {
        accounts::UNBILLED_WIP
    };
    let memo = format!("invoice {number}");
    let journal = insert_journal(
        txn,
        actor,
        JournalDraft {
            date: issue.issue_date,
            description: format!("Invoice {number} for {}", project.code),
            source: format!("invoice:{number}"),
            reverses: None,
            lines: vec![
                LedgerLine::new(&entity, accounts::RECEIVABLES, Some(&code), Side::Debit, total, &memo),
                LedgerLine::new(&entity, credit_account, Some(&code), Side::Credit, total, &memo),
            ],
        },
    )
    .await?;
    let changed = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value(ISSUED))
        .col_expr(invoice::Column::Number, Expr::value(number.clone()))
        .col_expr(invoice::Column::IssueDate, Expr::value(issue.issue_date.to_string()))
        .col_expr(invoice::Column::JournalId, Expr::value(journal.id.clone()))
        .col_expr(invoice::Column::Version, Expr::col(invoice::Column::Version).add(1))
        .col_expr(invoice::Column::UpdatedAt, Expr::value(now()))
        .col_expr(invoice::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(invoice::Column::Id.eq(id.as_str()))
        .filter(invoice::Column::Version.eq(issue.expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if changed.rows_affected != 1 {
        let actual = require_invoice(txn, &id).await?.version;
        return Err(Error::stale("invoice", id, issue.expected_version, actual));
    }
    if let Some(milestone_id) = &before.milestone_id {
        let milestone = require_milestone(txn, milestone_id).await?;
        move_milestone(txn, actor, milestone_id, milestone.version, INVOICED).await?;
    }
    let after = require_invoice(txn, &id).await?;
    let invoice = invoice_to_proto(txn, &after).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "invoice",
            record_id: &id,
            action: "issued",
            detail: json!({
                "before": { "status": before.status, "version": before.version },
                "after": { "status": after.status, "version": after.version, "number": number, "journal_id": journal.id },
            }),
        },
    )
    .await?;
    emit(
        txn,
        "erp.invoice.issued",
        &id,
        &InvoiceEvent {
            invoice: Some(invoice.clone()),
        },
    )
    .await?;
    Ok(invoice)
}

pub(super) async fn get_invoice(db: &DatabaseConnection, id: Uuid) -> Result<Invoice, Error> {
    let row = require_invoice(db, &id.to_string()).await?;
    invoice_to_proto(db, &row).await
}

pub(super) async fn list_invoices(
    db: &DatabaseConnection,
    code: Option<&ProjectCodeNumber>,
    page: Page,
) -> Result<ListInvoicesResponse, Error> {
    let mut query = invoice::Entity::find();
    if let Some(code) = code {
        query = query.filter(invoice::Column::ProjectCode.eq(code.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(invoice::Column::Id.gt(after.to_string()));
    }
    let rows = query
        .order_by_asc(invoice::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(db_error)?;
    let mut invoices = Vec::with_capacity(rows.len());
    for row in &rows {
        invoices.push(invoice_to_proto(db, row).await?);
    }
    let last = rows
        .last()
        .map(|r| Uuid::parse_str(&r.id))
        .transpose()
        .map_err(Error::internal)?;
    Ok(ListInvoicesResponse {
        invoices,
        page: Some(PageResponse {
            next_page_token: page.next_token(rows.len(), last),
        }),
    })
}

// ---- revenue ----

pub(super) fn schedule_to_proto(row: &revenue_schedule::Model) -> Result<RevenueSchedule, Error> {
    let method = RecognitionMethod::from_stored(&row.method)
        .ok_or_else(|| Error::internal(format!("revenue schedule {} has method {:?}", row.id, row.method)))?;
    Ok(RevenueSchedule {
        project_code: row.project_code.clone(),
        method: method.to_proto() as i32,
        contract_value: Some(money(row.contract_minor_units, &row.currency)?.to_proto()),
        recognized: Some(money(row.recognized_minor_units, &row.currency)?.to_proto()),
        percent_complete: row.percent_complete.clone(),
        version: row.version,
    })
}

pub(super) async fn find_schedule<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<revenue_schedule::Model>, Error> {
    revenue_schedule::Entity::find()
        .filter(revenue_schedule::Column::ProjectCode.eq(code))
        .one(db)
        .await
        .map_err(db_error)
}

pub(super) async fn set_revenue_schedule(
    txn: &DatabaseTransaction,
    actor: &str,
    new: &NewRevenueSchedule,
) -> Result<RevenueSchedule, Error> {
    let project = require_project(txn, &new.project_code).await?;
    if new.contract_value.currency().code() != project.currency {
        return Err(Error::invalid(
            "contract_value.currency",
            format!(
                "is {}, but {} is kept in {}",
                new.contract_value.currency(),
                project.code,
                project.currency
            ),
        ));
    }
    let exists = || Error::AlreadyExists(format!("{} already has a revenue schedule", project.code));
    if find_schedule(txn, &project.code).await?.is_some() {
        return Err(exists());
    }
    let at = now();
    let row = revenue_schedule::Model {
        id: keel_core::ids::new_id().to_string(),
        project_code: project.code.clone(),
        method: new.method.as_str().to_string(),
        contract_minor_units: new.contract_value.to_minor_units(),
        currency: project.currency.clone(),
        recognized_minor_units: 0,
        percent_complete: String::new(),
        version: 1,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    match revenue_schedule::Entity::insert(revenue_schedule::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(exists()),
        Err(e) => return Err(db_error(e)),
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "revenue_schedule",
            record_id: &row.id,
            action: "set",
            detail: json!({ "project_code": row.project_code, "method": row.method, "contract_value": new.contract_value.to_string() }),
        },
    )
    .await?;
    let schedule = schedule_to_proto(&row)?;
    emit(txn, "erp.revenue_schedule.set", &row.id, &schedule).await?;
    Ok(schedule)
}

pub(super) async fn get_revenue_schedule(
    db: &DatabaseConnection,
    code: &ProjectCodeNumber,
) -> Result<RevenueSchedule, Error> {
    let row = find_schedule(db, code.as_str())
        .await?
        .ok_or_else(|| Error::not_found("revenue schedule of project code", code.as_str()))?;
    schedule_to_proto(&row)
}

pub(super) async fn recognize_revenue(
    txn: &DatabaseTransaction,
    actor: &str,
    recognition: &Recognition,
) -> Result<RecognizeRevenueResponse, Error> {
    let code = &recognition.project_code;
    let project = require_project(txn, code).await?;
    let before = find_schedule(txn, code.as_str())
        .await?
        .ok_or_else(|| Error::not_found("revenue schedule of project code", code.as_str()))?;
    let method = RecognitionMethod::from_stored(&before.method)
        .ok_or_else(|| Error::internal(format!("revenue schedule {} has method {:?}", before.id, before.method)))?;
    let currency = stored_currency(&before.currency)?;
    let recognized = Money::from_minor_units(before.recognized_minor_units, currency);
    let (target, percent_text) = match method {
        RecognitionMethod::FixedFeePercentComplete => {
            let Some(percent) = recognition.percent_complete else {
                return Err(Error::invalid(
                    "percent_complete",
                    "is required for a FIXED_FEE_PERCENT_COMPLETE schedule",
                ));
            };
            let contract = Money::from_minor_units(before.contract_minor_units, currency);
            (percent_of(contract, percent), percent.to_string())
        }
        RecognitionMethod::FixedFeeMilestone | RecognitionMethod::TimeAndMaterials => {
            if recognition.percent_complete.is_some() {
                return Err(Error::invalid(
                    "percent_complete",
                    format!(
                        "applies to FIXED_FEE_PERCENT_COMPLETE schedules only; {} is {}",
                        code, before.method
                    ),
                ));
            }
            if method == RecognitionMethod::TimeAndMaterials {
                // Recognised as work is posted: nothing is left to recognise here.
                (recognized, before.percent_complete.clone())
            } else {
                let invoiced: i128 = billing_milestone::Entity::find()
                    .filter(billing_milestone::Column::ProjectCode.eq(code.as_str()))
                    .filter(billing_milestone::Column::Status.eq(INVOICED))
                    .all(txn)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .map(|m| i128::from(m.amount_minor_units))
                    .sum();
                let invoiced = i64::try_from(invoiced).map_err(Error::internal)?;
                (
                    Money::from_minor_units(invoiced, currency),
                    before.percent_complete.clone(),
                )
            }
        }
    };
    let delta = target.to_minor_units() - recognized.to_minor_units();
    let mut journal = None;
    if delta != 0 {
        let entity = ledger_entity_of(txn, &project).await?;
        let amount = Money::from_minor_units(delta.abs(), currency);
        let (deferred_side, revenue_side) = if delta > 0 {
            (Side::Debit, Side::Credit)
        } else {
            (Side::Credit, Side::Debit)
        };
        let memo = format!("revenue recognised to {target}");
        journal = Some(
            insert_journal(
                txn,
                actor,
                JournalDraft {
                    date: recognition.as_of,
                    description: format!("Revenue recognition for {code} as of {}", recognition.as_of),
                    source: format!("revenue:{code}"),
                    reverses: None,
                    lines: vec![
                        LedgerLine::new(
                            &entity,
                            accounts::DEFERRED_REVENUE,
                            Some(code),
                            deferred_side,
                            amount,
                            &memo,
                        ),
                        LedgerLine::new(
                            &entity,
                            accounts::SERVICES_REVENUE,
                            Some(code),
                            revenue_side,
                            amount,
                            &memo,
                        ),
                    ],
                },
            )
            .await?,
        );
    }
    if delta != 0 || percent_text != before.percent_complete {
        let changed = revenue_schedule::Entity::update_many()
            .col_expr(
                revenue_schedule::Column::RecognizedMinorUnits,
                Expr::value(target.to_minor_units()),
            )
            .col_expr(
                revenue_schedule::Column::PercentComplete,
                Expr::value(percent_text.clone()),
            )
            .col_expr(
                revenue_schedule::Column::Version,
                Expr::col(revenue_schedule::Column::Version).add(1),
            )
            .col_expr(revenue_schedule::Column::UpdatedAt, Expr::value(now()))
            .col_expr(revenue_schedule::Column::UpdatedBy, Expr::value(actor.to_string()))
            .filter(revenue_schedule::Column::Id.eq(before.id.as_str()))
            .filter(revenue_schedule::Column::Version.eq(before.version))
            .exec(txn)
            .await
            .map_err(db_error)?;
        if changed.rows_affected != 1 {
            return Err(Error::Unavailable("a concurrent recognition ran; retry".into()));
        }
        audit::append(
            txn,
            AuditEntry {
                actor,
                record_type: "revenue_schedule",
                record_id: &before.id,
                action: "recognized",
                detail: json!({
                    "before": { "recognized": recognized.to_string(), "percent_complete": before.percent_complete },
                    "after": { "recognized": target.to_string(), "percent_complete": percent_text },
                    "journal_id": journal.as_ref().map(|j| j.id.clone()),
                }),
            },
        )
        .await?;
    }
    let after = find_schedule(txn, code.as_str())
        .await?
        .ok_or_else(|| Error::internal("the revenue schedule vanished"))?;
    let schedule = schedule_to_proto(&after)?;
    if journal.is_some() {
        emit(txn, "erp.revenue.recognized", &after.id, &schedule).await?;
    }
    Ok(RecognizeRevenueResponse {
        schedule: Some(schedule),
        journal,
    })
}
