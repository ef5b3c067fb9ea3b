//! The trait a PSA product implements to sit behind Keel's PSA system API.
//!
//! Methods take inputs already checked by [`crate::domain`] and answer in the canonical
//! contract types. A change carries the caller's subject (`actor`, for the audit log) and its
//! idempotency key (inside the checked input): a replay with the same key returns the first
//! result. An operation the product cannot do returns [`Error::NotSupported`].

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::psa::{
    Assignment, ChangeRequest, DeliveryTemplate, Expense, ListAssignmentsResponse, ListChangeRequestsResponse,
    ListExpensesResponse, ListProjectsResponse, ListResourceRequestsResponse, ListTimeEntriesResponse, Project,
    ProjectActuals, RateCard, ResourceRequest, TimeEntry, TimeEntryState,
};
use uuid::Uuid;

use crate::domain::{
    AssignmentEnd, AssignmentFilter, ChangeRequestTransition, ExpenseDecision, ExpenseEdit, ExpenseFilter,
    ExpensePosting, ExpenseSubmission, NewAssignment, NewChangeRequest, NewExpense, NewProject, NewResourceRequest,
    NewTemplate, NewTimeEntries, NewTimeEntry, ProjectIds, ProjectLookup, ProjectStatusChange, RateCardInput,
    ResourceRequestFilter, ResourceTransition, TimeEntryApprovals, TimeEntryDecision, TimeEntryEdit, TimeEntryFilter,
    TimeEntryPosting, TimeEntryPostings, TimeEntrySubmission,
};

