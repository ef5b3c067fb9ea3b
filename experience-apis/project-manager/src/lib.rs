//! The project manager's view of Keel, as an async-graphql module: the projects PSA holds,
//! each with its ERP project code and whether its budget is posted, its budget baseline,
//! billing milestones and work breakdown.
//!
//! The gateway mounts [`ProjectManagerView`] on its root query (field `projectManager`) after
//! checking the caller against [`ALLOWED_ROLES`]. Resolvers read two things from the
//! async-graphql context: the schema-wide [`Backends`] and the request's verified
//! [`keel_auth::Identity`]. Every downstream call carries the caller's token and a deadline.
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC
//! channels are built, or any database. It reads system APIs and never changes them.

#![forbid(unsafe_code)]

mod downstream;
mod model;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use tonic::transport::Channel;

pub use keel_experience_common::Money;
pub use model::{BudgetBaseline, BudgetLine, Milestone, Phase, Project, ProjectConnection, ProjectStatus, Task};
pub use view::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ProjectManagerView};

/// The roles that may open the project manager view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::ProjectManager, Role::Executive, Role::Finance];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new("ProjectManagerView", &["projects", "project"], ALLOWED_ROLES),
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
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("BudgetBaseline", &["totalHours", "total", "lines"], ALLOWED_ROLES),
    FieldPolicy::new("BudgetLine", &["role", "hours", "amount"], ALLOWED_ROLES),
    FieldPolicy::new("Milestone", &["name", "amount", "dueDate"], ALLOWED_ROLES),
    FieldPolicy::new("Phase", &["name", "tasks"], ALLOWED_ROLES),
    FieldPolicy::new("Task", &["name", "role", "plannedHours"], ALLOWED_ROLES),
];

/// The system APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: projects, their budget baselines and work breakdown.
    pub psa: PsaServiceClient<Channel>,
    /// The ERP system API: project codes and posted budgets.
    pub erp: ErpServiceClient<Channel>,
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
