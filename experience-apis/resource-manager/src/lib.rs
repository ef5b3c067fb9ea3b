//! The resource manager's view of Keel, as an async-graphql module: the open resource requests
//! with the candidates the staffing process API ranks for each and why each ranks where it
//! does, the staffing instances waiting for leadership's approval, utilization against target
//! by person, practice and region over a period, and the availability (bench) forecast by week.
//!
//! The gateway mounts [`ResourceManagerView`] on its root query (field `resourceManager`)
//! after checking the caller against [`ALLOWED_ROLES`]. A page costs one call per service and
//! kind of lookup whatever its length: the candidates of every request of a page come from
//! one `RankCandidatesBatch`. [`ResourceManagerSubscription`], merged into the root
//! subscription, streams the staffing approvals waiting for the subscriber
//! (`staffingApprovalRequested`). `staffingRisks` lists the staffing risk flags the staffing
//! process API recorded (one call a page); [`ResourceManagerMutation`], merged into the root
//! mutation, reviews one (`reviewStaffingRisk`, resource managers only).
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC channels
//! are built, or any database. It reads PSA, HRIS, the staffing process API and its workflow
//! admin service, and changes nothing but a staffing risk flag's review, through staffing.

#![forbid(unsafe_code)]

mod capacity;
mod model;
mod mutation;
mod subscription;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::staffing::staffing_service_client::StaffingServiceClient;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use tonic::transport::Channel;

pub use model::{
    Candidate, OpenRequest, OpenRequestConnection, RequestState, RequiredSkill, ResourceAvailability,
    ResourceAvailabilityConnection, ResourceUtilization, ResourceUtilizationConnection, ScoreComponent,
    StaffingApproval, StaffingApprovalConnection, StaffingApprovalRequest, StaffingRisk, StaffingRiskConnection,
};
pub use mutation::{ResourceManagerMutation, StaffingRiskDecision};
pub use subscription::{ResourceManagerSubscription, STAFFING_APPROVAL_POLL_INTERVAL};
pub use view::ResourceManagerView;

/// The roles that may open the resource manager view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::ResourceManager, Role::Executive];

/// Who may review a staffing risk flag (admin passes too): resource managers only; executives
/// read the flags.
pub const REVIEW_ROLES: &[Role] = &[Role::ResourceManager];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "ResourceManagerView",
        &[
            "openRequests",
            "approvalsWaiting",
            "utilizationByPerson",
            "utilizationByPractice",
            "utilizationByRegion",
            "availabilityForecast",
            "bench",
            "staffingRisks",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("Mutation", &["reviewStaffingRisk"], REVIEW_ROLES),
    FieldPolicy::new("StaffingRiskConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "StaffingRisk",
        &[
            "id",
            "projectId",
            "kind",
            "employeeId",
            "skill",
            "reason",
            "peakPercent",
            "firstWeek",
            "lastWeek",
            "expiresOn",
            "neededUntil",
            "daysUncovered",
            "status",
            "modelVersion",
            "policyVersion",
            "createdAt",
            "decidedBy",
            "decidedAt",
            "note",
            "resolution",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ResourceUtilizationConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "ResourceAvailabilityConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ResourceUtilization",
        &[
            "key",
            "name",
            "practice",
            "region",
            "people",
            "billableHours",
            "capacityHours",
            "utilization",
            "target",
            "variance",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ResourceAvailability",
        &[
            "weekStart",
            "employeeId",
            "name",
            "practice",
            "region",
            "capacityHours",
            "allocatedHours",
            "availableHours",
            "assignmentIds",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("OpenRequestConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new("StaffingApprovalConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new("Subscription", &["staffingApprovalRequested"], ALLOWED_ROLES),
    FieldPolicy::new(
        "StaffingApprovalRequest",
        &[
            "instanceId",
            "resourceRequestId",
            "projectId",
            "projectName",
            "reasons",
            "summary",
            "requestedBy",
            "since",
            "dueAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "OpenRequest",
        &[
            "id",
            "projectId",
            "role",
            "billRole",
            "startDate",
            "endDate",
            "allocationPercent",
            "skills",
            "certifications",
            "region",
            "location",
            "requestedBy",
            "state",
            "proposedEmployeeId",
            "candidates",
            "noMatchReason",
            "rankingError",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("RequiredSkill", &["name", "minProficiency"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Candidate",
        &[
            "rank",
            "employeeId",
            "name",
            "laborCategory",
            "location",
            "score",
            "components",
            "availableHours",
            "neededHours",
            "projectedUtilization",
            "utilizationTarget",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ScoreComponent",
        &["name", "points", "maxPoints", "explanation"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "StaffingApproval",
        &[
            "instanceId",
            "resourceRequestId",
            "step",
            "requestedBy",
            "createdAt",
            "waitingSince",
        ],
        ALLOWED_ROLES,
    ),
];

/// The APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: resource requests, projects, time entries and assignments.
    pub psa: PsaServiceClient<Channel>,
    /// The HRIS system API: people, their capacity and utilization targets.
    pub hris: HrisServiceClient<Channel>,
    /// The staffing process API: candidate rankings.
    pub staffing: StaffingServiceClient<Channel>,
    /// The workflow admin service of the staffing engine: instances waiting for approval.
    pub workflow: WorkflowAdminServiceClient<Channel>,
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
