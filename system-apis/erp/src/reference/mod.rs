//! The reference ERP: a complete, persisted [`ErpAdapter`] on sea-orm (SQLite in embedded
//! mode, PostgreSQL in distributed mode), so Keel runs without a vendor ERP.
//!
//! Every change runs through [`run_once`] (one transaction per idempotency key) and appends to
//! the audit log in that transaction. The first statement of each change transaction is a write
//! ([`next_number`], or touching the project code), which takes the database's write lock on
//! SQLite before anything is read (so no read can go stale before the writes) and serializes
//! competing changes on PostgreSQL through a row lock.
//!
//! Every change also writes its event (`erp.<record>.<past-verb>`) to the outbox in the same
//! transaction, and wakes the relay after the commit.
//!
//! The ledger lives in [`ledger`] (legal entities, rates, accounts, journals), [`work`] (time
//! and expense postings) and [`billing`] (budgets' change orders, milestones, invoices,
//! revenue).

mod billing;
mod change_order;
mod entities;
mod ledger;
mod ledger_entities;
mod migrations;
mod work;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use keel_core::paging::Page;
use keel_core::time::audit_info;
use keel_core::{Currency, Error, Money, Violations};
use keel_proto::erp::{
    Account, BillingMilestone, Budget, BudgetLine, ConvertAmountResponse, CostCenter, ExchangeRate, Invoice, Journal,
    LegalEntity as LegalEntityRecord, ListAccountsResponse, ListBillingMilestonesResponse, ListInvoicesResponse,
    ListJournalsResponse, ListLegalEntitiesResponse, ListProjectCodesResponse, PostWorkResponse, ProjectCode,
    ProjectCodeStatus, RecognizeRevenueResponse, RevenueSchedule, TrialBalance,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use keel_store::{db_error, is_unique_violation};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, QueryOrder, QuerySelect};
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use self::entities::{budget, budget_line, number_sequence, project_code};
pub use self::migrations::Migrator;
use crate::SERVICE_NAME;
use crate::adapter::ErpAdapter;
use crate::domain::billing::{
    BudgetUpdate, InvoiceIssue, NewDraftInvoice, NewMilestone, NewRevenueSchedule, Recognition, VersionedChange,
    WorkBatch, WorkKind,
};
use crate::domain::change_order::{MilestoneUpdate, RevenueRevision};
use crate::domain::ledger::{
    Conversion, JournalFilter, JournalReversal, LegalEntityUpdate, NewAccount, NewCostCenter, NewExchangeRate,
    NewJournal, NewLegalEntity,
};
use crate::domain::{LegalEntity, NewBudget, NewProjectCode, ProjectCodeLookup, ProjectCodeNumber};

/// Idempotency scopes of the changes.
const CREATE_PROJECT_CODE_SCOPE: &str = "erp.create_project_code";
const POST_BUDGET_SCOPE: &str = "erp.post_budget";
/// The audit log's record type for project codes and their budgets.
const PROJECT_CODE_RECORD: &str = "project_code";
/// The number sequence project codes are numbered from.
const PROJECT_CODE_SEQUENCE: &str = "project_code";
/// Stored `status` values.
const STATUS_OPEN: &str = "open";
const STATUS_CLOSED: &str = "closed";

/// The reference ERP adapter. Holds only its database connection and the relay waker.
#[derive(Debug, Clone)]
pub struct ReferenceErp {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl ReferenceErp {
    /// An adapter over `db`, migrated with [`Migrator`]. `relay_waker` wakes the outbox relay
    /// after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceErp {
        ReferenceErp { db, relay_waker }
    }

    /// Wakes the relay after a change that committed (and so wrote an event).
    fn woke<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }
}

/// Writes `payload` to the outbox as event `event_type` about `subject`, in `txn`.
async fn emit<M: prost::Message>(
    txn: &DatabaseTransaction,
    event_type: &str,
    subject: &str,
    payload: &M,
) -> Result<(), Error> {
    keel_events::outbox::enqueue(
        txn,
        &keel_events::EventEnvelope::new(event_type, SERVICE_NAME, subject, payload),
    )
    .await
}

