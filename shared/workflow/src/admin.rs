//! `keel.workflow.v1.WorkflowAdminService`: the engines' instances, exception queue, decisions
//! and incidents over gRPC, served once by every process that runs process APIs. A process
//! running several (`keel up`) serves one admin over all their engines: lists merge in id
//! order, counts add up, and an action goes to the engine that holds the instance.

use keel_auth::{Role, authorize};
use keel_core::Error;
use keel_core::paging::Page;
use keel_core::time::to_timestamp;
use keel_core::validate::parse_id;
use keel_proto::common::PageResponse;
use keel_proto::workflow::workflow_admin_service_server::{WorkflowAdminService, WorkflowAdminServiceServer};
use keel_proto::workflow::{
    AbandonInstanceRequest, Approval, Counts, DecideApprovalRequest, ExceptionEpisode, GetCountsRequest,
    GetInstanceRequest, Incident, Instance, KindCount, ListApprovalsRequest, ListApprovalsResponse,
    ListExceptionHistoryRequest, ListExceptionHistoryResponse, ListIncidentsRequest, ListIncidentsResponse,
    ListInstancesRequest, ListInstancesResponse, ResolveInstanceRequest, RetryInstanceRequest, StepRecord,
};
use tonic::{Request, Response, Status as GrpcStatus};

use crate::engine::Engine;
use crate::operations::{Actor, ApprovalView, InstanceView};
use crate::status::Status;

/// Who works the exception queue.
const OPERATORS: &[Role] = &[Role::Operations, Role::Admin];
/// Who may look.
const READERS: &[Role] = &[
    Role::Operations,
    Role::Admin,
    Role::Finance,
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Executive,
    Role::Service,
];
/// Who may decide an approval (the engine then checks the request's own role).
const DECIDERS: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Operations,
    Role::Admin,
];

/// The admin service over the engines of one process.
#[derive(Debug, Clone)]
pub struct WorkflowAdmin {
    engines: Vec<Engine>,
}

/// The tonic server for `engine`.
pub fn server(engine: Engine) -> WorkflowAdminServiceServer<WorkflowAdmin> {
    server_over(vec![engine])
}

/// The tonic server over every engine of a process.
pub fn server_over(engines: Vec<Engine>) -> WorkflowAdminServiceServer<WorkflowAdmin> {
    WorkflowAdminServiceServer::new(WorkflowAdmin { engines })
}

