//! Project health as a pure function of the facts gathered from PSA, ERP and support and the
//! policy: every number (burn, variance days, unapproved hours, tickets) and the thresholds
//! it breaks. No colour is chosen by hand: a project is RED exactly when it breaks a
//! threshold. Arithmetic is exact (`rust_decimal`); comparisons never divide, so a rounded
//! percentage can never tip a project over a threshold.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::policy::HealthPolicy;

/// The kinds of breach, each an alert kind (one open alert per project and kind).
pub mod kind {
    pub const EFFORT_OVER_BASELINE: &str = "EFFORT_OVER_BASELINE";
    pub const MONEY_OVER_BASELINE: &str = "MONEY_OVER_BASELINE";
    pub const MILESTONE_LATE: &str = "MILESTONE_LATE";
    pub const UNAPPROVED_EFFORT: &str = "UNAPPROVED_EFFORT";
    pub const HIGH_SEVERITY_TICKETS: &str = "HIGH_SEVERITY_TICKETS";
    /// The margin forecast at completion is below the policy's floor (see [`crate::insight`]).
    pub const MARGIN_EROSION: &str = "MARGIN_EROSION";
    /// Every kind, in the order breaches are listed.
    pub const ALL: [&str; 6] = [
        EFFORT_OVER_BASELINE,
        MONEY_OVER_BASELINE,
        MILESTONE_LATE,
        UNAPPROVED_EFFORT,
        HIGH_SEVERITY_TICKETS,
        MARGIN_EROSION,
    ];
}

/// What cannot be measured from Keel's systems today, reported on every evaluation.
pub const OVERDUE_TASKS_NOT_MEASURED: &str =
    "overdue tasks: PSA tasks carry no status or due date, so overdue tasks cannot be measured yet";

/// One baseline line (or the project total) with what was approved and posted against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFacts {
    /// The role; empty for the project total.
    pub role: String,
    pub baseline_hours: Decimal,
    pub actual_hours: Decimal,
    pub baseline_amount: Decimal,
    pub actual_amount: Decimal,
    pub currency: String,
}

/// A billing milestone as ERP has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneFacts {
    pub id: String,
    pub name: String,
    pub due_date: NaiveDate,
    /// REACHED or INVOICED.
    pub reached: bool,
    pub status: String,
}

/// What PSA, ERP and support said about one project, as of `today`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub project_id: String,
    pub project_name: String,
    pub today: NaiveDate,
    pub total: LineFacts,
    pub roles: Vec<LineFacts>,
    /// `None` when ERP has no project code (and so no billing milestones) for the project.
    pub milestones: Option<Vec<MilestoneFacts>>,
    /// Submitted hours not yet approved.
    pub unapproved_hours: Decimal,
    /// Open HIGH and CRITICAL tickets.
    pub open_high_severity_tickets: i64,
    pub open_escalated_tickets: i64,
}

/// Burn of one measure against its baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burn {
    pub baseline: Decimal,
    pub actual: Decimal,
    /// actual / baseline × 100, 2 places; `None` when the baseline is zero.
    pub burn_percent: Option<Decimal>,
    /// burn_percent − 100; `None` when the baseline is zero.
    pub over_baseline_percent: Option<Decimal>,
}

/// A role's burn in hours and money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleBurn {
    pub role: String,
    pub effort: Burn,
    pub money: Burn,
}

/// A milestone's lateness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneVariance {
    pub id: String,
    pub name: String,
    pub due_date: NaiveDate,
    pub status: String,
    /// Days past due while not reached; 0 when reached or not yet due.
    pub days_late: i64,
}

/// A broken threshold with the numbers that broke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub kind: String,
    pub measured: Decimal,
    pub threshold: Decimal,
    pub summary: String,
}

