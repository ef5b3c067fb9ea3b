//! What a close-out calls, over gRPC, as the `service` role, with a deadline on every call:
//! PSA, ERP, collaboration and documents, and the workflow admin of each process API it is
//! configured to ask about the exceptions a project raised.

use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::collaboration::{ArchiveWorkspaceRequest, GetWorkspaceByProjectRequest, Workspace};
use keel_proto::common::{Money, PageRequest};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{ApplyRetentionRequest, ApplyRetentionResponse};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, ConvertAmountRequest, GetProjectCodeRequest, Invoice, Journal, ListBillingMilestonesRequest,
    ListInvoicesRequest, ListJournalsRequest, ProjectCode,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ChangeRequest, Expense, ExpenseState, GetProjectRequest, ListChangeRequestsRequest, ListExpensesRequest,
    ListResourceRequestsRequest, ListTimeEntriesRequest, Project, ResourceRequest, TimeEntry, TimeEntryState,
    UpdateProjectStatusRequest,
};
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_proto::workflow::{ExceptionEpisode, ListExceptionHistoryRequest};
use tonic::transport::Channel;

/// Pages read at most from one list (100 a page): 5,000 records.
pub const MAX_PAGES: usize = 50;
const PAGE_SIZE: u32 = 100;

/// Clients of the systems a close-out touches, and of the workflow admins it reads.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
    collaboration: CollaborationServiceClient<Channel>,
    documents: DocumentsServiceClient<Channel>,
    /// The process APIs asked for exception history, by name.
    admins: Vec<(String, WorkflowAdminServiceClient<Channel>)>,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("admins", &self.admins.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The channels a close-out calls over (they may be one channel in embedded mode).
#[derive(Debug, Clone)]
pub struct Channels {
    pub psa: Channel,
    pub erp: Channel,
    pub collaboration: Channel,
    pub documents: Channel,
    /// The process APIs whose workflow admin is asked for the exceptions a project raised,
    /// by name (`time-capture`). One entry per distinct endpoint: in embedded mode one admin
    /// answers for every engine of the process.
    pub admins: Vec<(String, Channel)>,
}

fn page(token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: PAGE_SIZE,
        page_token: token.to_string(),
    })
}

/// What one paged list returned, and whether it stopped at [`MAX_PAGES`] with more left.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub truncated: bool,
}

/// Reads every page of a list, up to [`MAX_PAGES`].
async fn all_pages<T, F, Fut>(mut list: F) -> Result<Listed<T>, Error>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), Error>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let (page, next) = list(token).await?;
        items.extend(page);
        if next.is_empty() {
            return Ok(Listed {
                items,
                truncated: false,
            });
        }
        token = next;
    }
    Ok(Listed { items, truncated: true })
}

/// Refuses a list longer than a close-out reads: a check or review over part of a project
/// would be wrong without saying so.
fn complete<T>(listed: Listed<T>, what: &str) -> Result<Vec<T>, Error> {
    if listed.truncated {
        return Err(Error::FailedPrecondition(format!(
            "the project has more {what} than a close-out reads ({}); close it out by hand",
            MAX_PAGES * PAGE_SIZE as usize
        )));
    }
    Ok(listed.items)
}

fn next_token(page: Option<keel_proto::common::PageResponse>) -> String {
    page.map(|p| p.next_page_token).unwrap_or_default()
}

impl Downstream {
    pub fn new(channels: Channels, credentials: ServiceCredentials, timeout: Duration) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(channels.psa),
            erp: ErpServiceClient::new(channels.erp),
            collaboration: CollaborationServiceClient::new(channels.collaboration),
            documents: DocumentsServiceClient::new(channels.documents),
            admins: channels
                .admins
                .into_iter()
                .map(|(name, channel)| (name, WorkflowAdminServiceClient::new(channel)))
                .collect(),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    // ---- PSA ----

    /// PSA `GetProject`.
    pub async fn project(&self, id: &str) -> Result<Project, Error> {
        let request = self.request(GetProjectRequest {
            id: id.to_string(),
            opportunity_id: String::new(),
        })?;
        Ok(self.psa.clone().get_project(request).await?.into_inner())
    }

