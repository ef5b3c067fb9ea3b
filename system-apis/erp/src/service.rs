//! The ERP gRPC service: authorize the caller, parse the request once, call the adapter.
//!
//! Reads are open to every authenticated role; every change (project codes, budgets, the
//! ledger, billing) is for `service` (process APIs), `finance` and `admin`.

use std::sync::Arc;

use keel_auth::Role;
use keel_core::paging::Page;
use keel_proto::erp::erp_service_server::{ErpService, ErpServiceServer};
use keel_proto::erp::{
    Account, BillingMilestone, Budget, ConvertAmountRequest, ConvertAmountResponse, CostCenter, CreateAccountRequest,
    CreateBillingMilestoneRequest, CreateCostCenterRequest, CreateDraftInvoiceRequest, CreateLegalEntityRequest,
    CreateProjectCodeRequest, ExchangeRate, GetInvoiceRequest, GetJournalRequest, GetLegalEntityRequest,
    GetProjectCodeRequest, GetRevenueScheduleRequest, GetTrialBalanceRequest, Invoice, IssueInvoiceRequest, Journal,
    LegalEntity, ListAccountsRequest, ListAccountsResponse, ListBillingMilestonesRequest,
    ListBillingMilestonesResponse, ListInvoicesRequest, ListInvoicesResponse, ListJournalsRequest,
    ListJournalsResponse, ListLegalEntitiesRequest, ListLegalEntitiesResponse, ListProjectCodesRequest,
    ListProjectCodesResponse, MarkMilestoneReachedRequest, PostBudgetRequest, PostExpensesRequest, PostJournalRequest,
    PostTimeEntriesRequest, PostWorkResponse, ProjectCode, RecognizeRevenueRequest, RecognizeRevenueResponse,
    RevenueSchedule, ReverseJournalRequest, ReviseRevenueScheduleRequest, SetExchangeRateRequest,
    SetRevenueScheduleRequest, TrialBalance, UpdateBillingMilestoneRequest, UpdateBudgetRequest,
    UpdateLegalEntityRequest,
};
use keel_proto::erp::{ListProjectCodesOfProjectsRequest, ListProjectFinancialsResponse};
use tonic::{Request, Response, Status};

use crate::adapter::ErpAdapter;
use crate::domain::billing::{
    BudgetUpdate, InvoiceIssue, NewDraftInvoice, NewMilestone, NewRevenueSchedule, Recognition, VersionedChange,
    WorkBatch,
};
use crate::domain::change_order::{MilestoneUpdate, RevenueRevision};
use crate::domain::ledger::{
    Conversion, JournalFilter, JournalReversal, LegalEntityUpdate, NewAccount, NewCostCenter, NewExchangeRate,
    NewJournal, NewLegalEntity, required_id, required_legal_entity,
};
use crate::domain::{NewBudget, NewProjectCode, ProjectCodeLookup, ProjectCodeNumber};

/// Who may read: every role.
const READ_ROLES: &[Role] = &Role::ALL;
/// Who may open project codes and post budgets (admin always passes).
const CHANGE_ROLES: &[Role] = &[Role::Service, Role::Finance, Role::Admin];

/// The tonic service over an [`ErpAdapter`].
#[derive(Clone)]
pub struct ErpGrpcService {
    adapter: Arc<dyn ErpAdapter>,
}

impl std::fmt::Debug for ErpGrpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErpGrpcService").finish_non_exhaustive()
    }
}

impl ErpGrpcService {
    pub fn new(adapter: Arc<dyn ErpAdapter>) -> ErpGrpcService {
        ErpGrpcService { adapter }
    }
}

/// The ERP service ready to add to a tonic server. Message size limits are left to the caller.
pub fn server(adapter: Arc<dyn ErpAdapter>) -> ErpServiceServer<ErpGrpcService> {
    ErpServiceServer::new(ErpGrpcService::new(adapter))
}

