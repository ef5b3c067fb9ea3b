//! The gRPC service `keel.staffing.v1.StaffingService`: authorize, parse once, then start
//! staffing, rank candidates without proposing, or show where staffing stands.

use std::sync::Arc;

use keel_auth::Role;
use keel_core::Error;
use keel_core::paging::Page;
use keel_core::validate::{Violations, parse_id};
use keel_proto::staffing::staffing_service_server::{StaffingService, StaffingServiceServer};
use keel_proto::staffing::{
    AssessStaffingRiskRequest, AssessStaffingRiskResponse, Economics as EconomicsMessage, GetStaffingRequest,
    ListStaffingRisksRequest, ListStaffingRisksResponse, RankCandidatesBatchRequest, RankCandidatesBatchResponse,
    RankCandidatesRequest, RankCandidatesResponse, RankedCandidate, RequestRanking, ReviewStaffingRiskRequest,
    ScoreComponent, StaffResourceRequestRequest, StaffResourceRequestResponse, Staffing as View,
    StaffingRisk as RiskMessage,
};
use keel_workflow::{Engine, InstanceView};
use serde_json::{Value, json};
use tonic::{Request, Response, Status};

use crate::risk::{self, Risks};
use crate::scoring::{Economics, Scored};
use crate::workflow::{APPROVE, ASSIGN, FETCH, Fetched, KIND, PROPOSE, RANK, Ranked, Staffing};

/// Who may start staffing and rank candidates (admin always passes).
const STAFF_ROLES: &[Role] = &[Role::ResourceManager, Role::Service];
/// Who may rank many requests at once (read-only; the resource manager view, which
/// executives open too).
const BATCH_RANK_ROLES: &[Role] = &[Role::ResourceManager, Role::Executive, Role::Service];
/// Who may read staffing.
const READ_ROLES: &[Role] = &[
    Role::ResourceManager,
    Role::ProjectManager,
    Role::Executive,
    Role::Operations,
    Role::Service,
];

/// Who decides a staffing risk flag (admin always passes).
const REVIEW_ROLES: &[Role] = &[Role::ResourceManager];
/// The most projects one `ListStaffingRisks` may name.
pub const MAX_PROJECTS: usize = 100;

/// The most resource requests one `RankCandidatesBatch` may rank.
pub const MAX_BATCH: usize = 100;

/// The tonic service.
#[derive(Clone)]
pub struct StaffingGrpcService {
    engine: Engine,
    workflow: Arc<Staffing>,
    risks: Risks,
}

impl std::fmt::Debug for StaffingGrpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffingGrpcService")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// The staffing service ready to add to a tonic server. `workflow` is the one the engine runs;
/// `risks` assesses and records staffing risk in the engine's store.
pub fn server(engine: Engine, workflow: Arc<Staffing>, risks: Risks) -> StaffingServiceServer<StaffingGrpcService> {
    StaffingServiceServer::new(StaffingGrpcService {
        engine,
        workflow,
        risks,
    })
}

fn candidate_message(rank: usize, scored: &Scored) -> RankedCandidate {
    RankedCandidate {
        rank: rank as u32 + 1,
        employee_id: scored.person.employee_id.clone(),
        name: scored.person.name.clone(),
        labor_category: scored.person.labor_category.clone(),
        location: scored.person.location.clone(),
        score: scored.score.normalize().to_string(),
        components: scored
            .components
            .iter()
            .map(|c| ScoreComponent {
                name: c.name.clone(),
                points: c.points.normalize().to_string(),
                max_points: c.max_points.normalize().to_string(),
                explanation: c.explanation.clone(),
            })
            .collect(),
        available_hours: scored.person.available_hours.normalize().to_string(),
        needed_hours: scored.needed_hours.normalize().to_string(),
        projected_utilization: scored.projected_utilization.normalize().to_string(),
        utilization_target: scored.person.utilization_target.normalize().to_string(),
    }
}

fn economics_message(economics: &Economics) -> EconomicsMessage {
    EconomicsMessage {
        currency: economics.currency.clone(),
        hours: economics.hours.normalize().to_string(),
        labor_cost: economics.labor_cost.normalize().to_string(),
        revenue: economics.revenue.map(|r| r.normalize().to_string()).unwrap_or_default(),
        margin_percent: economics
            .margin_percent
            .map(|m| m.normalize().to_string())
            .unwrap_or_default(),
        needs_approval: !economics.approval_reasons.is_empty(),
        approval_reasons: economics.approval_reasons.clone(),
    }
}

fn result<T: serde::de::DeserializeOwned>(view: &InstanceView, step: &str) -> Option<T> {
    view.journal
        .iter()
        .find(|s| s.step == step && s.compensated_at.is_none())
        .and_then(|s| serde_json::from_value(s.result.clone()).ok())
}