    /// PSA `UpdateProjectStatus`.
    pub async fn update_project_status(&self, message: UpdateProjectStatusRequest) -> Result<Project, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().update_project_status(request).await?.into_inner())
    }

    /// The project's time entries in `state` (every state when `Unspecified`).
    pub async fn time_entries(&self, project_id: &str, state: TimeEntryState) -> Result<Vec<TimeEntry>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListTimeEntriesRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                state: state as i32,
                page: page(&token),
                ..Default::default()
            })?;
            let answer = self.psa.clone().list_time_entries(request).await?.into_inner();
            Ok((answer.entries, next_token(answer.page)))
        })
        .await?;
        complete(listed, "time entries")
    }

    /// The project's expenses in `state` (every state when `Unspecified`).
    pub async fn expenses(&self, project_id: &str, state: ExpenseState) -> Result<Vec<Expense>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListExpensesRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                state: state as i32,
                page: page(&token),
            })?;
            let answer = self.psa.clone().list_expenses(request).await?.into_inner();
            Ok((answer.expenses, next_token(answer.page)))
        })
        .await?;
        complete(listed, "expenses")
    }

    /// The project's change requests, in every state.
    pub async fn change_requests(&self, project_id: &str) -> Result<Vec<ChangeRequest>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListChangeRequestsRequest {
                project_id: project_id.to_string(),
                page: page(&token),
            })?;
            let answer = self.psa.clone().list_change_requests(request).await?.into_inner();
            Ok((answer.change_requests, next_token(answer.page)))
        })
        .await?;
        complete(listed, "change requests")
    }

    /// The project's resource requests, in every state.
    pub async fn resource_requests(&self, project_id: &str) -> Result<Vec<ResourceRequest>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListResourceRequestsRequest {
                project_id: project_id.to_string(),
                state: 0,
                page: page(&token),
            })?;
            let answer = self.psa.clone().list_resource_requests(request).await?.into_inner();
            Ok((answer.resource_requests, next_token(answer.page)))
        })
        .await?;
        complete(listed, "resource requests")
    }

    // ---- ERP ----

    /// ERP `GetProjectCode` by PSA project id.
    pub async fn project_code_for_project(&self, project_id: &str) -> Result<ProjectCode, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })?;
        Ok(self.erp.clone().get_project_code(request).await?.into_inner())
    }

    /// ERP `GetProjectCode` by code (`PRJ-000042`); `None` when ERP has no such code.
    pub async fn project_code(&self, code: &str) -> Result<Option<ProjectCode>, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: code.to_string(),
            project_id: String::new(),
        })?;
        match self.erp.clone().get_project_code(request).await {
            Ok(code) => Ok(Some(code.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// Every billing milestone of a project code.
    pub async fn billing_milestones(&self, project_code: &str) -> Result<Vec<BillingMilestone>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListBillingMilestonesRequest {
                project_code: project_code.to_string(),
                page: page(&token),
            })?;
            let answer = self.erp.clone().list_billing_milestones(request).await?.into_inner();
            Ok((answer.milestones, next_token(answer.page)))
        })
        .await?;
        complete(listed, "billing milestones")
    }

    /// Every invoice of a project code, drafts included.
    pub async fn invoices(&self, project_code: &str) -> Result<Vec<Invoice>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListInvoicesRequest {
                project_code: project_code.to_string(),
                page: page(&token),
            })?;
            let answer = self.erp.clone().list_invoices(request).await?.into_inner();
            Ok((answer.invoices, next_token(answer.page)))
        })
        .await?;
        complete(listed, "invoices")
    }

    /// Every journal with a line for a project code.
    pub async fn journals(&self, project_code: &str) -> Result<Vec<Journal>, Error> {
        let listed = all_pages(|token| async move {
            let request = self.request(ListJournalsRequest {
                legal_entity: String::new(),
                project_code: project_code.to_string(),
                page: page(&token),
            })?;
            let answer = self.erp.clone().list_journals(request).await?.into_inner();
            Ok((answer.journals, next_token(answer.page)))
        })
        .await?;
        complete(listed, "journals")
    }

    /// ERP `ConvertAmount`: `amount` in `to_currency` at the rate of `on_date`.
    pub async fn convert(&self, amount: Money, to_currency: &str, on_date: &str) -> Result<Money, Error> {
        let request = self.request(ConvertAmountRequest {
            amount: Some(amount),
            to_currency: to_currency.to_string(),
            on_date: on_date.to_string(),
        })?;
        let answer = self.erp.clone().convert_amount(request).await?.into_inner();
        answer
            .converted
            .ok_or_else(|| Error::internal("ERP converted an amount to nothing"))
    }

    // ---- collaboration ----

    /// The project's workspace; `None` when it has none.
    pub async fn workspace_of(&self, project_id: &str) -> Result<Option<Workspace>, Error> {
        let request = self.request(GetWorkspaceByProjectRequest {
            project_id: project_id.to_string(),
        })?;
        match self.collaboration.clone().get_workspace_by_project(request).await {
            Ok(workspace) => Ok(Some(workspace.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// Collaboration `ArchiveWorkspace`.
    pub async fn archive_workspace(&self, message: ArchiveWorkspaceRequest) -> Result<Workspace, Error> {
        let request = self.request(message)?;
        Ok(self
            .collaboration
            .clone()
            .archive_workspace(request)
            .await?
            .into_inner())
    }

    // ---- documents ----

    /// Documents `ApplyRetention`.
    pub async fn apply_retention(&self, message: ApplyRetentionRequest) -> Result<ApplyRetentionResponse, Error> {
        let request = self.request(message)?;
        Ok(self.documents.clone().apply_retention(request).await?.into_inner())
    }

    // ---- workflow admins ----

    /// The process APIs asked for exception history.
    pub fn admin_names(&self) -> Vec<String> {
        self.admins.iter().map(|(name, _)| name.clone()).collect()
    }

    /// The exception episodes one process API's admin has seen raised since `since`.
    pub async fn exception_history(
        &self,
        admin: usize,
        since: prost_types::Timestamp,
    ) -> Result<Listed<ExceptionEpisode>, Error> {
        let (_, client) = self
            .admins
            .get(admin)
            .ok_or_else(|| Error::internal(format!("no workflow admin number {admin}")))?;
        all_pages(|token| {
            let mut client = client.clone();
            async move {
                let request = self.request(ListExceptionHistoryRequest {
                    page: page(&token),
                    raised_since: Some(since),
                })?;
                let answer = client.list_exception_history(request).await?.into_inner();
                Ok((answer.episodes, next_token(answer.page)))
            }
        })
        .await
    }
}