impl WorkflowAdmin {
    /// The engine holding instance `id`; NOT_FOUND when none does.
    async fn owner(&self, id: uuid::Uuid) -> Result<&Engine, Error> {
        for engine in &self.engines {
            match engine.instance(id).await {
                Ok(_) => return Ok(engine),
                Err(Error::NotFound(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::not_found("workflow instance", id.to_string()))
    }
}

fn instance_to_proto(view: InstanceView) -> Instance {
    Instance {
        id: view.id.to_string(),
        kind: view.kind,
        business_key: view.business_key,
        status: view.status.as_str().to_string(),
        step: view.step.unwrap_or_default(),
        attempts: view.attempts,
        reason: view.reason.unwrap_or_default(),
        last_error: view.last_error.unwrap_or_default(),
        owning_team: view.owning_team,
        note: view.note.unwrap_or_default(),
        input_json: view.input.to_string(),
        versions_json: view.versions.to_string(),
        created_by: view.created_by,
        created_at: Some(to_timestamp(view.created_at)),
        updated_at: Some(to_timestamp(view.updated_at)),
        journal: view
            .journal
            .into_iter()
            .map(|s| StepRecord {
                step: s.step,
                result_json: s.result.to_string(),
                attempts: s.attempts,
                completed_at: Some(to_timestamp(s.completed_at)),
                compensated_at: s.compensated_at.map(to_timestamp),
            })
            .collect(),
    }
}

fn episode_to_proto(e: crate::ExceptionEpisode) -> ExceptionEpisode {
    ExceptionEpisode {
        id: e.id.to_string(),
        instance_id: e.instance_id.to_string(),
        kind: e.kind,
        business_key: e.business_key,
        owning_team: e.owning_team,
        reason: e.reason,
        error: e.error,
        raised_at: Some(to_timestamp(e.raised_at)),
        outcome: e.outcome.unwrap_or_default(),
        closed_at: e.closed_at.map(to_timestamp),
        closed_by: e.closed_by.unwrap_or_default(),
        note: e.note.unwrap_or_default(),
        input_json: e.input.to_string(),
    }
}

fn approval_to_proto(a: ApprovalView) -> Approval {
    Approval {
        instance_id: a.instance_id.to_string(),
        step: a.step,
        role: a.role,
        submitter: a.submitter,
        summary: a.summary,
        requested_at: Some(to_timestamp(a.requested_at)),
        due_at: Some(to_timestamp(a.due_at)),
        escalated: a.escalated,
    }
}

/// `ListInstances`'s status that lists instances in every status.
pub const ANY_STATUS: &str = "any";

#[tonic::async_trait]
impl WorkflowAdminService for WorkflowAdmin {
    async fn list_instances(
        &self,
        request: Request<ListInstancesRequest>,
    ) -> Result<Response<ListInstancesResponse>, GrpcStatus> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let status = match req.status.as_str() {
            "" => Some(Status::Exception),
            ANY_STATUS => None,
            named => Some(Status::parse(named).ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!(
                        "{:?} is not one of {}, or {ANY_STATUS}",
                        req.status,
                        Status::ALL.map(|s| s.as_str()).join(", ")
                    ),
                )
            })?),
        };
        let kind = (!req.kind.is_empty()).then_some(req.kind.as_str());
        let mut instances = Vec::new();
        for engine in &self.engines {
            instances.extend(engine.list(status, kind, page).await?);
        }
        instances.sort_by_key(|i| i.id);
        instances.truncate(page.size as usize);
        let next_page_token = page.next_token(instances.len(), instances.last().map(|i| i.id));
        Ok(Response::new(ListInstancesResponse {
            instances: instances.into_iter().map(instance_to_proto).collect(),
            page: Some(PageResponse { next_page_token }),
        }))
    }

    async fn get_instance(&self, request: Request<GetInstanceRequest>) -> Result<Response<Instance>, GrpcStatus> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(instance_to_proto(
            self.owner(id).await?.instance(id).await?,
        )))
    }

    async fn retry_instance(&self, request: Request<RetryInstanceRequest>) -> Result<Response<Instance>, GrpcStatus> {
        let caller = authorize(&request, OPERATORS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(instance_to_proto(
            self.owner(id).await?.retry(id, &caller.subject).await?,
        )))
    }

    async fn resolve_instance(
        &self,
        request: Request<ResolveInstanceRequest>,
    ) -> Result<Response<Instance>, GrpcStatus> {
        let caller = authorize(&request, OPERATORS)?;
        let req = request.get_ref();
        let id = parse_id("id", &req.id)?;
        Ok(Response::new(instance_to_proto(
            self.owner(id).await?.resolve(id, &caller.subject, &req.note).await?,
        )))
    }

    async fn abandon_instance(
        &self,
        request: Request<AbandonInstanceRequest>,
    ) -> Result<Response<Instance>, GrpcStatus> {
        let caller = authorize(&request, OPERATORS)?;
        let req = request.get_ref();
        let id = parse_id("id", &req.id)?;
        Ok(Response::new(instance_to_proto(
            self.owner(id).await?.abandon(id, &caller.subject, &req.note).await?,
        )))
    }

    async fn list_approvals(
        &self,
        request: Request<ListApprovalsRequest>,
    ) -> Result<Response<ListApprovalsResponse>, GrpcStatus> {
        let caller = authorize(&request, READERS)?;
        // Operations see every decision waiting; so does a service acting on its own (the
        // notifications feed that tells the deciders).
        let everyone = caller
            .roles
            .iter()
            .any(|r| OPERATORS.contains(r) || *r == Role::Service);
        let mut approvals = Vec::new();
        for engine in &self.engines {
            approvals.extend(engine.pending_approvals(None).await?);
        }
        if !everyone {
            approvals.retain(|a| caller.roles.iter().any(|r| r.as_str() == a.role));
        }
        Ok(Response::new(ListApprovalsResponse {
            approvals: approvals.into_iter().map(approval_to_proto).collect(),
        }))
    }

    async fn decide_approval(&self, request: Request<DecideApprovalRequest>) -> Result<Response<Instance>, GrpcStatus> {
        let caller = authorize(&request, DECIDERS)?;
        let req = request.get_ref();
        let id = parse_id("instance_id", &req.instance_id)?;
        let actor = Actor {
            subject: caller.subject.clone(),
            roles: caller.roles.iter().map(|r| r.as_str().to_string()).collect(),
        };
        Ok(Response::new(instance_to_proto(
            self.owner(id).await?.decide(id, &actor, req.approve, &req.note).await?,
        )))
    }

    async fn list_incidents(
        &self,
        request: Request<ListIncidentsRequest>,
    ) -> Result<Response<ListIncidentsResponse>, GrpcStatus> {
        authorize(&request, READERS)?;
        let mut incidents = Vec::new();
        for engine in &self.engines {
            incidents.extend(engine.incidents().await?);
        }
        incidents.sort_by_key(|i| std::cmp::Reverse(i.opened_at));
        Ok(Response::new(ListIncidentsResponse {
            incidents: incidents
                .into_iter()
                .map(|i| Incident {
                    id: i.id,
                    system: i.system,
                    opened_at: Some(to_timestamp(i.opened_at)),
                    closed_at: i.closed_at.map(to_timestamp),
                    first_error: i.first_error,
                    failures: i.failures,
                })
                .collect(),
        }))
    }

    async fn get_counts(&self, request: Request<GetCountsRequest>) -> Result<Response<Counts>, GrpcStatus> {
        authorize(&request, READERS)?;
        let mut by_status = std::collections::HashMap::new();
        let mut by_kind = Vec::new();
        for engine in &self.engines {
            for (status, n) in engine.counts().await? {
                *by_status.entry(status.as_str().to_string()).or_insert(0) += n;
            }
            for (kind, status, count) in engine.counts_by_kind().await? {
                by_kind.push(KindCount { kind, status, count });
            }
        }
        by_kind.sort_by(|a, b| (&a.kind, &a.status).cmp(&(&b.kind, &b.status)));
        Ok(Response::new(Counts { by_status, by_kind }))
    }

    async fn list_exception_history(
        &self,
        request: Request<ListExceptionHistoryRequest>,
    ) -> Result<Response<ListExceptionHistoryResponse>, GrpcStatus> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let since = match &req.raised_since {
            Some(at) => Some(
                chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
                    .ok_or_else(|| Error::invalid("raised_since", "is not a valid time"))?,
            ),
            None => None,
        };
        let mut episodes = Vec::new();
        for engine in &self.engines {
            episodes.extend(engine.exception_history(since, page).await?);
        }
        episodes.sort_by_key(|e| e.id);
        episodes.truncate(page.size as usize);
        let next_page_token = page.next_token(episodes.len(), episodes.last().map(|e| e.id));
        Ok(Response::new(ListExceptionHistoryResponse {
            episodes: episodes.into_iter().map(episode_to_proto).collect(),
            page: Some(PageResponse { next_page_token }),
        }))
    }
}