#[tonic::async_trait]
impl ErpService for ErpGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "CreateProjectCode"))]
    async fn create_project_code(
        &self,
        request: Request<CreateProjectCodeRequest>,
    ) -> Result<Response<ProjectCode>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let new = NewProjectCode::parse(request.get_ref())?;
        let project_code = self.adapter.create_project_code(&caller.subject, new).await?;
        Ok(Response::new(project_code))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetProjectCode"))]
    async fn get_project_code(&self, request: Request<GetProjectCodeRequest>) -> Result<Response<ProjectCode>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let lookup = ProjectCodeLookup::parse(request.get_ref())?;
        Ok(Response::new(self.adapter.get_project_code(lookup).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListProjectCodes"))]
    async fn list_project_codes(
        &self,
        request: Request<ListProjectCodesRequest>,
    ) -> Result<Response<ListProjectCodesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let page = Page::from_proto(request.get_ref().page.as_ref())?;
        Ok(Response::new(self.adapter.list_project_codes(page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListProjectCodesOfProjects"))]
    async fn list_project_codes_of_projects(
        &self,
        request: Request<ListProjectCodesOfProjectsRequest>,
    ) -> Result<Response<ListProjectCodesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let ids = crate::domain::parse_project_ids(&request.get_ref().project_ids)?;
        let project_codes = self.adapter.list_project_codes_of_projects(ids).await?;
        Ok(Response::new(ListProjectCodesResponse {
            project_codes,
            page: None,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListProjectFinancialsOfProjects"))]
    async fn list_project_financials_of_projects(
        &self,
        request: Request<ListProjectCodesOfProjectsRequest>,
    ) -> Result<Response<ListProjectFinancialsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let ids = crate::domain::parse_project_ids(&request.get_ref().project_ids)?;
        let financials = self.adapter.list_project_financials_of_projects(ids).await?;
        Ok(Response::new(ListProjectFinancialsResponse { financials }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PostBudget"))]
    async fn post_budget(&self, request: Request<PostBudgetRequest>) -> Result<Response<Budget>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let new = NewBudget::parse(request.get_ref())?;
        let budget = self.adapter.post_budget(&caller.subject, new).await?;
        Ok(Response::new(budget))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateBudget"))]
    async fn update_budget(&self, request: Request<UpdateBudgetRequest>) -> Result<Response<Budget>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = BudgetUpdate::parse(request.get_ref())?;
        Ok(Response::new(self.adapter.update_budget(&caller.subject, input).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateLegalEntity"))]
    async fn create_legal_entity(
        &self,
        request: Request<CreateLegalEntityRequest>,
    ) -> Result<Response<LegalEntity>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewLegalEntity::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_legal_entity(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetLegalEntity"))]
    async fn get_legal_entity(&self, request: Request<GetLegalEntityRequest>) -> Result<Response<LegalEntity>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let code = required_legal_entity("code", &message.code)?;
        Ok(Response::new(self.adapter.get_legal_entity(code).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListLegalEntities"))]
    async fn list_legal_entities(
        &self,
        request: Request<ListLegalEntitiesRequest>,
    ) -> Result<Response<ListLegalEntitiesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let page = Page::from_proto(message.page.as_ref())?;
        Ok(Response::new(self.adapter.list_legal_entities(page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateLegalEntity"))]
    async fn update_legal_entity(
        &self,
        request: Request<UpdateLegalEntityRequest>,
    ) -> Result<Response<LegalEntity>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = LegalEntityUpdate::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_legal_entity(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetExchangeRate"))]
    async fn set_exchange_rate(
        &self,
        request: Request<SetExchangeRateRequest>,
    ) -> Result<Response<ExchangeRate>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewExchangeRate::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.set_exchange_rate(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ConvertAmount"))]
    async fn convert_amount(
        &self,
        request: Request<ConvertAmountRequest>,
    ) -> Result<Response<ConvertAmountResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let conversion = Conversion::parse(message)?;
        Ok(Response::new(self.adapter.convert_amount(conversion).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateAccount"))]
    async fn create_account(&self, request: Request<CreateAccountRequest>) -> Result<Response<Account>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewAccount::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_account(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAccounts"))]
    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let legal_entity = required_legal_entity("legal_entity", &message.legal_entity)?;
        let page = Page::from_proto(message.page.as_ref())?;
        Ok(Response::new(self.adapter.list_accounts(legal_entity, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateCostCenter"))]
    async fn create_cost_center(
        &self,
        request: Request<CreateCostCenterRequest>,
    ) -> Result<Response<CostCenter>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewCostCenter::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_cost_center(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PostJournal"))]
    async fn post_journal(&self, request: Request<PostJournalRequest>) -> Result<Response<Journal>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewJournal::parse(request.get_ref())?;
        Ok(Response::new(self.adapter.post_journal(&caller.subject, input).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ReverseJournal"))]
    async fn reverse_journal(&self, request: Request<ReverseJournalRequest>) -> Result<Response<Journal>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = JournalReversal::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.reverse_journal(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetJournal"))]
    async fn get_journal(&self, request: Request<GetJournalRequest>) -> Result<Response<Journal>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let id = required_id("id", &message.id)?;
        Ok(Response::new(self.adapter.get_journal(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListJournals"))]
    async fn list_journals(
        &self,
        request: Request<ListJournalsRequest>,
    ) -> Result<Response<ListJournalsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let filter = JournalFilter::parse(&message.legal_entity, &message.project_code)?;
        let page = Page::from_proto(message.page.as_ref())?;
        Ok(Response::new(self.adapter.list_journals(filter, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetTrialBalance"))]
    async fn get_trial_balance(
        &self,
        request: Request<GetTrialBalanceRequest>,
    ) -> Result<Response<TrialBalance>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let legal_entity = required_legal_entity("legal_entity", &message.legal_entity)?;
        Ok(Response::new(self.adapter.trial_balance(legal_entity).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PostTimeEntries"))]
    async fn post_time_entries(
        &self,
        request: Request<PostTimeEntriesRequest>,
    ) -> Result<Response<PostWorkResponse>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = WorkBatch::parse_time(request.get_ref())?;
        Ok(Response::new(self.adapter.post_work(&caller.subject, input).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PostExpenses"))]
    async fn post_expenses(&self, request: Request<PostExpensesRequest>) -> Result<Response<PostWorkResponse>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = WorkBatch::parse_expenses(request.get_ref())?;
        Ok(Response::new(self.adapter.post_work(&caller.subject, input).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateBillingMilestone"))]
    async fn create_billing_milestone(
        &self,
        request: Request<CreateBillingMilestoneRequest>,
    ) -> Result<Response<BillingMilestone>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewMilestone::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_billing_milestone(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkMilestoneReached"))]
    async fn mark_milestone_reached(
        &self,
        request: Request<MarkMilestoneReachedRequest>,
    ) -> Result<Response<BillingMilestone>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = VersionedChange::parse_milestone(request.get_ref())?;
        Ok(Response::new(
            self.adapter.mark_milestone_reached(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateBillingMilestone"))]
    async fn update_billing_milestone(
        &self,
        request: Request<UpdateBillingMilestoneRequest>,
    ) -> Result<Response<BillingMilestone>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = MilestoneUpdate::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_billing_milestone(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListBillingMilestones"))]
    async fn list_billing_milestones(
        &self,
        request: Request<ListBillingMilestonesRequest>,
    ) -> Result<Response<ListBillingMilestonesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let project_code = required_project_code(&message.project_code)?;
        let page = Page::from_proto(message.page.as_ref())?;
        Ok(Response::new(
            self.adapter.list_billing_milestones(project_code, page).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateDraftInvoice"))]
    async fn create_draft_invoice(
        &self,
        request: Request<CreateDraftInvoiceRequest>,
    ) -> Result<Response<Invoice>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewDraftInvoice::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_draft_invoice(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "IssueInvoice"))]
    async fn issue_invoice(&self, request: Request<IssueInvoiceRequest>) -> Result<Response<Invoice>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = InvoiceIssue::parse(request.get_ref())?;
        Ok(Response::new(self.adapter.issue_invoice(&caller.subject, input).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetInvoice"))]
    async fn get_invoice(&self, request: Request<GetInvoiceRequest>) -> Result<Response<Invoice>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let id = required_id("id", &message.id)?;
        Ok(Response::new(self.adapter.get_invoice(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListInvoices"))]
    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let project_code = if message.project_code.trim().is_empty() {
            None
        } else {
            Some(required_project_code(&message.project_code)?)
        };
        let page = Page::from_proto(message.page.as_ref())?;
        Ok(Response::new(self.adapter.list_invoices(project_code, page).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetRevenueSchedule"))]
    async fn set_revenue_schedule(
        &self,
        request: Request<SetRevenueScheduleRequest>,
    ) -> Result<Response<RevenueSchedule>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = NewRevenueSchedule::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.set_revenue_schedule(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ReviseRevenueSchedule"))]
    async fn revise_revenue_schedule(
        &self,
        request: Request<ReviseRevenueScheduleRequest>,
    ) -> Result<Response<RevenueSchedule>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = RevenueRevision::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.revise_revenue_schedule(&caller.subject, input).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetRevenueSchedule"))]
    async fn get_revenue_schedule(
        &self,
        request: Request<GetRevenueScheduleRequest>,
    ) -> Result<Response<RevenueSchedule>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let project_code = required_project_code(&message.project_code)?;
        Ok(Response::new(self.adapter.get_revenue_schedule(project_code).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecognizeRevenue"))]
    async fn recognize_revenue(
        &self,
        request: Request<RecognizeRevenueRequest>,
    ) -> Result<Response<RecognizeRevenueResponse>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let input = Recognition::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.recognize_revenue(&caller.subject, input).await?,
        ))
    }
}

/// A required project code alone.
fn required_project_code(value: &str) -> Result<ProjectCodeNumber, keel_core::Error> {
    ProjectCodeNumber::parse(value).map_err(|description| keel_core::Error::invalid("project_code", description))
}
