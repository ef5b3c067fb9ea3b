//! Margin erosion and estimate at completion, for fixed-fee and time-and-materials projects.
//! A forecast recommends attention; it never changes a budget, a rate card or a revenue
//! schedule.
//!
//! ## The method
//!
//! **Point forecast.** Each role's remaining plan (baseline hours less the hours planned to
//! date) is scaled by that role's burn ratio so far (actual hours over planned hours to date;
//! a role with nothing planned yet takes the project's ratio) and costed at the role's actual
//! cost rate so far (actual cost over actual hours; its planned rate before any hours). Cost at
//! completion is the actual cost plus that remaining cost.
//!
//! - *Fixed fee*: revenue at completion is the contract value; an overrun in hours or a
//!   dearer mix of people erodes the margin one for one.
//! - *Time and materials*: revenue at completion is the revenue recognised so far plus the
//!   remaining hours at each role's bill rate, less the write-off rate seen so far (one minus
//!   revenue recognised over actual hours at bill rates), and no more than the cap
//!   (not-to-exceed) when there is one. Hours that overrun are billed, so the margin erodes with
//!   the cost-rate mix, write-offs, and hours past the cap.
//!
//! **Interval.** The burn ratio of each past period (actual over planned hours, project-wide)
//! is taken as a draw from the project's own distribution. With `n` past periods of mean `r̄`
//! and standard deviation `s`, and `m` periods left, the mean ratio of the periods left lies in
//! `r̄ ± t · s · √(1/n + 1/m)` at the configured confidence (`t` the Student quantile with
//! `n − 1` degrees of freedom: the prediction interval for the mean of `m` further draws). The
//! remaining hours of every role are scaled by the interval's ends relative to `r̄`, and cost,
//! revenue and margin are computed at each end (and at the cap's kink when it falls inside).
//! This measures the noise of the burn rate, not a trend: a project whose overrun is growing
//! is outside what the interval describes (docs/insight.md gives the measured coverage).
//!
//! **Alert.** An alert is raised when the point forecast of margin at completion (as a share of
//! revenue) is below the policy floor. Its basis says how sure it is:
//! [`AlertBasis::UpperBound`] when even the interval's best margin is below the floor,
//! [`AlertBasis::Point`] when only the point is. It names the month end it anticipates and the
//! numbers: margin, floor, the shortfall in money, cost and revenue at completion.
//!
//! Money is decimal throughout and rounded to cents at the end; ratios are rounded to four
//! decimal places (margins) or six (scale factors). Only the interval's width is computed in
//! floating point.

mod forecast;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use forecast::forecast;

use crate::sow::ContractType;

/// One role's plan and burn to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleBurn {
    pub role: String,
    /// Planned cost of an hour.
    pub cost_rate: Decimal,
    /// What an hour is billed at (time and materials; ignored for a fixed fee).
    pub bill_rate: Decimal,
    /// Hours the baseline plans for the whole project.
    pub baseline_hours: Decimal,
    /// Hours the baseline planned up to the forecast date.
    pub planned_hours_to_date: Decimal,
    pub actual_hours_to_date: Decimal,
    pub actual_cost_to_date: Decimal,
}

/// One past period (a week or a month): project-wide planned and actual hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodBurn {
    pub period_end: NaiveDate,
    pub planned_hours: Decimal,
    pub actual_hours: Decimal,
}

/// A project's plan and burn, as of a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectBurn {
    pub project: String,
    pub contract_type: ContractType,
    /// The fixed fee; for time and materials, the SOW's estimate (reported, not used).
    pub contract_value: Decimal,
    /// Time and materials only: the not-to-exceed amount.
    pub cap: Option<Decimal>,
    /// Revenue recognised up to the forecast date.
    pub revenue_recognised: Decimal,
    pub as_of: NaiveDate,
    /// Periods of the plan still to come (same length as `periods`).
    pub remaining_periods: u32,
    pub roles: Vec<RoleBurn>,
    pub periods: Vec<PeriodBurn>,
}

/// The firm's margin policy and the interval's confidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarginConfig {
    /// The lowest acceptable margin at completion, as a share of revenue (0.25 is 25%).
    pub floor: Decimal,
    /// The interval's confidence, in (0, 1).
    pub confidence: Decimal,
}

impl Default for MarginConfig {
    fn default() -> Self {
        MarginConfig {
            floor: Decimal::new(25, 2),
            confidence: Decimal::new(90, 2),
        }
    }
}

/// A forecast figure with its interval: `low ≤ point ≤ high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub low: Decimal,
    pub point: Decimal,
    pub high: Decimal,
}

impl Range {
    /// Whether `value` lies in the interval, ends included.
    pub fn contains(&self, value: Decimal) -> bool {
        self.low <= value && value <= self.high
    }
}

/// Revenue, cost and margin of one outcome (the baseline plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub revenue: Decimal,
    pub cost: Decimal,
    pub margin: Decimal,
    pub margin_percent: Decimal,
}

/// One role's share of the forecast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleForecast {
    pub role: String,
    pub burn_ratio: Decimal,
    pub actual_cost_rate: Decimal,
    pub hours_at_completion: Decimal,
    pub cost_at_completion: Decimal,
}

/// How sure an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertBasis {
    /// The point forecast is below the floor; the interval's best case is not.
    Point,
    /// Even the interval's best margin is below the floor.
    UpperBound,
}

/// Margin at completion forecast below the floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginAlert {
    pub basis: AlertBasis,
    pub floor: Decimal,
    pub margin_percent: Range,
    /// What the margin at completion falls short of the floor by, in money (at the point).
    pub shortfall: Decimal,
    /// The month end this alert anticipates: the end of the forecast date's month.
    pub month_end: NaiveDate,
    pub days_before_month_end: i64,
    pub reason: String,
}

/// Cost, revenue and margin at completion, with intervals, and the alert when the margin
/// falls below the floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginForecast {
    pub project: String,
    pub contract_type: ContractType,
    pub as_of: NaiveDate,
    /// The baseline: what the plan promised.
    pub planned: Outcome,
    /// Actual over planned hours to date, project-wide.
    pub burn_ratio: Decimal,
    /// The factors the remaining hours were scaled by at the interval's ends (1 is the point).
    pub remaining_factor_low: Decimal,
    pub remaining_factor_high: Decimal,
    /// Time and materials: the share of billable value not recognised so far.
    pub write_off_rate: Decimal,
    pub cost_at_completion: Range,
    pub revenue_at_completion: Range,
    pub margin_at_completion: Range,
    /// Margin as a share of revenue.
    pub margin_percent: Range,
    /// Planned margin share less the point forecast's.
    pub erosion: Decimal,
    pub roles: Vec<RoleForecast>,
    pub alert: Option<MarginAlert>,
}
