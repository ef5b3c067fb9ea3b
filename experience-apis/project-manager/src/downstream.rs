//! The calls this view makes, each on behalf of the caller (their token, a deadline) and
//! counted in the request's `backendCalls` under its service and kind of lookup. The batch
//! calls take the ids of a whole page of projects, so a page costs one call per kind.

use std::collections::BTreeSet;

use async_graphql::Context;
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_proto::common::PageRequest;
use keel_proto::erp::{ListProjectCodesOfProjectsRequest, ProjectCode};
use keel_proto::health::{
    AcknowledgeAlertRequest, Alert, ListAlertsOfProjectsRequest, ListAlertsRequest, ListProjectHealthRequest,
    ListTimeAnomaliesRequest, ListTimeAnomaliesResponse, ProjectHealth, ReviewTimeAnomalyRequest, TimeAnomaly,
};
use keel_proto::psa::{
    Assignment, ChangeRequest, GetProjectRequest, ListAssignmentsRequest, ListProjectsRequest, ListProjectsResponse,
    ListTimeEntriesOfProjectsRequest, Project, ProjectActuals, ProjectIdsRequest, TimeEntry, TimeEntryState,
};

use keel_proto::changeorders::RaiseChangeRequestRequest;
use keel_proto::projectsetup::{
    DecideRecommendationRequest, ListRecommendationsRequest, ListRecommendationsResponse, Recommendation,
};
use keel_proto::timecapture::{ApproveTimeRequest, RejectTimeRequest};

use crate::{ACTION_ROLES, ALLOWED_ROLES, Backends, DECIDER_ROLES, SEE_ALL_ROLES, manages};

/// Assignments read per `ListAssignments` page when finding the projects a person manages.
const ASSIGNMENT_PAGE_SIZE: u32 = 100;

/// The backends and the caller of one GraphQL request (or subscription).
#[derive(Clone)]
pub(crate) struct Calls {
    backends: Backends,
    downstream: Downstream,
}

