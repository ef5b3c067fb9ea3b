//! The forecast: checks the input, projects each role's remaining hours and cost, prices the
//! revenue by contract type, widens by the burn rate's spread, and compares with the floor.

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{AlertBasis, MarginAlert, MarginConfig, MarginForecast, Outcome, ProjectBurn, Range, RoleForecast};
use crate::InsightError;
use crate::sow::ContractType;

/// The most roles or periods one call may take.
pub const MAX_ROWS: usize = 10_000;

/// Forecasts cost, revenue and margin at completion for `burn`, with an interval at
/// `config.confidence`, and alerts when the margin falls below `config.floor` (see the module
/// documentation for the method). Bad input is [`InsightError::InvalidInput`] naming the field.
pub fn forecast(burn: &ProjectBurn, config: &MarginConfig) -> Result<MarginForecast, InsightError> {
    check(burn, config)?;
    let planned_to_date: Decimal = burn.roles.iter().map(|r| r.planned_hours_to_date).sum();
    let actual_to_date: Decimal = burn.roles.iter().map(|r| r.actual_hours_to_date).sum();
    let project_ratio = if planned_to_date > Decimal::ZERO {
        actual_to_date / planned_to_date
    } else {
        Decimal::ONE
    };

    // Each role's remaining hours, cost and billable value at the point forecast.
    let mut roles = Vec::with_capacity(burn.roles.len());
    let (mut cost_to_date, mut remaining_cost) = (Decimal::ZERO, Decimal::ZERO);
    let (mut billable_to_date, mut remaining_billable) = (Decimal::ZERO, Decimal::ZERO);
    let (mut baseline_cost, mut baseline_billable) = (Decimal::ZERO, Decimal::ZERO);
    for role in &burn.roles {
        let ratio = if role.planned_hours_to_date > Decimal::ZERO {
            role.actual_hours_to_date / role.planned_hours_to_date
        } else {
            project_ratio
        };
        let cost_rate = if role.actual_hours_to_date > Decimal::ZERO {
            role.actual_cost_to_date / role.actual_hours_to_date
        } else {
            role.cost_rate
        };
        let remaining_hours = (role.baseline_hours - role.planned_hours_to_date) * ratio;
        let role_remaining_cost = remaining_hours * cost_rate;
        cost_to_date += role.actual_cost_to_date;
        remaining_cost += role_remaining_cost;
        billable_to_date += role.actual_hours_to_date * role.bill_rate;
        remaining_billable += remaining_hours * role.bill_rate;
        baseline_cost += role.baseline_hours * role.cost_rate;
        baseline_billable += role.baseline_hours * role.bill_rate;
        roles.push(RoleForecast {
            role: role.role.clone(),
            burn_ratio: ratio.round_dp(4),
            actual_cost_rate: money(cost_rate),
            hours_at_completion: (role.actual_hours_to_date + remaining_hours).round_dp(2),
            cost_at_completion: money(role.actual_cost_to_date + role_remaining_cost),
        });
    }

    let write_off_rate = match burn.contract_type {
        ContractType::TimeAndMaterials if billable_to_date > Decimal::ZERO => {
            (Decimal::ONE - burn.revenue_recognised / billable_to_date).max(Decimal::ZERO)
        }
        _ => Decimal::ZERO,
    };
    // Revenue and cost when the remaining hours are scaled by `factor`.
    let at = |factor: Decimal| -> (Decimal, Decimal) {
        let cost = cost_to_date + remaining_cost * factor;
        let revenue = match burn.contract_type {
            ContractType::FixedFee => burn.contract_value,
            ContractType::TimeAndMaterials => {
                let uncapped = burn.revenue_recognised + remaining_billable * factor * (Decimal::ONE - write_off_rate);
                burn.cap.map_or(uncapped, |cap| uncapped.min(cap))
            }
        };
        (revenue, cost)
    };

    let (factor_low, factor_high) = interval_factors(burn, config)?;
    let mut factors = vec![factor_low, Decimal::ONE, factor_high];
    if let (ContractType::TimeAndMaterials, Some(cap)) = (burn.contract_type, burn.cap) {
        let per_factor = remaining_billable * (Decimal::ONE - write_off_rate);
        if per_factor > Decimal::ZERO {
            let kink = (cap - burn.revenue_recognised) / per_factor;
            if factor_low < kink && kink < factor_high {
                factors.push(kink);
            }
        }
    }
    let outcomes: Vec<(Decimal, Decimal)> = factors.iter().map(|&f| at(f)).collect();
    if outcomes.iter().any(|&(revenue, _)| revenue <= Decimal::ZERO) {
        return Err(InsightError::invalid(
            "roles",
            "no revenue at completion to measure a margin against (bill rates or contract value)",
        ));
    }
    let share = |(revenue, cost): (Decimal, Decimal)| (revenue - cost) / revenue;
    let span = |value: &dyn Fn((Decimal, Decimal)) -> Decimal, round: fn(Decimal) -> Decimal| {
        let values: Vec<Decimal> = outcomes.iter().map(|&o| value(o)).collect();
        Range {
            low: round(values.iter().copied().min().unwrap_or_default()),
            point: round(values[1]),
            high: round(values.iter().copied().max().unwrap_or_default()),
        }
    };
    let cost_at_completion = span(&|(_, cost)| cost, money);
    let revenue_at_completion = span(&|(revenue, _)| revenue, money);
    let margin_at_completion = span(&|(revenue, cost)| revenue - cost, money);
    let margin_percent = span(&share, percent);

    let planned_revenue = match burn.contract_type {
        ContractType::FixedFee => burn.contract_value,
        ContractType::TimeAndMaterials => burn.cap.map_or(baseline_billable, |cap| baseline_billable.min(cap)),
    };
    let planned = Outcome {
        revenue: money(planned_revenue),
        cost: money(baseline_cost),
        margin: money(planned_revenue - baseline_cost),
        margin_percent: percent(if planned_revenue > Decimal::ZERO {
            (planned_revenue - baseline_cost) / planned_revenue
        } else {
            Decimal::ZERO
        }),
    };

    let alert = alert(
        burn,
        config,
        margin_percent,
        revenue_at_completion.point,
        cost_at_completion.point,
    );
    Ok(MarginForecast {
        project: burn.project.clone(),
        contract_type: burn.contract_type,
        as_of: burn.as_of,
        planned,
        burn_ratio: project_ratio.round_dp(4),
        remaining_factor_low: factor_low,
        remaining_factor_high: factor_high,
        write_off_rate: write_off_rate.round_dp(4),
        cost_at_completion,
        revenue_at_completion,
        margin_at_completion,
        margin_percent,
        erosion: planned.margin_percent - margin_percent.point,
        roles,
        alert,
    })
}