#[async_trait]
impl ErpAdapter for ReferenceErp {
    async fn create_project_code(&self, actor: &str, new: NewProjectCode) -> Result<ProjectCode, Error> {
        let request = new.to_request();
        let key = new.idempotency_key.clone();
        let db = self.db.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, CREATE_PROJECT_CODE_SCOPE, &key, &request, move |txn| {
            Box::pin(async move { open_project_code(txn, &db, &actor, &new).await })
        })
        .await;
        self.woke(result)
    }

    async fn get_project_code(&self, lookup: ProjectCodeLookup) -> Result<ProjectCode, Error> {
        let query = match &lookup {
            ProjectCodeLookup::Code(code) => {
                project_code::Entity::find().filter(project_code::Column::Code.eq(code.as_str()))
            }
            ProjectCodeLookup::ProjectId(project_id) => {
                project_code::Entity::find().filter(project_code::Column::ProjectId.eq(project_id.to_string()))
            }
        };
        let row = query
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(|| match &lookup {
                ProjectCodeLookup::Code(code) => Error::not_found("project code", code.as_str()),
                ProjectCodeLookup::ProjectId(project_id) => {
                    Error::not_found("project code for project", project_id.to_string())
                }
            })?;
        let mut budgets = budgets_of(&self.db, std::slice::from_ref(&row)).await?;
        let budget = budgets.remove(&row.id);
        project_code_to_proto(&row, budget)
    }

    async fn list_project_codes_of_projects(&self, project_ids: Vec<Uuid>) -> Result<Vec<ProjectCode>, Error> {
        let rows = project_code::Entity::find()
            .filter(project_code::Column::ProjectId.is_in(project_ids.iter().map(Uuid::to_string)))
            .order_by_asc(project_code::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut budgets = budgets_of(&self.db, &rows).await?;
        rows.iter()
            .map(|row| project_code_to_proto(row, budgets.remove(&row.id)))
            .collect()
    }

    async fn list_project_codes(&self, page: Page) -> Result<ListProjectCodesResponse, Error> {
        let mut query = project_code::Entity::find();
        if let Some(after) = page.after {
            query = query.filter(project_code::Column::Id.gt(after.to_string()));
        }
        let rows = query
            .order_by_asc(project_code::Column::Id)
            .limit(page.size)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut budgets = budgets_of(&self.db, &rows).await?;
        let last = rows
            .last()
            .map(|row| Uuid::parse_str(&row.id))
            .transpose()
            .map_err(Error::internal)?;
        let next_page_token = page.next_token(rows.len(), last);
        let project_codes = rows
            .iter()
            .map(|row| project_code_to_proto(row, budgets.remove(&row.id)))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(ListProjectCodesResponse {
            project_codes,
            page: Some(keel_proto::common::PageResponse { next_page_token }),
        })
    }

    async fn post_budget(&self, actor: &str, new: NewBudget) -> Result<Budget, Error> {
        let request = new.to_request();
        let key = new.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, POST_BUDGET_SCOPE, &key, &request, move |txn| {
            Box::pin(async move { record_budget(txn, &actor, &new).await })
        })
        .await;
        self.woke(result)
    }

    async fn update_budget(&self, actor: &str, update: BudgetUpdate) -> Result<Budget, Error> {
        let request = update.to_request();
        let key = update.budget.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.update_budget", &key, &request, move |txn| {
            Box::pin(async move { billing::update_budget(txn, &actor, &update).await })
        })
        .await;
        self.woke(result)
    }

    async fn create_legal_entity(&self, actor: &str, entity: NewLegalEntity) -> Result<LegalEntityRecord, Error> {
        let request = entity.to_request();
        let key = entity.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.create_legal_entity", &key, &request, move |txn| {
            Box::pin(async move { ledger::create_legal_entity(txn, &actor, &entity).await })
        })
        .await;
        self.woke(result)
    }

    async fn get_legal_entity(&self, code: LegalEntity) -> Result<LegalEntityRecord, Error> {
        Ok(ledger::legal_entity_to_proto(
            &ledger::require_legal_entity(&self.db, code.as_str()).await?,
        ))
    }

    async fn list_legal_entities(&self, page: Page) -> Result<ListLegalEntitiesResponse, Error> {
        ledger::list_legal_entities(&self.db, page).await
    }

    async fn update_legal_entity(&self, actor: &str, update: LegalEntityUpdate) -> Result<LegalEntityRecord, Error> {
        let request = update.to_request();
        let key = update.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.update_legal_entity", &key, &request, move |txn| {
            Box::pin(async move { ledger::update_legal_entity(txn, &actor, &update).await })
        })
        .await;
        self.woke(result)
    }

    async fn set_exchange_rate(&self, actor: &str, rate: NewExchangeRate) -> Result<ExchangeRate, Error> {
        let request = rate.to_request();
        let key = rate.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.set_exchange_rate", &key, &request, move |txn| {
            Box::pin(async move { ledger::set_exchange_rate(txn, &actor, &rate).await })
        })
        .await;
        self.woke(result)
    }

    async fn convert_amount(&self, conversion: Conversion) -> Result<ConvertAmountResponse, Error> {
        ledger::convert_amount(&self.db, &conversion).await
    }

    async fn create_account(&self, actor: &str, account: NewAccount) -> Result<Account, Error> {
        let request = account.to_request();
        let key = account.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.create_account", &key, &request, move |txn| {
            Box::pin(async move { ledger::create_account(txn, &actor, &account).await })
        })
        .await;
        self.woke(result)
    }

    async fn list_accounts(&self, legal_entity: LegalEntity, page: Page) -> Result<ListAccountsResponse, Error> {
        ledger::list_accounts(&self.db, &legal_entity, page).await
    }

    async fn create_cost_center(&self, actor: &str, cost_center: NewCostCenter) -> Result<CostCenter, Error> {
        let request = cost_center.to_request();
        let key = cost_center.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.create_cost_center", &key, &request, move |txn| {
            Box::pin(async move { ledger::create_cost_center(txn, &actor, &cost_center).await })
        })
        .await;
        self.woke(result)
    }

    async fn post_journal(&self, actor: &str, journal: NewJournal) -> Result<Journal, Error> {
        let request = journal.to_request();
        let key = journal.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.post_journal", &key, &request, move |txn| {
            Box::pin(async move {
                let draft = ledger::JournalDraft {
                    date: journal.date,
                    description: journal.description,
                    source: "manual".to_string(),
                    reverses: None,
                    lines: journal.lines,
                };
                ledger::insert_journal(txn, &actor, draft).await
            })
        })
        .await;
        self.woke(result)
    }

    async fn reverse_journal(&self, actor: &str, reversal: JournalReversal) -> Result<Journal, Error> {
        let request = reversal.to_request();
        let key = reversal.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.reverse_journal", &key, &request, move |txn| {
            Box::pin(async move { ledger::reverse_journal(txn, &actor, &reversal).await })
        })
        .await;
        self.woke(result)
    }

    async fn get_journal(&self, id: Uuid) -> Result<Journal, Error> {
        ledger::get_journal(&self.db, id).await
    }

    async fn list_journals(&self, filter: JournalFilter, page: Page) -> Result<ListJournalsResponse, Error> {
        ledger::list_journals(&self.db, &filter, page).await
    }

    async fn trial_balance(&self, legal_entity: LegalEntity) -> Result<TrialBalance, Error> {
        ledger::trial_balance(&self.db, &legal_entity).await
    }

    async fn post_work(&self, actor: &str, batch: WorkBatch) -> Result<PostWorkResponse, Error> {
        let request = batch.fingerprint_request();
        let key = batch.idempotency_key.clone();
        let scope = match batch.kind {
            WorkKind::Time => "erp.post_time_entries",
            WorkKind::Expense => "erp.post_expenses",
        };
        let actor = actor.to_string();
        let result = run_once(&self.db, scope, &key, &request, move |txn| {
            Box::pin(async move { work::post_work(txn, &actor, &batch).await })
        })
        .await;
        self.woke(result)
    }

    async fn create_billing_milestone(&self, actor: &str, milestone: NewMilestone) -> Result<BillingMilestone, Error> {
        let request = milestone.to_request();
        let key = milestone.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.create_billing_milestone", &key, &request, move |txn| {
            Box::pin(async move { billing::create_milestone(txn, &actor, &milestone).await })
        })
        .await;
        self.woke(result)
    }

    async fn mark_milestone_reached(&self, actor: &str, change: VersionedChange) -> Result<BillingMilestone, Error> {
        let request = change.to_milestone_request();
        let key = change.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.mark_milestone_reached", &key, &request, move |txn| {
            Box::pin(async move { billing::mark_milestone_reached(txn, &actor, &change).await })
        })
        .await;
        self.woke(result)
    }

    async fn list_billing_milestones(
        &self,
        project_code: ProjectCodeNumber,
        page: Page,
    ) -> Result<ListBillingMilestonesResponse, Error> {
        billing::list_milestones(&self.db, &project_code, page).await
    }

    async fn create_draft_invoice(&self, actor: &str, draft: NewDraftInvoice) -> Result<Invoice, Error> {
        let request = draft.to_request();
        let key = draft.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.create_draft_invoice", &key, &request, move |txn| {
            Box::pin(async move { billing::create_draft_invoice(txn, &actor, &draft).await })
        })
        .await;
        self.woke(result)
    }

    async fn issue_invoice(&self, actor: &str, issue: InvoiceIssue) -> Result<Invoice, Error> {
        let request = issue.to_request();
        let key = issue.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.issue_invoice", &key, &request, move |txn| {
            Box::pin(async move { billing::issue_invoice(txn, &actor, &issue).await })
        })
        .await;
        self.woke(result)
    }

    async fn get_invoice(&self, id: Uuid) -> Result<Invoice, Error> {
        billing::get_invoice(&self.db, id).await
    }

    async fn list_invoices(
        &self,
        project_code: Option<ProjectCodeNumber>,
        page: Page,
    ) -> Result<ListInvoicesResponse, Error> {
        billing::list_invoices(&self.db, project_code.as_ref(), page).await
    }

    async fn set_revenue_schedule(&self, actor: &str, schedule: NewRevenueSchedule) -> Result<RevenueSchedule, Error> {
        let request = schedule.to_request();
        let key = schedule.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.set_revenue_schedule", &key, &request, move |txn| {
            Box::pin(async move { billing::set_revenue_schedule(txn, &actor, &schedule).await })
        })
        .await;
        self.woke(result)
    }

    async fn update_billing_milestone(&self, actor: &str, update: MilestoneUpdate) -> Result<BillingMilestone, Error> {
        let request = update.to_request();
        let key = update.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.update_billing_milestone", &key, &request, move |txn| {
            Box::pin(async move { change_order::update_milestone(txn, &actor, &update).await })
        })
        .await;
        self.woke(result)
    }

    async fn revise_revenue_schedule(&self, actor: &str, revision: RevenueRevision) -> Result<RevenueSchedule, Error> {
        let request = revision.to_request();
        let key = revision.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.revise_revenue_schedule", &key, &request, move |txn| {
            Box::pin(async move { change_order::revise_revenue_schedule(txn, &actor, &revision).await })
        })
        .await;
        self.woke(result)
    }

    async fn get_revenue_schedule(&self, project_code: ProjectCodeNumber) -> Result<RevenueSchedule, Error> {
        billing::get_revenue_schedule(&self.db, &project_code).await
    }

    async fn recognize_revenue(
        &self,
        actor: &str,
        recognition: Recognition,
    ) -> Result<RecognizeRevenueResponse, Error> {
        let request = recognition.to_request();
        let key = recognition.idempotency_key.clone();
        let actor = actor.to_string();
        let result = run_once(&self.db, "erp.recognize_revenue", &key, &request, move |txn| {
            Box::pin(async move { billing::recognize_revenue(txn, &actor, &recognition).await })
        })
        .await;
        self.woke(result)
    }
}