fn text(view: &InstanceView, step: &str, key: &str) -> String {
    result::<Value>(view, step)
        .and_then(|r| r.get(key).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

impl StaffingGrpcService {
    /// The ranking of one resource request for a batch: ranked now when OPEN; otherwise the
    /// ranking its staffing instance made, if it has one.
    async fn ranking_of(&self, id: &str) -> RequestRanking {
        let mut ranking = RequestRanking {
            resource_request_id: id.to_string(),
            ..Default::default()
        };
        let ranked = match self.workflow.fetch_request(id).await {
            Ok(fetched) => self.workflow.rank_candidates(&fetched).await,
            Err(Error::FailedPrecondition(why)) => match self.engine.find(KIND, id).await {
                Ok(Some(view)) => match result::<Ranked>(&view, RANK) {
                    Some(ranked) => Ok(ranked),
                    None => Err(Error::FailedPrecondition(format!(
                        "{why}, and its staffing has not ranked anyone yet"
                    ))),
                },
                Ok(None) => Err(Error::FailedPrecondition(why)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match ranked {
            Ok(ranked) => {
                if ranked.candidates.is_empty() {
                    ranking.no_match_reason = format!(
                        "no active employee has the skills, certifications, languages, region and availability resource request {id} asks for"
                    );
                }
                ranking.candidates = ranked
                    .candidates
                    .iter()
                    .enumerate()
                    .map(|(i, c)| candidate_message(i, c))
                    .collect();
            }
            Err(e) => ranking.error = e.to_string(),
        }
        ranking
    }

    /// The gRPC view of an instance.
    fn view(&self, view: &InstanceView) -> View {
        let fetched: Option<Fetched> = result(view, FETCH);
        let ranked: Option<Ranked> = result(view, RANK);
        let candidates = ranked.as_ref().map(|r| r.candidates.as_slice()).unwrap_or_default();
        let economics = match (&fetched, candidates.first()) {
            (Some(fetched), Some(best)) => Some(economics_message(&self.workflow.economics(fetched, best))),
            _ => None,
        };
        let approved_by = result::<Value>(view, APPROVE)
            .filter(|r| r.get("approved") == Some(&json!(true)))
            .and_then(|r| r.get("by").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        View {
            staffing_id: view.id.to_string(),
            resource_request_id: view.business_key.clone(),
            status: view.status.as_str().to_ascii_uppercase(),
            step: view.step.clone().unwrap_or_default(),
            reason: view.reason.clone().unwrap_or_default(),
            last_error: view.last_error.clone().unwrap_or_default(),
            candidates: candidates
                .iter()
                .enumerate()
                .map(|(i, c)| candidate_message(i, c))
                .collect(),
            proposed_employee_id: text(view, PROPOSE, "employee_id"),
            economics,
            approved_by,
            assignment_id: text(view, ASSIGN, "assignment_id"),
            policy_version: view
                .versions
                .get("staffing_policy")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            created_at: Some(keel_core::time::to_timestamp(view.created_at)),
            updated_at: Some(keel_core::time::to_timestamp(view.updated_at)),
        }
    }
}

/// Starts (or finds) the staffing instance of a resource request, recording the policy version.
/// A request already staffed answers its finished instance rather than starting another.
pub async fn start(
    engine: &Engine,
    workflow: &Staffing,
    resource_request_id: &str,
    submitter: &str,
    started_by: &str,
) -> Result<keel_workflow::Started, Error> {
    engine
        .start_once(
            KIND,
            resource_request_id,
            Staffing::input(resource_request_id, submitter),
            json!({ "staffing_policy": workflow.policy().version }),
            started_by,
        )
        .await
}

#[tonic::async_trait]
impl StaffingService for StaffingGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "StaffResourceRequest"))]
    async fn staff_resource_request(
        &self,
        request: Request<StaffResourceRequestRequest>,
    ) -> Result<Response<StaffResourceRequestResponse>, Status> {
        let caller = keel_auth::authorize(&request, STAFF_ROLES)?;
        let id = parse_id("resource_request_id", &request.get_ref().resource_request_id)?.to_string();
        let started = start(&self.engine, &self.workflow, &id, &caller.subject, &caller.subject).await?;
        Ok(Response::new(StaffResourceRequestResponse {
            staffing_id: started.id.to_string(),
            created: started.created,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RankCandidates"))]
    async fn rank_candidates(
        &self,
        request: Request<RankCandidatesRequest>,
    ) -> Result<Response<RankCandidatesResponse>, Status> {
        keel_auth::authorize(&request, STAFF_ROLES)?;
        let id = parse_id("resource_request_id", &request.get_ref().resource_request_id)?.to_string();
        let fetched = self.workflow.fetch_request(&id).await?;
        let ranked = self.workflow.rank_candidates(&fetched).await?;
        let no_match_reason = if ranked.candidates.is_empty() {
            format!(
                "no active employee has the skills, certifications, languages, region and availability resource request {id} asks for"
            )
        } else {
            String::new()
        };
        Ok(Response::new(RankCandidatesResponse {
            candidates: ranked
                .candidates
                .iter()
                .enumerate()
                .map(|(i, c)| candidate_message(i, c))
                .collect(),
            no_match_reason,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RankCandidatesBatch"))]
    async fn rank_candidates_batch(
        &self,
        request: Request<RankCandidatesBatchRequest>,
    ) -> Result<Response<RankCandidatesBatchResponse>, Status> {
        keel_auth::authorize(&request, BATCH_RANK_ROLES)?;
        let ids = &request.get_ref().resource_request_ids;
        if ids.len() > MAX_BATCH {
            return Err(Error::invalid(
                "resource_request_ids",
                format!("at most {MAX_BATCH} ids, got {}", ids.len()),
            )
            .into());
        }
        let mut parsed = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            parsed.push(parse_id(&format!("resource_request_ids[{i}]"), id)?.to_string());
        }
        let rankings = futures::future::join_all(parsed.iter().map(|id| self.ranking_of(id))).await;
        Ok(Response::new(RankCandidatesBatchResponse { rankings }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetStaffing"))]
    async fn get_staffing(&self, request: Request<GetStaffingRequest>) -> Result<Response<View>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let id = parse_id("resource_request_id", &request.get_ref().resource_request_id)?.to_string();
        let view = self
            .engine
            .find(KIND, &id)
            .await?
            .ok_or_else(|| Error::not_found("staffing of resource request", id.clone()))?;
        Ok(Response::new(self.view(&view)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "AssessStaffingRisk"))]
    async fn assess_staffing_risk(
        &self,
        request: Request<AssessStaffingRiskRequest>,
    ) -> Result<Response<AssessStaffingRiskResponse>, Status> {
        let caller = keel_auth::authorize(&request, STAFF_ROLES)?;
        self.risks.require()?;
        let id = parse_id("project_id", &request.get_ref().project_id)?.to_string();
        let assessed = self.risks.assess(self.engine.db(), &id, &caller.subject).await?;
        Ok(Response::new(AssessStaffingRiskResponse {
            risks: assessed.current.iter().map(risk::to_proto).collect(),
            flagged: assessed.flagged,
            resolved: assessed.resolved,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListStaffingRisks"))]
    async fn list_staffing_risks(
        &self,
        request: Request<ListStaffingRisksRequest>,
    ) -> Result<Response<ListStaffingRisksResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        self.risks.require()?;
        let req = request.get_ref();
        let mut v = Violations::new();
        if req.project_ids.len() > MAX_PROJECTS {
            v.add(
                "project_ids",
                format!("at most {MAX_PROJECTS} ids, got {}", req.project_ids.len()),
            );
        }
        let projects: Vec<String> = req
            .project_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| v.uuid(&format!("project_ids[{i}]"), id).map(|id| id.to_string()))
            .collect();
        for (i, status) in req.statuses.iter().enumerate() {
            if !risk::STATUSES.contains(&status.as_str()) {
                v.add(
                    format!("statuses[{i}]"),
                    format!("must be one of {}", risk::STATUSES.join(", ")),
                );
            }
        }
        let page = match Page::parse(req.page_size, &req.page_token) {
            Ok(page) => Some(page),
            Err(_) => {
                v.add("page_token", "is not a token this service issued");
                None
            }
        };
        v.finish()?;
        let page = page.ok_or_else(|| Error::internal("a checked page"))?;
        let rows = risk::list(self.engine.db(), &projects, &req.statuses, page).await?;
        let last = rows.last().and_then(|r| r.id.parse().ok());
        Ok(Response::new(ListStaffingRisksResponse {
            next_page_token: page.next_token(rows.len(), last),
            risks: rows.iter().map(risk::to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ReviewStaffingRisk"))]
    async fn review_staffing_risk(
        &self,
        request: Request<ReviewStaffingRiskRequest>,
    ) -> Result<Response<RiskMessage>, Status> {
        let caller = keel_auth::authorize(&request, REVIEW_ROLES)?;
        self.risks.require()?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&req.idempotency_key);
        let id = v.uuid("id", &req.id).map(|id| id.to_string());
        if !risk::DECISIONS.contains(&req.decision.as_str()) {
            v.add("decision", format!("must be one of {}", risk::DECISIONS.join(", ")));
        }
        let note = v.required_text("note", &req.note);
        v.finish()?;
        let id = id.ok_or_else(|| Error::internal("a checked id"))?;
        let row = risk::review(self.engine.db(), &id, &req.decision, &note, &caller.subject, &key).await?;
        Ok(Response::new(risk::to_proto(&row)))
    }
}
