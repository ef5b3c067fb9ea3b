//! The system APIs project setup calls, over gRPC, as the `service` role, with a deadline
//! on every call: CRM, PSA, ERP, collaboration and documents.

use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::collaboration::{CreateWorkspaceRequest, GetWorkspaceByProjectRequest, Workspace};
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{GetOpportunityRequest, Opportunity};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{CreateDocumentRequest, Document, SetRetentionRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, Budget, CreateBillingMilestoneRequest, CreateProjectCodeRequest, GetProjectCodeRequest,
    PostBudgetRequest, ProjectCode,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    CreateProjectRequest, DeliveryTemplate, GetProjectRequest, ListDeliveryTemplatesRequest, Project,
};
use tonic::transport::Channel;

/// Clients of CRM, PSA, ERP, collaboration and documents.
#[derive(Clone)]
pub struct Downstream {
    crm: CrmServiceClient<Channel>,
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
    collaboration: CollaborationServiceClient<Channel>,
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

impl Downstream {
    /// Channels to each system API (they may be one channel in embedded mode).
    pub fn new(
        crm: Channel,
        psa: Channel,
        erp: Channel,
        collaboration: Channel,
        documents: Channel,
        credentials: ServiceCredentials,
        timeout: Duration,
    ) -> Downstream {
        Downstream {
            crm: CrmServiceClient::new(crm),
            psa: PsaServiceClient::new(psa),
            erp: ErpServiceClient::new(erp),
            collaboration: CollaborationServiceClient::new(collaboration),
            documents: DocumentsServiceClient::new(documents),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    pub async fn get_opportunity(&self, id: &str) -> Result<Opportunity, Error> {
        let request = self.request(GetOpportunityRequest { id: id.to_string() })?;
        Ok(self.crm.clone().get_opportunity(request).await?.into_inner())
    }

    pub async fn list_templates(&self) -> Result<Vec<DeliveryTemplate>, Error> {
        let request = self.request(ListDeliveryTemplatesRequest {})?;
        Ok(self
            .psa
            .clone()
            .list_delivery_templates(request)
            .await?
            .into_inner()
            .templates)
    }

    pub async fn create_project(&self, message: CreateProjectRequest) -> Result<Project, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().create_project(request).await?.into_inner())
    }

    pub async fn project_for_opportunity(&self, opportunity_id: &str) -> Result<Project, Error> {
        let request = self.request(GetProjectRequest {
            id: String::new(),
            opportunity_id: opportunity_id.to_string(),
        })?;
        Ok(self.psa.clone().get_project(request).await?.into_inner())
    }

    pub async fn create_project_code(&self, message: CreateProjectCodeRequest) -> Result<ProjectCode, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().create_project_code(request).await?.into_inner())
    }

    pub async fn project_code_for_project(&self, project_id: &str) -> Result<ProjectCode, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })?;
        Ok(self.erp.clone().get_project_code(request).await?.into_inner())
    }

    pub async fn post_budget(&self, message: PostBudgetRequest) -> Result<Budget, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().post_budget(request).await?.into_inner())
    }

    pub async fn create_billing_milestone(
        &self,
        message: CreateBillingMilestoneRequest,
    ) -> Result<BillingMilestone, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().create_billing_milestone(request).await?.into_inner())
    }

    pub async fn create_workspace(&self, message: CreateWorkspaceRequest) -> Result<Workspace, Error> {
        let request = self.request(message)?;
        Ok(self.collaboration.clone().create_workspace(request).await?.into_inner())
    }

    pub async fn workspace_for_project(&self, project_id: &str) -> Result<Workspace, Error> {
        let request = self.request(GetWorkspaceByProjectRequest {
            project_id: project_id.to_string(),
        })?;
        Ok(self
            .collaboration
            .clone()
            .get_workspace_by_project(request)
            .await?
            .into_inner())
    }

    pub async fn create_document(&self, message: CreateDocumentRequest) -> Result<Document, Error> {
        let request = self.request(message)?;
        Ok(self.documents.clone().create_document(request).await?.into_inner())
    }

    pub async fn set_retention(&self, message: SetRetentionRequest) -> Result<Document, Error> {
        let request = self.request(message)?;
        Ok(self.documents.clone().set_retention(request).await?.into_inner())
    }
}
