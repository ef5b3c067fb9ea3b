//! The project manager's view of Keel, as an async-graphql module: the projects a project
//! manager runs (every project for executives, finance and admin), each with its ERP project
//! code, budget baseline, milestones, work breakdown, team, burn, estimate at completion,
//! delivery health, open alerts, time awaiting approval and change requests; `alertRaised`, a
//! live stream of the health alerts of those projects, and `approvalRequested`, of the time
//! submitted on them; and the manager's actions ([`ProjectManagerMutation`]: approve or reject
//! time through time capture, raise a change request through change orders, acknowledge an
//! alert through delivery health).
//!
//! The gateway mounts [`ProjectManagerView`] on its root query (field `projectManager`) after
//! checking the caller against [`ALLOWED_ROLES`], and merges [`ProjectManagerSubscription`]
//! into its root subscription. Resolvers read two things from the async-graphql context: the
//! schema-wide [`Backends`] and the request's verified [`keel_auth::Identity`]. Every
//! downstream call carries the caller's token and a deadline and is counted in the request's
//! `backendCalls`.
//!
//! No N+1: a page of projects is read with one call per service and kind of record, whatever
//! its size: the fields asked for under `nodes` are looked ahead and each is read for the
//! whole page with one batch call (`PSA ListAssignmentsOfProjects`, `ERP
//! ListProjectCodesOfProjects`, `DeliveryHealth ListProjectHealth`, ...).
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC
//! channels are built, or any database. It reads system and process APIs, and acts only
//! through process APIs.

#![forbid(unsafe_code)]

mod downstream;
mod figures;
mod intake;
mod model;
mod mutation;
mod subscription;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::changeorders::change_order_service_client::ChangeOrderServiceClient;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient;
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use tonic::transport::Channel;

pub use intake::{
    RecommendationStatus, RecommendationTerm, TemplateAlternative, TemplateRecommendation,
    TemplateRecommendationConnection,
};
pub use keel_experience_common::Money;
pub use model::{
    Alert, ApprovalRequest, Breach, BudgetBaseline, BudgetLine, Burn, ChangeRequest, DecidedTimeEntry,
    EstimateAtCompletion, Health, Milestone, Phase, Project, ProjectConnection, ProjectStatus, Task, TeamMember,
    TimeEntry,
};
pub use mutation::ProjectManagerMutation;
pub use subscription::{ALERT_POLL_INTERVAL, APPROVAL_POLL_INTERVAL, ProjectManagerSubscription};
pub use view::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ProjectManagerView};

/// The roles that may open the project manager view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::ProjectManager, Role::Executive, Role::Finance];

/// The roles that may act as a project manager (approve and reject time, acknowledge alerts)
/// and be told of the approvals waiting for them (admin too).
pub const ACTION_ROLES: &[Role] = &[Role::ProjectManager];

/// The roles that see every project (admin too); a project manager sees only the projects
/// they manage.
pub const SEE_ALL_ROLES: &[Role] = &[Role::Executive, Role::Finance];

/// The roles that read and decide SOW intake's template recommendations (admin too): a
/// delivery lead or the PMO's leadership, as project setup allows.
pub const DECIDER_ROLES: &[Role] = &[Role::ProjectManager, Role::Executive];

/// The PSA assignment roles that make a person a project's manager. The same list as the
/// delivery-health policy's `recipients.project_manager_assignment_roles` (the project manager
/// an alert goes to) and the time policy's (who approves a project's time); a test checks both
/// shipped policies against it.
pub const PROJECT_MANAGER_ASSIGNMENT_ROLES: &[&str] = &["project-manager", "engagement-manager"];