/// Opens a project code inside `txn`. `db` is only read when a concurrent insert for the same
/// project won, to name its code.
async fn open_project_code(
    txn: &DatabaseTransaction,
    db: &DatabaseConnection,
    actor: &str,
    new: &NewProjectCode,
) -> Result<ProjectCode, Error> {
    // First, a write: it serializes code assignment (see the module docs).
    let code = ProjectCodeNumber::from_sequence(next_number(txn, PROJECT_CODE_SEQUENCE).await?)?;
    let project_id = new.project_id.to_string();
    if let Some(existing) = find_by_project_id(txn, &project_id).await? {
        return Err(already_has_code(&existing));
    }
    let now = now();
    // The id is taken after the sequence, so id order (list order) is code order.
    let row = project_code::Model {
        id: keel_core::ids::new_id().to_string(),
        code: code.to_string(),
        project_id: project_id.clone(),
        name: new.name.clone(),
        legal_entity: new.legal_entity.to_string(),
        currency: new.currency.code().to_string(),
        status: STATUS_OPEN.to_string(),
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
        version: 1,
    };
    let insert = project_code::ActiveModel {
        id: Set(row.id.clone()),
        code: Set(row.code.clone()),
        project_id: Set(row.project_id.clone()),
        name: Set(row.name.clone()),
        legal_entity: Set(row.legal_entity.clone()),
        currency: Set(row.currency.clone()),
        status: Set(row.status.clone()),
        created_at: Set(row.created_at),
        created_by: Set(row.created_by.clone()),
        updated_at: Set(row.updated_at),
        updated_by: Set(row.updated_by.clone()),
        version: Set(row.version),
    };
    match project_code::Entity::insert(insert).exec(txn).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(match find_by_project_id(db, &project_id).await? {
                Some(existing) => already_has_code(&existing),
                None => Error::Unavailable("a concurrent change to project codes is running; retry".into()),
            });
        }
        Err(e) => return Err(db_error(e)),
    }
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: PROJECT_CODE_RECORD,
            record_id: &row.id,
            action: "opened",
            detail: json!({
                "code": row.code,
                "project_id": row.project_id,
                "name": row.name,
                "legal_entity": row.legal_entity,
                "currency": row.currency,
                "status": row.status,
            }),
        },
    )
    .await?;
    let opened = project_code_to_proto(&row, None)?;
    emit(txn, "erp.project_code.opened", &row.id, &opened).await?;
    Ok(opened)
}