impl Calls {
    /// The backends and the verified caller from the context, the caller's role checked again
    /// (the gateway checks it first; this keeps the view safe wherever it is mounted).
    pub(crate) fn from_context(ctx: &Context<'_>) -> Result<Calls, Error> {
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the project manager view was mounted without its backends"))?
            .clone();
        let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout)?;
        Ok(Calls { backends, downstream })
    }

    /// The same for an action or a subscription of a project manager: the caller must hold
    /// one of [`ACTION_ROLES`] (or be admin).
    pub(crate) fn for_action(ctx: &Context<'_>) -> Result<Calls, Error> {
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the project manager view was mounted without its backends"))?
            .clone();
        let downstream = Downstream::from_context(ctx, ACTION_ROLES, backends.timeout)?;
        Ok(Calls { backends, downstream })
    }

    /// The same for a delivery lead reading or deciding SOW intake's recommendations: the
    /// caller must hold one of [`DECIDER_ROLES`] (or be admin).
    pub(crate) fn for_deciders(ctx: &Context<'_>) -> Result<Calls, Error> {
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the project manager view was mounted without its backends"))?
            .clone();
        let downstream = Downstream::from_context(ctx, DECIDER_ROLES, backends.timeout)?;
        Ok(Calls { backends, downstream })
    }

    /// Project setup's `ListRecommendations`, as the caller.
    pub(crate) async fn list_recommendations(
        &self,
        message: ListRecommendationsRequest,
    ) -> Result<ListRecommendationsResponse, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "ProjectSetup ListRecommendations",
                self.backends.project_setup.clone().list_recommendations(request),
            )
            .await
    }

    /// Project setup's `DecideRecommendation`, as the caller.
    pub(crate) async fn decide_recommendation(
        &self,
        message: DecideRecommendationRequest,
    ) -> Result<Recommendation, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "ProjectSetup DecideRecommendation",
                self.backends.project_setup.clone().decide_recommendation(request),
            )
            .await
    }

    /// The caller's subject (their employee id).
    pub(crate) fn subject(&self) -> &str {
        self.downstream.subject()
    }

    /// Time capture's `ApproveTime`, as the caller.
    pub(crate) async fn approve_time(&self, message: ApproveTimeRequest) -> Result<TimeEntry, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "TimeCapture ApproveTime",
                self.backends.time_capture.clone().approve_time(request),
            )
            .await
    }

    /// Time capture's `RejectTime`, as the caller.
    pub(crate) async fn reject_time(&self, message: RejectTimeRequest) -> Result<TimeEntry, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "TimeCapture RejectTime",
                self.backends.time_capture.clone().reject_time(request),
            )
            .await
    }

    /// Change orders' `RaiseChangeRequest`, as the caller.
    pub(crate) async fn raise_change_request(
        &self,
        message: RaiseChangeRequestRequest,
    ) -> Result<ChangeRequest, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "ChangeOrders RaiseChangeRequest",
                self.backends.change_orders.clone().raise_change_request(request),
            )
            .await
    }

    /// Delivery health's `AcknowledgeAlert`, as the caller.
    pub(crate) async fn acknowledge_alert(&self, message: AcknowledgeAlertRequest) -> Result<Alert, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "DeliveryHealth AcknowledgeAlert",
                self.backends.health.clone().acknowledge_alert(request),
            )
            .await
    }

    /// Delivery health's `ReviewTimeAnomaly`, as the caller.
    pub(crate) async fn review_time_anomaly(&self, message: ReviewTimeAnomalyRequest) -> Result<TimeAnomaly, Error> {
        let request = self.downstream.request(message)?;
        self.downstream
            .call(
                "DeliveryHealth ReviewTimeAnomaly",
                self.backends.health.clone().review_time_anomaly(request),
            )
            .await
    }

    /// Whether the caller sees every project (executive, finance, admin) rather than only the
    /// ones they manage.
    pub(crate) fn sees_all(&self) -> bool {
        self.downstream.has_any(SEE_ALL_ROLES)
    }

    /// One page of PSA projects, in creation order.
    pub(crate) async fn list_projects(&self, page: PageRequest) -> Result<ListProjectsResponse, Error> {
        let request = self.downstream.request(ListProjectsRequest { page: Some(page) })?;
        self.downstream
            .call("PSA ListProjects", self.backends.psa.clone().list_projects(request))
            .await
    }

    /// A PSA project by id; `None` when PSA has no such project.
    pub(crate) async fn get_project(&self, id: String) -> Result<Option<Project>, Error> {
        let request = self.downstream.request(GetProjectRequest {
            id,
            opportunity_id: String::new(),
        })?;
        self.downstream
            .optional("PSA GetProject", self.backends.psa.clone().get_project(request))
            .await
    }

    /// The ids of the projects the caller manages: those where PSA assigns the caller's
    /// subject in a project-manager role. A subject that is not a PSA employee id (a UUID)
    /// manages nothing and costs no call.
    pub(crate) async fn managed_project_ids(&self) -> Result<BTreeSet<String>, Error> {
        let subject = self.downstream.subject().to_string();
        let mut managed = BTreeSet::new();
        if uuid::Uuid::parse_str(&subject).is_err() {
            return Ok(managed);
        }
        let mut page_token = String::new();
        loop {
            let request = self.downstream.request(ListAssignmentsRequest {
                project_id: String::new(),
                employee_id: subject.clone(),
                page: Some(PageRequest {
                    page_size: ASSIGNMENT_PAGE_SIZE,
                    page_token,
                }),
            })?;
            let page = self
                .downstream
                .call(
                    "PSA ListAssignments",
                    self.backends.psa.clone().list_assignments(request),
                )
                .await?;
            managed.extend(
                page.assignments
                    .into_iter()
                    .filter(|a| manages(&a.role))
                    .map(|a| a.project_id),
            );
            match page.page.map(|p| p.next_page_token).filter(|t| !t.is_empty()) {
                Some(next) => page_token = next,
                None => return Ok(managed),
            }
        }
    }

    /// The PSA projects of `ids` that exist, in id order.
    pub(crate) async fn projects(&self, ids: Vec<String>) -> Result<Vec<Project>, Error> {
        let request = self.downstream.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "PSA BatchGetProjects",
                self.backends.psa.clone().batch_get_projects(request),
            )
            .await?
            .projects)
    }

    /// Every assignment of the projects `ids`.
    pub(crate) async fn assignments(&self, ids: Vec<String>) -> Result<Vec<Assignment>, Error> {
        let request = self.downstream.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "PSA ListAssignmentsOfProjects",
                self.backends.psa.clone().list_assignments_of_projects(request),
            )
            .await?
            .assignments)
    }

    /// The SUBMITTED (not yet approved) time entries of the projects `ids`.
    pub(crate) async fn submitted_time(&self, ids: Vec<String>) -> Result<Vec<TimeEntry>, Error> {
        let request = self.downstream.request(ListTimeEntriesOfProjectsRequest {
            project_ids: ids,
            state: TimeEntryState::Submitted as i32,
        })?;
        Ok(self
            .downstream
            .call(
                "PSA ListTimeEntriesOfProjects",
                self.backends.psa.clone().list_time_entries_of_projects(request),
            )
            .await?
            .entries)
    }

    /// Every change request of the projects `ids`.
    pub(crate) async fn change_requests(&self, ids: Vec<String>) -> Result<Vec<ChangeRequest>, Error> {
        let request = self.downstream.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "PSA ListChangeRequestsOfProjects",
                self.backends.psa.clone().list_change_requests_of_projects(request),
            )
            .await?
            .change_requests)
    }

    /// The actuals (approved and posted time against the baseline, by role) of `ids`.
    pub(crate) async fn actuals(&self, ids: Vec<String>) -> Result<Vec<ProjectActuals>, Error> {
        let request = self.downstream.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "PSA ListActualsOfProjects",
                self.backends.psa.clone().list_actuals_of_projects(request),
            )
            .await?
            .actuals)
    }

    /// The ERP project codes of the projects `ids` that have one.
    pub(crate) async fn codes(&self, ids: Vec<String>) -> Result<Vec<ProjectCode>, Error> {
        let request = self
            .downstream
            .request(ListProjectCodesOfProjectsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "ERP ListProjectCodesOfProjects",
                self.backends.erp.clone().list_project_codes_of_projects(request),
            )
            .await?
            .project_codes)
    }

    /// The latest health evaluations of the projects `ids` that were evaluated.
    pub(crate) async fn health(&self, ids: Vec<String>) -> Result<Vec<ProjectHealth>, Error> {
        let request = self.downstream.request(ListProjectHealthRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "DeliveryHealth ListProjectHealth",
                self.backends.health.clone().list_project_health(request),
            )
            .await?
            .health)
    }

    /// The OPEN alerts of the projects `ids`, newest first.
    pub(crate) async fn open_alerts(&self, ids: Vec<String>) -> Result<Vec<Alert>, Error> {
        let request = self.downstream.request(ListAlertsOfProjectsRequest {
            project_ids: ids,
            state: "OPEN".into(),
        })?;
        Ok(self
            .downstream
            .call(
                "DeliveryHealth ListAlertsOfProjects",
                self.backends.health.clone().list_alerts_of_projects(request),
            )
            .await?
            .alerts)
    }

    /// One page of alerts of every state, newest first.
    pub(crate) async fn recent_alerts(&self, page_size: u32) -> Result<Vec<Alert>, Error> {
        let request = self.downstream.request(ListAlertsRequest {
            project_id: String::new(),
            state: String::new(),
            page: Some(PageRequest {
                page_size,
                page_token: String::new(),
            }),
        })?;
        Ok(self
            .downstream
            .call(
                "DeliveryHealth ListAlerts",
                self.backends.health.clone().list_alerts(request),
            )
            .await?
            .alerts)
    }

    /// A page of the time-entry anomalies of the projects `ids`, newest first.
    pub(crate) async fn time_anomalies(
        &self,
        ids: Vec<String>,
        status: &str,
        page: PageRequest,
    ) -> Result<ListTimeAnomaliesResponse, Error> {
        let request = self.downstream.request(ListTimeAnomaliesRequest {
            project_ids: ids,
            status: status.to_string(),
            page: Some(page),
        })?;
        self.downstream
            .call(
                "DeliveryHealth ListTimeAnomalies",
                self.backends.health.clone().list_time_anomalies(request),
            )
            .await
    }

    /// The OPEN time-entry anomalies of the projects `ids` (at most 100), newest first; none
    /// when the firm switched anomalies off.
    pub(crate) async fn open_anomalies(&self, ids: Vec<String>) -> Result<Vec<TimeAnomaly>, Error> {
        let page = PageRequest {
            page_size: 100,
            page_token: String::new(),
        };
        match self.time_anomalies(ids, "OPEN", page).await {
            Ok(answer) => Ok(answer.anomalies),
            Err(Error::FailedPrecondition(_)) => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }
}
