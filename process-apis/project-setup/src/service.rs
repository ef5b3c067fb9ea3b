//! The `keel.projectsetup.v1.ProjectSetupService` gRPC service: start a setup by hand, read
//! setups, and list the exception list.

use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::crm::OpportunityStage;
use keel_proto::projectsetup::project_setup_service_server::{ProjectSetupService, ProjectSetupServiceServer};
use keel_proto::projectsetup::{
    DecideRecommendationRequest, GetRecommendationRequest, GetSetupRequest, ListExceptionsRequest,
    ListRecommendationsRequest, ListRecommendationsResponse, ListSetupsRequest, ListSetupsResponse,
    RecommendTemplateRequest, Recommendation, Setup, StartSetupRequest,
};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::clients::Downstream;
use crate::intake::{self, Choice, Intake};
use crate::setups;

/// Who may read setups and exceptions.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::Operations,
    Role::Executive,
    Role::Finance,
    Role::Service,
];
/// Who may start a setup by hand.
const STARTERS: &[Role] = &[Role::Operations, Role::Service];
/// Who may ask intake for a template recommendation.
const REQUESTERS: &[Role] = &[Role::ProjectManager, Role::Operations, Role::Service];
/// Who decides a recommendation: a delivery lead (project manager) or the PMO's leadership,
/// never the person who asked for it.
const DECIDERS: &[Role] = &[Role::ProjectManager, Role::Executive];
/// The longest SOW text intake reads, in bytes.
const MAX_SOW_BYTES: usize = 200_000;

pub struct ProjectSetupGrpcService {
    db: DatabaseConnection,
    downstream: Downstream,
    worker_waker: Arc<Notify>,
    intake: Intake,
}

impl ProjectSetupGrpcService {
    pub fn new(db: DatabaseConnection, downstream: Downstream, worker_waker: Arc<Notify>) -> ProjectSetupGrpcService {
        ProjectSetupGrpcService {
            db,
            downstream,
            worker_waker,
            intake: Intake::default(),
        }
    }

    /// Intake under the firm's insight policy (default: every capability on, floor 0.7).
    pub fn with_intake(mut self, intake: Intake) -> ProjectSetupGrpcService {
        self.intake = intake;
        self
    }
}

/// The tonic server.
pub fn server(service: ProjectSetupGrpcService) -> ProjectSetupServiceServer<ProjectSetupGrpcService> {
    ProjectSetupServiceServer::new(service)
}

fn page_of(page_size: u32, page_token: &str) -> Result<Page, Error> {
    Page::parse(page_size, page_token).map_err(|e| match e {
        // This contract has its paging fields at the top level.
        Error::InvalidInput(mut violations) => {
            for v in &mut violations {
                v.field = v.field.trim_start_matches("page.").to_string();
            }
            Error::InvalidInput(violations)
        }
        other => other,
    })
}

