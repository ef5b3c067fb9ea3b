//! Calls to the PSA and ERP system APIs on behalf of the caller: each one carries the caller's
//! bearer token (so the system API authorizes the person, not the gateway) and a deadline,
//! sent as `grpc-timeout` and enforced here as well, so a stalled backend cannot hold a
//! GraphQL request open.

use std::future::Future;

use async_graphql::Context;
use keel_auth::Identity;
use keel_core::Error;
use keel_proto::common::PageRequest;
use keel_proto::erp::{GetProjectCodeRequest, ProjectCode};
use keel_proto::psa::{GetProjectRequest, ListProjectsRequest, ListProjectsResponse, Project};

use crate::{ALLOWED_ROLES, Backends};

/// The backends and the caller of one GraphQL request.
pub(crate) struct Downstream<'a> {
    backends: &'a Backends,
    identity: &'a Identity,
}

impl<'a> Downstream<'a> {
    /// Reads the backends and the verified caller from the context, and checks the caller's
    /// role again (the gateway checks it first; this keeps the view safe wherever it is mounted).
    pub(crate) fn from_context(ctx: &Context<'a>) -> Result<Downstream<'a>, Error> {
        let identity = ctx
            .data_opt::<Identity>()
            .ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()))?;
        identity.require(ALLOWED_ROLES)?;
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the project manager view was mounted without its backends"))?;
        Ok(Downstream { backends, identity })
    }

    /// One page of PSA projects, in creation order.
    pub(crate) async fn list_projects(
        &self,
        page_size: u32,
        page_token: String,
    ) -> Result<ListProjectsResponse, Error> {
        let request = self.request(ListProjectsRequest {
            page: Some(PageRequest { page_size, page_token }),
        })?;
        self.answer("PSA ListProjects", self.backends.psa.clone().list_projects(request))
            .await
    }

    /// A PSA project by id; `None` when PSA has no such project.
    pub(crate) async fn get_project(&self, id: String) -> Result<Option<Project>, Error> {
        let request = self.request(GetProjectRequest {
            id,
            opportunity_id: String::new(),
        })?;
        keel_core::grpc::optional(
            self.answer("PSA GetProject", self.backends.psa.clone().get_project(request))
                .await,
        )
    }

    /// The ERP project code opened for a PSA project; `None` until one is opened.
    pub(crate) async fn get_project_code(&self, project_id: String) -> Result<Option<ProjectCode>, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id,
        })?;
        keel_core::grpc::optional(
            self.answer(
                "ERP GetProjectCode",
                self.backends.erp.clone().get_project_code(request),
            )
            .await,
        )
    }

    /// A request carrying the caller's token and the deadline.
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.backends.timeout);
        keel_auth::forward(self.identity, &mut request)?;
        Ok(request)
    }

    /// The answer of `call`, or `Unavailable` when it takes longer than the deadline.
    async fn answer<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        keel_core::grpc::answer(what, self.backends.timeout, call).await
    }
}
