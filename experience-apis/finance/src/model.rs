//! The finance view's GraphQL types, built from the process and system APIs' messages.

use async_graphql::{ID, SimpleObject};
use keel_experience_common::non_empty;
use keel_proto::billing::{Blocker, MilestoneReadiness};
use keel_proto::erp::{Invoice, InvoiceStatus};
use keel_proto::psa;

use crate::Money;

keel_experience_common::connection!(
    /// A page of ERP invoices.
    FinanceInvoiceConnection,
    FinanceInvoice
);

/// A page of projects with their money, and the margin of the page's projects by service line.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceProjectConnection {
    /// The projects of this page.
    pub nodes: Vec<FinanceProject>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The margin of this page's projects by service line (and currency): pass `first: 100`
    /// and page on to cover more projects.
    pub service_lines: Vec<FinanceServiceLineMargin>,
    /// The revenue forecast against plan of this page's projects with an ERP code, by service
    /// line (and currency): pass `first: 100` and page on to cover more projects.
    pub revenue_by_service_line: Vec<FinanceServiceLineRevenue>,
}

/// The revenue forecast against plan of a service line's projects in one currency: the sums
/// of their [`FinanceRevenue`].
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceServiceLineRevenue {
    pub service_line: String,
    /// ISO 4217.
    pub currency: String,
    /// How many projects it sums.
    pub projects: i32,
    /// Of those, the ones ERP holds a revenue schedule for.
    pub with_schedule: i32,
    /// The plan: PSA's contract values, after applied change orders.
    pub contract_value: Money,
    /// The forecast: the contract values ERP's revenue schedules hold.
    pub scheduled: Money,
    /// Scheduled less the plan.
    pub schedule_variance: Money,
    pub recognized: Money,
    pub remaining_to_recognize: Money,
    /// Recognised ÷ scheduled × 100 to two places; null when nothing is scheduled.
    pub recognized_percent: Option<String>,
}

/// One project as finance reads it.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceProject {
    /// The PSA project id.
    pub id: ID,
    pub name: String,
    /// ACTIVE, ON_HOLD, CLOSED, ...
    pub status: String,
    pub service_line: String,
    pub contract_type: String,
    /// The ERP project code; null until ERP opened one.
    pub code: Option<String>,
    /// The legal entity ERP books the project in; null without a code.
    pub legal_entity: Option<String>,
    /// Each billing milestone with its readiness to invoice, in PSA's order.
    pub milestones: Vec<FinanceMilestone>,
    /// Unbilled effort; null without an ERP project code.
    pub wip: Option<FinanceWip>,
    /// Revenue less cost as ERP booked them; null without an ERP project code.
    pub margin: Option<FinanceMargin>,
    /// Revenue scheduled and recognised against the contract; null without an ERP project code.
    pub revenue: Option<FinanceRevenue>,
}

impl FinanceProject {
    pub(crate) fn new(project: &psa::Project) -> FinanceProject {
        let status = psa::ProjectStatus::try_from(project.status)
            .map(|s| s.as_str_name().trim_start_matches("PROJECT_STATUS_").to_string())
            .unwrap_or_default();
        FinanceProject {
            id: ID(project.id.clone()),
            name: project.name.clone(),
            status,
            service_line: project.service_line.clone(),
            contract_type: project.contract_type.clone(),
            code: None,
            legal_entity: None,
            milestones: Vec::new(),
            wip: None,
            margin: None,
            revenue: None,
        }
    }
}

/// A billing milestone: its amount and due date, whether it can be invoiced now and, if not,
/// exactly what blocks it, and its invoice once drafted.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceMilestone {
    /// Its position in the project: "1" for the first.
    pub milestone_id: String,
    pub name: String,
    pub amount: Option<Money>,
    /// YYYY-MM-DD.
    pub due_date: Option<String>,
    /// The ERP billing milestone's state: PLANNED, REACHED or INVOICED; null when ERP holds no
    /// single milestone of its name.
    pub state: Option<String>,
    /// Whether an invoice can be drafted for it now.
    pub ready_to_invoice: bool,
    /// Every reason it cannot be invoiced now (billing's readiness check); empty when ready.
    pub blockers: Vec<FinanceBlocker>,
    /// Its invoice in ERP, draft or issued; null before one is drafted.
    pub invoice: Option<FinanceMilestoneInvoice>,
}

