//! The `keel.collaboration.v1.CollaborationService` gRPC service: authorize, parse, call the
//! adapter.

use keel_core::validate::parse_id;
use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::collaboration::collaboration_service_server::{CollaborationService, CollaborationServiceServer};
use keel_proto::collaboration::{
    AddMemberRequest, ArchiveWorkspaceRequest, CreateWorkspaceRequest, GetWorkspaceByProjectRequest,
    GetWorkspaceRequest, ListWorkspacesRequest, ListWorkspacesResponse, RemoveMemberRequest, Workspace,
    WorkspaceStatus,
};
use keel_proto::common::PageResponse;
use tonic::{Request, Response, Status};

use crate::adapter::CollaborationAdapter;
use crate::domain::{ArchiveWorkspace, MemberRemoval, NewMember, NewWorkspace};

/// Roles that may change workspaces: process APIs acting as `service`, and administrators.
const WRITERS: &[Role] = &[Role::Service, Role::Admin];
/// Every authenticated role may read.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Consultant,
    Role::Operations,
    Role::Service,
    Role::Admin,
];

pub struct CollaborationGrpcService {
    adapter: Arc<dyn CollaborationAdapter>,
}

impl CollaborationGrpcService {
    pub fn new(adapter: Arc<dyn CollaborationAdapter>) -> CollaborationGrpcService {
        CollaborationGrpcService { adapter }
    }
}

/// The tonic server for an adapter.
pub fn server(adapter: Arc<dyn CollaborationAdapter>) -> CollaborationServiceServer<CollaborationGrpcService> {
    CollaborationServiceServer::new(CollaborationGrpcService::new(adapter))
}

#[tonic::async_trait]
impl CollaborationService for CollaborationGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "CreateWorkspace"))]
    async fn create_workspace(&self, request: Request<CreateWorkspaceRequest>) -> Result<Response<Workspace>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, workspace) = NewWorkspace::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_workspace(&caller.subject, &key, workspace).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetWorkspace"))]
    async fn get_workspace(&self, request: Request<GetWorkspaceRequest>) -> Result<Response<Workspace>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_workspace(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetWorkspaceByProject"))]
    async fn get_workspace_by_project(
        &self,
        request: Request<GetWorkspaceByProjectRequest>,
    ) -> Result<Response<Workspace>, Status> {
        authorize(&request, READERS)?;
        let project_id = parse_id("project_id", &request.get_ref().project_id)?;
        Ok(Response::new(self.adapter.get_workspace_by_project(project_id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListWorkspaces"))]
    async fn list_workspaces(
        &self,
        request: Request<ListWorkspacesRequest>,
    ) -> Result<Response<ListWorkspacesResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let status = match WorkspaceStatus::try_from(req.status) {
            Ok(WorkspaceStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => return Err(Error::invalid("status", format!("{} is not a workspace status", req.status)).into()),
        };
        let workspaces = self.adapter.list_workspaces(page, status).await?;
        let last = workspaces.last().and_then(|w| w.id.parse().ok());
        let next_page_token = page.next_token(workspaces.len(), last);
        Ok(Response::new(ListWorkspacesResponse {
            workspaces,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "AddMember"))]
    async fn add_member(&self, request: Request<AddMemberRequest>) -> Result<Response<Workspace>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, member) = NewMember::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.add_member(&caller.subject, &key, member).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RemoveMember"))]
    async fn remove_member(&self, request: Request<RemoveMemberRequest>) -> Result<Response<Workspace>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, removal) = MemberRemoval::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.remove_member(&caller.subject, &key, removal).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ArchiveWorkspace"))]
    async fn archive_workspace(
        &self,
        request: Request<ArchiveWorkspaceRequest>,
    ) -> Result<Response<Workspace>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, archive) = ArchiveWorkspace::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.archive_workspace(&caller.subject, &key, archive).await?,
        ))
    }
}
