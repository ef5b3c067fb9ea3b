//! The system APIs a change order calls (PSA, ERP, documents), over gRPC, as the `service`
//! role, with a deadline on every call.

use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::common::PageRequest;
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{
    AddVersionRequest, CreateDocumentRequest, DeleteDocumentRequest, Document, DocumentType, DocumentVersion,
    ListDocumentsRequest,
};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, Budget, GetProjectCodeRequest, GetRevenueScheduleRequest, ListBillingMilestonesRequest,
    ProjectCode, RevenueSchedule, ReviseRevenueScheduleRequest, UpdateBillingMilestoneRequest, UpdateBudgetRequest,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    Assignment, ChangeRequest, ChangeRequestTransitionRequest, CreateChangeRequestRequest, GetChangeRequestRequest,
    GetProjectRequest, ListAssignmentsRequest, Project,
};
use tonic::transport::Channel;

/// Pages read at most when listing a project's milestones or documents (100 a page).
const MAX_PAGES: usize = 50;
const PAGE_SIZE: u32 = 100;

/// Clients of PSA, ERP and documents.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
    documents: DocumentsServiceClient<Channel>,
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

fn page(token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: PAGE_SIZE,
        page_token: token.to_string(),
    })
}

impl Downstream {
    /// Channels to each system API (they may be one channel in embedded mode).
    pub fn new(
        psa: Channel,
        erp: Channel,
        documents: Channel,
        credentials: ServiceCredentials,
        timeout: Duration,
    ) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(psa),
            erp: ErpServiceClient::new(erp),
            documents: DocumentsServiceClient::new(documents),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    // ---- PSA ----

    /// PSA `GetChangeRequest`.
    pub async fn get_change_request(&self, id: &str) -> Result<ChangeRequest, Error> {
        let request = self.request(GetChangeRequestRequest { id: id.to_string() })?;
        Ok(self.psa.clone().get_change_request(request).await?.into_inner())
    }

    /// PSA `GetProject`.
    pub async fn get_project(&self, id: &str) -> Result<Project, Error> {
        let request = self.request(GetProjectRequest {
            id: id.to_string(),
            opportunity_id: String::new(),
        })?;
        Ok(self.psa.clone().get_project(request).await?.into_inner())
    }

    /// PSA `CreateChangeRequest`: a DRAFT change request.
    pub async fn create_change_request(&self, message: CreateChangeRequestRequest) -> Result<ChangeRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().create_change_request(request).await?.into_inner())
    }

    /// PSA `SubmitChangeRequest`: a DRAFT change request put up for approval.
    pub async fn submit_change_request(&self, message: ChangeRequestTransitionRequest) -> Result<ChangeRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().submit_change_request(request).await?.into_inner())
    }

    /// PSA `ListAssignments` of one person on one project (a person holds few there).
    pub async fn assignments_on(&self, project_id: &str, employee_id: &str) -> Result<Vec<Assignment>, Error> {
        let request = self.request(ListAssignmentsRequest {
            project_id: project_id.to_string(),
            employee_id: employee_id.to_string(),
            page: Some(PageRequest {
                page_size: PAGE_SIZE,
                page_token: String::new(),
            }),
        })?;
        Ok(self
            .psa
            .clone()
            .list_assignments(request)
            .await?
            .into_inner()
            .assignments)
    }

    /// PSA `ApplyChangeRequest`: the change request applied to its project.
    pub async fn apply_change_request(&self, message: ChangeRequestTransitionRequest) -> Result<ChangeRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().apply_change_request(request).await?.into_inner())
    }

    // ---- ERP ----

    /// ERP `GetProjectCode` by PSA project id, with its budget once posted.
    pub async fn project_code_for_project(&self, project_id: &str) -> Result<ProjectCode, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })?;
        Ok(self.erp.clone().get_project_code(request).await?.into_inner())
    }

    /// ERP `UpdateBudget`.
    pub async fn update_budget(&self, message: UpdateBudgetRequest) -> Result<Budget, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().update_budget(request).await?.into_inner())
    }

    /// Every billing milestone of a project code.
    pub async fn billing_milestones(&self, project_code: &str) -> Result<Vec<BillingMilestone>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListBillingMilestonesRequest {
                project_code: project_code.to_string(),
                page: page(&token),
            })?;
            let answer = self.erp.clone().list_billing_milestones(request).await?.into_inner();
            all.extend(answer.milestones);
            token = answer.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    /// ERP `UpdateBillingMilestone`.
    pub async fn update_billing_milestone(
        &self,
        message: UpdateBillingMilestoneRequest,
    ) -> Result<BillingMilestone, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().update_billing_milestone(request).await?.into_inner())
    }

    /// The project code's revenue schedule, `None` when it has none.
    pub async fn revenue_schedule(&self, project_code: &str) -> Result<Option<RevenueSchedule>, Error> {
        let request = self.request(GetRevenueScheduleRequest {
            project_code: project_code.to_string(),
        })?;
        match self.erp.clone().get_revenue_schedule(request).await {
            Ok(schedule) => Ok(Some(schedule.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// ERP `ReviseRevenueSchedule`.
    pub async fn revise_revenue_schedule(
        &self,
        message: ReviseRevenueScheduleRequest,
    ) -> Result<RevenueSchedule, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().revise_revenue_schedule(request).await?.into_inner())
    }

    // ---- documents ----

    /// Documents `CreateDocument`.
    pub async fn create_document(&self, message: CreateDocumentRequest) -> Result<Document, Error> {
        let request = self.request(message)?;
        Ok(self.documents.clone().create_document(request).await?.into_inner())
    }

    /// Documents `AddVersion`.
    pub async fn add_version(&self, message: AddVersionRequest) -> Result<DocumentVersion, Error> {
        let request = self.request(message)?;
        Ok(self.documents.clone().add_version(request).await?.into_inner())
    }

    /// Documents `DeleteDocument`.
    pub async fn delete_document(&self, message: DeleteDocumentRequest) -> Result<(), Error> {
        let request = self.request(message)?;
        self.documents.clone().delete_document(request).await?;
        Ok(())
    }

    /// Every change-order document of a project.
    pub async fn change_order_documents(&self, project_id: &str) -> Result<Vec<Document>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListDocumentsRequest {
                page: page(&token),
                project_id: project_id.to_string(),
                client_id: String::new(),
                r#type: DocumentType::ChangeOrder as i32,
            })?;
            let answer = self.documents.clone().list_documents(request).await?.into_inner();
            all.extend(answer.documents);
            token = answer.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }
}
