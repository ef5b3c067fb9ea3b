//! The ERP gRPC service: authorize the caller, parse the request once, call the adapter.
//!
//! Reads are open to every authenticated role; opening a project code and posting a budget
//! are for `service` (process APIs), `finance` and `admin`.

use std::sync::Arc;

use keel_auth::Role;
use keel_core::paging::Page;
use keel_proto::erp::erp_service_server::{ErpService, ErpServiceServer};
use keel_proto::erp::{
    Budget, CreateProjectCodeRequest, GetProjectCodeRequest, ListProjectCodesRequest, ListProjectCodesResponse,
    PostBudgetRequest, ProjectCode,
};
use tonic::{Request, Response, Status};

use crate::adapter::ErpAdapter;
use crate::domain::{NewBudget, NewProjectCode, ProjectCodeLookup};

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

    #[tracing::instrument(skip_all, fields(rpc.method = "PostBudget"))]
    async fn post_budget(&self, request: Request<PostBudgetRequest>) -> Result<Response<Budget>, Status> {
        let caller = keel_auth::authorize(&request, CHANGE_ROLES)?;
        let new = NewBudget::parse(request.get_ref())?;
        let budget = self.adapter.post_budget(&caller.subject, new).await?;
        Ok(Response::new(budget))
    }
}
