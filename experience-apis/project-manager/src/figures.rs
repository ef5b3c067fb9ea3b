//! Burn and the estimate at completion, computed exactly (`rust_decimal`, never floats) from
//! PSA's actuals: approved and posted time by role, priced at the rate card when it was
//! recorded, against the budget baseline.

use std::str::FromStr;

use keel_core::Error;
use keel_proto::common::Money as MoneyMessage;
use keel_proto::psa::{ProjectActuals, RoleActuals};
use rust_decimal::Decimal;

use crate::Money;
use crate::model::{Burn, EstimateAtCompletion};

/// How [`estimate_at_completion`] is computed, as the API says it.
pub(crate) const EAC_METHOD: &str = "actuals (approved and posted time at its rates) plus, for each role, the baseline \
     not yet spent (baseline minus actuals, never below zero); a role already over its baseline is assumed finished";

fn decimal(text: &str) -> Result<Decimal, Error> {
    if text.trim().is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(text.trim()).map_err(|e| Error::internal(format!("PSA sent {text:?} as a decimal: {e}")))
}

fn amount(money: &Option<MoneyMessage>) -> Result<Decimal, Error> {
    money.as_ref().map_or(Ok(Decimal::ZERO), |m| decimal(&m.amount))
}

fn currency(actuals: &ProjectActuals) -> String {
    actuals
        .total
        .as_ref()
        .and_then(|t| t.baseline_amount.as_ref())
        .map(|m| m.currency.clone())
        .unwrap_or_default()
}

fn money(amount: Decimal, currency: &str) -> Money {
    Money {
        amount: amount.normalize().to_string_with_scale(),
        currency: currency.to_string(),
    }
}

trait WithScale {
    fn to_string_with_scale(self) -> String;
}

impl WithScale for Decimal {
    /// At least two decimal places, as money is written.
    fn to_string_with_scale(self) -> String {
        let mut value = self;
        if value.scale() < 2 {
            value.rescale(2);
        }
        value.to_string()
    }
}

/// Approved (and posted, which was approved first) hours and money of one role or the total.
fn actual(role: &RoleActuals) -> Result<(Decimal, Decimal), Error> {
    Ok((
        decimal(&role.approved_hours)? + decimal(&role.posted_hours)?,
        amount(&role.approved_amount)? + amount(&role.posted_amount)?,
    ))
}

/// Burn: approved hours × rate ÷ budget. `None` when PSA sent no total.
pub(crate) fn burn(actuals: &ProjectActuals) -> Result<Option<Burn>, Error> {
    let Some(total) = actuals.total.as_ref() else {
        return Ok(None);
    };
    let currency = currency(actuals);
    let budget = amount(&total.baseline_amount)?;
    let (hours, spent) = actual(total)?;
    let ratio = if budget.is_zero() { None } else { Some(spent / budget) };
    Ok(Some(Burn {
        budget: money(budget, &currency),
        budget_hours: decimal(&total.baseline_hours)?.normalize().to_string(),
        approved_hours: hours.normalize().to_string(),
        approved_amount: money(spent, &currency),
        burn_ratio: ratio.map(|r| r.round_dp(6).normalize().to_string()),
        burn_percent: ratio.map(|r| (r * Decimal::ONE_HUNDRED).round_dp(2).normalize().to_string()),
    }))
}

/// The estimate at completion (see [`EAC_METHOD`]). `None` when PSA sent no total.
pub(crate) fn estimate_at_completion(actuals: &ProjectActuals) -> Result<Option<EstimateAtCompletion>, Error> {
    let Some(total) = actuals.total.as_ref() else {
        return Ok(None);
    };
    let currency = currency(actuals);
    let mut hours = Decimal::ZERO;
    let mut spend = Decimal::ZERO;
    for role in &actuals.roles {
        let (spent_hours, spent) = actual(role)?;
        let planned_hours = decimal(&role.baseline_hours)?;
        let planned = amount(&role.baseline_amount)?;
        hours += spent_hours + (planned_hours - spent_hours).max(Decimal::ZERO);
        spend += spent + (planned - spent).max(Decimal::ZERO);
    }
    let budget = amount(&total.baseline_amount)?;
    Ok(Some(EstimateAtCompletion {
        amount: money(spend, &currency),
        hours: hours.normalize().to_string(),
        variance_to_budget: money(spend - budget, &currency),
        method: EAC_METHOD.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: &str) -> Option<MoneyMessage> {
        Some(MoneyMessage {
            amount: amount.into(),
            currency: "EUR".into(),
        })
    }

    fn role(name: &str, baseline: (&str, &str), approved: (&str, &str), posted: (&str, &str)) -> RoleActuals {
        RoleActuals {
            role: name.into(),
            baseline_hours: baseline.0.into(),
            baseline_amount: eur(baseline.1),
            approved_hours: approved.0.into(),
            approved_amount: eur(approved.1),
            posted_hours: posted.0.into(),
            posted_amount: eur(posted.1),
            ..Default::default()
        }
    }

    fn actuals() -> ProjectActuals {
        // The engagement manager is 12 hours over 108; the architect has spent 10 of 100.
        let roles = vec![
            role(
                "engagement-manager",
                ("108", "21600.00"),
                ("0", "0.00"),
                ("120", "24000.00"),
            ),
            role(
                "solution-architect",
                ("100", "25000.00"),
                ("10", "2500.00"),
                ("0", "0.00"),
            ),
        ];
        ProjectActuals {
            project_id: "p".into(),
            roles,
            total: Some(role("", ("208", "46600.00"), ("10", "2500.00"), ("120", "24000.00"))),
        }
    }

    #[test]
    fn burn_is_approved_and_posted_money_over_the_budget_exactly() {
        let burn = burn(&actuals()).unwrap().unwrap();
        assert_eq!(burn.approved_hours, "130");
        assert_eq!(burn.approved_amount.amount, "26500.00");
        assert_eq!(burn.budget.amount, "46600.00");
        assert_eq!(burn.budget.currency, "EUR");
        // 26500 / 46600 = 0.568669527897...
        assert_eq!(burn.burn_ratio.as_deref(), Some("0.56867"));
        assert_eq!(burn.burn_percent.as_deref(), Some("56.87"));
    }

    #[test]
    fn a_zero_budget_has_no_burn_ratio() {
        let mut zero = actuals();
        zero.total = Some(role("", ("0", "0.00"), ("1", "10.00"), ("0", "0.00")));
        let burn = burn(&zero).unwrap().unwrap();
        assert_eq!(burn.burn_ratio, None);
        assert_eq!(burn.burn_percent, None);
    }

    #[test]
    fn the_estimate_adds_the_unspent_baseline_and_keeps_an_overrun() {
        let eac = estimate_at_completion(&actuals()).unwrap().unwrap();
        // 24000 spent (over 21600) + 2500 spent and 22500 still planned.
        assert_eq!(eac.amount.amount, "49000.00");
        assert_eq!(eac.hours, "220");
        assert_eq!(eac.variance_to_budget.amount, "2400.00");
    }
}