impl From<MilestoneReadiness> for FinanceMilestone {
    fn from(listed: MilestoneReadiness) -> FinanceMilestone {
        let readiness = listed.readiness.unwrap_or_default();
        FinanceMilestone {
            milestone_id: readiness.milestone_id,
            name: readiness.milestone_name,
            amount: readiness.amount.map(Money::from),
            due_date: non_empty(readiness.due_date),
            state: non_empty(listed.erp_status),
            ready_to_invoice: readiness.ready,
            blockers: readiness.blockers.into_iter().map(FinanceBlocker::from).collect(),
            invoice: listed.invoice.map(|i| FinanceMilestoneInvoice {
                id: ID(i.invoice_id),
                number: non_empty(i.number),
                status: i.status,
                total: i.total.map(Money::from),
                issue_date: non_empty(i.issue_date),
            }),
        }
    }
}

/// One reason a milestone cannot be invoiced yet.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceBlocker {
    /// Stable: PROJECT_CODE_MISSING, ERP_MILESTONE_MISSING, MILESTONE_NOT_REACHED,
    /// ALREADY_INVOICED, AMOUNT_MISMATCH, TIME_NOT_APPROVED, TIME_NOT_POSTED,
    /// DELIVERABLE_NOT_ACCEPTED, OPEN_CHANGE_REQUEST, ...
    pub code: String,
    pub message: String,
    /// The records it names: time entries, change requests, ERP milestones or invoices.
    pub record_ids: Vec<String>,
}

impl From<Blocker> for FinanceBlocker {
    fn from(blocker: Blocker) -> FinanceBlocker {
        FinanceBlocker {
            code: blocker.code,
            message: blocker.message,
            record_ids: blocker.record_ids,
        }
    }
}

/// A milestone's invoice in ERP.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceMilestoneInvoice {
    pub id: ID,
    /// Assigned on issue; null while a draft.
    pub number: Option<String>,
    /// DRAFT or ISSUED.
    pub status: String,
    pub total: Option<Money>,
    /// Null while a draft.
    pub issue_date: Option<String>,
}

/// Unbilled effort (work in progress): approved and posted time at the project's rate card,
/// against what was invoiced.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceWip {
    /// Hours approved and not yet posted to ERP (a decimal string).
    pub approved_hours: String,
    /// Hours posted to ERP (a decimal string).
    pub posted_hours: String,
    /// Approved and posted time at the rate card when it was recorded.
    pub effort_value: Money,
    /// The project's ISSUED invoices.
    pub invoiced: Money,
    /// Its DRAFT invoices, not yet billed to the client.
    pub drafted: Money,
    /// Effort value less invoiced, never below zero.
    pub unbilled: Money,
    /// Invoiced less effort value, never below zero: billed ahead of the effort.
    pub billed_ahead: Money,
}

/// Revenue less cost, as ERP booked them.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceMargin {
    /// The project's ISSUED invoices.
    pub revenue: Money,
    /// Cost of services (posted time at cost) booked to the project code in its legal entity.
    pub time_cost: Money,
    /// Project expenses booked likewise.
    pub expense_cost: Money,
    /// Time cost plus expense cost.
    pub cost: Money,
    /// Revenue less cost.
    pub margin: Money,
    /// Margin ÷ revenue × 100 as a decimal string to two places; null without revenue.
    pub margin_percent: Option<String>,
}

/// Revenue against plan: PSA's contract value against ERP's revenue schedule.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceRevenue {
    /// Whether ERP holds a revenue schedule for the project.
    pub has_schedule: bool,
    /// FIXED_FEE_MILESTONE or FIXED_FEE_PERCENT_COMPLETE; null without a schedule.
    pub method: Option<String>,
    /// The plan: PSA's contract value, after applied change orders.
    pub contract_value: Money,
    /// The contract value ERP's revenue schedule holds (zero without one).
    pub scheduled: Money,
    /// Scheduled less the plan: not zero when ERP's schedule and PSA's contract disagree.
    pub schedule_variance: Money,
    /// Revenue recognised so far.
    pub recognized: Money,
    /// Scheduled less recognised.
    pub remaining_to_recognize: Money,
    /// Recognised ÷ scheduled × 100 to two places; null without a schedule.
    pub recognized_percent: Option<String>,
}

/// The margin of a service line's projects in one currency.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceServiceLineMargin {
    pub service_line: String,
    /// How many projects it sums.
    pub projects: i32,
    pub revenue: Money,
    pub cost: Money,
    pub margin: Money,
    /// Margin ÷ revenue × 100 to two places; null without revenue.
    pub margin_percent: Option<String>,
}