impl ProjectSetupGrpcService {
    async fn recommend(&self, caller: &str, req: &RecommendTemplateRequest) -> Result<Recommendation, Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&req.idempotency_key);
        let opportunity_id = match (req.opportunity_id.is_empty(), req.setup_id.is_empty()) {
            (false, true) => v.uuid("opportunity_id", &req.opportunity_id).map(|id| id.to_string()),
            (true, false) => {
                let setup_id = v.uuid("setup_id", &req.setup_id);
                match setup_id {
                    Some(id) => Some(
                        setups::by_id(&self.db, &id.to_string())
                            .await?
                            .ok_or_else(|| Error::invalid("setup_id", format!("no setup {id}")))?
                            .opportunity_id,
                    ),
                    None => None,
                }
            }
            _ => {
                v.add("opportunity_id", "set exactly one of opportunity_id and setup_id");
                None
            }
        };
        if req.sow_text.len() > MAX_SOW_BYTES {
            v.add("sow_text", format!("must be at most {MAX_SOW_BYTES} bytes"));
        }
        // The policy switch answers before anything is read or recorded.
        self.intake
            .policy()
            .insight
            .require(keel_insight::Capability::Intake)
            .map_err(intake::insight_error)?;
        if req.sow_text.trim().is_empty() {
            v.add("sow_text", "is required");
        }
        v.finish()?;
        let opportunity_id = opportunity_id.ok_or_else(|| Error::invalid("opportunity_id", "is required"))?;
        if let Some(existing) = intake::by_key(&self.db, &key).await? {
            return Ok(intake::to_proto(&existing));
        }
        match self.downstream.get_opportunity(&opportunity_id).await {
            Err(Error::NotFound(_)) => {
                return Err(Error::invalid(
                    "opportunity_id",
                    format!("CRM has no opportunity {opportunity_id}"),
                ));
            }
            other => other?,
        };
        if let Some(setup) = setups::by_opportunity(&self.db, &opportunity_id).await?
            && !matches!(
                setup.step.as_str(),
                setups::step::VALIDATE | setups::step::SELECT_TEMPLATE
            )
        {
            return Err(Error::FailedPrecondition(format!(
                "setup {} of opportunity {opportunity_id} chose its template already (it is at {})",
                setup.id, setup.step
            )));
        }
        if let Some(latest) = intake::latest_for(&self.db, &opportunity_id).await?
            && (latest.status == intake::OPEN || latest.status == intake::ABSTAINED)
        {
            return Err(Error::FailedPrecondition(format!(
                "recommendation {} for opportunity {opportunity_id} is still {}; decide it first",
                latest.id, latest.status
            )));
        }
        let recommendation = self.intake.recommend(&req.sow_text).await?;
        let txn = keel_store::begin_write(&self.db).await?;
        let row = intake::record(
            &txn,
            &key,
            &opportunity_id,
            &recommendation,
            &self.intake.policy().version,
            caller,
        )
        .await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(intake::to_proto(&row))
    }

    async fn decide(&self, caller: &str, req: &DecideRecommendationRequest) -> Result<Recommendation, Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&req.idempotency_key);
        let id = v.uuid("id", &req.id);
        let choice = match (req.accept, req.override_template.trim().is_empty()) {
            (true, true) => {
                if !req.reason.trim().is_empty() {
                    v.add("reason", "an acceptance takes no reason; an override does");
                }
                Some(Choice::Accept)
            }
            (false, false) => {
                if req.reason.trim().is_empty() {
                    v.add("reason", "an override must say why");
                }
                Some(Choice::Override {
                    template: req.override_template.trim().to_string(),
                    reason: req.reason.trim().to_string(),
                })
            }
            (true, false) => {
                v.add("accept", "accept, or override with a template; not both");
                None
            }
            (false, true) => {
                v.add("accept", "accept, or override with a template and a reason");
                None
            }
        };
        v.finish()?;
        let (Some(id), Some(choice)) = (id, choice) else {
            return Err(Error::invalid("id", "is required"));
        };
        let row = intake::decide(&self.db, &id.to_string(), choice, caller, &key).await?;
        self.worker_waker.notify_one();
        Ok(intake::to_proto(&row))
    }

    async fn list(&self, state: Option<&str>, page_size: u32, page_token: &str) -> Result<ListSetupsResponse, Error> {
        let page = page_of(page_size, page_token)?;
        let rows = setups::list(&self.db, state, page).await?;
        let last = rows.last().and_then(|r| r.id.parse().ok());
        Ok(ListSetupsResponse {
            next_page_token: page.next_token(rows.len(), last),
            setups: rows.iter().map(setups::to_proto).collect(),
        })
    }
}

