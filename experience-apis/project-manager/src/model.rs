//! The GraphQL types of the project manager view and their conversion from the PSA, ERP and
//! delivery-health contracts. Amounts and hours stay decimal strings, exactly as the APIs sent
//! them (or, for burn and the estimate, computed exactly from them).

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use keel_experience_common::Money;
use keel_proto::{erp, health, psa};

/// A page of projects.
#[derive(SimpleObject, Clone, Debug)]
pub struct ProjectConnection {
    /// The projects of this page, in creation order.
    pub nodes: Vec<Project>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery project as PSA holds it, with what ERP knows of it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Project {
    pub id: ID,
    pub name: String,
    /// The CRM opportunity the project was made from.
    pub opportunity_id: ID,
    /// The CRM account (the client).
    pub account_id: ID,
    /// Null if PSA does not say.
    pub status: Option<ProjectStatus>,
    /// The delivery template the work breakdown came from, e.g. `erp-fixed-fee-emea`.
    pub template_id: String,
    pub template_version: u32,
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
    pub contract_value: Option<Money>,
    /// The start date, `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// The ERP project code (`PRJ-000042`); null until ERP opens one.
    pub code: Option<String>,
    /// Whether the budget has been posted to ERP against the project code.
    pub erp_budget_posted: bool,
    /// Hours and money by role that the project is measured against.
    pub budget_baseline: Option<BudgetBaseline>,
    /// The billing milestones.
    pub milestones: Vec<Milestone>,
    /// The work breakdown.
    pub phases: Vec<Phase>,
    /// Everyone PSA assigns to the project (ended assignments too), in assignment order.
    pub team: Vec<TeamMember>,
    /// Approved (and posted) time against the budget baseline; null if PSA has no actuals.
    pub burn: Option<Burn>,
    /// What the project will cost at completion, from actuals and the remaining plan; null if
    /// PSA has no actuals.
    pub estimate_at_completion: Option<EstimateAtCompletion>,
    /// The latest delivery-health evaluation, as numbers; null before the first evaluation.
    pub health: Option<Health>,
    /// The project's OPEN health alerts (not acknowledged, not resolved), newest first.
    pub alerts: Vec<Alert>,
    /// Time entries SUBMITTED and not yet approved or rejected, oldest first.
    pub time_awaiting_approval: Vec<TimeEntry>,
    /// Every change request of the project, in creation order.
    pub change_requests: Vec<ChangeRequest>,
    /// Cost, revenue and margin at completion forecast by delivery health's latest evaluation,
    /// with its interval; null before the first forecast, or when the firm switched the margin
    /// forecast off (`insight.margin_forecast`) or the forecast could not be made (the
    /// evaluation's `notMeasured` says why). It recommends attention; it changes nothing.
    pub margin_forecast: Option<MarginForecast>,
    /// The project's OPEN time-entry anomaly flags, newest first (at most 100; read every flag
    /// with `projectManager.timeAnomalies`). Empty when the firm switched anomalies off
    /// (`insight.anomalies`). A flag never changes or rejects an entry.
    pub time_anomalies: Vec<TimeAnomaly>,
}

/// A forecast figure with its interval: `low <= point <= high`, decimal strings.
#[derive(SimpleObject, Clone, Debug)]
pub struct ForecastRange {
    pub low: String,
    pub point: String,
    pub high: String,
}

/// The margin at completion delivery health forecast for a project: from the burn of the
/// complete weeks so far and the remaining plan, at ERP's cost of an hour.
#[derive(SimpleObject, Clone, Debug)]
pub struct MarginForecast {
    /// `fixed-fee` or `time-and-materials`.
    pub contract_type: String,
    /// The evaluation's date, `YYYY-MM-DD`.
    pub as_of: String,
    /// The last day of the last complete week read, `YYYY-MM-DD`.
    pub measured_through: String,
    pub currency: String,
    /// The estimate at completion (EAC), in money.
    pub cost_at_completion: Option<ForecastRange>,
    pub revenue_at_completion: Option<ForecastRange>,
    pub margin_at_completion: Option<ForecastRange>,
    /// Margin as a percent of revenue, 2 places.
    pub margin_percent: Option<ForecastRange>,
    /// What the baseline costs: its hours at the cost of an hour.
    pub budget_cost: String,
    pub planned_margin_percent: String,
    /// Actual over planned hours to date.
    pub burn_ratio: String,
    /// The cost of an hour used: ERP's time cost over the hours posted.
    pub cost_rate: String,
    /// The policy's floor, in percent.
    pub floor_percent: String,
    /// The interval's confidence, in percent.
    pub confidence_percent: String,
    /// Null when the forecast clears the floor; `POINT`, or `UPPER_BOUND` when even the
    /// interval's best margin is below it.
    pub basis: Option<String>,
    /// What the margin falls short of the floor by, in money; null when it clears it.
    pub shortfall: Option<String>,
    /// The forecast in words, with its numbers.
    pub explanation: String,
    pub past_weeks: u32,
    pub remaining_weeks: u32,
    pub model_version: String,
    pub forecast_at: Option<DateTime<Utc>>,
}

/// A named number behind an anomaly flag.
#[derive(SimpleObject, Clone, Debug)]
pub struct AnomalyFigure {
    pub name: String,
    /// A decimal string.
    pub value: String,
}

/// A time-entry anomaly flagged by delivery health, with its reason and figures, for the
/// project's manager to confirm or dismiss.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimeAnomaly {
    pub id: ID,
    pub project_id: ID,
    /// `DUPLICATE`, `HOURS_OUTLIER`, `UNUSUAL_WEEKDAY`, `ROUND_NUMBER_PADDING` or
    /// `ABOVE_ALLOCATION`.
    pub kind: String,
    /// `entry:<time entry id>` or `week:<employee>:<ISO year>-W<week>`.
    pub subject: String,
    /// The HRIS employee id of the person whose time it is.
    pub person_id: ID,
    pub time_entry_ids: Vec<ID>,
    pub reason: String,
    pub figures: Vec<AnomalyFigure>,
    /// `OPEN`, `CONFIRMED` or `DISMISSED`.
    pub status: String,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
    pub detected_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// A page of time-entry anomalies.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimeAnomalyConnection {
    /// Newest first.
    pub nodes: Vec<TimeAnomaly>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A project manager's decision on a time-entry anomaly.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyDecision {
    /// The time is wrong, as flagged.
    Confirmed,
    /// The time is right.
    Dismissed,
}