/// Whether a PSA assignment role makes its person the project's manager (compared as the
/// delivery-health evaluator does: trimmed, ignoring case).
pub fn manages(assignment_role: &str) -> bool {
    PROJECT_MANAGER_ASSIGNMENT_ROLES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(assignment_role.trim()))
}

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "ProjectManagerView",
        &["projects", "project", "timeAnomalies"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ProjectManagerView", &["templateRecommendations"], DECIDER_ROLES),
    FieldPolicy::new(
        "TemplateRecommendationConnection",
        &["nodes", "nextCursor"],
        DECIDER_ROLES,
    ),
    FieldPolicy::new(
        "TemplateRecommendation",
        &[
            "id",
            "opportunityId",
            "status",
            "recommendedTemplate",
            "bestGuess",
            "confidence",
            "explanation",
            "alternatives",
            "modelVersion",
            "policyVersion",
            "requestedBy",
            "requestedAt",
            "decidedBy",
            "decidedAt",
            "chosenTemplate",
            "reason",
        ],
        DECIDER_ROLES,
    ),
    FieldPolicy::new("RecommendationTerm", &["term", "weight"], DECIDER_ROLES),
    FieldPolicy::new("TemplateAlternative", &["templateId", "probability"], DECIDER_ROLES),
    FieldPolicy::new("Mutation", &["decideTemplateRecommendation"], DECIDER_ROLES),
    FieldPolicy::new("ProjectConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Project",
        &[
            "id",
            "name",
            "opportunityId",
            "accountId",
            "status",
            "templateId",
            "templateVersion",
            "serviceLine",
            "contractType",
            "region",
            "clientTier",
            "contractValue",
            "startDate",
            "code",
            "erpBudgetPosted",
            "budgetBaseline",
            "milestones",
            "phases",
            "team",
            "burn",
            "estimateAtCompletion",
            "health",
            "alerts",
            "timeAwaitingApproval",
            "changeRequests",
            "marginForecast",
            "timeAnomalies",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "MarginForecast",
        &[
            "contractType",
            "asOf",
            "measuredThrough",
            "currency",
            "costAtCompletion",
            "revenueAtCompletion",
            "marginAtCompletion",
            "marginPercent",
            "budgetCost",
            "plannedMarginPercent",
            "burnRatio",
            "costRate",
            "floorPercent",
            "confidencePercent",
            "basis",
            "shortfall",
            "explanation",
            "pastWeeks",
            "remainingWeeks",
            "modelVersion",
            "forecastAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ForecastRange", &["low", "point", "high"], ALLOWED_ROLES),
    FieldPolicy::new(
        "TimeAnomaly",
        &[
            "id",
            "projectId",
            "kind",
            "subject",
            "personId",
            "timeEntryIds",
            "reason",
            "figures",
            "status",
            "reviewedBy",
            "reviewNote",
            "detectedAt",
            "reviewedAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("AnomalyFigure", &["name", "value"], ALLOWED_ROLES),
    FieldPolicy::new("TimeAnomalyConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new("BudgetBaseline", &["totalHours", "total", "lines"], ALLOWED_ROLES),
    FieldPolicy::new("BudgetLine", &["role", "hours", "amount"], ALLOWED_ROLES),
    FieldPolicy::new("Milestone", &["name", "amount", "dueDate"], ALLOWED_ROLES),
    FieldPolicy::new("Phase", &["name", "tasks"], ALLOWED_ROLES),
    FieldPolicy::new("Task", &["name", "role", "plannedHours"], ALLOWED_ROLES),
    FieldPolicy::new(
        "TeamMember",
        &[
            "assignmentId",
            "personId",
            "personName",
            "role",
            "billRole",
            "startDate",
            "endDate",
            "allocationPercent",
            "active",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "Burn",
        &[
            "budget",
            "budgetHours",
            "approvedHours",
            "approvedAmount",
            "burnRatio",
            "burnPercent",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "EstimateAtCompletion",
        &["amount", "hours", "varianceToBudget", "method"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "Health",
        &[
            "effortBaselineHours",
            "effortActualHours",
            "effortBurnPercent",
            "effortOverBaselinePercent",
            "moneyBaseline",
            "moneyActual",
            "moneyBurnPercent",
            "scheduleVarianceDays",
            "unapprovedHours",
            "openHighSeverityTickets",
            "openEscalatedTickets",
            "breaches",
            "notMeasured",
            "policyVersion",
            "evaluatedAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("Breach", &["kind", "measured", "threshold", "summary"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Alert",
        &[
            "id",
            "projectId",
            "kind",
            "state",
            "measured",
            "threshold",
            "summary",
            "evaluations",
            "policyVersion",
            "openedAt",
            "updatedAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ProjectTimeEntry",
        &[
            "id",
            "personId",
            "date",
            "hours",
            "task",
            "narrative",
            "role",
            "billable",
            "amount",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "Mutation",
        &[
            "approveTime",
            "rejectTime",
            "raiseChangeRequest",
            "acknowledgeAlert",
            "reviewTimeAnomaly",
        ],
        ACTION_ROLES,
    ),
    FieldPolicy::new(
        "DecidedTimeEntry",
        &[
            "id",
            "projectId",
            "personId",
            "date",
            "hours",
            "state",
            "approverId",
            "rejectionReason",
            "amount",
        ],
        ACTION_ROLES,
    ),
    FieldPolicy::new("Subscription", &["approvalRequested"], ACTION_ROLES),
    FieldPolicy::new("ApprovalRequest", &["kind", "projectId", "timeEntry"], ACTION_ROLES),
    FieldPolicy::new(
        "ChangeRequest",
        &[
            "id",
            "title",
            "description",
            "role",
            "deltaHours",
            "deltaAmount",
            "state",
            "reason",
        ],
        ALLOWED_ROLES,
    ),
];

/// The system and process APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: projects, assignments, time, change requests and actuals.
    pub psa: PsaServiceClient<Channel>,
    /// The ERP system API: project codes and posted budgets.
    pub erp: ErpServiceClient<Channel>,
    /// The delivery-health process API: evaluations and alerts.
    pub health: DeliveryHealthServiceClient<Channel>,
    /// The time-capture process API: approving and rejecting time.
    pub time_capture: TimeCaptureServiceClient<Channel>,
    /// The change-order process API: raising change requests.
    pub change_orders: ChangeOrderServiceClient<Channel>,
    /// The project-setup process API: SOW intake's template recommendations and their
    /// decisions.
    pub project_setup: ProjectSetupServiceClient<Channel>,
    /// The deadline of every downstream call, sent as `grpc-timeout` and enforced here too.
    pub timeout: Duration,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_manager_roles_are_the_shipped_health_and_time_policies() {
        let quoted: Vec<String> = PROJECT_MANAGER_ASSIGNMENT_ROLES
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect();
        let line = format!("project_manager_assignment_roles = [{}]", quoted.join(", "));
        // Delivery health sends a project's alerts to them; time capture lets them approve
        // its time. This view must show a project to the same people.
        for (policy, shipped) in [
            (
                "delivery-health.toml",
                include_str!("../../../config/policies/delivery-health.toml"),
            ),
            (
                "time-capture.toml",
                include_str!("../../../config/policies/time-capture.toml"),
            ),
        ] {
            assert!(
                shipped.lines().any(|l| l.trim() == line),
                "expected `{line}` in the shipped {policy}"
            );
        }
    }

    #[test]
    fn a_project_manager_role_matches_as_the_evaluator_does() {
        for (role, expected) in [
            ("project-manager", true),
            (" Engagement-Manager ", true),
            ("solution-architect", false),
            ("", false),
        ] {
            assert_eq!(manages(role), expected, "{role:?}");
        }
    }
}