#[tonic::async_trait]
impl ProjectSetupService for ProjectSetupGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "StartSetup"))]
    async fn start_setup(&self, request: Request<StartSetupRequest>) -> Result<Response<Setup>, Status> {
        let caller = authorize(&request, STARTERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        v.idempotency_key(&req.idempotency_key);
        let opportunity_id = v.uuid("opportunity_id", &req.opportunity_id);
        v.finish()?;
        let opportunity_id = opportunity_id.ok_or_else(|| Error::invalid("opportunity_id", "is required"))?;
        let opportunity = match self.downstream.get_opportunity(&opportunity_id.to_string()).await {
            Err(Error::NotFound(_)) => {
                return Err(
                    Error::invalid("opportunity_id", format!("CRM has no opportunity {opportunity_id}")).into(),
                );
            }
            other => other?,
        };
        if opportunity.stage != OpportunityStage::Won as i32 {
            return Err(Error::FailedPrecondition(format!(
                "opportunity {opportunity_id} is not won; only won deals are set up"
            ))
            .into());
        }
        let txn = keel_store::begin_write(&self.db).await?;
        let (row, created) = setups::start(&txn, &opportunity, &caller.subject).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        if created {
            self.worker_waker.notify_one();
        }
        Ok(Response::new(setups::to_proto(&row)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetSetup"))]
    async fn get_setup(&self, request: Request<GetSetupRequest>) -> Result<Response<Setup>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let row = match (req.id.is_empty(), req.opportunity_id.is_empty()) {
            (false, true) => {
                let id = v.uuid("id", &req.id);
                v.finish()?;
                setups::by_id(&self.db, &id.map(|i| i.to_string()).unwrap_or_default()).await?
            }
            (true, false) => {
                let id = v.uuid("opportunity_id", &req.opportunity_id);
                v.finish()?;
                setups::by_opportunity(&self.db, &id.map(|i| i.to_string()).unwrap_or_default()).await?
            }
            _ => return Err(Error::invalid("id", "set exactly one of id and opportunity_id").into()),
        };
        let key = if req.id.is_empty() {
            &req.opportunity_id
        } else {
            &req.id
        };
        row.map(|r| Response::new(setups::to_proto(&r)))
            .ok_or_else(|| Error::not_found("setup", key.clone()).into())
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListSetups"))]
    async fn list_setups(&self, request: Request<ListSetupsRequest>) -> Result<Response<ListSetupsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        Ok(Response::new(self.list(None, req.page_size, &req.page_token).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListExceptions"))]
    async fn list_exceptions(
        &self,
        request: Request<ListExceptionsRequest>,
    ) -> Result<Response<ListSetupsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        Ok(Response::new(
            self.list(Some(setups::EXCEPTION), req.page_size, &req.page_token)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecommendTemplate"))]
    async fn recommend_template(
        &self,
        request: Request<RecommendTemplateRequest>,
    ) -> Result<Response<Recommendation>, Status> {
        let caller = authorize(&request, REQUESTERS)?;
        Ok(Response::new(self.recommend(&caller.subject, request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "DecideRecommendation"))]
    async fn decide_recommendation(
        &self,
        request: Request<DecideRecommendationRequest>,
    ) -> Result<Response<Recommendation>, Status> {
        let caller = authorize(&request, DECIDERS)?;
        Ok(Response::new(self.decide(&caller.subject, request.get_ref()).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetRecommendation"))]
    async fn get_recommendation(
        &self,
        request: Request<GetRecommendationRequest>,
    ) -> Result<Response<Recommendation>, Status> {
        authorize(&request, READERS)?;
        let id = keel_core::validate::parse_id("id", &request.get_ref().id)?;
        let row = intake::by_id(&self.db, &id.to_string())
            .await?
            .ok_or_else(|| Error::not_found("recommendation", id.to_string()))?;
        Ok(Response::new(intake::to_proto(&row)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListRecommendations"))]
    async fn list_recommendations(
        &self,
        request: Request<ListRecommendationsRequest>,
    ) -> Result<Response<ListRecommendationsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = page_of(req.page_size, &req.page_token)?;
        let mut v = Violations::new();
        for (i, status) in req.statuses.iter().enumerate() {
            if !intake::STATUSES.contains(&status.as_str()) {
                v.add(
                    format!("statuses[{i}]"),
                    format!("must be one of {}", intake::STATUSES.join(", ")),
                );
            }
        }
        let subject = if req.subject.is_empty() {
            None
        } else {
            v.uuid("subject", &req.subject).map(|id| id.to_string())
        };
        v.finish()?;
        let rows = intake::list(&self.db, &req.statuses, subject.as_deref(), page).await?;
        let last = rows.last().and_then(|r| r.id.parse().ok());
        Ok(Response::new(ListRecommendationsResponse {
            next_page_token: page.next_token(rows.len(), last),
            recommendations: rows.iter().map(intake::to_proto).collect(),
        }))
    }
}
