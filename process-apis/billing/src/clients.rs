//! The system APIs billing calls, over gRPC, as the `service` role, with a deadline on every
//! call. Lists are read page by page (100 a page) up to a bound: past it the call fails
//! rather than answer from a truncated list.

use std::future::Future;
use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::common::{PageRequest, PageResponse};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, CreateDraftInvoiceRequest, GetProjectCodeRequest, Invoice, Journal, ListBillingMilestonesRequest,
    ListInvoicesRequest, ListJournalsRequest, ListProjectCodesRequest, ProjectCode, create_draft_invoice_request,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ChangeRequest, GetProjectRequest, ListChangeRequestsRequest, ListProjectsRequest, ListTimeEntriesRequest, Project,
    ProjectIdsRequest, TimeEntry,
};
use tonic::transport::Channel;

/// Records a page of a list holds (the system APIs' cap).
const PAGE_SIZE: u32 = 100;
/// Pages read at most from one list: 20,000 records.
const MAX_PAGES: usize = 200;

/// Clients of PSA and ERP.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Reads every page of a list: `call` gets the page request and answers the page's records and
/// its page response.
async fn paged<T, F, Fut>(what: &str, mut call: F) -> Result<Vec<T>, Error>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<PageResponse>), Error>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let (records, page) = call(PageRequest {
            page_size: PAGE_SIZE,
            page_token: token.clone(),
        })
        .await?;
        all.extend(records);
        token = page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return Ok(all);
        }
    }
    Err(Error::FailedPrecondition(format!(
        "{what} holds more than {} records; billing reads at most that many",
        MAX_PAGES * PAGE_SIZE as usize
    )))
}

impl Downstream {
    /// Channels to each system API (they may be one channel in embedded mode).
    pub fn new(psa: Channel, erp: Channel, credentials: ServiceCredentials, timeout: Duration) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(psa),
            erp: ErpServiceClient::new(erp),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    /// The PSA project, `None` when PSA holds no project with this id.
    pub async fn project(&self, id: &str) -> Result<Option<Project>, Error> {
        let request = self.request(GetProjectRequest {
            id: id.to_string(),
            opportunity_id: String::new(),
        })?;
        match self.psa.clone().get_project(request).await {
            Ok(answer) => Ok(Some(answer.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// The PSA projects of `ids` (at most 100) that exist.
    pub async fn projects_of(&self, ids: Vec<String>) -> Result<Vec<Project>, Error> {
        let request = self.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .psa
            .clone()
            .batch_get_projects(request)
            .await?
            .into_inner()
            .projects)
    }

    /// Every PSA project.
    pub async fn projects(&self) -> Result<Vec<Project>, Error> {
        paged("PSA's project list", |page| async move {
            let request = self.request(ListProjectsRequest { page: Some(page) })?;
            let answer = self.psa.clone().list_projects(request).await?.into_inner();
            Ok((answer.projects, answer.page))
        })
        .await
    }

    /// Every time entry of the project, in any state.
    pub async fn time_entries_of(&self, project_id: &str) -> Result<Vec<TimeEntry>, Error> {
        paged("the project's time entries", |page| async move {
            let request = self.request(ListTimeEntriesRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                state: 0,
                page: Some(page),
                ..Default::default()
            })?;
            let answer = self.psa.clone().list_time_entries(request).await?.into_inner();
            Ok((answer.entries, answer.page))
        })
        .await
    }

    /// Every change request of the project.
    pub async fn change_requests_of(&self, project_id: &str) -> Result<Vec<ChangeRequest>, Error> {
        paged("the project's change requests", |page| async move {
            let request = self.request(ListChangeRequestsRequest {
                project_id: project_id.to_string(),
                page: Some(page),
            })?;
            let answer = self.psa.clone().list_change_requests(request).await?.into_inner();
            Ok((answer.change_requests, answer.page))
        })
        .await
    }

    async fn get_project_code(&self, message: GetProjectCodeRequest) -> Result<Option<ProjectCode>, Error> {
        let request = self.request(message)?;
        match self.erp.clone().get_project_code(request).await {
            Ok(answer) => Ok(Some(answer.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// The ERP project code opened for a PSA project, `None` when there is none.
    pub async fn project_code_for_project(&self, project_id: &str) -> Result<Option<ProjectCode>, Error> {
        self.get_project_code(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })
        .await
    }

    /// The ERP project code `code`, `None` when there is none.
    pub async fn project_code(&self, code: &str) -> Result<Option<ProjectCode>, Error> {
        self.get_project_code(GetProjectCodeRequest {
            code: code.to_string(),
            project_id: String::new(),
        })
        .await
    }

    /// Every ERP project code.
    pub async fn project_codes(&self) -> Result<Vec<ProjectCode>, Error> {
        paged("ERP's project codes", |page| async move {
            let request = self.request(ListProjectCodesRequest { page: Some(page) })?;
            let answer = self.erp.clone().list_project_codes(request).await?.into_inner();
            Ok((answer.project_codes, answer.page))
        })
        .await
    }

    /// The billing milestones of a project code.
    pub async fn milestones_of(&self, code: &str) -> Result<Vec<BillingMilestone>, Error> {
        paged("the code's billing milestones", |page| async move {
            let request = self.request(ListBillingMilestonesRequest {
                project_code: code.to_string(),
                page: Some(page),
            })?;
            let answer = self.erp.clone().list_billing_milestones(request).await?.into_inner();
            Ok((answer.milestones, answer.page))
        })
        .await
    }

    /// The invoices (draft and issued) of a project code.
    pub async fn invoices_of(&self, code: &str) -> Result<Vec<Invoice>, Error> {
        paged("the code's invoices", |page| async move {
            let request = self.request(ListInvoicesRequest {
                project_code: code.to_string(),
                page: Some(page),
            })?;
            let answer = self.erp.clone().list_invoices(request).await?.into_inner();
            Ok((answer.invoices, answer.page))
        })
        .await
    }

    /// Every journal with a line on a project code (reversals included).
    pub async fn journals_of(&self, code: &str) -> Result<Vec<Journal>, Error> {
        paged("the code's journals", |page| async move {
            let request = self.request(ListJournalsRequest {
                legal_entity: String::new(),
                project_code: code.to_string(),
                page: Some(page),
            })?;
            let answer = self.erp.clone().list_journals(request).await?.into_inner();
            Ok((answer.journals, answer.page))
        })
        .await
    }

    /// Drafts the invoice of a reached ERP billing milestone, under `idempotency_key`.
    pub async fn create_milestone_invoice(
        &self,
        idempotency_key: String,
        project_code: &str,
        erp_milestone_id: &str,
    ) -> Result<Invoice, Error> {
        let request = self.request(CreateDraftInvoiceRequest {
            idempotency_key,
            project_code: project_code.to_string(),
            source: Some(create_draft_invoice_request::Source::MilestoneId(
                erp_milestone_id.to_string(),
            )),
        })?;
        Ok(self.erp.clone().create_draft_invoice(request).await?.into_inner())
    }
}