impl AnomalyDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyDecision::Confirmed => "CONFIRMED",
            AnomalyDecision::Dismissed => "DISMISSED",
        }
    }
}

/// A person on the project.
#[derive(SimpleObject, Clone, Debug)]
pub struct TeamMember {
    pub assignment_id: ID,
    /// The HRIS employee id.
    pub person_id: ID,
    pub person_name: String,
    /// The role the person works in, e.g. `engagement-manager`.
    pub role: String,
    /// The rate-card role their time is billed at.
    pub bill_role: String,
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_date: Option<String>,
    /// A decimal string, 0 < p <= 100.
    pub allocation_percent: String,
    /// False once the assignment has ended.
    pub active: bool,
}

/// Burn: approved hours × rate ÷ budget. Time posted to ERP was approved first and counts.
#[derive(SimpleObject, Clone, Debug)]
pub struct Burn {
    /// The budget baseline's total.
    pub budget: Money,
    /// The baseline's hours, a decimal string.
    pub budget_hours: String,
    /// Approved and posted hours, a decimal string.
    pub approved_hours: String,
    /// Approved and posted hours at the rate each was recorded at.
    pub approved_amount: Money,
    /// `approvedAmount ÷ budget`, a decimal string rounded to 6 places (half to even); null
    /// when the budget is zero.
    pub burn_ratio: Option<String>,
    /// The same as a percentage rounded to 2 places; null when the budget is zero.
    pub burn_percent: Option<String>,
}

/// The estimate at completion: actuals plus the baseline each role has not yet spent (never
/// below zero: a role over its baseline is taken as finished, its overrun kept).
#[derive(SimpleObject, Clone, Debug)]
pub struct EstimateAtCompletion {
    pub amount: Money,
    /// Hours at completion on the same basis, a decimal string.
    pub hours: String,
    /// `amount - budget`: positive is over the budget.
    pub variance_to_budget: Money,
    /// How the estimate is computed, in words.
    pub method: String,
}

