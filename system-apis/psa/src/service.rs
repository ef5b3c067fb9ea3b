//! The PSA gRPC service: each handler authorizes the caller, parses the request once with
//! [`crate::domain`], and hands the checked input to the [`PsaAdapter`].
//!
//! Reads are open to every authenticated caller; changes to [`Role::Service`] (process APIs)
//! and [`Role::Admin`].

use keel_core::validate::parse_id;
use std::sync::Arc;

use keel_auth::Role;
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::psa::psa_service_server::{PsaService, PsaServiceServer};
use keel_proto::psa::{
    ApproveExpenseRequest, CreateResourceRequestRequest, Expense, FillResourceRequestRequest, GetExpenseRequest,
    GetResourceRequestRequest, ListExpensesRequest, ListExpensesResponse, ListResourceRequestsRequest,
    ListResourceRequestsResponse, MarkExpensePostedRequest, ProposeCandidateRequest, RecordExpenseRequest,
    RejectExpenseRequest, ResourceRequest, ResourceRequestTransitionRequest, SubmitExpensesRequest,
    SubmitExpensesResponse, UpdateExpenseRequest,
};
use keel_proto::psa::{
    ApproveTimeEntriesRequest, MarkTimeEntriesPostedRequest, RecordTimeEntriesRequest, TimeEntriesResponse,
};
use keel_proto::psa::{
    ApproveTimeEntryRequest, Assignment, ChangeRequest, ChangeRequestTransitionRequest, CreateAssignmentRequest,
    CreateChangeRequestRequest, CreateProjectRequest, DeliveryTemplate, EndAssignmentRequest, GetChangeRequestRequest,
    GetProjectActualsRequest, GetProjectRateCardRequest, GetProjectRequest, GetTimeEntryRequest,
    ListAssignmentsRequest, ListAssignmentsResponse, ListChangeRequestsRequest, ListChangeRequestsResponse,
    ListDeliveryTemplatesRequest, ListDeliveryTemplatesResponse, ListProjectsRequest, ListProjectsResponse,
    ListTimeEntriesRequest, ListTimeEntriesResponse, MarkTimeEntryPostedRequest, Project, ProjectActuals, RateCard,
    RecordTimeEntryRequest, RejectTimeEntryRequest, SetProjectRateCardRequest, SubmitTimeEntriesRequest,
    SubmitTimeEntriesResponse, TimeEntry, UpdateProjectStatusRequest, UpdateTimeEntryRequest,
    UpsertDeliveryTemplateRequest,
};
use keel_proto::psa::{
    BatchGetProjectsResponse, ListActualsOfProjectsResponse, ListTimeEntriesOfProjectsRequest, ProjectIdsRequest,
    TimeEntryState,
};
use tonic::{Request, Response, Status};

use crate::adapter::PsaAdapter;
use crate::domain::staffing::optional_uuid;
use crate::domain::{
    AssignmentEnd, AssignmentFilter, ChangeRequestStep, ChangeRequestTransition, NewAssignment, NewChangeRequest,
    NewProject, NewTemplate, NewTimeEntries, NewTimeEntry, ProjectIds, ProjectLookup, ProjectStatusChange,
    RateCardInput, TimeEntryApprovals, TimeEntryDecision, TimeEntryEdit, TimeEntryFilter, TimeEntryPosting,
    TimeEntryPostings, TimeEntrySubmission,
};
use crate::domain::{
    ExpenseDecision, ExpenseEdit, ExpenseFilter, ExpensePosting, ExpenseSubmission, NewExpense, NewResourceRequest,
    ResourceRequestFilter, ResourceTransition,
};

/// The roles that may change PSA records.
const CHANGE_ROLES: &[Role] = &[Role::Service, Role::Admin];

/// The tonic service in front of a [`PsaAdapter`].
#[derive(Clone)]
pub struct PsaGrpcService {
    adapter: Arc<dyn PsaAdapter>,
}

impl PsaGrpcService {
    /// A service answering with `adapter`.
    pub fn new(adapter: Arc<dyn PsaAdapter>) -> PsaGrpcService {
        PsaGrpcService { adapter }
    }
}

/// The tonic server for `adapter`. Message size limits are left to the caller.
pub fn server(adapter: Arc<dyn PsaAdapter>) -> PsaServiceServer<PsaGrpcService> {
    PsaServiceServer::new(PsaGrpcService::new(adapter))
}

