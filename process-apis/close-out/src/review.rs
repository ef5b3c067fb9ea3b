//! The post-project review: pure, every figure computed from the records PSA and ERP hold
//! when the close-out produces it, and the exceptions the process APIs report.
//!
//! - Contract value: PSA's, after the applied change orders; the original is that less their
//!   deltas.
//! - Revenue: ERP's issued invoices of the project code. Cost: its cost postings
//!   ([`crate::costs`]), in the project's currency. Margin: revenue less cost.
//! - Baseline margin: the contract value less each baseline role's hours at the cost per hour
//!   its posted time actually had (the project's blended cost per hour for a role that posted
//!   none). No system holds a planned cost rate, so this is the honest baseline: the margin
//!   the contract would have earned had the effort been as planned. Its difference from the
//!   margin is effort variance, expenses and revenue not invoiced.
//! - Effort: posted hours by role (the bill role of each PSA time entry) against the PSA
//!   baseline, which applied change orders have moved.
//!
//! Amounts are summed exactly and rounded once, half to even, to the currency's minor unit;
//! percentages to two places.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_proto::erp::{Invoice, InvoiceStatus};
use keel_proto::psa::{ChangeRequest, ChangeRequestState, Project, TimeEntry, TimeEntryState};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::costs::{CostPosting, CostSource};
use crate::exceptions::{ExceptionRecord, resolution_times};

/// The role of cost whose time entry PSA does not know.
pub const UNATTRIBUTED: &str = "unattributed";

/// Everything the review is computed from.
#[derive(Debug, Clone)]
pub struct ReviewInput<'a> {
    pub project: &'a Project,
    pub project_code: &'a str,
    pub close_date: &'a str,
    pub produced_at: DateTime<Utc>,
    /// Every time entry of the project, in any state.
    pub time_entries: &'a [TimeEntry],
    /// The cost postings, every one already in the project's currency.
    pub costs: &'a [CostPosting],
    pub invoices: &'a [Invoice],
    pub change_requests: &'a [ChangeRequest],
    pub exceptions: Vec<ExceptionRecord>,
    pub exceptions_truncated: bool,
}

/// Where a role's baseline cost rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateSource {
    /// The role's own posted time.
    Role,
    /// The project's posted time: the role posted none.
    Blended,
    /// No time was posted at all.
    None,
}

/// One role's effort and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleEffort {
    pub role: String,
    pub baseline_hours: Decimal,
    pub actual_hours: Decimal,
    pub cost: Decimal,
    /// Rounded for display; the baseline cost uses the exact rate.
    pub cost_per_hour: Option<Decimal>,
    pub cost_rate_source: RateSource,
    pub baseline_cost: Option<Decimal>,
}

/// A change request as the review lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRequestLine {
    pub id: String,
    pub title: String,
    pub state: String,
    pub role: String,
    pub delta_hours: Decimal,
    pub delta_amount: Decimal,
}

/// The review, as the `review` step journals it and `GetReview` serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub project_id: String,
    pub project_name: String,
    pub project_code: String,
    pub currency: String,
    pub close_date: String,
    pub produced_at: DateTime<Utc>,
    pub template_id: String,
    pub template_version: u32,
    pub contract_value: Decimal,
    pub original_contract_value: Decimal,
    pub revenue: Decimal,
    pub invoices: u32,
    pub time_cost: Decimal,
    pub expense_cost: Decimal,
    pub other_cost: Decimal,
    pub cost: Decimal,
    pub margin: Decimal,
    pub margin_percent: Option<Decimal>,
    pub baseline_cost: Option<Decimal>,
    pub baseline_margin: Option<Decimal>,
    pub baseline_margin_percent: Option<Decimal>,
    pub margin_variance: Option<Decimal>,
    pub effort: Vec<RoleEffort>,
    pub baseline_hours: Decimal,
    pub actual_hours: Decimal,
    pub change_requests: Vec<ChangeRequestLine>,
    pub change_requests_applied: u32,
    pub applied_budget_delta: Decimal,
    pub applied_hours_delta: Decimal,
    pub exceptions: Vec<ExceptionRecord>,
    pub exceptions_truncated: bool,
}

fn decimal(field: &str, text: &str) -> Result<Decimal, Error> {
    if text.trim().is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(text.trim()).map_err(|e| Error::internal(format!("{field} {text:?} is not a decimal: {e}")))
}

fn money(field: &str, money: &Option<keel_proto::common::Money>) -> Result<Decimal, Error> {
    decimal(field, money.as_ref().map_or("", |m| m.amount.as_str()))
}

/// `part / whole × 100`, two places; `None` when `whole` is zero.
pub fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    part.checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|scaled| scaled.checked_div(whole))
        .map(|p| p.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven))
}

