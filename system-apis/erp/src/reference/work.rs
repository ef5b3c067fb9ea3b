//! Posting approved time entries and expenses.
//!
//! Each entry is claimed first in `work_postings` (unique per kind and entry id, inserted with
//! `ON CONFLICT DO NOTHING`): an entry already posted, by any earlier request under any key,
//! answers with that posting's journals and posts nothing. On PostgreSQL a concurrent claim
//! of the same entry waits for the first transaction and then finds its row.
//!
//! The journals, in the project code's currency for the bill and the cost's currency for the
//! cost (`C` the cost, `B` the bill, `P` the person's legal entity, `J` the project's):
//!
//! - `P == J`: one journal in `J`: Dr 5000 (5100 for expenses) C / Cr 2100 (2200) C, and for
//!   time-and-materials revenue Dr 1250 unbilled WIP B / Cr 4000 revenue B.
//! - `P != J` (intercompany): in `P`, Dr 1300 intercompany receivable C / Cr 2100 (2200) C;
//!   in `J`, Dr 5000 (5100) C / Cr 2300 intercompany payable C, and the revenue lines as above.
//!   Each journal balances in its own entity and currency.

use std::collections::{HashMap, HashSet};

use keel_core::{Error, Money, Violations};
use keel_proto::erp::{PostWorkResponse, WorkPosted, WorkPostedEvent};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, DatabaseTransaction};
use serde_json::json;

use super::entities::project_code;
use super::ledger::{JournalDraft, insert_journal};
use super::ledger_entities::{legal_entity, revenue_schedule, work_posting};
use super::now;
use crate::domain::billing::{RecognitionMethod, WorkBatch, WorkEntry, WorkKind};
use crate::domain::ledger::{LedgerLine, Side, accounts};
use crate::domain::{LegalEntity, ProjectCodeNumber};

/// Posts `batch` in `txn`; nothing is written if any entry is refused.
pub(super) async fn post_work(
    txn: &DatabaseTransaction,
    actor: &str,
    batch: &WorkBatch,
) -> Result<PostWorkResponse, Error> {
    let list = match batch.kind {
        WorkKind::Time => "entries",
        WorkKind::Expense => "expenses",
    };
    let codes: Vec<String> = batch
        .entries
        .iter()
        .map(|e| e.project_code.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let projects: HashMap<String, project_code::Model> = project_code::Entity::find()
        .filter(project_code::Column::Code.is_in(codes.clone()))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| (row.code.clone(), row))
        .collect();
    let mut entity_codes: HashSet<String> = batch
        .entries
        .iter()
        .map(|e| e.person_legal_entity.to_string())
        .collect();
    entity_codes.extend(projects.values().map(|p| p.legal_entity.clone()));
    let entities: HashSet<String> = legal_entity::Entity::find()
        .filter(legal_entity::Column::Code.is_in(entity_codes))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| row.code)
        .collect();
    let mut violations = Violations::new();
    for (index, entry) in batch.entries.iter().enumerate() {
        let field = format!("{list}[{index}]");
        if !entities.contains(entry.person_legal_entity.as_str()) {
            violations.add(
                format!("{field}.person_legal_entity"),
                format!("no legal entity has code {}", entry.person_legal_entity),
            );
        }
        match projects.get(entry.project_code.as_str()) {
            None => violations.add(
                format!("{field}.project_code"),
                format!("no project code {}", entry.project_code),
            ),
            Some(project) => {
                if !entities.contains(&project.legal_entity) {
                    violations.add(
                        format!("{field}.project_code"),
                        format!(
                            "{} is booked in {}, which has no ledger yet (create the legal entity first)",
                            project.code, project.legal_entity
                        ),
                    );
                }
                if entry.bill.currency().code() != project.currency {
                    violations.add(
                        format!("{field}.bill_amount.currency"),
                        format!(
                            "is {}, but {} is kept in {}",
                            entry.bill.currency(),
                            project.code,
                            project.currency
                        ),
                    );
                }
            }
        }
    }
    violations.finish()?;

    let methods: HashMap<String, RecognitionMethod> = revenue_schedule::Entity::find()
        .filter(revenue_schedule::Column::ProjectCode.is_in(codes))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .filter_map(|row| RecognitionMethod::from_stored(&row.method).map(|m| (row.project_code, m)))
        .collect();

    let mut postings = Vec::with_capacity(batch.entries.len());
    for entry in &batch.entries {
        let project = &projects[entry.project_code.as_str()];
        let method = methods.get(project.code.as_str()).copied();
        postings.push(post_entry(txn, actor, batch.kind, entry, project, method).await?);
    }
    Ok(PostWorkResponse { postings })
}

