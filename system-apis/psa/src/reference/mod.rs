//! The reference PSA: a complete [`PsaAdapter`] persisted with sea-orm on SQLite or
//! PostgreSQL, so Keel runs without a vendor PSA.
//!
//! Every change runs inside [`keel_store::idempotency::run_once`]: the records and their
//! audit entry (and its events, through the outbox) are written in one transaction with the
//! stored response, so a replay returns the first result and changes nothing.

mod actuals;
mod change_requests;
mod entities;
mod expenses;
mod migrations;
mod projects;
mod resource_requests;
mod staffing;
mod templates;
mod time_entries;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use keel_core::paging::Page;
use keel_core::{Currency, Error, Money};
use keel_events::{EventEnvelope, outbox};
use keel_proto::common::PageResponse;
use keel_proto::psa::{
    Assignment, ChangeRequest, DeliveryTemplate, Expense, ListAssignmentsResponse, ListChangeRequestsResponse,
    ListExpensesResponse, ListProjectsResponse, ListResourceRequestsResponse, ListTimeEntriesResponse, Project,
    ProjectActuals, ProjectClosed, RateCard, ResourceRequest, SubmitExpensesResponse, SubmitTimeEntriesResponse,
    TimeEntriesResponse, TimeEntry, TimeEntryState,
};
use keel_store::idempotency::{TxFuture, run_once};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio::sync::Notify;
use uuid::Uuid;

pub use change_requests::{CHANGE_REQUEST_APPLIED, CHANGE_REQUEST_APPROVED};
pub use expenses::{EXPENSE_APPROVED, EXPENSE_POSTED, EXPENSE_REJECTED, EXPENSE_SUBMITTED};
pub use resource_requests::{
    RESOURCE_REQUEST_CANCELLED, RESOURCE_REQUEST_FILLED, RESOURCE_REQUEST_OPENED, RESOURCE_REQUEST_PROPOSED,
    RESOURCE_REQUEST_WITHDRAWN,
};
pub use templates::MAX_TEMPLATES;
pub use time_entries::{TIME_ENTRY_APPROVED, TIME_ENTRY_POSTED, TIME_ENTRY_REJECTED, TIME_ENTRY_SUBMITTED, price};

use crate::SERVICE_NAME;
use crate::adapter::PsaAdapter;
use crate::domain::{
    AssignmentEnd, AssignmentFilter, ChangeRequestTransition, EntryOfWork, ExpenseDecision, ExpenseEdit, ExpenseFilter,
    ExpensePosting, ExpenseSubmission, NewAssignment, NewChangeRequest, NewExpense, NewProject, NewResourceRequest,
    NewTemplate, NewTimeEntries, NewTimeEntry, ProjectIds, ProjectLookup, ProjectStatusChange, RateCardInput,
    ResourceRequestFilter, ResourceTransition, TimeEntryApprovals, TimeEntryDecision, TimeEntryEdit, TimeEntryFilter,
    TimeEntryPosting, TimeEntryPostings, TimeEntrySubmission,
};

/// The event emitted when a project closes.
pub const PROJECT_CLOSED: &str = "psa.project.closed";

/// Idempotency scopes of the PSA's changes.
const UPSERT_TEMPLATE_SCOPE: &str = "psa.upsert_delivery_template";
const CREATE_PROJECT_SCOPE: &str = "psa.create_project";

/// The reference PSA's migrations: the shared tables (idempotency keys, audit log, outbox,
/// inbox), then delivery templates and projects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(migrations::psa());
        all
    }
}

/// The reference adapter. Holds only its database and the relay waker.
#[derive(Debug, Clone)]
pub struct ReferencePsa {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl ReferencePsa {
    /// An adapter over `db`, migrated with [`Migrator`]. `relay_waker` is notified after a
    /// commit that wrote an event to the outbox.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferencePsa {
        ReferencePsa { db, relay_waker }
    }
}

impl ReferencePsa {
    /// Runs `change` once per key in a write transaction (the SQLite write lock taken first),
    /// then wakes the relay for any event it enqueued.
    async fn write<Req, Resp, F>(&self, scope: &str, key: &str, request: &Req, change: F) -> Result<Resp, Error>
    where
        Req: Message,
        Resp: Message + Default,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> TxFuture<'t, Resp> + Send + 'static,
    {
        let result = run_once(&self.db, scope, key, request, move |txn| {
            Box::pin(async move {
                take_write_lock(txn).await?;
                change(txn).await
            })
        })
        .await;
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }
}