/// An ERP invoice.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceInvoice {
    pub id: ID,
    /// Assigned on issue; null while a draft.
    pub number: Option<String>,
    pub project_code: String,
    pub legal_entity: String,
    /// DRAFT or ISSUED.
    pub status: String,
    pub total: Option<Money>,
    /// Null while a draft.
    pub issue_date: Option<String>,
}

impl From<Invoice> for FinanceInvoice {
    fn from(invoice: Invoice) -> FinanceInvoice {
        let status = InvoiceStatus::try_from(invoice.status)
            .map(|s| s.as_str_name().trim_start_matches("INVOICE_STATUS_").to_string())
            .unwrap_or_default();
        FinanceInvoice {
            id: ID(invoice.id),
            number: non_empty(invoice.number),
            project_code: invoice.project_code,
            legal_entity: invoice.legal_entity,
            status,
            total: invoice.total.map(Money::from),
            issue_date: non_empty(invoice.issue_date),
        }
    }
}

/// The queue of approved time and expenses posting to ERP (the time-capture workflows): how
/// many are waiting (running or retrying), failed (in the exception queue, for operations),
/// done, or abandoned.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct FinancePostingQueue {
    pub waiting: i32,
    pub failed: i32,
    pub done: i32,
    pub abandoned: i32,
    /// The same by kind: `time-posting`, `expense-posting`.
    pub kinds: Vec<FinancePostingKind>,
}

/// The postings of one kind, by state.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct FinancePostingKind {
    pub kind: String,
    pub waiting: i32,
    pub failed: i32,
    pub done: i32,
    pub abandoned: i32,
}

keel_experience_common::connection!(
    /// A page of reconciliation differences between PSA and ERP.
    FinanceReconciliationDifferenceConnection,
    FinanceReconciliationDifference
);

/// How PSA and ERP disagree on a record.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinanceDifferenceKind {
    /// PSA holds the record; ERP does not.
    MissingInErp,
    /// ERP holds the record; PSA does not.
    MissingInPsa,
    /// ERP holds the record twice.
    Duplicated,
    /// ERP holds the record with other figures than PSA.
    Altered,
}

/// Where a difference stands in the exception queue.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinanceDifferenceState {
    /// Waiting in the exception queue for operations (or being rechecked).
    Open,
    /// Fixed and closed by a recheck, or closed by operations with a note.
    Resolved,
    /// Abandoned by operations.
    Abandoned,
}

/// One record PSA and ERP disagree on, as the latest reconciliation of its project found it.
#[derive(SimpleObject, Clone, Debug)]
pub struct FinanceReconciliationDifference {
    /// Stable across runs: project, kind, record type and record id.
    pub identity: ID,
    /// The PSA project.
    pub project_id: ID,
    pub kind: FinanceDifferenceKind,
    /// project, project_code, budget, time_entry, milestone, invoice.
    pub record_type: String,
    pub record_id: String,
    /// What PSA holds; null when it holds nothing.
    pub psa_value: Option<String>,
    /// What ERP holds; null when it holds nothing.
    pub erp_value: Option<String>,
    pub message: String,
    /// Its exception-queue state now; null before it was queued.
    pub state: Option<FinanceDifferenceState>,
}

impl TryFrom<keel_proto::billing::Difference> for FinanceReconciliationDifference {
    type Error = keel_core::Error;

    fn try_from(d: keel_proto::billing::Difference) -> Result<Self, Self::Error> {
        let kind = match d.kind.as_str() {
            "MISSING_IN_ERP" => FinanceDifferenceKind::MissingInErp,
            "MISSING_IN_PSA" => FinanceDifferenceKind::MissingInPsa,
            "DUPLICATED" => FinanceDifferenceKind::Duplicated,
            "ALTERED" => FinanceDifferenceKind::Altered,
            other => {
                return Err(keel_core::Error::internal(format!(
                    "billing sent difference kind {other:?}"
                )));
            }
        };
        let state = match d.exception_status.as_str() {
            "" => None,
            "DONE" | "RESOLVED" => Some(FinanceDifferenceState::Resolved),
            "ABANDONED" | "COMPENSATING" => Some(FinanceDifferenceState::Abandoned),
            _ => Some(FinanceDifferenceState::Open),
        };
        Ok(FinanceReconciliationDifference {
            identity: ID(d.identity),
            project_id: ID(d.project_id),
            kind,
            record_type: d.record_type,
            record_id: d.record_id,
            psa_value: non_empty(d.psa_value),
            erp_value: non_empty(d.erp_value),
            message: d.message,
            state,
        })
    }
}
