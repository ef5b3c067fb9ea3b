//! The ERP side of a change order in the reference adapter: a billing milestone's amount or due
//! date moved, and a revenue schedule's contract value revised. Each is versioned, audited with
//! its before and after, and emits an event in the same transaction.

use keel_core::Error;
use keel_proto::erp::{BillingMilestone, RevenueSchedule};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::DatabaseTransaction;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ExprTrait;
use serde_json::json;

use super::billing::{
    PLANNED, REACHED, find_schedule, milestone_to_proto, money, require_milestone, require_project, schedule_to_proto,
};
use super::ledger_entities::{billing_milestone, invoice, revenue_schedule};
use super::{emit, now};
use crate::domain::change_order::{MilestoneUpdate, RevenueRevision};

pub(super) async fn update_milestone(
    txn: &DatabaseTransaction,
    actor: &str,
    update: &MilestoneUpdate,
) -> Result<BillingMilestone, Error> {
    let id = update.id.to_string();
    let before = require_milestone(txn, &id).await?;
    if before.version != update.expected_version {
        return Err(Error::stale(
            "billing milestone",
            id,
            update.expected_version,
            before.version,
        ));
    }
    if before.status != PLANNED && before.status != REACHED {
        return Err(Error::FailedPrecondition(format!(
            "billing milestone {id} is {}; only a planned or reached milestone changes",
            before.status
        )));
    }
    if let Some(on_invoice) = invoice::Entity::find()
        .filter(invoice::Column::MilestoneId.eq(id.as_str()))
        .one(txn)
        .await
        .map_err(db_error)?
    {
        return Err(Error::FailedPrecondition(format!(
            "billing milestone {id} is on invoice {} and cannot change",
            on_invoice.id
        )));
    }
    if let Some(amount) = &update.amount
        && amount.currency().code() != before.currency
    {
        return Err(Error::invalid(
            "amount.currency",
            format!(
                "is {}, but the milestone is kept in {}",
                amount.currency(),
                before.currency
            ),
        ));
    }
    let amount_minor = update
        .amount
        .as_ref()
        .map_or(before.amount_minor_units, |m| m.to_minor_units());
    let due_date = update.due_date.map_or(before.due_date.clone(), |d| d.to_string());
    let changed = billing_milestone::Entity::update_many()
        .col_expr(billing_milestone::Column::AmountMinorUnits, Expr::value(amount_minor))
        .col_expr(billing_milestone::Column::DueDate, Expr::value(due_date))
        .col_expr(
            billing_milestone::Column::Version,
            Expr::col(billing_milestone::Column::Version).add(1),
        )
        .col_expr(billing_milestone::Column::UpdatedAt, Expr::value(now()))
        .col_expr(billing_milestone::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(billing_milestone::Column::Id.eq(id.as_str()))
        .filter(billing_milestone::Column::Version.eq(update.expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let after = require_milestone(txn, &id).await?;
    if changed.rows_affected != 1 {
        return Err(Error::stale(
            "billing milestone",
            id,
            update.expected_version,
            after.version,
        ));
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "billing_milestone",
            record_id: &id,
            action: "updated",
            detail: json!({
                "before": { "amount": money(before.amount_minor_units, &before.currency)?.to_string(), "due_date": before.due_date, "version": before.version },
                "after": { "amount": money(after.amount_minor_units, &after.currency)?.to_string(), "due_date": after.due_date, "version": after.version },
            }),
        },
    )
    .await?;
    let milestone = milestone_to_proto(&after)?;
    emit(txn, "erp.milestone.updated", &id, &milestone).await?;
    Ok(milestone)
}

pub(super) async fn revise_revenue_schedule(
    txn: &DatabaseTransaction,
    actor: &str,
    revision: &RevenueRevision,
) -> Result<RevenueSchedule, Error> {
    let project = require_project(txn, &revision.project_code).await?;
    if revision.contract_value.currency().code() != project.currency {
        return Err(Error::invalid(
            "contract_value.currency",
            format!(
                "is {}, but {} is kept in {}",
                revision.contract_value.currency(),
                project.code,
                project.currency
            ),
        ));
    }
    let before = find_schedule(txn, &project.code)
        .await?
        .ok_or_else(|| Error::not_found("revenue schedule of project code", project.code.as_str()))?;
    if before.version != revision.expected_version {
        return Err(Error::stale(
            "revenue schedule",
            project.code.as_str(),
            revision.expected_version,
            before.version,
        ));
    }
    let contract_minor = revision.contract_value.to_minor_units();
    if contract_minor < before.recognized_minor_units {
        return Err(Error::FailedPrecondition(format!(
            "{} has already recognised {}; the contract value cannot drop below it",
            project.code,
            money(before.recognized_minor_units, &before.currency)?
        )));
    }
    let changed = revenue_schedule::Entity::update_many()
        .col_expr(
            revenue_schedule::Column::ContractMinorUnits,
            Expr::value(contract_minor),
        )
        .col_expr(
            revenue_schedule::Column::Version,
            Expr::col(revenue_schedule::Column::Version).add(1),
        )
        .col_expr(revenue_schedule::Column::UpdatedAt, Expr::value(now()))
        .col_expr(revenue_schedule::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(revenue_schedule::Column::Id.eq(before.id.as_str()))
        .filter(revenue_schedule::Column::Version.eq(revision.expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let after = find_schedule(txn, &project.code)
        .await?
        .ok_or_else(|| Error::internal("the revised revenue schedule vanished"))?;
    if changed.rows_affected != 1 {
        return Err(Error::stale(
            "revenue schedule",
            project.code.as_str(),
            revision.expected_version,
            after.version,
        ));
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "revenue_schedule",
            record_id: &after.id,
            action: "revised",
            detail: json!({
                "project_code": project.code,
                "before": { "contract_value": money(before.contract_minor_units, &before.currency)?.to_string(), "version": before.version },
                "after": { "contract_value": money(after.contract_minor_units, &after.currency)?.to_string(), "version": after.version },
            }),
        },
    )
    .await?;
    let schedule = schedule_to_proto(&after)?;
    emit(txn, "erp.revenue_schedule.revised", &after.id, &schedule).await?;
    Ok(schedule)
}