/// A project's health under one policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectHealth {
    pub project_id: String,
    pub project_name: String,
    pub currency: String,
    pub effort: Burn,
    pub money: Burn,
    pub roles: Vec<RoleBurn>,
    pub milestones: Vec<MilestoneVariance>,
    pub schedule_variance_days: i64,
    pub unapproved_hours: Decimal,
    pub open_high_severity_tickets: i64,
    pub open_escalated_tickets: i64,
    pub breaches: Vec<Breach>,
    pub not_measured: Vec<String>,
    pub policy_version: String,
}

impl ProjectHealth {
    /// GREEN with no breach, RED with any.
    pub fn status(&self) -> &'static str {
        if self.breaches.is_empty() { "GREEN" } else { "RED" }
    }

    /// The breach of `kind`, if the project broke that threshold.
    pub fn breach(&self, kind: &str) -> Option<&Breach> {
        self.breaches.iter().find(|b| b.kind == kind)
    }
}

/// A percentage to exactly 2 places ("115.00").
fn percent(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// The burn of `actual` against `baseline`.
pub fn burn(baseline: Decimal, actual: Decimal) -> Burn {
    let burn_percent = if baseline.is_zero() {
        None
    } else {
        actual
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|scaled| scaled.checked_div(baseline))
            .map(percent)
    };
    Burn {
        baseline,
        actual,
        burn_percent,
        over_baseline_percent: burn_percent.map(|p| p - Decimal::ONE_HUNDRED),
    }
}

/// Whether `actual` exceeds `baseline` by more than `allowed_percent`, exactly:
/// actual × 100 > baseline × (100 + allowed). A zero baseline is never breached by a role
/// (the project total still counts its hours).
pub fn exceeds(baseline: Decimal, actual: Decimal, allowed_percent: Decimal) -> bool {
    if baseline <= Decimal::ZERO {
        return false;
    }
    match (
        actual.checked_mul(Decimal::ONE_HUNDRED),
        baseline.checked_mul(Decimal::ONE_HUNDRED + allowed_percent),
    ) {
        (Some(left), Some(right)) => left > right,
        // Beyond Decimal's range only an absurd actual can overflow.
        (None, _) => true,
        (_, None) => false,
    }
}

struct Measure<'a> {
    kind: &'static str,
    unit: &'a str,
    threshold: Decimal,
}

/// The lines (total first) over the threshold for one measure, and the breach they make.
fn burn_breach(measure: &Measure<'_>, lines: &[(&str, Burn)]) -> Option<Breach> {
    let over: Vec<&(&str, Burn)> = lines
        .iter()
        .filter(|(_, b)| exceeds(b.baseline, b.actual, measure.threshold))
        .collect();
    let worst = over.iter().filter_map(|(_, b)| b.over_baseline_percent).max()?;
    let parts: Vec<String> = over
        .iter()
        .map(|(role, b)| {
            let name = if role.is_empty() { "project" } else { role };
            format!(
                "{name}: {} {unit} against a baseline of {} {unit} ({}% of baseline, {}% over)",
                b.actual,
                b.baseline,
                b.burn_percent.unwrap_or_default(),
                b.over_baseline_percent.unwrap_or_default(),
                unit = measure.unit,
            )
        })
        .collect();
    Some(Breach {
        kind: measure.kind.to_string(),
        measured: worst,
        threshold: measure.threshold,
        summary: format!("{}; the policy allows {}% over", parts.join("; "), measure.threshold),
    })
}