/// Stored minor units and currency code as [`Money`].
pub(crate) fn money(minor: i64, code: &str) -> Result<Money, Error> {
    let currency = Currency::parse(code).map_err(|e| Error::internal(format!("stored currency {code:?}: {e}")))?;
    Ok(Money::from_minor_units(minor, currency))
}

/// The id of the last record on a page, for its next-page token.
fn last_id(id: Option<&String>) -> Result<Option<Uuid>, Error> {
    id.map(|id| Uuid::parse_str(id)).transpose().map_err(Error::internal)
}

/// Now, to the microsecond both databases keep, so a created record and its read-back agree.
fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// On SQLite, takes the database's write lock before the change reads anything, as
/// `BEGIN IMMEDIATE` would: a deferred transaction that reads first and then writes fails at
/// once (`SQLITE_BUSY`) when another writer committed in between, while waiting for the lock
/// up front lets the busy timeout queue concurrent writers. PostgreSQL needs nothing: row
/// locks, the unique constraints and the audit log's table lock order its writers.
async fn take_write_lock<C: ConnectionTrait>(txn: &C) -> Result<(), Error> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        // A write that touches no row still starts the write transaction.
        txn.execute_unprepared("UPDATE delivery_templates SET version = version WHERE 1 = 0")
            .await
            .map_err(keel_store::db_error)?;
    }
    Ok(())
}

#[async_trait]
impl PsaAdapter for ReferencePsa {
    async fn upsert_delivery_template(&self, actor: &str, template: NewTemplate) -> Result<DeliveryTemplate, Error> {
        let request = template.to_request();
        let actor = actor.to_string();
        let key = template.idempotency_key.clone();
        run_once(&self.db, UPSERT_TEMPLATE_SCOPE, &key, &request, move |txn| {
            Box::pin(async move {
                take_write_lock(txn).await?;
                templates::upsert(txn, &actor, &template.template, now()).await
            })
        })
        .await
    }

    async fn list_delivery_templates(&self) -> Result<Vec<DeliveryTemplate>, Error> {
        templates::list(&self.db).await
    }

    async fn create_project(&self, actor: &str, project: NewProject) -> Result<Project, Error> {
        let request = project.to_request();
        let actor = actor.to_string();
        let key = project.idempotency_key.clone();
        run_once(&self.db, CREATE_PROJECT_SCOPE, &key, &request, move |txn| {
            Box::pin(async move {
                take_write_lock(txn).await?;
                projects::create(txn, &actor, &project, now()).await
            })
        })
        .await
    }

    async fn get_project(&self, lookup: ProjectLookup) -> Result<Project, Error> {
        let found = match lookup {
            ProjectLookup::Id(id) => projects::get_by_id(&self.db, id).await?,
            ProjectLookup::OpportunityId(opportunity_id) => {
                projects::get_by_opportunity(&self.db, opportunity_id).await?
            }
        };
        match (found, lookup) {
            (Some(record), _) => record.to_proto(),
            (None, ProjectLookup::Id(id)) => Err(Error::not_found("project", id.to_string())),
            (None, ProjectLookup::OpportunityId(id)) => {
                Err(Error::not_found("project for opportunity", id.to_string()))
            }
        }
    }

