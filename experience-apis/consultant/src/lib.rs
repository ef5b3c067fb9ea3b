//! The consultant's view of Keel, as an async-graphql module: the caller's own PSA
//! assignments and time entries with their states.
//!
//! The caller is the token's subject (their employee id): the view never takes a person as an
//! argument, so a consultant reads their own records and nobody else's. The gateway mounts
//! [`ConsultantView`] on its root query (field `consultant`) after checking the caller against
//! [`ALLOWED_ROLES`], and merges [`ConsultantMutation`] (record and submit the caller's own
//! time, through the time-capture process API) into its root mutation.
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC channels
//! are built, or any database. It reads the PSA system API and acts only through time capture.

#![forbid(unsafe_code)]

mod model;
mod mutation;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use tonic::transport::Channel;

pub use model::{
    Assignment, AssignmentConnection, AssignmentState, MAX_PROJECT_PAGES, ProjectRef, TimeEntry, TimeEntryConnection,
    TimeEntryState,
};
pub use mutation::{ConsultantMutation, TimesheetLineInput};
pub use view::ConsultantView;

/// The roles that may open the consultant view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::Consultant];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new("ConsultantView", &["assignments", "timeEntries"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Mutation",
        &["recordTime", "recordTimesheet", "submitTime"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("AssignmentConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new("TimeEntryConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new("ProjectRef", &["id", "name"], ALLOWED_ROLES),
    FieldPolicy::new(
        "Assignment",
        &[
            "id",
            "project",
            "role",
            "billRole",
            "startDate",
            "endDate",
            "allocationPercent",
            "state",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "TimeEntry",
        &[
            "id",
            "project",
            "date",
            "hours",
            "task",
            "narrative",
            "billable",
            "state",
            "rejectionReason",
            "reapprovalRequired",
        ],
        ALLOWED_ROLES,
    ),
];

/// The system APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: assignments, time entries and project names.
    pub psa: PsaServiceClient<Channel>,
    /// The time-capture process API: recording and submitting time.
    pub time_capture: TimeCaptureServiceClient<Channel>,
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