/// Evaluates `facts` under `policy`.
pub fn evaluate(facts: &Facts, policy: &HealthPolicy) -> ProjectHealth {
    let thresholds = &policy.thresholds;
    let effort = burn(facts.total.baseline_hours, facts.total.actual_hours);
    let money = burn(facts.total.baseline_amount, facts.total.actual_amount);
    let roles: Vec<RoleBurn> = facts
        .roles
        .iter()
        .map(|line| RoleBurn {
            role: line.role.clone(),
            effort: burn(line.baseline_hours, line.actual_hours),
            money: burn(line.baseline_amount, line.actual_amount),
        })
        .collect();
    let mut breaches = Vec::new();

    let effort_lines: Vec<(&str, Burn)> = std::iter::once(("", effort.clone()))
        .chain(roles.iter().map(|r| (r.role.as_str(), r.effort.clone())))
        .collect();
    breaches.extend(burn_breach(
        &Measure {
            kind: kind::EFFORT_OVER_BASELINE,
            unit: "h",
            threshold: thresholds.effort_over_baseline_percent,
        },
        &effort_lines,
    ));
    let currency = facts.total.currency.clone();
    let money_lines: Vec<(&str, Burn)> = std::iter::once(("", money.clone()))
        .chain(roles.iter().map(|r| (r.role.as_str(), r.money.clone())))
        .collect();
    breaches.extend(burn_breach(
        &Measure {
            kind: kind::MONEY_OVER_BASELINE,
            unit: &currency,
            threshold: thresholds.money_over_baseline_percent,
        },
        &money_lines,
    ));

    let mut not_measured = vec![OVERDUE_TASKS_NOT_MEASURED.to_string()];
    let milestones: Vec<MilestoneVariance> = match &facts.milestones {
        Some(milestones) => milestones
            .iter()
            .map(|m| MilestoneVariance {
                id: m.id.clone(),
                name: m.name.clone(),
                due_date: m.due_date,
                status: m.status.clone(),
                days_late: if m.reached {
                    0
                } else {
                    (facts.today - m.due_date).num_days().max(0)
                },
            })
            .collect(),
        None => {
            not_measured
                .push("schedule variance: ERP has no project code, so no billing milestones, for the project".into());
            Vec::new()
        }
    };
    let schedule_variance_days = milestones.iter().map(|m| m.days_late).max().unwrap_or(0);
    let allowed_days = i64::from(thresholds.milestone_days_late);
    let late: Vec<String> = milestones
        .iter()
        .filter(|m| m.days_late > allowed_days)
        .map(|m| format!("{} (due {}) is {} days late", m.name, m.due_date, m.days_late))
        .collect();
    if !late.is_empty() {
        breaches.push(Breach {
            kind: kind::MILESTONE_LATE.into(),
            measured: Decimal::from(schedule_variance_days),
            threshold: Decimal::from(allowed_days),
            summary: format!("{}; the policy allows {allowed_days} days", late.join("; ")),
        });
    }

    if facts.unapproved_hours > thresholds.unapproved_hours {
        breaches.push(Breach {
            kind: kind::UNAPPROVED_EFFORT.into(),
            measured: facts.unapproved_hours,
            threshold: thresholds.unapproved_hours,
            summary: format!(
                "{} h submitted and not approved; the policy allows {} h",
                facts.unapproved_hours, thresholds.unapproved_hours
            ),
        });
    }

    let allowed_tickets = i64::from(thresholds.open_high_severity_tickets);
    if facts.open_high_severity_tickets > allowed_tickets {
        breaches.push(Breach {
            kind: kind::HIGH_SEVERITY_TICKETS.into(),
            measured: Decimal::from(facts.open_high_severity_tickets),
            threshold: Decimal::from(allowed_tickets),
            summary: format!(
                "{} open high or critical tickets ({} escalated); the policy allows {allowed_tickets}",
                facts.open_high_severity_tickets, facts.open_escalated_tickets
            ),
        });
    }

    ProjectHealth {
        project_id: facts.project_id.clone(),
        project_name: facts.project_name.clone(),
        currency,
        effort,
        money,
        roles,
        milestones,
        schedule_variance_days,
        unapproved_hours: facts.unapproved_hours,
        open_high_severity_tickets: facts.open_high_severity_tickets,
        open_escalated_tickets: facts.open_escalated_tickets,
        breaches,
        not_measured,
        policy_version: policy.version.clone(),
    }
}

#[cfg(test)]
mod tests;