/// Posts a budget inside `txn`.
async fn record_budget(txn: &DatabaseTransaction, actor: &str, new: &NewBudget) -> Result<Budget, Error> {
    let code = new.project_code.as_str();
    let now = now();
    // First, a write (see the module docs): posting the budget updates the project code, and
    // on PostgreSQL a concurrent budget for the same code waits here, then sees this one.
    let touched = project_code::Entity::update_many()
        .col_expr(project_code::Column::UpdatedAt, Expr::value(now))
        .col_expr(project_code::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(project_code::Column::Code.eq(code))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if touched.rows_affected == 0 {
        return Err(Error::not_found("project code", code));
    }
    let project_code = project_code::Entity::find()
        .filter(project_code::Column::Code.eq(code))
        .one(txn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("project code", code))?;
    let already_posted = || Error::FailedPrecondition(format!("budget already posted for {code}"));
    let existing = budget::Entity::find()
        .filter(budget::Column::ProjectCodeId.eq(project_code.id.as_str()))
        .one(txn)
        .await
        .map_err(db_error)?;
    if existing.is_some() {
        return Err(already_posted());
    }
    let mut violations = Violations::new();
    for (index, line) in new.lines.iter().enumerate() {
        if line.amount.currency().code() != project_code.currency {
            violations.add(
                format!("lines[{index}].amount.currency"),
                format!(
                    "is {}, but {code} is kept in {}",
                    line.amount.currency(),
                    project_code.currency
                ),
            );
        }
    }
    violations.finish()?;

    let total = new.total();
    let budget_row = budget::Model {
        id: keel_core::ids::new_id().to_string(),
        project_code_id: project_code.id.clone(),
        currency: total.currency().code().to_string(),
        total_minor_units: total.to_minor_units(),
        posted_at: now,
        posted_by: actor.to_string(),
        version: 1,
    };
    let insert = budget::ActiveModel {
        id: Set(budget_row.id.clone()),
        project_code_id: Set(budget_row.project_code_id.clone()),
        currency: Set(budget_row.currency.clone()),
        total_minor_units: Set(budget_row.total_minor_units),
        posted_at: Set(budget_row.posted_at),
        posted_by: Set(budget_row.posted_by.clone()),
        version: Set(budget_row.version),
    };
    match budget::Entity::insert(insert).exec(txn).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(already_posted()),
        Err(e) => return Err(db_error(e)),
    }
    let mut line_rows = Vec::with_capacity(new.lines.len());
    for (index, line) in new.lines.iter().enumerate() {
        line_rows.push(budget_line::Model {
            id: keel_core::ids::new_id().to_string(),
            budget_id: budget_row.id.clone(),
            line_number: i32::try_from(index).map_err(Error::internal)?,
            role: line.role.to_string(),
            hours: line.hours.to_string(),
            amount_minor_units: line.amount.to_minor_units(),
            currency: line.amount.currency().code().to_string(),
        });
    }
    budget_line::Entity::insert_many(line_rows.iter().map(|row| budget_line::ActiveModel {
        id: Set(row.id.clone()),
        budget_id: Set(row.budget_id.clone()),
        line_number: Set(row.line_number),
        role: Set(row.role.clone()),
        hours: Set(row.hours.clone()),
        amount_minor_units: Set(row.amount_minor_units),
        currency: Set(row.currency.clone()),
    }))
    .exec(txn)
    .await
    .map_err(db_error)?;

    let budget = budget_to_proto(code, &budget_row, &line_rows)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: PROJECT_CODE_RECORD,
            record_id: &project_code.id,
            action: "budget_posted",
            detail: json!({
                "code": code,
                "budget_id": budget_row.id,
                "total": budget.total.as_ref().map(|m| &m.amount),
                "currency": budget_row.currency,
                "lines": budget.lines.iter().map(|line| json!({
                    "role": line.role,
                    "hours": line.hours,
                    "amount": line.amount.as_ref().map(|m| &m.amount),
                })).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    emit(txn, "erp.budget.posted", &project_code.id, &budget).await?;
    Ok(budget)
}

/// Takes the next number of sequence `name` inside `txn`: the row stays locked (PostgreSQL) or
/// the database stays write-locked (SQLite) until the transaction ends, and a rollback gives the
/// number back.
pub(crate) async fn next_number(txn: &DatabaseTransaction, name: &str) -> Result<i64, Error> {
    let updated = number_sequence::Entity::update_many()
        .col_expr(
            number_sequence::Column::LastValue,
            Expr::col(number_sequence::Column::LastValue).add(1),
        )
        .filter(number_sequence::Column::Name.eq(name))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if updated.rows_affected != 1 {
        return Err(Error::internal(format!(
            "number sequence {name} is missing; were the migrations run?"
        )));
    }
    number_sequence::Entity::find_by_id(name.to_string())
        .one(txn)
        .await
        .map_err(db_error)?
        .map(|row| row.last_value)
        .ok_or_else(|| Error::internal(format!("number sequence {name} vanished")))
}

async fn find_by_project_id<C: ConnectionTrait>(
    db: &C,
    project_id: &str,
) -> Result<Option<project_code::Model>, Error> {
    project_code::Entity::find()
        .filter(project_code::Column::ProjectId.eq(project_id))
        .one(db)
        .await
        .map_err(db_error)
}

fn already_has_code(existing: &project_code::Model) -> Error {
    Error::AlreadyExists(format!(
        "project {} already has project code {}",
        existing.project_id, existing.code
    ))
}

/// The budgets of `codes`, by project code id, each with its lines in order.
async fn budgets_of<C: ConnectionTrait>(
    db: &C,
    codes: &[project_code::Model],
) -> Result<HashMap<String, Budget>, Error> {
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let budgets = budget::Entity::find()
        .filter(budget::Column::ProjectCodeId.is_in(codes.iter().map(|c| c.id.clone())))
        .all(db)
        .await
        .map_err(db_error)?;
    if budgets.is_empty() {
        return Ok(HashMap::new());
    }
    let lines = budget_line::Entity::find()
        .filter(budget_line::Column::BudgetId.is_in(budgets.iter().map(|b| b.id.clone())))
        .order_by_asc(budget_line::Column::BudgetId)
        .order_by_asc(budget_line::Column::LineNumber)
        .all(db)
        .await
        .map_err(db_error)?;
    let mut lines_by_budget: HashMap<String, Vec<budget_line::Model>> = HashMap::new();
    for line in lines {
        lines_by_budget.entry(line.budget_id.clone()).or_default().push(line);
    }
    let code_by_id: HashMap<&str, &str> = codes.iter().map(|c| (c.id.as_str(), c.code.as_str())).collect();
    let mut by_code_id = HashMap::with_capacity(budgets.len());
    for budget_row in &budgets {
        let code = code_by_id
            .get(budget_row.project_code_id.as_str())
            .copied()
            .unwrap_or_default();
        let lines = lines_by_budget
            .get(budget_row.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        by_code_id.insert(
            budget_row.project_code_id.clone(),
            budget_to_proto(code, budget_row, lines)?,
        );
    }
    Ok(by_code_id)
}

fn project_code_to_proto(row: &project_code::Model, budget: Option<Budget>) -> Result<ProjectCode, Error> {
    let status = match row.status.as_str() {
        STATUS_OPEN => ProjectCodeStatus::Open,
        STATUS_CLOSED => ProjectCodeStatus::Closed,
        other => {
            return Err(Error::internal(format!(
                "project code {} has unknown status {other:?}",
                row.code
            )));
        }
    };
    Ok(ProjectCode {
        id: row.id.clone(),
        code: row.code.clone(),
        project_id: row.project_id.clone(),
        name: row.name.clone(),
        legal_entity: row.legal_entity.clone(),
        currency: row.currency.clone(),
        status: status as i32,
        budget,
        version: row.version,
        audit: Some(audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

pub(crate) fn budget_to_proto(
    code: &str,
    budget: &budget::Model,
    lines: &[budget_line::Model],
) -> Result<Budget, Error> {
    let currency = stored_currency(&budget.currency)?;
    let lines = lines
        .iter()
        .map(|line| {
            Ok(BudgetLine {
                role: line.role.clone(),
                hours: line.hours.clone(),
                amount: Some(
                    Money::from_minor_units(line.amount_minor_units, stored_currency(&line.currency)?).to_proto(),
                ),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Budget {
        project_code: code.to_string(),
        lines,
        total: Some(Money::from_minor_units(budget.total_minor_units, currency).to_proto()),
        version: budget.version,
    })
}

pub(crate) fn stored_currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::internal(format!("stored currency {code:?}: {e}")))
}

/// Now, at the microsecond both databases store.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