/// A project's delivery health, as the delivery-health process API last measured it. Decimal
/// strings; a percentage is null when its baseline is zero.
#[derive(SimpleObject, Clone, Debug)]
pub struct Health {
    pub effort_baseline_hours: String,
    /// Approved and posted hours.
    pub effort_actual_hours: String,
    pub effort_burn_percent: Option<String>,
    /// `effortBurnPercent - 100`: negative is under the baseline.
    pub effort_over_baseline_percent: Option<String>,
    pub money_baseline: Option<Money>,
    pub money_actual: Option<Money>,
    pub money_burn_percent: Option<String>,
    /// The most days any billing milestone is late.
    pub schedule_variance_days: i64,
    /// Hours SUBMITTED and not yet approved.
    pub unapproved_hours: String,
    /// HIGH and CRITICAL tickets open or in progress.
    pub open_high_severity_tickets: i64,
    pub open_escalated_tickets: i64,
    /// The thresholds the project broke, with the numbers that broke them.
    pub breaches: Vec<Breach>,
    /// What could not be measured, and why.
    pub not_measured: Vec<String>,
    pub policy_version: String,
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One threshold a project broke.
#[derive(SimpleObject, Clone, Debug)]
pub struct Breach {
    /// `EFFORT_OVER_BASELINE`, `MONEY_OVER_BASELINE`, `MILESTONE_LATE`, `UNAPPROVED_EFFORT` or
    /// `HIGH_SEVERITY_TICKETS`.
    pub kind: String,
    /// What was measured, a decimal string.
    pub measured: String,
    /// The policy's threshold, a decimal string.
    pub threshold: String,
    pub summary: String,
}

/// A delivery-health alert: one per project and kind, its numbers kept up to date.
#[derive(SimpleObject, Clone, Debug)]
pub struct Alert {
    pub id: ID,
    pub project_id: ID,
    /// A breach kind, e.g. `EFFORT_OVER_BASELINE`.
    pub kind: String,
    /// `OPEN`, `ACKNOWLEDGED` or `RESOLVED`.
    pub state: String,
    /// What was measured, a decimal string.
    pub measured: String,
    /// The policy's threshold, a decimal string.
    pub threshold: String,
    pub summary: String,
    /// How many evaluations found the breach.
    pub evaluations: u32,
    pub policy_version: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A time entry on one of the manager's projects.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ProjectTimeEntry")]
pub struct TimeEntry {
    pub id: ID,
    /// The HRIS employee id.
    pub person_id: ID,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// A decimal string.
    pub hours: String,
    pub task: Option<String>,
    pub narrative: String,
    /// The bill role the rate came from.
    pub role: String,
    pub billable: bool,
    /// Hours × rate.
    pub amount: Option<Money>,
}

/// A time entry just approved or rejected.
#[derive(SimpleObject, Clone, Debug)]
pub struct DecidedTimeEntry {
    pub id: ID,
    pub project_id: ID,
    /// The HRIS employee id of the person whose time it is.
    pub person_id: ID,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// A decimal string.
    pub hours: String,
    /// `APPROVED` or `REJECTED` (then `POSTED`, once time capture posted it to ERP).
    pub state: String,
    /// The employee id of who decided it.
    pub approver_id: ID,
    /// Why it was rejected, as the person sees it.
    pub rejection_reason: Option<String>,
    /// Hours × rate.
    pub amount: Option<Money>,
}

/// A decision waiting for the subscriber: a time entry submitted on a project they manage.
#[derive(SimpleObject, Clone, Debug)]
pub struct ApprovalRequest {
    /// `TIME`: a submitted time entry to approve or reject.
    pub kind: String,
    pub project_id: ID,
    pub time_entry: TimeEntry,
}

/// A change to the project's baseline.
#[derive(SimpleObject, Clone, Debug)]
pub struct ChangeRequest {
    pub id: ID,
    pub title: String,
    pub description: String,
    /// The baseline line the change applies to.
    pub role: String,
    /// A decimal string; negative takes hours away.
    pub delta_hours: String,
    pub delta_amount: Option<Money>,
    /// `DRAFT`, `SUBMITTED`, `APPROVED`, `REJECTED` or `APPLIED`.
    pub state: String,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// Where a project stands in delivery.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectStatus {
    Planned,
    Active,
    /// Paused: no time may be recorded until it is active again.
    OnHold,
    Closed,
}

/// The budget a project is measured against.
#[derive(SimpleObject, Clone, Debug)]
pub struct BudgetBaseline {
    /// Total planned hours, a decimal string.
    pub total_hours: String,
    pub total: Option<Money>,
    /// Hours and money by labor role.
    pub lines: Vec<BudgetLine>,
}

/// Hours and money for one labor role.
#[derive(SimpleObject, Clone, Debug)]
pub struct BudgetLine {
    /// The labor role, e.g. `solution-architect`.
    pub role: String,
    /// Planned hours, a decimal string.
    pub hours: String,
    pub amount: Option<Money>,
}

/// A billing milestone.
#[derive(SimpleObject, Clone, Debug)]
pub struct Milestone {
    pub name: String,
    pub amount: Option<Money>,
    /// The due date, `YYYY-MM-DD`.
    pub due_date: Option<String>,
}

/// A phase of the work breakdown.
#[derive(SimpleObject, Clone, Debug)]
pub struct Phase {
    pub name: String,
    pub tasks: Vec<Task>,
}

/// A task of a phase.
#[derive(SimpleObject, Clone, Debug)]
pub struct Task {
    pub name: String,
    /// The labor role, e.g. `solution-architect`.
    pub role: String,
    /// Planned hours, a decimal string.
    pub planned_hours: String,
}

impl Project {
    /// The PSA project joined with its ERP project code, if one is open.
    pub(crate) fn new(project: psa::Project, code: Option<erp::ProjectCode>) -> Project {
        let status = match psa::ProjectStatus::try_from(project.status) {
            Ok(psa::ProjectStatus::Planned) => Some(ProjectStatus::Planned),
            Ok(psa::ProjectStatus::Active) => Some(ProjectStatus::Active),
            Ok(psa::ProjectStatus::OnHold) => Some(ProjectStatus::OnHold),
            Ok(psa::ProjectStatus::Closed) => Some(ProjectStatus::Closed),
            Ok(psa::ProjectStatus::Unspecified) | Err(_) => None,
        };
        let erp_budget_posted = code.as_ref().is_some_and(|c| c.budget.is_some());
        Project {
            id: ID(project.id),
            name: project.name,
            opportunity_id: ID(project.opportunity_id),
            account_id: ID(project.account_id),
            status,
            template_id: project.template_id,
            template_version: project.template_version,
            service_line: project.service_line,
            contract_type: project.contract_type,
            region: project.region,
            client_tier: project.client_tier,
            contract_value: project.contract_value.map(Money::from),
            start_date: non_empty(project.start_date),
            code: code.map(|c| c.code).and_then(non_empty),
            erp_budget_posted,
            budget_baseline: project.budget_baseline.map(BudgetBaseline::from),
            milestones: project.milestones.into_iter().map(Milestone::from).collect(),
            phases: project.phases.into_iter().map(Phase::from).collect(),
            team: Vec::new(),
            burn: None,
            estimate_at_completion: None,
            health: None,
            alerts: Vec::new(),
            time_awaiting_approval: Vec::new(),
            change_requests: Vec::new(),
            margin_forecast: None,
            time_anomalies: Vec::new(),
        }
    }
}

impl From<psa::Assignment> for TeamMember {
    fn from(a: psa::Assignment) -> TeamMember {
        TeamMember {
            assignment_id: ID(a.id),
            person_id: ID(a.employee_id),
            person_name: a.person_name,
            bill_role: if a.bill_role.is_empty() {
                a.role.clone()
            } else {
                a.bill_role
            },
            role: a.role,
            start_date: non_empty(a.start_date),
            end_date: non_empty(a.end_date),
            allocation_percent: a.allocation_percent,
            active: a.state != psa::AssignmentState::Ended as i32,
        }
    }
}

impl From<psa::TimeEntry> for TimeEntry {
    fn from(e: psa::TimeEntry) -> TimeEntry {
        TimeEntry {
            id: ID(e.id),
            person_id: ID(e.employee_id),
            date: e.date,
            hours: e.hours,
            task: non_empty(e.task),
            narrative: e.narrative,
            role: e.role,
            billable: e.billable,
            amount: e.amount.map(Money::from),
        }
    }
}

impl From<psa::TimeEntry> for DecidedTimeEntry {
    fn from(e: psa::TimeEntry) -> DecidedTimeEntry {
        let state = psa::TimeEntryState::try_from(e.state)
            .map(|s| s.as_str_name().trim_start_matches("TIME_ENTRY_STATE_").to_string())
            .unwrap_or_else(|_| "UNSPECIFIED".into());
        DecidedTimeEntry {
            id: ID(e.id),
            project_id: ID(e.project_id),
            person_id: ID(e.employee_id),
            date: e.date,
            hours: e.hours,
            state,
            approver_id: ID(e.approver_id),
            rejection_reason: non_empty(e.rejection_reason),
            amount: e.amount.map(Money::from),
        }
    }
}

impl From<psa::TimeEntry> for ApprovalRequest {
    fn from(e: psa::TimeEntry) -> ApprovalRequest {
        ApprovalRequest {
            kind: "TIME".into(),
            project_id: ID(e.project_id.clone()),
            time_entry: TimeEntry::from(e),
        }
    }
}

impl From<psa::ChangeRequest> for ChangeRequest {
    fn from(c: psa::ChangeRequest) -> ChangeRequest {
        let state = psa::ChangeRequestState::try_from(c.state)
            .map(|s| s.as_str_name().trim_start_matches("CHANGE_REQUEST_STATE_").to_string())
            .unwrap_or_else(|_| "UNSPECIFIED".into());
        ChangeRequest {
            id: ID(c.id),
            title: c.title,
            description: c.description,
            role: c.role,
            delta_hours: c.delta_hours,
            delta_amount: c.delta_amount.map(Money::from),
            state,
            reason: non_empty(c.reason),
        }
    }
}

/// A protobuf timestamp as a UTC instant; `None` when unset or out of range.
pub(crate) fn instant(stamp: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    stamp.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// A burn's money as Money, when it has a currency.
fn burn_money(amount: &str, currency: &str) -> Option<Money> {
    (!amount.is_empty() && !currency.is_empty()).then(|| Money {
        amount: amount.to_string(),
        currency: currency.to_string(),
    })
}

impl From<health::ProjectHealth> for Health {
    fn from(h: health::ProjectHealth) -> Health {
        let effort = h.effort.unwrap_or_default();
        let money = h.money.unwrap_or_default();
        Health {
            effort_baseline_hours: effort.baseline,
            effort_actual_hours: effort.actual,
            effort_burn_percent: non_empty(effort.burn_percent),
            effort_over_baseline_percent: non_empty(effort.over_baseline_percent),
            money_baseline: burn_money(&money.baseline, &money.currency),
            money_actual: burn_money(&money.actual, &money.currency),
            money_burn_percent: non_empty(money.burn_percent),
            schedule_variance_days: h.schedule_variance_days,
            unapproved_hours: h.unapproved_hours,
            open_high_severity_tickets: h.open_high_severity_tickets,
            open_escalated_tickets: h.open_escalated_tickets,
            breaches: h
                .breaches
                .into_iter()
                .map(|b| Breach {
                    kind: b.kind,
                    measured: b.measured,
                    threshold: b.threshold,
                    summary: b.summary,
                })
                .collect(),
            not_measured: h.not_measured,
            policy_version: h.policy_version,
            evaluated_at: instant(h.evaluated_at),
        }
    }
}

fn forecast_range(range: Option<health::Range>) -> Option<ForecastRange> {
    range.map(|r| ForecastRange {
        low: r.low,
        point: r.point,
        high: r.high,
    })
}

impl From<health::MarginForecast> for MarginForecast {
    fn from(f: health::MarginForecast) -> MarginForecast {
        MarginForecast {
            contract_type: f.contract_type,
            as_of: f.as_of,
            measured_through: f.measured_through,
            currency: f.currency,
            cost_at_completion: forecast_range(f.cost_at_completion),
            revenue_at_completion: forecast_range(f.revenue_at_completion),
            margin_at_completion: forecast_range(f.margin_at_completion),
            margin_percent: forecast_range(f.margin_percent),
            budget_cost: f.budget_cost,
            planned_margin_percent: f.planned_margin_percent,
            burn_ratio: f.burn_ratio,
            cost_rate: f.cost_rate,
            floor_percent: f.floor_percent,
            confidence_percent: f.confidence_percent,
            basis: non_empty(f.alert_basis),
            shortfall: non_empty(f.shortfall),
            explanation: f.explanation,
            past_weeks: f.past_periods,
            remaining_weeks: f.remaining_periods,
            model_version: f.model_version,
            forecast_at: instant(f.forecast_at),
        }
    }
}

impl From<health::TimeAnomaly> for TimeAnomaly {
    fn from(a: health::TimeAnomaly) -> TimeAnomaly {
        TimeAnomaly {
            id: ID(a.id),
            project_id: ID(a.project_id),
            kind: a.kind,
            subject: a.subject,
            person_id: ID(a.employee_id),
            time_entry_ids: a.entry_ids.into_iter().map(ID).collect(),
            reason: a.reason,
            figures: a
                .figures
                .into_iter()
                .map(|f| AnomalyFigure {
                    name: f.name,
                    value: f.value,
                })
                .collect(),
            status: a.status,
            reviewed_by: non_empty(a.reviewed_by),
            review_note: non_empty(a.review_note),
            detected_at: instant(a.detected_at),
            reviewed_at: instant(a.reviewed_at),
        }
    }
}

impl From<health::Alert> for Alert {
    fn from(a: health::Alert) -> Alert {
        Alert {
            id: ID(a.id),
            project_id: ID(a.project_id),
            kind: a.kind,
            state: a.state,
            measured: a.measured,
            threshold: a.threshold,
            summary: a.summary,
            evaluations: a.evaluations,
            policy_version: a.policy_version,
            opened_at: instant(a.opened_at),
            updated_at: instant(a.updated_at),
        }
    }
}

impl From<psa::BudgetBaseline> for BudgetBaseline {
    fn from(baseline: psa::BudgetBaseline) -> BudgetBaseline {
        BudgetBaseline {
            total_hours: baseline.total_hours,
            total: baseline.total.map(Money::from),
            lines: baseline
                .lines
                .into_iter()
                .map(|line| BudgetLine {
                    role: line.role,
                    hours: line.hours,
                    amount: line.amount.map(Money::from),
                })
                .collect(),
        }
    }
}

impl From<psa::Milestone> for Milestone {
    fn from(milestone: psa::Milestone) -> Milestone {
        Milestone {
            name: milestone.name,
            amount: milestone.amount.map(Money::from),
            due_date: non_empty(milestone.due_date),
        }
    }
}

impl From<psa::Phase> for Phase {
    fn from(phase: psa::Phase) -> Phase {
        Phase {
            name: phase.name,
            tasks: phase
                .tasks
                .into_iter()
                .map(|task| Task {
                    name: task.name,
                    role: task.role,
                    planned_hours: task.planned_hours,
                })
                .collect(),
        }
    }
}

use keel_experience_common::non_empty;

#[cfg(test)]
mod tests {
    use super::*;

    use keel_proto::common;

    fn usd(amount: &str) -> Option<common::Money> {
        Some(common::Money {
            amount: amount.into(),
            currency: "USD".into(),
        })
    }

    #[test]
    fn a_project_without_an_erp_code_has_no_code_and_no_posted_budget() {
        let project = Project::new(
            psa::Project {
                id: "p-1".into(),
                status: psa::ProjectStatus::Active as i32,
                contract_value: usd("1250000.00"),
                ..Default::default()
            },
            None,
        );
        assert_eq!(project.code, None);
        assert!(!project.erp_budget_posted);
        assert_eq!(project.status, Some(ProjectStatus::Active));
        assert_eq!(project.start_date, None);
        assert_eq!(project.contract_value.unwrap().amount, "1250000.00");
    }

    #[test]
    fn the_budget_counts_as_posted_only_when_erp_holds_one() {
        let open = erp::ProjectCode {
            code: "PRJ-000042".into(),
            ..Default::default()
        };
        let posted = erp::ProjectCode {
            code: "PRJ-000042".into(),
            budget: Some(erp::Budget::default()),
            ..Default::default()
        };
        let table = [(open, false), (posted, true)];
        for (code, expected) in table {
            let project = Project::new(psa::Project::default(), Some(code));
            assert_eq!(project.code.as_deref(), Some("PRJ-000042"));
            assert_eq!(project.erp_budget_posted, expected);
        }
    }

    #[test]
    fn an_unknown_status_is_null_rather_than_a_guess() {
        for raw in [psa::ProjectStatus::Unspecified as i32, 99] {
            let project = Project::new(
                psa::Project {
                    status: raw,
                    ..Default::default()
                },
                None,
            );
            assert_eq!(project.status, None);
        }
    }
}
