//! The gRPC service `keel.health.v1.DeliveryHealthService`: authorize, parse the request
//! once, then read or evaluate a project's health, list and acknowledge alerts, list
//! notifications, list margin forecasts, and list and review time-entry anomalies.

use keel_auth::Role;
use keel_core::Error;
use keel_core::paging::Page;
use keel_core::validate::Violations;
use keel_insight::Capability;
use keel_proto::common::PageResponse;
use keel_proto::health::delivery_health_service_server::{DeliveryHealthService, DeliveryHealthServiceServer};
use keel_proto::health::{
    AcknowledgeAlertRequest, Alert, EvaluateProjectRequest, GetProjectHealthRequest, ListAlertsRequest,
    ListAlertsResponse, ListNotificationsRequest, ListNotificationsResponse, ProjectHealth,
};
use keel_proto::health::{ListAlertsOfProjectsRequest, ListProjectHealthRequest, ListProjectHealthResponse};
use keel_proto::health::{
    ListMarginForecastsRequest, ListMarginForecastsResponse, ListTimeAnomaliesRequest, ListTimeAnomaliesResponse,
    ReviewTimeAnomalyRequest, TimeAnomaly,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::alerts;
use crate::evaluator::Evaluator;
use crate::insight;
use crate::notifications;

/// Who may read health, alerts and notifications (admin always passes).
const READ_ROLES: &[Role] = &[
    Role::ProjectManager,
    Role::Finance,
    Role::Executive,
    Role::Operations,
    Role::Service,
];
/// Who may ask for an evaluation.
const EVALUATE_ROLES: &[Role] = &[Role::ProjectManager, Role::Finance, Role::Operations, Role::Service];
/// Who may acknowledge an alert: the roles alerts go to.
const ACKNOWLEDGE_ROLES: &[Role] = &[Role::ProjectManager, Role::Finance];
/// Who may review a time anomaly: project managers (and only the project's own, checked
/// against the flag's reviewers).
const REVIEW_ROLES: &[Role] = &[Role::ProjectManager];

/// An optional anomaly status filter, upper-cased.
fn anomaly_status(v: &mut Violations, status: &str) -> Option<String> {
    let status = status.trim().to_ascii_uppercase();
    if status.is_empty() {
        None
    } else if insight::status::ALL.contains(&status.as_str()) {
        Some(status)
    } else {
        v.add("status", format!("must be one of {}", insight::status::ALL.join(", ")));
        None
    }
}

/// The tonic service.
#[derive(Debug, Clone)]
pub struct DeliveryHealthGrpcService {
    evaluator: Evaluator,
}

impl DeliveryHealthGrpcService {
    pub fn new(evaluator: Evaluator) -> DeliveryHealthGrpcService {
        DeliveryHealthGrpcService { evaluator }
    }

    pub fn into_server(self) -> DeliveryHealthServiceServer<DeliveryHealthGrpcService> {
        DeliveryHealthServiceServer::new(self)
    }
}

/// The delivery-health service ready to add to a tonic server.
pub fn server(evaluator: Evaluator) -> DeliveryHealthServiceServer<DeliveryHealthGrpcService> {
    DeliveryHealthGrpcService::new(evaluator).into_server()
}

/// A PSA project id (a UUID), required or optional.
fn project_id(v: &mut Violations, field: &str, value: &str, required: bool) -> Option<String> {
    if value.trim().is_empty() && !required {
        return None;
    }
    v.uuid(field, value).map(|id| id.to_string())
}

/// The most projects one batch read may name.
const MAX_BATCH_PROJECTS: usize = 100;

/// 1 to [`MAX_BATCH_PROJECTS`] PSA project ids, each a UUID, without repeats.
fn project_ids(v: &mut Violations, ids: &[String]) -> Vec<String> {
    if ids.is_empty() {
        v.add("project_ids", "must name at least one project");
    } else if ids.len() > MAX_BATCH_PROJECTS {
        v.add(
            "project_ids",
            format!("may name at most {MAX_BATCH_PROJECTS} projects, got {}", ids.len()),
        );
    }
    let mut parsed: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate().take(MAX_BATCH_PROJECTS) {
        if let Some(id) = project_id(v, &format!("project_ids[{i}]"), id, true)
            && !parsed.contains(&id)
        {
            parsed.push(id);
        }
    }
    parsed
}

/// An optional alert state filter, upper-cased.
fn alert_state(v: &mut Violations, state: &str) -> Option<String> {
    let state = state.trim().to_ascii_uppercase();
    if state.is_empty() {
        None
    } else if alerts::state::ALL.contains(&state.as_str()) {
        Some(state)
    } else {
        v.add("state", format!("must be one of {}", alerts::state::ALL.join(", ")));
        None
    }
}

fn next_page(page: &Page, returned: usize, last_id: Option<&str>) -> Option<PageResponse> {
    let last = last_id.and_then(|id| Uuid::parse_str(id).ok());
    Some(PageResponse {
        next_page_token: page.next_token(returned, last),
    })
}

#[tonic::async_trait]
impl DeliveryHealthService for DeliveryHealthGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "GetProjectHealth"))]
    async fn get_project_health(
        &self,
        request: Request<GetProjectHealthRequest>,
    ) -> Result<Response<ProjectHealth>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let id = project_id(&mut v, "project_id", &request.get_ref().project_id, true);
        v.finish()?;
        let id = id.unwrap_or_default();
        let health = self
            .evaluator
            .latest(&id)
            .await?
            .ok_or_else(|| Error::not_found("health evaluation of project", id.clone()))?;
        Ok(Response::new(health))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "EvaluateProject"))]
    async fn evaluate_project(
        &self,
        request: Request<EvaluateProjectRequest>,
    ) -> Result<Response<ProjectHealth>, Status> {
        let caller = keel_auth::authorize(&request, EVALUATE_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&message.idempotency_key);
        let id = project_id(&mut v, "project_id", &message.project_id, true);
        v.finish()?;
        let parsed = EvaluateProjectRequest {
            idempotency_key: key,
            project_id: id.unwrap_or_default(),
        };
        let health = self.evaluator.evaluate_once(&parsed, &caller.subject).await?;
        Ok(Response::new(health))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAlerts"))]
    async fn list_alerts(&self, request: Request<ListAlertsRequest>) -> Result<Response<ListAlertsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let project = project_id(&mut v, "project_id", &message.project_id, false);
        let state = alert_state(&mut v, &message.state);
        let page = v.take(Page::from_proto(message.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        v.finish()?;
        let page = page.ok_or_else(|| Error::invalid("page", "is not a valid page"))?;
        let rows = alerts::list(self.evaluator.db(), project.as_deref(), state.as_deref(), &page).await?;
        Ok(Response::new(ListAlertsResponse {
            page: next_page(&page, rows.len(), rows.last().map(|r| r.id.as_str())),
            alerts: rows.iter().map(alerts::to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListProjectHealth"))]
    async fn list_project_health(
        &self,
        request: Request<ListProjectHealthRequest>,
    ) -> Result<Response<ListProjectHealthResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let ids = project_ids(&mut v, &request.get_ref().project_ids);
        v.finish()?;
        let health = self.evaluator.latest_of(&ids).await?;
        Ok(Response::new(ListProjectHealthResponse { health }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAlertsOfProjects"))]
    async fn list_alerts_of_projects(
        &self,
        request: Request<ListAlertsOfProjectsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let ids = project_ids(&mut v, &message.project_ids);
        let state = alert_state(&mut v, &message.state);
        v.finish()?;
        let rows = alerts::of_projects(self.evaluator.db(), &ids, state.as_deref()).await?;
        Ok(Response::new(ListAlertsResponse {
            alerts: rows.iter().map(alerts::to_proto).collect(),
            page: None,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "AcknowledgeAlert"))]
    async fn acknowledge_alert(&self, request: Request<AcknowledgeAlertRequest>) -> Result<Response<Alert>, Status> {
        let caller = keel_auth::authorize(&request, ACKNOWLEDGE_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&message.idempotency_key);
        let id = v.uuid("alert_id", &message.alert_id);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("alert_id", "is required"))?.to_string();
        let parsed = AcknowledgeAlertRequest {
            idempotency_key: key.clone(),
            alert_id: id.clone(),
        };
        let alert = keel_store::idempotency::run_once(self.evaluator.db(), "AcknowledgeAlert", &key, &parsed, {
            move |txn| {
                Box::pin(async move {
                    let row = alerts::acknowledge(txn, &id, &caller).await?;
                    Ok(alerts::to_proto(&row))
                })
            }
        })
        .await?;
        Ok(Response::new(alert))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListNotifications"))]
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let project = project_id(&mut v, "project_id", &message.project_id, false);
        let page = v.take(Page::from_proto(message.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        v.finish()?;
        let page = page.ok_or_else(|| Error::invalid("page", "is not a valid page"))?;
        let rows = notifications::list(self.evaluator.db(), project.as_deref(), &page).await?;
        Ok(Response::new(ListNotificationsResponse {
            page: next_page(&page, rows.len(), rows.last().map(|r| r.id.as_str())),
            notifications: rows.iter().map(notifications::to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListMarginForecasts"))]
    async fn list_margin_forecasts(
        &self,
        request: Request<ListMarginForecastsRequest>,
    ) -> Result<Response<ListMarginForecastsResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        self.evaluator.insight().require(Capability::MarginForecast)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let project = project_id(&mut v, "project_id", &message.project_id, true);
        let page = v.take(Page::from_proto(message.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        v.finish()?;
        let page = page.ok_or_else(|| Error::invalid("page", "is not a valid page"))?;
        let forecasts =
            insight::list_forecasts(self.evaluator.db(), project.as_deref().unwrap_or_default(), &page).await?;
        Ok(Response::new(ListMarginForecastsResponse {
            page: next_page(&page, forecasts.len(), forecasts.last().map(|f| f.id.as_str())),
            forecasts,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListTimeAnomalies"))]
    async fn list_time_anomalies(
        &self,
        request: Request<ListTimeAnomaliesRequest>,
    ) -> Result<Response<ListTimeAnomaliesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        self.evaluator.insight().require(Capability::Anomalies)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let ids = project_ids(&mut v, &message.project_ids);
        let status = anomaly_status(&mut v, &message.status);
        let page = v.take(Page::from_proto(message.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        v.finish()?;
        let page = page.ok_or_else(|| Error::invalid("page", "is not a valid page"))?;
        let rows = insight::list_anomalies(self.evaluator.db(), &ids, status.as_deref(), &page).await?;
        Ok(Response::new(ListTimeAnomaliesResponse {
            page: next_page(&page, rows.len(), rows.last().map(|r| r.id.as_str())),
            anomalies: rows.iter().map(insight::anomaly_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ReviewTimeAnomaly"))]
    async fn review_time_anomaly(
        &self,
        request: Request<ReviewTimeAnomalyRequest>,
    ) -> Result<Response<TimeAnomaly>, Status> {
        let caller = keel_auth::authorize(&request, REVIEW_ROLES)?;
        self.evaluator.insight().require(Capability::Anomalies)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&message.idempotency_key);
        let id = v.uuid("anomaly_id", &message.anomaly_id);
        let decision = message.decision.trim().to_ascii_uppercase();
        if decision != insight::status::CONFIRMED && decision != insight::status::DISMISSED {
            v.add(
                "decision",
                format!(
                    "must be {} or {}",
                    insight::status::CONFIRMED,
                    insight::status::DISMISSED
                ),
            );
        }
        let note = v.required_text("note", &message.note);
        v.finish()?;
        let id = id
            .ok_or_else(|| Error::invalid("anomaly_id", "is required"))?
            .to_string();
        let parsed = ReviewTimeAnomalyRequest {
            idempotency_key: key.clone(),
            anomaly_id: id.clone(),
            decision: decision.clone(),
            note: note.clone(),
        };
        let anomaly = keel_store::idempotency::run_once(self.evaluator.db(), "ReviewTimeAnomaly", &key, &parsed, {
            move |txn| {
                Box::pin(async move {
                    let row = insight::review(txn, &id, &decision, &note, &caller).await?;
                    Ok(insight::anomaly_to_proto(&row))
                })
            }
        })
        .await?;
        Ok(Response::new(anomaly))
    }
}