/// Computes the review.
pub fn review(input: ReviewInput<'_>) -> Result<Review, Error> {
    let project = input.project;
    let currency = project
        .contract_value
        .as_ref()
        .map(|m| m.currency.clone())
        .unwrap_or_default();
    let digits = keel_core::money::Currency::parse(&currency)
        .map_err(|e| Error::internal(format!("project {} is kept in {currency:?}: {e}", project.id)))?
        .minor_unit_digits();
    let round = |amount: Decimal| amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointNearestEven);

    // Money in, money out.
    let contract_value = money("contract_value", &project.contract_value)?;
    let mut change_requests = Vec::with_capacity(input.change_requests.len());
    let (mut applied, mut applied_amount, mut applied_hours) = (0u32, Decimal::ZERO, Decimal::ZERO);
    for request in input.change_requests {
        let state = ChangeRequestState::try_from(request.state).unwrap_or(ChangeRequestState::Unspecified);
        let line = ChangeRequestLine {
            id: request.id.clone(),
            title: request.title.clone(),
            state: state
                .as_str_name()
                .trim_start_matches("CHANGE_REQUEST_STATE_")
                .to_string(),
            role: request.role.clone(),
            delta_hours: decimal("delta_hours", &request.delta_hours)?,
            delta_amount: money("delta_amount", &request.delta_amount)?,
        };
        if state == ChangeRequestState::Applied {
            applied += 1;
            applied_amount += line.delta_amount;
            applied_hours += line.delta_hours;
        }
        change_requests.push(line);
    }
    let issued: Vec<&Invoice> = input
        .invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Issued as i32)
        .collect();
    let revenue = issued
        .iter()
        .map(|i| money("invoice.total", &i.total))
        .sum::<Result<Decimal, Error>>()?;

    // Posted hours by role.
    let role_of: HashMap<&str, &str> = input
        .time_entries
        .iter()
        .map(|e| (e.id.as_str(), e.role.as_str()))
        .collect();
    let mut roles: Vec<RoleEffort> = Vec::new();
    fn effort_of<'r>(roles: &'r mut Vec<RoleEffort>, role: &str) -> &'r mut RoleEffort {
        let index = match roles.iter().position(|r| r.role == role) {
            Some(index) => index,
            None => {
                roles.push(RoleEffort {
                    role: role.to_string(),
                    baseline_hours: Decimal::ZERO,
                    actual_hours: Decimal::ZERO,
                    cost: Decimal::ZERO,
                    cost_per_hour: None,
                    cost_rate_source: RateSource::None,
                    baseline_cost: None,
                });
                roles.len() - 1
            }
        };
        &mut roles[index]
    }
    for line in project.budget_baseline.iter().flat_map(|b| b.lines.iter()) {
        effort_of(&mut roles, &line.role).baseline_hours += decimal("baseline hours", &line.hours)?;
    }
    for entry in input
        .time_entries
        .iter()
        .filter(|e| e.state == TimeEntryState::Posted as i32)
    {
        effort_of(&mut roles, &entry.role).actual_hours += decimal("time entry hours", &entry.hours)?;
    }

    // Cost by kind, and time's cost by role.
    let (mut time_cost, mut expense_cost, mut other_cost) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for posting in input.costs {
        if posting.currency != currency {
            return Err(Error::internal(format!(
                "a cost posting in {} reached the review of a project kept in {currency}",
                posting.currency
            )));
        }
        match &posting.source {
            CostSource::Time(entry) => {
                time_cost += posting.amount;
                let role = role_of.get(entry.as_str()).copied().unwrap_or(UNATTRIBUTED);
                effort_of(&mut roles, role).cost += posting.amount;
            }
            CostSource::Expense(_) => expense_cost += posting.amount,
            CostSource::Other => other_cost += posting.amount,
        }
    }
    let cost = time_cost + expense_cost + other_cost;
    let margin = revenue - cost;

    // The baseline at the cost per hour each role actually had.
    let actual_hours: Decimal = roles.iter().map(|r| r.actual_hours).sum();
    let blended = (!actual_hours.is_zero()).then(|| time_cost / actual_hours);
    let mut baseline_exact = Decimal::ZERO;
    for role in &mut roles {
        let (rate, source) = if !role.actual_hours.is_zero() {
            (Some(role.cost / role.actual_hours), RateSource::Role)
        } else {
            (
                blended,
                if blended.is_some() {
                    RateSource::Blended
                } else {
                    RateSource::None
                },
            )
        };
        role.cost_rate_source = source;
        role.cost_per_hour = rate.map(round);
        if let Some(rate) = rate {
            let exact = role.baseline_hours * rate;
            baseline_exact += exact;
            role.baseline_cost = Some(round(exact));
        }
    }
    let baseline_cost = blended.map(|_| round(baseline_exact));
    let baseline_margin = baseline_cost.map(|c| contract_value - c);

    Ok(Review {
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        project_code: input.project_code.to_string(),
        currency,
        close_date: input.close_date.to_string(),
        produced_at: input.produced_at,
        template_id: project.template_id.clone(),
        template_version: project.template_version,
        contract_value,
        original_contract_value: contract_value - applied_amount,
        revenue,
        invoices: u32::try_from(issued.len()).unwrap_or(u32::MAX),
        time_cost,
        expense_cost,
        other_cost,
        cost,
        margin,
        margin_percent: percent(margin, revenue),
        baseline_cost,
        baseline_margin,
        baseline_margin_percent: baseline_margin.and_then(|m| percent(m, contract_value)),
        margin_variance: baseline_margin.map(|b| margin - b),
        baseline_hours: roles.iter().map(|r| r.baseline_hours).sum(),
        actual_hours,
        effort: roles,
        change_requests,
        change_requests_applied: applied,
        applied_budget_delta: applied_amount,
        applied_hours_delta: applied_hours,
        exceptions: input.exceptions,
        exceptions_truncated: input.exceptions_truncated,
    })
}

impl Review {
    /// The longest and median time the review's exceptions took to leave the queue.
    pub fn resolution_times(&self) -> (Option<chrono::Duration>, Option<chrono::Duration>) {
        resolution_times(&self.exceptions)
    }

    /// How many of its exceptions are still in a queue.
    pub fn exceptions_open(&self) -> u32 {
        u32::try_from(self.exceptions.iter().filter(|e| e.outcome.is_none()).count()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;
