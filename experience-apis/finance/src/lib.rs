//! The finance partner's view of Keel, as an async-graphql module: every project's billing
//! milestones with their readiness to invoice (and exactly what blocks each one), unbilled
//! effort (WIP), revenue against plan and margin, the margin and the revenue against plan by
//! service line, ERP's invoices, the queue of approved time and expenses waiting to post to
//! ERP, and the differences reconciliation found between PSA and ERP.
//!
//! The gateway mounts [`FinanceView`] on its root query (field `finance`) after checking the
//! caller against [`ALLOWED_ROLES`]. Resolvers read two things from the async-graphql context:
//! the schema-wide [`Backends`] and the request's verified [`keel_auth::Identity`]. Every
//! downstream call carries the caller's token and a deadline and is counted in the request's
//! `backendCalls`.
//!
//! No N+1: a page of projects is read with one call per service and kind of record, whatever
//! its size: billing's `ListMilestoneReadiness` and ERP's `ListProjectFinancialsOfProjects`
//! take the ids of the whole page.
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC channels
//! are built, or any database. It reads system and process APIs and never changes them.

#![forbid(unsafe_code)]

mod downstream;
mod figures;
mod model;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use tonic::transport::Channel;

pub use keel_experience_common::Money;
pub use model::{
    FinanceBlocker, FinanceDifferenceKind, FinanceDifferenceState, FinanceInvoice, FinanceInvoiceConnection,
    FinanceMargin, FinanceMilestone, FinanceMilestoneInvoice, FinancePostingKind, FinancePostingQueue, FinanceProject,
    FinanceProjectConnection, FinanceReconciliationDifference, FinanceReconciliationDifferenceConnection,
    FinanceRevenue, FinanceServiceLineMargin, FinanceServiceLineRevenue, FinanceWip,
};
pub use view::{DEFAULT_PAGE_SIZE, FinanceView};

/// The roles that may open the finance view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::Finance, Role::Executive];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "FinanceView",
        &["projects", "invoices", "postingQueue", "reconciliationDifferences"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceProjectConnection",
        &["nodes", "nextCursor", "serviceLines", "revenueByServiceLine"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceProject",
        &[
            "id",
            "name",
            "status",
            "serviceLine",
            "contractType",
            "code",
            "legalEntity",
            "milestones",
            "wip",
            "margin",
            "revenue",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceMilestone",
        &[
            "milestoneId",
            "name",
            "amount",
            "dueDate",
            "state",
            "readyToInvoice",
            "blockers",
            "invoice",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("FinanceBlocker", &["code", "message", "recordIds"], ALLOWED_ROLES),
    FieldPolicy::new(
        "FinanceMilestoneInvoice",
        &["id", "number", "status", "total", "issueDate"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceWip",
        &[
            "approvedHours",
            "postedHours",
            "effortValue",
            "invoiced",
            "drafted",
            "unbilled",
            "billedAhead",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceMargin",
        &["revenue", "timeCost", "expenseCost", "cost", "margin", "marginPercent"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceRevenue",
        &[
            "hasSchedule",
            "method",
            "contractValue",
            "scheduled",
            "scheduleVariance",
            "recognized",
            "remainingToRecognize",
            "recognizedPercent",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceServiceLineRevenue",
        &[
            "serviceLine",
            "currency",
            "projects",
            "withSchedule",
            "contractValue",
            "scheduled",
            "scheduleVariance",
            "recognized",
            "remainingToRecognize",
            "recognizedPercent",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceServiceLineMargin",
        &["serviceLine", "projects", "revenue", "cost", "margin", "marginPercent"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("FinanceInvoiceConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "FinanceInvoice",
        &[
            "id",
            "number",
            "projectCode",
            "legalEntity",
            "status",
            "total",
            "issueDate",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinancePostingQueue",
        &["waiting", "failed", "done", "abandoned", "kinds"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinancePostingKind",
        &["kind", "waiting", "failed", "done", "abandoned"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceReconciliationDifferenceConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "FinanceReconciliationDifference",
        &[
            "identity",
            "projectId",
            "kind",
            "recordType",
            "recordId",
            "psaValue",
            "erpValue",
            "message",
            "state",
        ],
        ALLOWED_ROLES,
    ),
];

/// The system and process APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: projects and their actuals.
    pub psa: PsaServiceClient<Channel>,
    /// The ERP system API: invoices, revenue schedules and cost.
    pub erp: ErpServiceClient<Channel>,
    /// The billing process API: milestone readiness and reconciliation differences.
    pub billing: BillingServiceClient<Channel>,
    /// The time-capture process API's workflow admin: its ERP postings of time and expenses.
    pub postings: WorkflowAdminServiceClient<Channel>,
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
