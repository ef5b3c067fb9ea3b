//! The operations view of Keel, as an async-graphql module: project setups, the exception
//! list a person must act on, and a live stream of setup changes.
//!
//! The gateway mounts [`OperationsView`] on its root query (field `operations`) after checking
//! the caller against [`ALLOWED_ROLES`], and merges [`OperationsSubscription`] into its root
//! subscription. Resolvers read two things from the async-graphql context: the schema-wide
//! [`Backends`] and the request's (or WebSocket connection's) verified
//! [`keel_auth::Identity`]. Every downstream call carries the caller's token and a deadline.
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC
//! channels are built, or any database. It reads the project-setup process API.

#![forbid(unsafe_code)]

mod downstream;
mod model;
mod subscription;
mod view;
mod workflows;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use tonic::transport::Channel;

pub use model::{Setup, SetupConnection, SetupState};
pub use subscription::{MAX_WATCHED_SETUPS, OperationsSubscription, SETUP_POLL_INTERVAL};
pub use view::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OperationsView};
pub use workflows::{
    InstanceConnection, KindCount, OperationsMutation, PostingQueue, ProcessApi, SYSTEMS, SystemHealth, SystemIncident,
    SystemState, WorkflowInstance,
};

/// The roles that may open the operations view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::Operations];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "OperationsView",
        &[
            "exceptions",
            "setups",
            "setup",
            "processApis",
            "integrationHealth",
            "postingQueue",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ProcessApi", &["name", "counts", "exceptions"], ALLOWED_ROLES),
    FieldPolicy::new("KindCount", &["kind", "status", "count"], ALLOWED_ROLES),
    FieldPolicy::new("InstanceConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "WorkflowInstance",
        &[
            "id",
            "processApi",
            "kind",
            "businessKey",
            "status",
            "step",
            "attempts",
            "reason",
            "lastError",
            "owningTeam",
            "note",
            "createdAt",
            "updatedAt",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("SystemHealth", &["system", "state", "latestIncident"], ALLOWED_ROLES),
    FieldPolicy::new(
        "SystemIncident",
        &["processApi", "openedAt", "closedAt", "firstError", "failures"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "PostingQueue",
        &["waiting", "exceptions", "posted", "erp", "erpDownSince"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "Mutation",
        &["retryInstance", "resolveInstance", "abandonInstance"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("SetupConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Setup",
        &[
            "id",
            "opportunityId",
            "opportunityName",
            "state",
            "step",
            "templateId",
            "projectId",
            "projectCode",
            "exceptionCode",
            "exceptionReason",
            "exceptionFields",
            "attempts",
            "createdAt",
            "updatedAt",
        ],
        ALLOWED_ROLES,
    ),
];

/// The process APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The project-setup process API: setups and their exception list.
    pub project_setup: ProjectSetupServiceClient<Channel>,
    /// The workflow admin API of each process API that runs workflows. Embedded, one source
    /// (`keel`) serves every engine of the process.
    pub workflows: Vec<WorkflowSource>,
    /// The deadline of every downstream call, sent as `grpc-timeout` and enforced here too.
    pub timeout: Duration,
}

/// The workflow admin API of one process API.
#[derive(Clone)]
pub struct WorkflowSource {
    /// The process API's name as operations sees it: `time-capture`, or `keel` embedded.
    pub name: String,
    pub client: WorkflowAdminServiceClient<Channel>,
}

impl std::fmt::Debug for WorkflowSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
