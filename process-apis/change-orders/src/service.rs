//! The gRPC service `keel.changeorders.v1.ChangeOrderService`: authorize, check the ids, then
//! start a change order or show one.

use keel_auth::Role;
use keel_core::Error;
use keel_core::validate::Violations;
use keel_proto::changeorders::change_order_service_server::{ChangeOrderService, ChangeOrderServiceServer};
use keel_proto::changeorders::{
    ApplyChangeOrderRequest, ApplyChangeOrderResponse, ChangeOrder, GetChangeOrderRequest, RaiseChangeRequestRequest,
    StepOutcome,
};
use keel_proto::psa::ChangeRequest;
use keel_workflow::{Engine, InstanceView, Status};
use tonic::{Request, Response, Status as GrpcStatus};

use crate::Downstream;
use crate::workflow::{self, ERP_BUDGET, FILE_DOCUMENT, KIND};

/// Who may apply a change order (admin always passes).
const APPLY_ROLES: &[Role] = &[Role::Service, Role::Finance, Role::ProjectManager];
/// Who may raise a change request (on a project they manage; admin always passes).
const RAISE_ROLES: &[Role] = &[Role::ProjectManager];
/// Who may read one.
const READ_ROLES: &[Role] = &[
    Role::Service,
    Role::Finance,
    Role::Operations,
    Role::ProjectManager,
    Role::Executive,
];

/// The tonic service.
#[derive(Debug, Clone)]
pub struct ChangeOrderGrpcService {
    engine: Engine,
    downstream: Downstream,
}

impl ChangeOrderGrpcService {
    /// The service over `engine`, which must have the [`workflows`](crate::workflows) registered,
    /// raising change requests in PSA through `downstream`.
    pub fn new(engine: Engine, downstream: Downstream) -> ChangeOrderGrpcService {
        ChangeOrderGrpcService { engine, downstream }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> ChangeOrderServiceServer<ChangeOrderGrpcService> {
        ChangeOrderServiceServer::new(self)
    }
}

/// The change-order service ready to add to a tonic server; `engine` must have the
/// [`workflows`](crate::workflows) registered.
pub fn server(engine: Engine, downstream: Downstream) -> ChangeOrderServiceServer<ChangeOrderGrpcService> {
    ChangeOrderGrpcService::new(engine, downstream).into_server()
}

/// How a change order reads its instance's status: an abandoned instance was compensated.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Running => "RUNNING",
        Status::AwaitingApproval => "AWAITING_APPROVAL",
        Status::Exception => "EXCEPTION",
        Status::Compensating => "COMPENSATING",
        Status::Done => "DONE",
        Status::Resolved => "RESOLVED",
        Status::Abandoned => "COMPENSATED",
    }
}

/// The gRPC view of an instance.
pub fn change_order_view(view: &InstanceView, steps: &[&'static str]) -> ChangeOrder {
    let journaled = |step: &str| view.journal.iter().find(|s| s.step == step);
    let outcomes = steps
        .iter()
        .map(|step| {
            let (outcome, detail) = match journaled(step) {
                Some(s) => match keel_workflow::step_refusal(&s.result) {
                    Some(refusal) => ("REFUSED", refusal.to_string()),
                    None if s.compensated_at.is_some() => ("COMPENSATED", String::new()),
                    None => ("DONE", String::new()),
                },
                None => ("PENDING", String::new()),
            };
            StepOutcome {
                step: step.to_string(),
                outcome: outcome.into(),
                detail,
            }
        })
        .collect();
    let compensated = view
        .journal
        .iter()
        .filter(|s| s.compensated_at.is_some() && keel_workflow::step_refusal(&s.result).is_none())
        .map(|s| s.step.clone())
        .collect();
    let document = journaled(FILE_DOCUMENT).filter(|s| s.compensated_at.is_none());
    let project_id = journaled(workflow::FETCH)
        .and_then(|s| s.result.get("project_id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    ChangeOrder {
        change_order_id: view.id.to_string(),
        change_request_id: view.business_key.clone(),
        project_id,
        status: status_name(view.status).into(),
        step: if view.status == Status::Done {
            String::new()
        } else {
            view.step.clone().unwrap_or_default()
        },
        attempts: view.attempts,
        reason: view.reason.clone().unwrap_or_default(),
        last_error: view.last_error.clone().unwrap_or_default(),
        steps: outcomes,
        compensated,
        document_id: document
            .and_then(|s| s.result.get("document_id"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        erp_budget_version: journaled(ERP_BUDGET)
            .filter(|s| s.compensated_at.is_none())
            .and_then(|s| s.result.get("version"))
            .and_then(|v| v.as_i64())
            .unwrap_or_default(),
        created_at: Some(keel_core::time::to_timestamp(view.created_at)),
        updated_at: Some(keel_core::time::to_timestamp(view.updated_at)),
    }
}

fn parse_id(v: &mut Violations, value: &str) -> Option<String> {
    v.uuid("change_request_id", value).map(|u| u.to_string())
}

#[tonic::async_trait]
impl ChangeOrderService for ChangeOrderGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "ApplyChangeOrder", change_request.id))]
    async fn apply_change_order(
        &self,
        request: Request<ApplyChangeOrderRequest>,
    ) -> Result<Response<ApplyChangeOrderResponse>, GrpcStatus> {
        let caller = keel_auth::authorize(&request, APPLY_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let id = parse_id(&mut v, &message.change_request_id);
        let key = v.idempotency_key(&message.idempotency_key);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("change_request_id", "is required"))?;
        tracing::Span::current().record("change_request.id", id.as_str());
        // A change order applied, or compensated under this same key, answers the replay.
        if let Some(last) = self.engine.find(KIND, &id).await? {
            let same_key = last.input.get("idempotency_key").and_then(|k| k.as_str()) == Some(key.as_str());
            if last.status == Status::Done || (!last.status.is_open() && same_key) {
                return Ok(Response::new(ApplyChangeOrderResponse {
                    change_order_id: last.id.to_string(),
                    change_request_id: id,
                    status: status_name(last.status).into(),
                    created: false,
                }));
            }
        }
        let started = self
            .engine
            .start_once(
                KIND,
                &id,
                workflow::ChangeOrder::input(&id, &key),
                serde_json::json!({}),
                &caller.subject,
            )
            .await?;
        let view = self.engine.instance(started.id).await?;
        Ok(Response::new(ApplyChangeOrderResponse {
            change_order_id: started.id.to_string(),
            change_request_id: id,
            status: status_name(view.status).into(),
            created: started.created,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetChangeOrder"))]
    async fn get_change_order(
        &self,
        request: Request<GetChangeOrderRequest>,
    ) -> Result<Response<ChangeOrder>, GrpcStatus> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let id = parse_id(&mut v, &request.get_ref().change_request_id);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("change_request_id", "is required"))?;
        let view = self
            .engine
            .find(KIND, &id)
            .await?
            .ok_or_else(|| Error::not_found("change order of change request", id.clone()))?;
        let steps = self.engine.step_names(KIND).unwrap_or_default();
        Ok(Response::new(change_order_view(&view, &steps)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RaiseChangeRequest"))]
    async fn raise_change_request(
        &self,
        request: Request<RaiseChangeRequestRequest>,
    ) -> Result<Response<ChangeRequest>, GrpcStatus> {
        let caller = keel_auth::authorize(&request, RAISE_ROLES)?;
        let raised = crate::raise::raise(&self.downstream, &caller, request.into_inner()).await?;
        Ok(Response::new(raised))
    }
}