    async fn list_projects(&self, page: Page) -> Result<ListProjectsResponse, Error> {
        let records = projects::list(&self.db, page.after, page.size).await?;
        let projects = records
            .iter()
            .map(|record| record.to_proto())
            .collect::<Result<Vec<_>, Error>>()?;
        let last = projects
            .last()
            .map(|p| Uuid::parse_str(&p.id))
            .transpose()
            .map_err(Error::internal)?;
        let next_page_token = page.next_token(projects.len(), last);
        Ok(ListProjectsResponse {
            projects,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn update_project_status(&self, actor: &str, change: ProjectStatusChange) -> Result<Project, Error> {
        let request = change.to_request();
        let key = change.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.update_project_status", &key, &request, move |txn| {
            Box::pin(async move {
                let (project, closed) = projects::update_status(txn, &actor, &change, now()).await?;
                if closed {
                    let event = EventEnvelope::new(
                        PROJECT_CLOSED,
                        SERVICE_NAME,
                        &project.id,
                        &ProjectClosed {
                            project: Some(project.clone()),
                        },
                    );
                    outbox::enqueue(txn, &event).await?;
                }
                Ok(project)
            })
        })
        .await
    }

    async fn set_project_rate_card(&self, actor: &str, card: RateCardInput) -> Result<RateCard, Error> {
        let request = card.to_request();
        let key = card.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.set_project_rate_card", &key, &request, move |txn| {
            Box::pin(async move { staffing::set_rate_card(txn, &actor, &card, now()).await })
        })
        .await
    }

    async fn get_project_rate_card(&self, project_id: Uuid) -> Result<RateCard, Error> {
        let id = project_id.to_string();
        projects::find_row(&self.db, &id).await?;
        staffing::get_rate_card(&self.db, &id).await
    }

    async fn create_assignment(&self, actor: &str, assignment: NewAssignment) -> Result<Assignment, Error> {
        let request = assignment.to_request();
        let key = assignment.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.create_assignment", &key, &request, move |txn| {
            Box::pin(async move { staffing::create_assignment(txn, &actor, &assignment, now()).await })
        })
        .await
    }

    async fn end_assignment(&self, actor: &str, end: AssignmentEnd) -> Result<Assignment, Error> {
        let request = end.to_request();
        let key = end.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.end_assignment", &key, &request, move |txn| {
            Box::pin(async move { staffing::end_assignment(txn, &actor, &end, now()).await })
        })
        .await
    }

    async fn list_assignments(&self, filter: AssignmentFilter, page: Page) -> Result<ListAssignmentsResponse, Error> {
        let assignments = staffing::list_assignments(&self.db, filter, page).await?;
        let next_page_token = page.next_token(assignments.len(), last_id(assignments.last().map(|a| &a.id))?);
        Ok(ListAssignmentsResponse {
            assignments,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn record_time_entry(&self, actor: &str, entry: NewTimeEntry) -> Result<TimeEntry, Error> {
        let request = entry.to_request();
        let key = entry.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.record_time_entry", &key, &request, move |txn| {
            Box::pin(async move { time_entries::record(txn, &actor, &EntryOfWork::from(&entry), now()).await })
        })
        .await
    }

    async fn update_time_entry(&self, actor: &str, edit: TimeEntryEdit) -> Result<TimeEntry, Error> {
        let request = edit.to_request();
        let key = edit.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.update_time_entry", &key, &request, move |txn| {
            Box::pin(async move { time_entries::update(txn, &actor, &edit, now()).await })
        })
        .await
    }

    async fn submit_time_entries(&self, actor: &str, submission: TimeEntrySubmission) -> Result<Vec<TimeEntry>, Error> {
        let request = submission.to_request();
        let key = submission.idempotency_key.clone();
        let actor = actor.to_string();
        let response = self
            .write("psa.submit_time_entries", &key, &request, move |txn| {
                Box::pin(async move {
                    let entries = time_entries::submit(txn, &actor, &submission, now()).await?;
                    Ok(SubmitTimeEntriesResponse { entries })
                })
            })
            .await?;
        Ok(response.entries)
    }

    async fn decide_time_entry(&self, actor: &str, decision: TimeEntryDecision) -> Result<TimeEntry, Error> {
        let request = decision.fingerprint_request();
        let key = decision.idempotency_key.clone();
        let scope = match decision.decision {
            crate::domain::Decision::Approve => "psa.approve_time_entry",
            crate::domain::Decision::Reject { .. } => "psa.reject_time_entry",
        };
        let actor = actor.to_string();
        self.write(scope, &key, &request, move |txn| {
            Box::pin(async move { time_entries::decide(txn, &actor, &decision, now()).await })
        })
        .await
    }

    async fn mark_time_entry_posted(&self, actor: &str, posting: TimeEntryPosting) -> Result<TimeEntry, Error> {
        let request = posting.to_request();
        let key = posting.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.mark_time_entry_posted", &key, &request, move |txn| {
            Box::pin(async move { time_entries::mark_posted(txn, &actor, &posting, now()).await })
        })
        .await
    }

    async fn record_time_entries(&self, actor: &str, batch: NewTimeEntries) -> Result<Vec<TimeEntry>, Error> {
        let request = batch.to_request();
        let key = batch.idempotency_key.clone();
        let actor = actor.to_string();
        let response = self
            .write("psa.record_time_entries", &key, &request, move |txn| {
                Box::pin(async move {
                    let now = now();
                    let mut entries = Vec::with_capacity(batch.entries.len());
                    for entry in &batch.entries {
                        entries.push(time_entries::record(txn, &actor, entry, now).await?);
                    }
                    Ok(TimeEntriesResponse { entries })
                })
            })
            .await?;
        Ok(response.entries)
    }

    async fn approve_time_entries(&self, actor: &str, approvals: TimeEntryApprovals) -> Result<Vec<TimeEntry>, Error> {
        let request = approvals.to_request();
        let key = approvals.idempotency_key.clone();
        let actor = actor.to_string();
        let response = self
            .write("psa.approve_time_entries", &key, &request, move |txn| {
                Box::pin(async move {
                    let now = now();
                    let mut entries = Vec::with_capacity(approvals.entries.len());
                    for decision in approvals.decisions() {
                        entries.push(time_entries::decide(txn, &actor, &decision, now).await?);
                    }
                    Ok(TimeEntriesResponse { entries })
                })
            })
            .await?;
        Ok(response.entries)
    }

    async fn mark_time_entries_posted(&self, actor: &str, batch: TimeEntryPostings) -> Result<Vec<TimeEntry>, Error> {
        let request = batch.to_request();
        let key = batch.idempotency_key.clone();
        let actor = actor.to_string();
        let response = self
            .write("psa.mark_time_entries_posted", &key, &request, move |txn| {
                Box::pin(async move {
                    let now = now();
                    let mut entries = Vec::with_capacity(batch.postings.len());
                    for posting in &batch.postings {
                        entries.push(time_entries::mark_posted(txn, &actor, posting, now).await?);
                    }
                    Ok(TimeEntriesResponse { entries })
                })
            })
            .await?;
        Ok(response.entries)
    }

    async fn get_time_entry(&self, id: Uuid) -> Result<TimeEntry, Error> {
        time_entries::get(&self.db, &id.to_string()).await
    }

    async fn list_time_entries(&self, filter: TimeEntryFilter, page: Page) -> Result<ListTimeEntriesResponse, Error> {
        let entries = time_entries::list(&self.db, filter, page).await?;
        let next_page_token = page.next_token(entries.len(), last_id(entries.last().map(|e| &e.id))?);
        Ok(ListTimeEntriesResponse {
            entries,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn create_change_request(&self, actor: &str, request: NewChangeRequest) -> Result<ChangeRequest, Error> {
        let canonical = request.to_request();
        let key = request.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.create_change_request", &key, &canonical, move |txn| {
            Box::pin(async move { change_requests::create(txn, &actor, &request, now()).await })
        })
        .await
    }

    async fn transition_change_request(
        &self,
        actor: &str,
        transition: ChangeRequestTransition,
    ) -> Result<ChangeRequest, Error> {
        let request = transition.to_request();
        let key = transition.idempotency_key.clone();
        let scope = format!("psa.change_request_{}", transition.step.name());
        let actor = actor.to_string();
        self.write(&scope, &key, &request, move |txn| {
            Box::pin(async move { change_requests::transition(txn, &actor, &transition, now()).await })
        })
        .await
    }

    async fn get_change_request(&self, id: Uuid) -> Result<ChangeRequest, Error> {
        change_requests::get(&self.db, &id.to_string()).await
    }

    async fn list_change_requests(
        &self,
        project_id: Option<Uuid>,
        page: Page,
    ) -> Result<ListChangeRequestsResponse, Error> {
        let change_requests = change_requests::list(&self.db, project_id, page).await?;
        let next_page_token = page.next_token(change_requests.len(), last_id(change_requests.last().map(|c| &c.id))?);
        Ok(ListChangeRequestsResponse {
            change_requests,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn get_project_actuals(&self, project_id: Uuid) -> Result<ProjectActuals, Error> {
        actuals::get(&self.db, &project_id.to_string()).await
    }

    async fn record_expense(&self, actor: &str, expense: NewExpense) -> Result<Expense, Error> {
        let request = expense.to_request();
        let key = expense.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.record_expense", &key, &request, move |txn| {
            Box::pin(async move { expenses::record(txn, &actor, &expense, now()).await })
        })
        .await
    }

    async fn update_expense(&self, actor: &str, edit: ExpenseEdit) -> Result<Expense, Error> {
        let request = edit.to_request();
        let key = edit.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.update_expense", &key, &request, move |txn| {
            Box::pin(async move { expenses::update(txn, &actor, &edit, now()).await })
        })
        .await
    }

    async fn submit_expenses(&self, actor: &str, submission: ExpenseSubmission) -> Result<Vec<Expense>, Error> {
        let request = submission.to_request();
        let key = submission.idempotency_key.clone();
        let actor = actor.to_string();
        let response = self
            .write("psa.submit_expenses", &key, &request, move |txn| {
                Box::pin(async move {
                    let expenses = expenses::submit(txn, &actor, &submission, now()).await?;
                    Ok(SubmitExpensesResponse { expenses })
                })
            })
            .await?;
        Ok(response.expenses)
    }

    async fn decide_expense(&self, actor: &str, decision: ExpenseDecision) -> Result<Expense, Error> {
        let request = decision.fingerprint_request();
        let key = decision.idempotency_key.clone();
        let scope = match decision.decision {
            crate::domain::Decision::Approve => "psa.approve_expense",
            crate::domain::Decision::Reject { .. } => "psa.reject_expense",
        };
        let actor = actor.to_string();
        self.write(scope, &key, &request, move |txn| {
            Box::pin(async move { expenses::decide(txn, &actor, &decision, now()).await })
        })
        .await
    }

    async fn mark_expense_posted(&self, actor: &str, posting: ExpensePosting) -> Result<Expense, Error> {
        let request = posting.to_request();
        let key = posting.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.mark_expense_posted", &key, &request, move |txn| {
            Box::pin(async move { expenses::mark_posted(txn, &actor, &posting, now()).await })
        })
        .await
    }

    async fn get_expense(&self, id: Uuid) -> Result<Expense, Error> {
        expenses::get(&self.db, &id.to_string()).await
    }

    async fn list_expenses(&self, filter: ExpenseFilter, page: Page) -> Result<ListExpensesResponse, Error> {
        let expenses = expenses::list(&self.db, filter, page).await?;
        let next_page_token = page.next_token(expenses.len(), last_id(expenses.last().map(|e| &e.id))?);
        Ok(ListExpensesResponse {
            expenses,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn create_resource_request(
        &self,
        actor: &str,
        request: NewResourceRequest,
    ) -> Result<ResourceRequest, Error> {
        let canonical = request.to_request();
        let key = request.idempotency_key.clone();
        let actor = actor.to_string();
        self.write("psa.create_resource_request", &key, &canonical, move |txn| {
            Box::pin(async move { resource_requests::create(txn, &actor, &request, now()).await })
        })
        .await
    }

    async fn transition_resource_request(
        &self,
        actor: &str,
        transition: ResourceTransition,
    ) -> Result<ResourceRequest, Error> {
        let request = transition.fingerprint_request();
        let key = transition.idempotency_key.clone();
        let scope = format!("psa.resource_request_{}", transition.step.name());
        let actor = actor.to_string();
        self.write(&scope, &key, &request, move |txn| {
            Box::pin(async move { resource_requests::transition(txn, &actor, &transition, now()).await })
        })
        .await
    }

    async fn get_resource_request(&self, id: Uuid) -> Result<ResourceRequest, Error> {
        resource_requests::get(&self.db, &id.to_string()).await
    }

    async fn list_resource_requests(
        &self,
        filter: ResourceRequestFilter,
        page: Page,
    ) -> Result<ListResourceRequestsResponse, Error> {
        let resource_requests = resource_requests::list(&self.db, filter, page).await?;
        let next_page_token = page.next_token(
            resource_requests.len(),
            last_id(resource_requests.last().map(|r| &r.id))?,
        );
        Ok(ListResourceRequestsResponse {
            resource_requests,
            page: Some(PageResponse { next_page_token }),
        })
    }

    async fn batch_get_projects(&self, ids: ProjectIds) -> Result<Vec<Project>, Error> {
        projects::of_ids(&self.db, &ids.texts())
            .await?
            .iter()
            .map(|record| record.to_proto())
            .collect()
    }

    async fn list_assignments_of_projects(&self, ids: ProjectIds) -> Result<Vec<Assignment>, Error> {
        staffing::assignments_of_projects(&self.db, &ids.texts()).await
    }

    async fn list_time_entries_of_projects(
        &self,
        ids: ProjectIds,
        state: Option<TimeEntryState>,
    ) -> Result<Vec<TimeEntry>, Error> {
        time_entries::of_projects(&self.db, &ids.texts(), state).await
    }

    async fn list_change_requests_of_projects(&self, ids: ProjectIds) -> Result<Vec<ChangeRequest>, Error> {
        change_requests::of_projects(&self.db, &ids.texts()).await
    }

    async fn list_actuals_of_projects(&self, ids: ProjectIds) -> Result<Vec<ProjectActuals>, Error> {
        actuals::of_projects(&self.db, &ids.texts()).await
    }
}
