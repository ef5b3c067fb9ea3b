//! The PSA gRPC service: each handler authorizes the caller, parses the request once with
//! [`crate::domain`], and hands the checked input to the [`PsaAdapter`].
//!
//! Reads are open to every authenticated caller; changes to [`Role::Service`] (process APIs)
//! and [`Role::Admin`].

use std::sync::Arc;

use keel_auth::Role;
use keel_core::paging::Page;
use keel_proto::psa::psa_service_server::{PsaService, PsaServiceServer};
use keel_proto::psa::{
    CreateProjectRequest, DeliveryTemplate, GetProjectRequest, ListDeliveryTemplatesRequest,
    ListDeliveryTemplatesResponse, ListProjectsRequest, ListProjectsResponse, Project, UpsertDeliveryTemplateRequest,
};
use tonic::{Request, Response, Status};

use crate::adapter::PsaAdapter;
use crate::domain::{NewProject, NewTemplate, ProjectLookup};

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
}