/// One PSA product, as Keel sees it.
#[async_trait]
pub trait PsaAdapter: Send + Sync + 'static {
    /// Stores a delivery template under its id. The version goes up by one when the content
    /// changes; the same content keeps its version and records nothing.
    async fn upsert_delivery_template(&self, actor: &str, template: NewTemplate) -> Result<DeliveryTemplate, Error>;

    /// Every delivery template at its current version, ordered by id.
    async fn list_delivery_templates(&self) -> Result<Vec<DeliveryTemplate>, Error>;

    /// Creates a project from the current version of its template, one per opportunity:
    /// another key for an opportunity that has a project is [`Error::AlreadyExists`] naming
    /// that project; a template that does not exist is [`Error::FailedPrecondition`].
    async fn create_project(&self, actor: &str, project: NewProject) -> Result<Project, Error>;

    /// One project, by its id or its opportunity; [`Error::NotFound`] otherwise.
    async fn get_project(&self, lookup: ProjectLookup) -> Result<Project, Error>;

    /// Projects in creation order (by id), one page at a time.
    async fn list_projects(&self, page: Page) -> Result<ListProjectsResponse, Error>;

    /// Moves a project to ACTIVE, ON_HOLD or CLOSED at `expected_version`; a closed project
    /// cannot be reopened ([`Error::FailedPrecondition`]). Closing emits `psa.project.closed`.
    async fn update_project_status(&self, _actor: &str, _change: ProjectStatusChange) -> Result<Project, Error> {
        Err(Error::not_supported("UpdateProjectStatus"))
    }

    /// Replaces the project's rate card (every rate in the project's currency).
    async fn set_project_rate_card(&self, _actor: &str, _card: RateCardInput) -> Result<RateCard, Error> {
        Err(Error::not_supported("SetProjectRateCard"))
    }

    /// The project's rate card; [`Error::NotFound`] when it has none.
    async fn get_project_rate_card(&self, _project_id: Uuid) -> Result<RateCard, Error> {
        Err(Error::not_supported("GetProjectRateCard"))
    }

    /// Puts a person on a project.
    async fn create_assignment(&self, _actor: &str, _assignment: NewAssignment) -> Result<Assignment, Error> {
        Err(Error::not_supported("CreateAssignment"))
    }

    /// Ends an assignment on a date within its period.
    async fn end_assignment(&self, _actor: &str, _end: AssignmentEnd) -> Result<Assignment, Error> {
        Err(Error::not_supported("EndAssignment"))
    }

    /// Assignments by project and/or person, by id, one page at a time.
    async fn list_assignments(&self, _filter: AssignmentFilter, _page: Page) -> Result<ListAssignmentsResponse, Error> {
        Err(Error::not_supported("ListAssignments"))
    }

    /// Records a DRAFT entry against the person's assignment covering the date, priced at the
    /// rate card's rate for the assignment's bill role.
    async fn record_time_entry(&self, _actor: &str, _entry: NewTimeEntry) -> Result<TimeEntry, Error> {
        Err(Error::not_supported("RecordTimeEntry"))
    }

    /// Edits an entry; an approved one only with `request_reapproval` (back to SUBMITTED).
    async fn update_time_entry(&self, _actor: &str, _edit: TimeEntryEdit) -> Result<TimeEntry, Error> {
        Err(Error::not_supported("UpdateTimeEntry"))
    }

    /// Submits DRAFT entries, all or none.
    async fn submit_time_entries(
        &self,
        _actor: &str,
        _submission: TimeEntrySubmission,
    ) -> Result<Vec<TimeEntry>, Error> {
        Err(Error::not_supported("SubmitTimeEntries"))
    }

    /// Approves or rejects a SUBMITTED entry; the entry's own person may not decide.
    async fn decide_time_entry(&self, _actor: &str, _decision: TimeEntryDecision) -> Result<TimeEntry, Error> {
        Err(Error::not_supported("ApproveTimeEntry"))
    }

    /// Marks an APPROVED entry POSTED with the ERP journal it went into.
    async fn mark_time_entry_posted(&self, _actor: &str, _posting: TimeEntryPosting) -> Result<TimeEntry, Error> {
        Err(Error::not_supported("MarkTimeEntryPosted"))
    }

    /// Records a person's entries (a timesheet) as [`PsaAdapter::record_time_entry`] records
    /// each, all or none, in the request's order. A product without such a call keeps this
    /// default, and callers record one entry at a time.
    async fn record_time_entries(&self, _actor: &str, _entries: NewTimeEntries) -> Result<Vec<TimeEntry>, Error> {
        Err(Error::not_supported("RecordTimeEntries"))
    }

    /// Approves SUBMITTED entries as [`PsaAdapter::decide_time_entry`] approves each, all or
    /// none, in the request's order.
    async fn approve_time_entries(
        &self,
        _actor: &str,
        _approvals: TimeEntryApprovals,
    ) -> Result<Vec<TimeEntry>, Error> {
        Err(Error::not_supported("ApproveTimeEntries"))
    }

    /// Marks APPROVED entries POSTED as [`PsaAdapter::mark_time_entry_posted`] marks each, all
    /// or none, in the request's order.
    async fn mark_time_entries_posted(
        &self,
        _actor: &str,
        _postings: TimeEntryPostings,
    ) -> Result<Vec<TimeEntry>, Error> {
        Err(Error::not_supported("MarkTimeEntriesPosted"))
    }

    /// One time entry; [`Error::NotFound`] otherwise.
    async fn get_time_entry(&self, _id: Uuid) -> Result<TimeEntry, Error> {
        Err(Error::not_supported("GetTimeEntry"))
    }

    /// Time entries by project, person, state and work-date range, by id, one page at a time.
    async fn list_time_entries(&self, _filter: TimeEntryFilter, _page: Page) -> Result<ListTimeEntriesResponse, Error> {
        Err(Error::not_supported("ListTimeEntries"))
    }

    /// Opens a DRAFT change request on a project.
    async fn create_change_request(&self, _actor: &str, _request: NewChangeRequest) -> Result<ChangeRequest, Error> {
        Err(Error::not_supported("CreateChangeRequest"))
    }

    /// Submits, approves, rejects or applies a change request.
    async fn transition_change_request(
        &self,
        _actor: &str,
        _transition: ChangeRequestTransition,
    ) -> Result<ChangeRequest, Error> {
        Err(Error::not_supported("ChangeRequestTransition"))
    }

    /// One change request; [`Error::NotFound`] otherwise.
    async fn get_change_request(&self, _id: Uuid) -> Result<ChangeRequest, Error> {
        Err(Error::not_supported("GetChangeRequest"))
    }

    /// Change requests, optionally of one project, by id, one page at a time.
    async fn list_change_requests(
        &self,
        _project_id: Option<Uuid>,
        _page: Page,
    ) -> Result<ListChangeRequestsResponse, Error> {
        Err(Error::not_supported("ListChangeRequests"))
    }

    /// Approved and posted time by role against the project's baseline.
    async fn get_project_actuals(&self, _project_id: Uuid) -> Result<ProjectActuals, Error> {
        Err(Error::not_supported("GetProjectActuals"))
    }

    /// Records a DRAFT expense against the person's assignment covering its date.
    async fn record_expense(&self, _actor: &str, _expense: NewExpense) -> Result<Expense, Error> {
        Err(Error::not_supported("RecordExpense"))
    }

    /// Edits a DRAFT or REJECTED expense (DRAFT afterwards).
    async fn update_expense(&self, _actor: &str, _edit: ExpenseEdit) -> Result<Expense, Error> {
        Err(Error::not_supported("UpdateExpense"))
    }

    /// Submits DRAFT expenses, all or none.
    async fn submit_expenses(&self, _actor: &str, _submission: ExpenseSubmission) -> Result<Vec<Expense>, Error> {
        Err(Error::not_supported("SubmitExpenses"))
    }

    /// Approves or rejects a SUBMITTED expense; the expense's own person may not decide.
    async fn decide_expense(&self, _actor: &str, _decision: ExpenseDecision) -> Result<Expense, Error> {
        Err(Error::not_supported("ApproveExpense"))
    }

    /// Marks an APPROVED expense POSTED with the ERP journal it went into.
    async fn mark_expense_posted(&self, _actor: &str, _posting: ExpensePosting) -> Result<Expense, Error> {
        Err(Error::not_supported("MarkExpensePosted"))
    }

    /// One expense; [`Error::NotFound`] otherwise.
    async fn get_expense(&self, _id: Uuid) -> Result<Expense, Error> {
        Err(Error::not_supported("GetExpense"))
    }

    /// Expenses by project, person and state, by id, one page at a time.
    async fn list_expenses(&self, _filter: ExpenseFilter, _page: Page) -> Result<ListExpensesResponse, Error> {
        Err(Error::not_supported("ListExpenses"))
    }

    /// Opens a resource request on an open project.
    async fn create_resource_request(
        &self,
        _actor: &str,
        _request: NewResourceRequest,
    ) -> Result<ResourceRequest, Error> {
        Err(Error::not_supported("CreateResourceRequest"))
    }

    /// Proposes a candidate for, withdraws a proposal from, fills or cancels a request.
    async fn transition_resource_request(
        &self,
        _actor: &str,
        _transition: ResourceTransition,
    ) -> Result<ResourceRequest, Error> {
        Err(Error::not_supported("ResourceRequestTransition"))
    }

    /// One resource request; [`Error::NotFound`] otherwise.
    async fn get_resource_request(&self, _id: Uuid) -> Result<ResourceRequest, Error> {
        Err(Error::not_supported("GetResourceRequest"))
    }

    /// Resource requests by project and state, by id, one page at a time.
    async fn list_resource_requests(
        &self,
        _filter: ResourceRequestFilter,
        _page: Page,
    ) -> Result<ListResourceRequestsResponse, Error> {
        Err(Error::not_supported("ListResourceRequests"))
    }

    /// The projects named that exist, in id order.
    async fn batch_get_projects(&self, _ids: ProjectIds) -> Result<Vec<Project>, Error> {
        Err(Error::not_supported("BatchGetProjects"))
    }

    /// Every assignment of the projects named, in id order.
    async fn list_assignments_of_projects(&self, _ids: ProjectIds) -> Result<Vec<Assignment>, Error> {
        Err(Error::not_supported("ListAssignmentsOfProjects"))
    }

    /// Every time entry of the projects named (in `state`, when given), in id order.
    async fn list_time_entries_of_projects(
        &self,
        _ids: ProjectIds,
        _state: Option<TimeEntryState>,
    ) -> Result<Vec<TimeEntry>, Error> {
        Err(Error::not_supported("ListTimeEntriesOfProjects"))
    }

    /// Every change request of the projects named, in id order.
    async fn list_change_requests_of_projects(&self, _ids: ProjectIds) -> Result<Vec<ChangeRequest>, Error> {
        Err(Error::not_supported("ListChangeRequestsOfProjects"))
    }

    /// The actuals (as [`get_project_actuals`](Self::get_project_actuals)) of the projects
    /// named that exist, in the order named.
    async fn list_actuals_of_projects(&self, _ids: ProjectIds) -> Result<Vec<ProjectActuals>, Error> {
        Err(Error::not_supported("ListActualsOfProjects"))
    }
}
