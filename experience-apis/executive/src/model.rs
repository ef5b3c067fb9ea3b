//! The GraphQL types of the executive view. Amounts are exact decimal strings with their
//! currency; durations are seconds as decimal strings to the millisecond; fractions are
//! decimal strings such as `0.25`.

use async_graphql::{ID, SimpleObject};
use keel_experience_common::Money;

/// A page of the portfolio: its projects and their totals by currency.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutivePortfolio {
    /// The projects of this page, in PSA's order.
    pub nodes: Vec<ExecutiveProject>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The figures of this page's projects summed by currency (never across currencies).
    pub totals: Vec<ExecutivePortfolioTotal>,
}

/// A project with its contract value (PSA) and what ERP booked to its code.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveProject {
    pub id: ID,
    pub name: String,
    pub service_line: String,
    pub region: String,
    /// PSA's status: `ACTIVE`, `ON_HOLD`, `CLOSED`, ...
    pub status: String,
    /// The ERP project code; null until project setup opened one.
    pub project_code: Option<String>,
    /// PSA's contract value, after applied change orders.
    pub contract_value: Option<Money>,
    /// Credits less debits to services revenue (4000) on the code, in its legal entity.
    pub revenue: Option<Money>,
    /// Debits less credits to cost of services (5000) and project expenses (5100) on the
    /// code, in its legal entity.
    pub cost: Option<Money>,
    /// Revenue less cost.
    pub margin: Option<Money>,
    /// Margin ÷ revenue × 100, to two places; null while there is no revenue.
    pub margin_percent: Option<String>,
    /// Lines on the code in another currency than its own, left out of the figures.
    pub lines_in_other_currencies: u32,
}

/// The portfolio's figures in one currency.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct ExecutivePortfolioTotal {
    /// ISO 4217.
    pub currency: String,
    /// Projects of the page counted in this currency.
    pub projects: u32,
    pub contract_value: Money,
    pub revenue: Money,
    pub cost: Money,
    pub margin: Money,
}

keel_experience_common::connection!(
    /// A page of cycle times, by workflow admin, kind and week.
    ExecutiveCycleTimeConnection,
    ExecutiveCycleTime
);

keel_experience_common::connection!(
    /// A page of approval turnarounds, by workflow admin, kind and week.
    ExecutiveApprovalTurnaroundConnection,
    ExecutiveApprovalTurnaround
);

keel_experience_common::connection!(
    /// A page of exception rates, by workflow admin and kind.
    ExecutiveExceptionRateConnection,
    ExecutiveExceptionRate
);

/// How long the instances of one workflow kind that finished in one week took, from created
/// to done.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveCycleTime {
    /// The workflow admin read (`keel` when every engine shares one).
    pub source: String,
    /// The workflow kind, e.g. `staffing`, `time-posting`.
    pub kind: String,
    /// The Monday (UTC) of the week they finished in, `YYYY-MM-DD`.
    pub week_starting: String,
    /// With `byServiceLineAndRegion`, the service line of the instances' project; null
    /// otherwise, and for instances naming no project.
    pub service_line: Option<String>,
    /// With `byServiceLineAndRegion`, the region of the instances' project.
    pub region: Option<String>,
    pub completed: u64,
    /// Seconds, a decimal string to the millisecond.
    pub average_seconds: String,
    pub longest_seconds: String,
}

/// How long people took to decide the approvals of one workflow kind decided in one week,
/// from requested to decided.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveApprovalTurnaround {
    pub source: String,
    pub kind: String,
    /// The Monday (UTC) of the week they were decided in, `YYYY-MM-DD`.
    pub week_starting: String,
    /// With `byServiceLineAndRegion`, the service line of the instances' project; null
    /// otherwise, and for instances naming no project.
    pub service_line: Option<String>,
    /// With `byServiceLineAndRegion`, the region of the instances' project.
    pub region: Option<String>,
    pub decided: u64,
    /// Seconds, a decimal string to the millisecond.
    pub average_seconds: String,
    pub longest_seconds: String,
}

/// How often the instances of one workflow kind entered the exception queue.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveExceptionRate {
    pub source: String,
    pub kind: String,
    /// The service line of the instances' project, with `byServiceLineAndRegion` (null
    /// otherwise, and for instances no project was found for).
    pub service_line: Option<String>,
    /// The region of the instances' project, likewise.
    pub region: Option<String>,
    /// Instances of the kind, in any status.
    pub instances: u64,
    /// Of those, the ones that entered the exception queue at least once.
    pub with_exception: u64,
    /// `withException ÷ instances`, a decimal fraction to four places.
    pub rate: String,
}

keel_experience_common::connection!(
    /// A page of invoice readiness, by week, service line and region.
    ExecutiveInvoiceReadinessConnection,
    ExecutiveInvoiceReadiness
);

keel_experience_common::connection!(
    /// A page of projects' margins against their baselines, in PSA's order.
    ExecutiveMarginVarianceConnection,
    ExecutiveMarginVariance
);

keel_experience_common::connection!(
    /// A page of margin variances by service line, region and currency.
    ExecutiveMarginVarianceRollupConnection,
    ExecutiveMarginVarianceRollup
);

