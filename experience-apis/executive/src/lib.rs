//! The executive's view of Keel, as an async-graphql module: the portfolio's contract value,
//! revenue, cost and margin as ERP booked them, and the operating KPIs the process APIs'
//! workflow records hold (workflow cycle time and approval turnaround by kind and week, and
//! on request by the service line and region of the instance's project; exception rate by
//! kind; integration latency by integration and week) and the system records hold (time-entry
//! compliance and invoice readiness by week, service line and region; margin against the
//! baseline per project and by service line and region).
//!
//! The gateway mounts [`ExecutiveView`] on its root query (field `executive`) after checking
//! the caller against [`ALLOWED_ROLES`]. A page of the portfolio costs one PSA call for its
//! projects, one ERP call for their project codes and one ERP call per hundred journals;
//! the KPIs cost one workflow-admin call per hundred instances or episodes, per admin (and,
//! broken down by service line and region, one PSA call per hundred projects); time-entry
//! compliance one PSA call per hundred projects and one `ListTimeEntriesOfProjects` per
//! hundred projects; invoice readiness one PSA call and one billing `ListMilestoneReadiness`
//! per hundred projects; margin variance one ERP `ListProjectFinancialsOfProjects` and one PSA
//! `ListActualsOfProjects` per hundred projects, shared by `marginVariances` and
//! `marginVarianceRollups` within a request.
//!
//! What this crate does not know: how the gateway authenticates callers, how the gRPC channels
//! are built, or any database. It reads PSA, ERP, billing and the workflow admins, and changes
//! nothing. Its one setting, the time-entry deadline, comes from its policy
//! ([`ExecutivePolicy`], `config/policies/executive.toml`).

#![forbid(unsafe_code)]

mod compliance;
mod kpis;
mod margin;
mod model;
mod operating;
mod policy;
mod view;

use std::time::Duration;

use keel_auth::Role;
use keel_experience_common::FieldPolicy;
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use tonic::transport::Channel;

pub use model::{
    ExecutiveApprovalTurnaround, ExecutiveApprovalTurnaroundConnection, ExecutiveCycleTime,
    ExecutiveCycleTimeConnection, ExecutiveExceptionRate, ExecutiveExceptionRateConnection,
    ExecutiveIntegrationLatency, ExecutiveIntegrationLatencyConnection, ExecutiveInvoiceReadiness,
    ExecutiveInvoiceReadinessConnection, ExecutiveMarginVariance, ExecutiveMarginVarianceConnection,
    ExecutiveMarginVarianceRollup, ExecutiveMarginVarianceRollupConnection, ExecutivePortfolio,
    ExecutivePortfolioTotal, ExecutiveProject, ExecutiveTimeEntryCompliance, ExecutiveTimeEntryComplianceConnection,
};
pub use policy::{CompliancePolicy, ExecutivePolicy};
pub use view::ExecutiveView;

/// The roles that may open the executive view (admin passes every role check too).
pub const ALLOWED_ROLES: &[Role] = &[Role::Executive];

/// This view's part of the role × field policy table the gateway enforces.
pub const FIELD_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "ExecutiveView",
        &[
            "portfolio",
            "workflowCycleTimes",
            "approvalTurnarounds",
            "exceptionRates",
            "invoiceReadiness",
            "marginVariances",
            "marginVarianceRollups",
            "integrationLatencies",
            "timeEntryCompliance",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ExecutivePortfolio", &["nodes", "nextCursor", "totals"], ALLOWED_ROLES),
    FieldPolicy::new(
        "ExecutiveProject",
        &[
            "id",
            "name",
            "serviceLine",
            "region",
            "status",
            "projectCode",
            "contractValue",
            "revenue",
            "cost",
            "margin",
            "marginPercent",
            "linesInOtherCurrencies",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutivePortfolioTotal",
        &["currency", "projects", "contractValue", "revenue", "cost", "margin"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new("ExecutiveCycleTimeConnection", &["nodes", "nextCursor"], ALLOWED_ROLES),
    FieldPolicy::new(
        "ExecutiveCycleTime",
        &[
            "source",
            "kind",
            "weekStarting",
            "serviceLine",
            "region",
            "completed",
            "averageSeconds",
            "longestSeconds",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveApprovalTurnaroundConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveApprovalTurnaround",
        &[
            "source",
            "kind",
            "weekStarting",
            "serviceLine",
            "region",
            "decided",
            "averageSeconds",
            "longestSeconds",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveExceptionRateConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveExceptionRate",
        &[
            "source",
            "kind",
            "serviceLine",
            "region",
            "instances",
            "withException",
            "rate",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveInvoiceReadinessConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveInvoiceReadiness",
        &[
            "weekStarting",
            "serviceLine",
            "region",
            "milestones",
            "reached",
            "drafted",
            "blocked",
            "readinessRate",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveMarginVarianceConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveMarginVariance",
        &[
            "projectId",
            "name",
            "serviceLine",
            "region",
            "projectCode",
            "revenue",
            "cost",
            "margin",
            "marginPercent",
            "baselineMargin",
            "baselineMarginPercent",
            "variance",
            "variancePoints",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveMarginVarianceRollupConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveMarginVarianceRollup",
        &[
            "serviceLine",
            "region",
            "currency",
            "projects",
            "projectsWithoutVariance",
            "revenue",
            "cost",
            "margin",
            "marginPercent",
            "baselineMarginPercent",
            "variance",
            "variancePoints",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveIntegrationLatencyConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveIntegrationLatency",
        &[
            "source",
            "integration",
            "kind",
            "step",
            "weekStarting",
            "writes",
            "averageSeconds",
            "longestSeconds",
            "serviceLine",
            "region",
        ],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveTimeEntryComplianceConnection",
        &["nodes", "nextCursor"],
        ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "ExecutiveTimeEntryCompliance",
        &[
            "weekStarting",
            "serviceLine",
            "region",
            "deadline",
            "entries",
            "onTime",
            "late",
            "onTimePercent",
        ],
        ALLOWED_ROLES,
    ),
];

/// One workflow admin service the KPIs are read from: embedded, the one every engine of the
/// process shares; distributed, one per process API that runs workflows.
#[derive(Clone, Debug)]
pub struct WorkflowSource {
    /// What the KPIs name it by (`keel` embedded, the service's name distributed).
    pub name: String,
    pub client: WorkflowAdminServiceClient<Channel>,
}

/// The APIs this view reads, put into the schema's data by the gateway.
#[derive(Clone)]
pub struct Backends {
    /// The PSA system API: projects and their contract values.
    pub psa: PsaServiceClient<Channel>,
    /// The ERP system API: project codes and the journals booked to them.
    pub erp: ErpServiceClient<Channel>,
    /// The billing process API: each milestone's readiness and invoice.
    pub billing: BillingServiceClient<Channel>,
    /// The workflow admins the KPIs come from.
    pub workflows: Vec<WorkflowSource>,
    /// The rules the figures are measured against (`executive.toml`).
    pub policy: ExecutivePolicy,
    /// The deadline of every downstream call, sent as `grpc-timeout` and enforced here too.
    pub timeout: Duration,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("workflows", &self.workflows.iter().map(|w| &w.name).collect::<Vec<_>>())
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