/// The factors that scale the remaining hours at the interval's ends: the prediction interval
/// for the mean burn ratio of the `m` periods left, from the `n` past periods' ratios, relative
/// to their mean.
fn interval_factors(burn: &ProjectBurn, config: &MarginConfig) -> Result<(Decimal, Decimal), InsightError> {
    let ratios: Vec<f64> = burn
        .periods
        .iter()
        .filter(|p| p.planned_hours > Decimal::ZERO)
        .filter_map(|p| (p.actual_hours / p.planned_hours).to_f64())
        .collect();
    if ratios.len() < 2 {
        return Err(InsightError::invalid(
            "periods",
            "at least 2 past periods with planned hours are needed to measure the burn rate's spread",
        ));
    }
    if burn.remaining_periods == 0 {
        return Ok((Decimal::ONE, Decimal::ONE));
    }
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return Err(InsightError::invalid("periods", "no actual hours in the past periods"));
    }
    let variance = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let confidence = config.confidence.to_f64().unwrap_or(0.9);
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .map_err(|error| InsightError::invalid("periods", error.to_string()))?
        .inverse_cdf((1.0 + confidence) / 2.0);
    let half_width = t * variance.sqrt() * (1.0 / n + 1.0 / f64::from(burn.remaining_periods)).sqrt();
    let relative = Decimal::from_f64(half_width / mean).unwrap_or_default().round_dp(6);
    Ok(((Decimal::ONE - relative).max(Decimal::ZERO), Decimal::ONE + relative))
}