async fn post_entry(
    txn: &DatabaseTransaction,
    actor: &str,
    kind: WorkKind,
    entry: &WorkEntry,
    project: &project_code::Model,
    method: Option<RecognitionMethod>,
) -> Result<WorkPosted, Error> {
    let entry_id = entry.entry_id.to_string();
    // Revenue as work is posted only for time and materials (the default without a schedule).
    let billable = matches!(method, None | Some(RecognitionMethod::TimeAndMaterials)) && !entry.bill.amount().is_zero();
    let bill = if billable {
        entry.bill
    } else {
        Money::zero(entry.bill.currency())
    };
    let row_id = keel_core::ids::new_id().to_string();
    let claim = work_posting::ActiveModel {
        id: Set(row_id.clone()),
        kind: Set(kind.as_str().to_string()),
        entry_id: Set(entry_id.clone()),
        project_code: Set(project.code.clone()),
        person_id: Set(entry.person_id.to_string()),
        person_legal_entity: Set(entry.person_legal_entity.to_string()),
        description: Set(entry.description(kind)),
        bill_minor_units: Set(bill.to_minor_units()),
        currency: Set(bill.currency().code().to_string()),
        journal_ids: Set(String::new()),
        invoice_id: Set(None),
        posted_at: Set(now()),
        posted_by: Set(actor.to_string()),
    };
    let claimed = work_posting::Entity::insert(claim)
        .on_conflict(
            OnConflict::columns([work_posting::Column::Kind, work_posting::Column::EntryId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    if claimed == 0 {
        let earlier = work_posting::Entity::find()
            .filter(work_posting::Column::Kind.eq(kind.as_str()))
            .filter(work_posting::Column::EntryId.eq(entry_id.as_str()))
            .one(txn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Unavailable("a concurrent posting of the same entry is running; retry".into()))?;
        return Ok(WorkPosted {
            entry_id,
            journal_ids: split_ids(&earlier.journal_ids),
            already_posted: true,
        });
    }

    let project_entity = LegalEntity::parse(&project.legal_entity).map_err(Error::internal)?;
    let code = ProjectCodeNumber::parse(&project.code).map_err(Error::internal)?;
    let (cost_account, accrual_account) = match kind {
        WorkKind::Time => (accounts::COST_OF_SERVICES, accounts::ACCRUED_LABOUR),
        WorkKind::Expense => (accounts::PROJECT_EXPENSES, accounts::EXPENSES_PAYABLE),
    };
    let memo = entry.description(kind);
    let cost = entry.cost;
    let has_cost = !cost.amount().is_zero();
    let mut drafts = Vec::new();
    let person_entity = &entry.person_legal_entity;
    let mut project_lines = Vec::new();
    if person_entity == &project_entity {
        if has_cost {
            project_lines.push(LedgerLine::new(
                &project_entity,
                cost_account,
                Some(&code),
                Side::Debit,
                cost,
                &memo,
            ));
            project_lines.push(LedgerLine::new(
                &project_entity,
                accrual_account,
                Some(&code),
                Side::Credit,
                cost,
                &memo,
            ));
        }
    } else if has_cost {
        drafts.push(vec![
            LedgerLine::new(
                person_entity,
                accounts::INTERCOMPANY_RECEIVABLE,
                Some(&code),
                Side::Debit,
                cost,
                &memo,
            ),
            LedgerLine::new(person_entity, accrual_account, Some(&code), Side::Credit, cost, &memo),
        ]);
        project_lines.push(LedgerLine::new(
            &project_entity,
            cost_account,
            Some(&code),
            Side::Debit,
            cost,
            &memo,
        ));
        project_lines.push(LedgerLine::new(
            &project_entity,
            accounts::INTERCOMPANY_PAYABLE,
            Some(&code),
            Side::Credit,
            cost,
            &memo,
        ));
    }
    if billable {
        project_lines.push(LedgerLine::new(
            &project_entity,
            accounts::UNBILLED_WIP,
            Some(&code),
            Side::Debit,
            bill,
            &memo,
        ));
        project_lines.push(LedgerLine::new(
            &project_entity,
            accounts::SERVICES_REVENUE,
            Some(&code),
            Side::Credit,
            bill,
            &memo,
        ));
    }
    if !project_lines.is_empty() {
        drafts.push(project_lines);
    }
    let mut journal_ids = Vec::with_capacity(drafts.len());
    for lines in drafts {
        let journal = insert_journal(
            txn,
            actor,
            JournalDraft {
                date: entry.date,
                description: format!("{} for {}", memo, code),
                source: format!("{}:{}", kind.as_str(), entry_id),
                reverses: None,
                lines,
            },
        )
        .await?;
        journal_ids.push(journal.id);
    }
    work_posting::Entity::update_many()
        .col_expr(work_posting::Column::JournalIds, Expr::value(journal_ids.join(",")))
        .filter(work_posting::Column::Id.eq(row_id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if billable && method == Some(RecognitionMethod::TimeAndMaterials) {
        revenue_schedule::Entity::update_many()
            .col_expr(
                revenue_schedule::Column::RecognizedMinorUnits,
                Expr::col(revenue_schedule::Column::RecognizedMinorUnits).add(bill.to_minor_units()),
            )
            .col_expr(
                revenue_schedule::Column::Version,
                Expr::col(revenue_schedule::Column::Version).add(1),
            )
            .col_expr(revenue_schedule::Column::UpdatedAt, Expr::value(now()))
            .col_expr(revenue_schedule::Column::UpdatedBy, Expr::value(actor.to_string()))
            .filter(revenue_schedule::Column::ProjectCode.eq(project.code.as_str()))
            .exec(txn)
            .await
            .map_err(db_error)?;
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: if kind == WorkKind::Time {
                "time_entry"
            } else {
                "expense"
            },
            record_id: &entry_id,
            action: "posted",
            detail: json!({
                "project_code": project.code,
                "person_legal_entity": entry.person_legal_entity.as_str(),
                "project_legal_entity": project.legal_entity,
                "cost": cost.to_string(),
                "bill": bill.to_string(),
                "journal_ids": journal_ids,
            }),
        },
    )
    .await?;
    super::emit(
        txn,
        if kind == WorkKind::Time {
            "erp.time.posted"
        } else {
            "erp.expense.posted"
        },
        &entry_id,
        &WorkPostedEvent {
            entry_id: entry_id.clone(),
            project_code: project.code.clone(),
            journal_ids: journal_ids.clone(),
        },
    )
    .await?;
    Ok(WorkPosted {
        entry_id,
        journal_ids,
        already_posted: false,
    })
}

fn split_ids(ids: &str) -> Vec<String> {
    ids.split(',').filter(|id| !id.is_empty()).map(str::to_string).collect()
}
