//! The gRPC service `keel.closeout.v1.CloseOutService`: authorize, check the input, then
//! start a close-out or show one, or its review.

use std::sync::Arc;

use keel_auth::Role;
use keel_core::Error;
use keel_core::paging::Page;
use keel_core::validate::Violations;
use keel_proto::closeout::close_out_service_server::{CloseOutService, CloseOutServiceServer};
use keel_proto::closeout::{
    CloseOut, GetCloseOutRequest, GetReviewRequest, ListCloseOutsRequest, ListCloseOutsResponse, Review,
    StartCloseOutRequest, StartCloseOutResponse,
};
use keel_proto::common::PageResponse;
use keel_workflow::{Engine, Status};
use tonic::{Request, Response, Status as GrpcStatus};

use crate::clients::Downstream;
use crate::policy::CloseOutPolicy;
use crate::view::{close_out_view, journaled_review, parse_status, review_to_proto, status_name};
use crate::workflow::{self, KIND};

/// Who may start a close-out (admin always passes).
const START_ROLES: &[Role] = &[Role::Service, Role::Finance, Role::ProjectManager];
/// Who may read close-outs and reviews.
const READ_ROLES: &[Role] = &[
    Role::Service,
    Role::Finance,
    Role::Operations,
    Role::ProjectManager,
    Role::Executive,
];

/// The tonic service.
#[derive(Debug, Clone)]
pub struct CloseOutGrpcService {
    engine: Engine,
    downstream: Downstream,
    policy: Arc<CloseOutPolicy>,
}

impl CloseOutGrpcService {
    /// The service over `engine`, which must have the [`workflows`](crate::workflows)
    /// registered; `downstream` checks that a project exists before its close-out starts.
    pub fn new(engine: Engine, downstream: Downstream, policy: Arc<CloseOutPolicy>) -> CloseOutGrpcService {
        CloseOutGrpcService {
            engine,
            downstream,
            policy,
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> CloseOutServiceServer<CloseOutGrpcService> {
        CloseOutServiceServer::new(self)
    }

    async fn latest(&self, project_id: &str) -> Result<keel_workflow::InstanceView, Error> {
        self.engine
            .find(KIND, project_id)
            .await?
            .ok_or_else(|| Error::not_found("close-out of project", project_id))
    }
}

/// The close-out service ready to add to a tonic server.
pub fn server(
    engine: Engine,
    downstream: Downstream,
    policy: Arc<CloseOutPolicy>,
) -> CloseOutServiceServer<CloseOutGrpcService> {
    CloseOutGrpcService::new(engine, downstream, policy).into_server()
}

fn project_id(v: &mut Violations, value: &str) -> Option<String> {
    v.uuid("project_id", value).map(|u| u.to_string())
}

#[tonic::async_trait]
impl CloseOutService for CloseOutGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "StartCloseOut", project.id))]
    async fn start_close_out(
        &self,
        request: Request<StartCloseOutRequest>,
    ) -> Result<Response<StartCloseOutResponse>, GrpcStatus> {
        let caller = keel_auth::authorize(&request, START_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let id = project_id(&mut v, &message.project_id);
        let key = v.idempotency_key(&message.idempotency_key);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("project_id", "is required"))?;
        tracing::Span::current().record("project.id", id.as_str());
        if let Some(last) = self.engine.find(KIND, &id).await?
            && (last.status == Status::Done || last.status.is_open())
        {
            return Ok(Response::new(StartCloseOutResponse {
                close_out_id: last.id.to_string(),
                project_id: id,
                status: status_name(last.status).into(),
                created: false,
            }));
        }
        // A project PSA does not know is refused now rather than queued to fail; while PSA
        // cannot answer, the close-out is accepted and its check waits for PSA.
        match self.downstream.project(&id).await {
            Err(Error::NotFound(_)) => return Err(Error::not_found("project", id).into()),
            Err(error) => tracing::warn!(%error, project.id = %id, "PSA did not answer; close-out queued anyway"),
            Ok(_) => {}
        }
        let started = self
            .engine
            .start_once(
                KIND,
                &id,
                workflow::CloseOut::input(&id, &key),
                self.policy.versions(),
                &caller.subject,
            )
            .await?;
        let view = self.engine.instance(started.id).await?;
        Ok(Response::new(StartCloseOutResponse {
            close_out_id: started.id.to_string(),
            project_id: id,
            status: status_name(view.status).into(),
            created: started.created,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetCloseOut"))]
    async fn get_close_out(&self, request: Request<GetCloseOutRequest>) -> Result<Response<CloseOut>, GrpcStatus> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let id = project_id(&mut v, &request.get_ref().project_id);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("project_id", "is required"))?;
        let view = self.latest(&id).await?;
        let steps = self.engine.step_names(KIND).unwrap_or_default();
        Ok(Response::new(close_out_view(&view, &steps)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListCloseOuts"))]
    async fn list_close_outs(
        &self,
        request: Request<ListCloseOutsRequest>,
    ) -> Result<Response<ListCloseOutsResponse>, GrpcStatus> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let page = Page::from_proto(message.page.as_ref())?;
        let statuses: Vec<Status> = if message.status.is_empty() {
            Status::ALL.to_vec()
        } else {
            vec![parse_status(&message.status).ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!(
                        "{:?} is not one of {}",
                        message.status,
                        Status::ALL.map(status_name).join(", ")
                    ),
                )
            })?]
        };
        let mut found = Vec::new();
        for status in statuses {
            found.extend(self.engine.list(Some(status), Some(KIND), page).await?);
        }
        found.sort_by_key(|view| view.id);
        found.truncate(page.size as usize);
        let next_page_token = page.next_token(found.len(), found.last().map(|view| view.id));
        let steps = self.engine.step_names(KIND).unwrap_or_default();
        Ok(Response::new(ListCloseOutsResponse {
            close_outs: found.iter().map(|view| close_out_view(view, &steps)).collect(),
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetReview"))]
    async fn get_review(&self, request: Request<GetReviewRequest>) -> Result<Response<Review>, GrpcStatus> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let id = project_id(&mut v, &request.get_ref().project_id);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("project_id", "is required"))?;
        let view = self.latest(&id).await?;
        let review = journaled_review(&view)?.ok_or_else(|| {
            Error::NotFound(format!(
                "the review of project {id} is not produced yet: its close-out is {} at {}",
                status_name(view.status),
                view.step.as_deref().unwrap_or("its end")
            ))
        })?;
        Ok(Response::new(review_to_proto(review)?))
    }
}