impl PsaGrpcService {
    /// Authorizes a change, parses it once, and hands it with the caller to `call`.
    async fn change<Req, Input, Out, P, F, Fut>(
        &self,
        request: Request<Req>,
        parse: P,
        call: F,
    ) -> Result<Response<Out>, Status>
    where
        P: FnOnce(&Req) -> Result<Input, Error>,
        F: FnOnce(Arc<dyn PsaAdapter>, String, Input) -> Fut,
        Fut: std::future::Future<Output = Result<Out, Error>>,
    {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = parse(request.get_ref())?;
        Ok(Response::new(call(self.adapter.clone(), caller.subject, input).await?))
    }

    fn change_request_step(
        &self,
        request: Request<ChangeRequestTransitionRequest>,
        step: ChangeRequestStep,
    ) -> impl std::future::Future<Output = Result<Response<ChangeRequest>, Status>> + '_ {
        self.change(
            request,
            move |r| ChangeRequestTransition::parse(r, step),
            |adapter, actor, input| async move { adapter.transition_change_request(&actor, input).await },
        )
    }
}

#[tonic::async_trait]
impl PsaService for PsaGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "UpsertDeliveryTemplate"))]
    async fn upsert_delivery_template(
        &self,
        request: Request<UpsertDeliveryTemplateRequest>,
    ) -> Result<Response<DeliveryTemplate>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let template = NewTemplate::parse(request.get_ref())?;
        let stored = self.adapter.upsert_delivery_template(&caller.subject, template).await?;
        Ok(Response::new(stored))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListDeliveryTemplates"))]
    async fn list_delivery_templates(
        &self,
        request: Request<ListDeliveryTemplatesRequest>,
    ) -> Result<Response<ListDeliveryTemplatesResponse>, Status> {
        keel_auth::identity(&request)?;
        let templates = self.adapter.list_delivery_templates().await?;
        Ok(Response::new(ListDeliveryTemplatesResponse { templates }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateProject"))]
    async fn create_project(&self, request: Request<CreateProjectRequest>) -> Result<Response<Project>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let project = NewProject::parse(request.get_ref())?;
        let created = self.adapter.create_project(&caller.subject, project).await?;
        Ok(Response::new(created))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetProject"))]
    async fn get_project(&self, request: Request<GetProjectRequest>) -> Result<Response<Project>, Status> {
        keel_auth::identity(&request)?;
        let lookup = ProjectLookup::parse(request.get_ref())?;
        Ok(Response::new(self.adapter.get_project(lookup).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListProjects"))]
    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        keel_auth::identity(&request)?;
        let page = Page::from_proto(request.get_ref().page.as_ref())?;
        Ok(Response::new(self.adapter.list_projects(page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateProjectStatus"))]
    async fn update_project_status(
        &self,
        request: Request<UpdateProjectStatusRequest>,
    ) -> Result<Response<Project>, Status> {
        self.change(
            request,
            ProjectStatusChange::parse,
            |adapter, actor, input| async move { adapter.update_project_status(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetProjectRateCard"))]
    async fn set_project_rate_card(
        &self,
        request: Request<SetProjectRateCardRequest>,
    ) -> Result<Response<RateCard>, Status> {
        self.change(request, RateCardInput::parse, |adapter, actor, input| async move {
            adapter.set_project_rate_card(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetProjectRateCard"))]
    async fn get_project_rate_card(
        &self,
        request: Request<GetProjectRateCardRequest>,
    ) -> Result<Response<RateCard>, Status> {
        keel_auth::identity(&request)?;
        let project_id = parse_id("project_id", &request.get_ref().project_id)?;
        Ok(Response::new(self.adapter.get_project_rate_card(project_id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateAssignment"))]
    async fn create_assignment(
        &self,
        request: Request<CreateAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        self.change(request, NewAssignment::parse, |adapter, actor, input| async move {
            adapter.create_assignment(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "EndAssignment"))]
    async fn end_assignment(&self, request: Request<EndAssignmentRequest>) -> Result<Response<Assignment>, Status> {
        self.change(request, AssignmentEnd::parse, |adapter, actor, input| async move {
            adapter.end_assignment(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAssignments"))]
    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let filter = AssignmentFilter::parse(&r.project_id, &r.employee_id)?;
        let page = Page::from_proto(r.page.as_ref())?;
        Ok(Response::new(self.adapter.list_assignments(filter, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordTimeEntry"))]
    async fn record_time_entry(&self, request: Request<RecordTimeEntryRequest>) -> Result<Response<TimeEntry>, Status> {
        self.change(request, NewTimeEntry::parse, |adapter, actor, input| async move {
            adapter.record_time_entry(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateTimeEntry"))]
    async fn update_time_entry(&self, request: Request<UpdateTimeEntryRequest>) -> Result<Response<TimeEntry>, Status> {
        self.change(request, TimeEntryEdit::parse, |adapter, actor, input| async move {
            adapter.update_time_entry(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SubmitTimeEntries"))]
    async fn submit_time_entries(
        &self,
        request: Request<SubmitTimeEntriesRequest>,
    ) -> Result<Response<SubmitTimeEntriesResponse>, Status> {
        self.change(
            request,
            TimeEntrySubmission::parse,
            |adapter, actor, input| async move {
                let entries = adapter.submit_time_entries(&actor, input).await?;
                Ok(SubmitTimeEntriesResponse { entries })
            },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApproveTimeEntry"))]
    async fn approve_time_entry(
        &self,
        request: Request<ApproveTimeEntryRequest>,
    ) -> Result<Response<TimeEntry>, Status> {
        self.change(
            request,
            TimeEntryDecision::parse_approve,
            |adapter, actor, input| async move { adapter.decide_time_entry(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RejectTimeEntry"))]
    async fn reject_time_entry(&self, request: Request<RejectTimeEntryRequest>) -> Result<Response<TimeEntry>, Status> {
        self.change(
            request,
            TimeEntryDecision::parse_reject,
            |adapter, actor, input| async move { adapter.decide_time_entry(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkTimeEntryPosted"))]
    async fn mark_time_entry_posted(
        &self,
        request: Request<MarkTimeEntryPostedRequest>,
    ) -> Result<Response<TimeEntry>, Status> {
        self.change(request, TimeEntryPosting::parse, |adapter, actor, input| async move {
            adapter.mark_time_entry_posted(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordTimeEntries"))]
    async fn record_time_entries(
        &self,
        request: Request<RecordTimeEntriesRequest>,
    ) -> Result<Response<TimeEntriesResponse>, Status> {
        self.change(request, NewTimeEntries::parse, |adapter, actor, input| async move {
            let entries = adapter.record_time_entries(&actor, input).await?;
            Ok(TimeEntriesResponse { entries })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApproveTimeEntries"))]
    async fn approve_time_entries(
        &self,
        request: Request<ApproveTimeEntriesRequest>,
    ) -> Result<Response<TimeEntriesResponse>, Status> {
        self.change(request, TimeEntryApprovals::parse, |adapter, actor, input| async move {
            let entries = adapter.approve_time_entries(&actor, input).await?;
            Ok(TimeEntriesResponse { entries })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkTimeEntriesPosted"))]
    async fn mark_time_entries_posted(
        &self,
        request: Request<MarkTimeEntriesPostedRequest>,
    ) -> Result<Response<TimeEntriesResponse>, Status> {
        self.change(request, TimeEntryPostings::parse, |adapter, actor, input| async move {
            let entries = adapter.mark_time_entries_posted(&actor, input).await?;
            Ok(TimeEntriesResponse { entries })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetTimeEntry"))]
    async fn get_time_entry(&self, request: Request<GetTimeEntryRequest>) -> Result<Response<TimeEntry>, Status> {
        keel_auth::identity(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_time_entry(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListTimeEntries"))]
    async fn list_time_entries(
        &self,
        request: Request<ListTimeEntriesRequest>,
    ) -> Result<Response<ListTimeEntriesResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let filter = TimeEntryFilter::parse(r)?;
        let page = Page::from_proto(r.page.as_ref())?;
        Ok(Response::new(self.adapter.list_time_entries(filter, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateChangeRequest"))]
    async fn create_change_request(
        &self,
        request: Request<CreateChangeRequestRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        self.change(request, NewChangeRequest::parse, |adapter, actor, input| async move {
            adapter.create_change_request(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SubmitChangeRequest"))]
    async fn submit_change_request(
        &self,
        request: Request<ChangeRequestTransitionRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        self.change_request_step(request, ChangeRequestStep::Submit).await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApproveChangeRequest"))]
    async fn approve_change_request(
        &self,
        request: Request<ChangeRequestTransitionRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        self.change_request_step(request, ChangeRequestStep::Approve).await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RejectChangeRequest"))]
    async fn reject_change_request(
        &self,
        request: Request<ChangeRequestTransitionRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        self.change_request_step(request, ChangeRequestStep::Reject).await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApplyChangeRequest"))]
    async fn apply_change_request(
        &self,
        request: Request<ChangeRequestTransitionRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        self.change_request_step(request, ChangeRequestStep::Apply).await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetChangeRequest"))]
    async fn get_change_request(
        &self,
        request: Request<GetChangeRequestRequest>,
    ) -> Result<Response<ChangeRequest>, Status> {
        keel_auth::identity(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_change_request(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListChangeRequests"))]
    async fn list_change_requests(
        &self,
        request: Request<ListChangeRequestsRequest>,
    ) -> Result<Response<ListChangeRequestsResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", &r.project_id);
        v.finish()?;
        let page = Page::from_proto(r.page.as_ref())?;
        Ok(Response::new(
            self.adapter.list_change_requests(project_id, page).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetProjectActuals"))]
    async fn get_project_actuals(
        &self,
        request: Request<GetProjectActualsRequest>,
    ) -> Result<Response<ProjectActuals>, Status> {
        keel_auth::identity(&request)?;
        let project_id = parse_id("project_id", &request.get_ref().project_id)?;
        Ok(Response::new(self.adapter.get_project_actuals(project_id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordExpense"))]
    async fn record_expense(&self, request: Request<RecordExpenseRequest>) -> Result<Response<Expense>, Status> {
        self.change(request, NewExpense::parse, |adapter, actor, input| async move {
            adapter.record_expense(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateExpense"))]
    async fn update_expense(&self, request: Request<UpdateExpenseRequest>) -> Result<Response<Expense>, Status> {
        self.change(request, ExpenseEdit::parse, |adapter, actor, input| async move {
            adapter.update_expense(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SubmitExpenses"))]
    async fn submit_expenses(
        &self,
        request: Request<SubmitExpensesRequest>,
    ) -> Result<Response<SubmitExpensesResponse>, Status> {
        self.change(request, ExpenseSubmission::parse, |adapter, actor, input| async move {
            let expenses = adapter.submit_expenses(&actor, input).await?;
            Ok(SubmitExpensesResponse { expenses })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApproveExpense"))]
    async fn approve_expense(&self, request: Request<ApproveExpenseRequest>) -> Result<Response<Expense>, Status> {
        self.change(
            request,
            ExpenseDecision::parse_approve,
            |adapter, actor, input| async move { adapter.decide_expense(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RejectExpense"))]
    async fn reject_expense(&self, request: Request<RejectExpenseRequest>) -> Result<Response<Expense>, Status> {
        self.change(
            request,
            ExpenseDecision::parse_reject,
            |adapter, actor, input| async move { adapter.decide_expense(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkExpensePosted"))]
    async fn mark_expense_posted(
        &self,
        request: Request<MarkExpensePostedRequest>,
    ) -> Result<Response<Expense>, Status> {
        self.change(request, ExpensePosting::parse, |adapter, actor, input| async move {
            adapter.mark_expense_posted(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetExpense"))]
    async fn get_expense(&self, request: Request<GetExpenseRequest>) -> Result<Response<Expense>, Status> {
        keel_auth::identity(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_expense(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListExpenses"))]
    async fn list_expenses(
        &self,
        request: Request<ListExpensesRequest>,
    ) -> Result<Response<ListExpensesResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let filter = ExpenseFilter::parse(&r.project_id, &r.employee_id, r.state)?;
        let page = Page::from_proto(r.page.as_ref())?;
        Ok(Response::new(self.adapter.list_expenses(filter, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateResourceRequest"))]
    async fn create_resource_request(
        &self,
        request: Request<CreateResourceRequestRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        self.change(request, NewResourceRequest::parse, |adapter, actor, input| async move {
            adapter.create_resource_request(&actor, input).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ProposeCandidate"))]
    async fn propose_candidate(
        &self,
        request: Request<ProposeCandidateRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        self.change(
            request,
            ResourceTransition::parse_propose,
            |adapter, actor, input| async move { adapter.transition_resource_request(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "WithdrawProposal"))]
    async fn withdraw_proposal(
        &self,
        request: Request<ResourceRequestTransitionRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        self.change(
            request,
            |r| ResourceTransition::parse_with_reason(r, false),
            |adapter, actor, input| async move { adapter.transition_resource_request(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "FillResourceRequest"))]
    async fn fill_resource_request(
        &self,
        request: Request<FillResourceRequestRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        self.change(
            request,
            ResourceTransition::parse_fill,
            |adapter, actor, input| async move { adapter.transition_resource_request(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CancelResourceRequest"))]
    async fn cancel_resource_request(
        &self,
        request: Request<ResourceRequestTransitionRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        self.change(
            request,
            |r| ResourceTransition::parse_with_reason(r, true),
            |adapter, actor, input| async move { adapter.transition_resource_request(&actor, input).await },
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetResourceRequest"))]
    async fn get_resource_request(
        &self,
        request: Request<GetResourceRequestRequest>,
    ) -> Result<Response<ResourceRequest>, Status> {
        keel_auth::identity(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_resource_request(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListResourceRequests"))]
    async fn list_resource_requests(
        &self,
        request: Request<ListResourceRequestsRequest>,
    ) -> Result<Response<ListResourceRequestsResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let filter = ResourceRequestFilter::parse(&r.project_id, r.state)?;
        let page = Page::from_proto(r.page.as_ref())?;
        Ok(Response::new(self.adapter.list_resource_requests(filter, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "BatchGetProjects"))]
    async fn batch_get_projects(
        &self,
        request: Request<ProjectIdsRequest>,
    ) -> Result<Response<BatchGetProjectsResponse>, Status> {
        keel_auth::identity(&request)?;
        let ids = ProjectIds::parse(&request.get_ref().project_ids)?;
        let projects = self.adapter.batch_get_projects(ids).await?;
        Ok(Response::new(BatchGetProjectsResponse { projects }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAssignmentsOfProjects"))]
    async fn list_assignments_of_projects(
        &self,
        request: Request<ProjectIdsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        keel_auth::identity(&request)?;
        let ids = ProjectIds::parse(&request.get_ref().project_ids)?;
        let assignments = self.adapter.list_assignments_of_projects(ids).await?;
        Ok(Response::new(ListAssignmentsResponse {
            assignments,
            page: None,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListTimeEntriesOfProjects"))]
    async fn list_time_entries_of_projects(
        &self,
        request: Request<ListTimeEntriesOfProjectsRequest>,
    ) -> Result<Response<ListTimeEntriesResponse>, Status> {
        keel_auth::identity(&request)?;
        let r = request.get_ref();
        let ids = ProjectIds::parse(&r.project_ids)?;
        let state = match TimeEntryState::try_from(r.state) {
            Ok(TimeEntryState::Unspecified) => None,
            Ok(state) => Some(state),
            Err(_) => return Err(Error::invalid("state", format!("{} is not a time entry state", r.state)).into()),
        };
        let entries = self.adapter.list_time_entries_of_projects(ids, state).await?;
        Ok(Response::new(ListTimeEntriesResponse { entries, page: None }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListChangeRequestsOfProjects"))]
    async fn list_change_requests_of_projects(
        &self,
        request: Request<ProjectIdsRequest>,
    ) -> Result<Response<ListChangeRequestsResponse>, Status> {
        keel_auth::identity(&request)?;
        let ids = ProjectIds::parse(&request.get_ref().project_ids)?;
        let change_requests = self.adapter.list_change_requests_of_projects(ids).await?;
        Ok(Response::new(ListChangeRequestsResponse {
            change_requests,
            page: None,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListActualsOfProjects"))]
    async fn list_actuals_of_projects(
        &self,
        request: Request<ProjectIdsRequest>,
    ) -> Result<Response<ListActualsOfProjectsResponse>, Status> {
        keel_auth::identity(&request)?;
        let ids = ProjectIds::parse(&request.get_ref().project_ids)?;
        let actuals = self.adapter.list_actuals_of_projects(ids).await?;
        Ok(Response::new(ListActualsOfProjectsResponse { actuals }))
    }
}