/// How many of the billing milestones due in one week, of the projects of one service line
/// and region, were ready to invoice once reached.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveInvoiceReadiness {
    /// The Monday of the week the milestones were due in, `YYYY-MM-DD`.
    pub week_starting: String,
    pub service_line: String,
    pub region: String,
    /// Billing milestones due that week.
    pub milestones: u64,
    /// Of those, the ones ERP marked reached (or invoiced).
    pub reached: u64,
    /// Of the reached, the ones with an invoice billing drafted, checked against the
    /// milestone's amount (or issued since).
    pub drafted: u64,
    /// Of the reached without an invoice, the ones billing finds blocked.
    pub blocked: u64,
    /// `drafted ÷ reached`, a decimal fraction to four places; null while none was reached.
    pub readiness_rate: Option<String>,
}

/// A project's margin as ERP booked it against the margin its baseline plans.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveMarginVariance {
    pub project_id: ID,
    pub name: String,
    pub service_line: String,
    pub region: String,
    /// The ERP project code; null until project setup opened one (and then every figure is
    /// null).
    pub project_code: Option<String>,
    /// Revenue ERP recognised.
    pub revenue: Option<Money>,
    /// Time and expense cost booked to the code.
    pub cost: Option<Money>,
    pub margin: Option<Money>,
    /// Margin ÷ revenue × 100, two places; null without revenue.
    pub margin_percent: Option<String>,
    /// PSA's contract value less the baseline hours at the cost per hour the project's posted
    /// time had; null before any time is posted.
    pub baseline_margin: Option<Money>,
    /// Baseline margin ÷ contract value × 100, two places.
    pub baseline_margin_percent: Option<String>,
    /// The margin less the baseline percentage of the revenue recognised so far; null without
    /// revenue or a baseline margin.
    pub variance: Option<Money>,
    /// The margin percentage less the baseline's, in points to two places.
    pub variance_points: Option<String>,
}

/// The margin against the baseline of one service line and region's projects, in one
/// currency.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveMarginVarianceRollup {
    pub service_line: String,
    pub region: String,
    /// ISO 4217.
    pub currency: String,
    /// Projects with a variance, summed here.
    pub projects: u64,
    /// Projects with an ERP code but no variance yet: no revenue recognised or no time posted.
    pub projects_without_variance: u64,
    pub revenue: Money,
    pub cost: Money,
    pub margin: Money,
    pub margin_percent: Option<String>,
    /// The baseline margin each project would have earned on its revenue, summed, ÷ revenue.
    pub baseline_margin_percent: Option<String>,
    /// The margin less the baseline margin on the same revenue.
    pub variance: Option<Money>,
    /// In points, two places.
    pub variance_points: Option<String>,
}

keel_experience_common::connection!(
    /// A page of integration latencies, by workflow admin, integration and week.
    ExecutiveIntegrationLatencyConnection,
    ExecutiveIntegrationLatency
);

/// How long one integration took, for the writes it completed in one week: from the source
/// system's change (the workflow instance's `createdAt`: the instance starts when the
/// source's event reaches it, and no record holds an earlier time) to the completion of the
/// step that wrote to the downstream system (its `completedAt` in the workflow journal).
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveIntegrationLatency {
    /// The workflow admin read (`keel` when every engine shares one).
    pub source: String,
    /// The systems and records joined, e.g. `PSA time approval → ERP journal`.
    pub integration: String,
    /// The workflow kind and the step that does the downstream write.
    pub kind: String,
    pub step: String,
    /// The Monday (UTC) of the week the writes completed in, `YYYY-MM-DD`.
    pub week_starting: String,
    pub writes: u64,
    /// Seconds, a decimal string to the millisecond.
    pub average_seconds: String,
    pub longest_seconds: String,
    /// The service line of the instances' project, with `byServiceLineAndRegion` (null
    /// otherwise, and for instances no project was found for).
    pub service_line: Option<String>,
    /// The region of the instances' project, likewise.
    pub region: Option<String>,
}

keel_experience_common::connection!(
    /// A page of time-entry compliance, by work week, service line and region.
    ExecutiveTimeEntryComplianceConnection,
    ExecutiveTimeEntryCompliance
);

/// How many of the time entries of one work week, of the projects of one service line and
/// region, were submitted on time: no later than the policy's days after the end of the work
/// week (`[compliance] submit_within_days` in `executive.toml`).
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutiveTimeEntryCompliance {
    /// The Monday of the entries' work week, `YYYY-MM-DD`.
    pub week_starting: String,
    pub service_line: String,
    pub region: String,
    /// The deadline of the week's entries, RFC 3339 UTC.
    pub deadline: String,
    /// Entries counted: submitted, or never submitted with the deadline passed.
    pub entries: u64,
    /// Submitted (first) by the deadline.
    pub on_time: u64,
    /// Submitted after it, or never submitted with it passed.
    pub late: u64,
    /// `onTime ÷ entries × 100`, two places.
    pub on_time_percent: Option<String>,
}