fn alert(
    burn: &ProjectBurn,
    config: &MarginConfig,
    margin_percent: Range,
    revenue: Decimal,
    cost: Decimal,
) -> Option<MarginAlert> {
    if margin_percent.point >= config.floor {
        return None;
    }
    let basis = if margin_percent.high < config.floor {
        AlertBasis::UpperBound
    } else {
        AlertBasis::Point
    };
    let month_end = month_end(burn.as_of);
    let days_before_month_end = (month_end - burn.as_of).num_days();
    let shortfall = money(config.floor * revenue - (revenue - cost));
    let pct = |share: Decimal| (share * Decimal::ONE_HUNDRED).round_dp(2).normalize();
    let sure = match basis {
        AlertBasis::UpperBound => "even the interval's best case is below it",
        AlertBasis::Point => "the interval's best case still clears it",
    };
    let reason = format!(
        "{}: margin at completion forecast at {}% (interval {}% to {}%) against a floor of {}%, \
         {:.2} short on revenue of {:.2} and cost of {:.2}; {sure}. Raised {days_before_month_end} days \
         before the month end of {month_end}.",
        burn.project,
        pct(margin_percent.point),
        pct(margin_percent.low),
        pct(margin_percent.high),
        pct(config.floor),
        shortfall,
        money(revenue),
        money(cost),
    );
    Some(MarginAlert {
        basis,
        floor: config.floor,
        margin_percent,
        shortfall,
        month_end,
        days_before_month_end,
        reason,
    })
}

fn month_end(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .unwrap_or(date)
}

fn money(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn percent(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
}

fn check(burn: &ProjectBurn, config: &MarginConfig) -> Result<(), InsightError> {
    let invalid = |field: String, why: &str| Err(InsightError::invalid(field, why));
    if burn.project.trim().is_empty() {
        return invalid("project".into(), "must not be empty");
    }
    if burn.roles.is_empty() {
        return invalid("roles".into(), "at least one role is needed");
    }
    if burn.roles.len() > MAX_ROWS || burn.periods.len() > MAX_ROWS {
        return Err(InsightError::invalid(
            "roles",
            format!("at most {MAX_ROWS} roles and {MAX_ROWS} periods per call"),
        ));
    }
    match burn.contract_type {
        ContractType::FixedFee if burn.contract_value <= Decimal::ZERO => {
            return invalid("contract_value".into(), "a fixed fee must be more than 0");
        }
        ContractType::FixedFee if burn.cap.is_some() => {
            return invalid("cap".into(), "only a time-and-materials contract has a cap");
        }
        _ => {}
    }
    if burn.cap.is_some_and(|cap| cap <= Decimal::ZERO) {
        return invalid("cap".into(), "must be more than 0");
    }
    if burn.contract_value < Decimal::ZERO {
        return invalid("contract_value".into(), "must not be negative");
    }
    if burn.revenue_recognised < Decimal::ZERO {
        return invalid("revenue_recognised".into(), "must not be negative");
    }
    for (position, role) in burn.roles.iter().enumerate() {
        let field = |name: &str| format!("roles[{position}].{name}");
        if role.role.trim().is_empty() {
            return invalid(field("role"), "must not be empty");
        }
        for (name, value) in [
            ("cost_rate", role.cost_rate),
            ("bill_rate", role.bill_rate),
            ("baseline_hours", role.baseline_hours),
            ("planned_hours_to_date", role.planned_hours_to_date),
            ("actual_hours_to_date", role.actual_hours_to_date),
            ("actual_cost_to_date", role.actual_cost_to_date),
        ] {
            if value < Decimal::ZERO {
                return invalid(field(name), "must not be negative");
            }
        }
        if role.planned_hours_to_date > role.baseline_hours {
            return invalid(field("planned_hours_to_date"), "must not exceed baseline_hours");
        }
        if burn.contract_type == ContractType::TimeAndMaterials && role.bill_rate <= Decimal::ZERO {
            return invalid(field("bill_rate"), "a time-and-materials role must bill more than 0");
        }
    }
    for (position, period) in burn.periods.iter().enumerate() {
        if period.planned_hours < Decimal::ZERO || period.actual_hours < Decimal::ZERO {
            return invalid(format!("periods[{position}]"), "hours must not be negative");
        }
    }
    let remaining: Decimal = burn
        .roles
        .iter()
        .map(|r| r.baseline_hours - r.planned_hours_to_date)
        .sum();
    if remaining > Decimal::ZERO && burn.remaining_periods == 0 {
        return invalid(
            "remaining_periods".into(),
            "hours remain in the plan, so at least 1 period does",
        );
    }
    if config.confidence <= Decimal::ZERO || config.confidence >= Decimal::ONE {
        return invalid("confidence".into(), "must be between 0 and 1");
    }
    if config.floor >= Decimal::ONE {
        return invalid("floor".into(), "a margin share must be below 1");
    }
    Ok(())
}
