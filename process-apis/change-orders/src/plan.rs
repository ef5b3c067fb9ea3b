//! What a change order will do, worked out once by `fetch` from the records as they were (the
//! before-images) and journaled: every later step applies its part of the plan, every undo
//! restores its part of the before-images. Pure: no calls.
//!
//! The delta amount is spread over the affected milestones exactly as PSA spreads it when the
//! change request is applied: in proportion to the milestones' amounts before the change
//! (equally when they are all zero), by the largest-remainder method of
//! [`keel_core::Money::allocate`], in the order the change request names them.

use std::str::FromStr;

use keel_core::{Currency, Error, Money};
use keel_proto::erp::{BillingMilestone, BudgetLine as ErpBudgetLine, RevenueSchedule};
use keel_proto::psa::{ChangeRequest, Project};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One ERP budget line (amounts in minor units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub role: String,
    /// Decimal string.
    pub hours: String,
    pub amount_minor: i64,
}

/// One ERP billing milestone the change moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneMove {
    /// The ERP milestone id.
    pub erp_id: String,
    /// The PSA milestone it mirrors (PSA's id: its position, `"1"` for the first).
    pub psa_id: String,
    pub name: String,
    /// The ERP version read by `fetch`: the forward update expects it.
    pub version: i64,
    pub before_minor: i64,
    pub after_minor: i64,
}

/// The revenue schedule's contract value, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueMove {
    pub version: i64,
    pub before_minor: i64,
    pub after_minor: i64,
}

/// What `fetch` journals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub change_request_id: String,
    /// The change request's version when fetched: `psa-apply` expects it.
    pub change_request_version: i64,
    pub project_id: String,
    pub client_id: String,
    pub title: String,
    pub description: String,
    pub role: String,
    /// Decimal strings.
    pub delta_hours: String,
    pub delta_amount: String,
    pub currency: String,
    pub project_code: String,
    /// The ERP budget version read: the forward update expects it.
    pub budget_version: i64,
    pub budget_before: Vec<Line>,
    pub budget_after: Vec<Line>,
    /// Per affected PSA milestone, PSA's share of the delta (minor units), in the change
    /// request's order.
    pub shares: Vec<(String, i64)>,
    /// The ERP milestones that mirror affected PSA milestones (by name). A PSA milestone not
    /// yet in ERP has nothing to move there: ERP takes it at its PSA amount when it is posted.
    pub milestones: Vec<MilestoneMove>,
    /// `None` when the project code has no revenue schedule yet.
    pub revenue: Option<RevenueMove>,
}

fn decimal(field: &str, text: &str) -> Result<Decimal, Error> {
    Decimal::from_str(text.trim()).map_err(|_| Error::FailedPrecondition(format!("{field} {text:?} is not a decimal")))
}

fn minor(money: Option<&keel_proto::common::Money>, currency: Currency, what: &str) -> Result<i64, Error> {
    let money = money.ok_or_else(|| Error::FailedPrecondition(format!("{what} has no amount")))?;
    if money.currency != currency.code() {
        return Err(Error::FailedPrecondition(format!(
            "{what} is in {}, the change request in {}",
            money.currency,
            currency.code()
        )));
    }
    let amount = decimal(what, &money.amount)?;
    Money::new(amount, currency)
        .map(|m| m.to_minor_units())
        .map_err(|e| Error::FailedPrecondition(format!("{what}: {e}")))
}

fn negative(what: &str) -> Error {
    Error::FailedPrecondition(format!("the change would make {what} negative"))
}

/// What the change order will do, from the change request and the records it touches.
pub fn plan(
    request: &ChangeRequest,
    project: &Project,
    project_code: &str,
    budget: Option<&keel_proto::erp::Budget>,
    erp_milestones: &[BillingMilestone],
    revenue: Option<&RevenueSchedule>,
) -> Result<Plan, Error> {
    let delta_money = request
        .delta_amount
        .as_ref()
        .ok_or_else(|| Error::FailedPrecondition(format!("change request {} has no delta amount", request.id)))?;
    let currency = Currency::parse(&delta_money.currency).map_err(Error::FailedPrecondition)?;
    let delta_hours = decimal("delta_hours", &request.delta_hours)?;
    let delta = minor(Some(delta_money), currency, "the delta amount")?;

    // The ERP budget: the role's line moved by the delta, or a new line after the last.
    let budget = budget
        .ok_or_else(|| Error::FailedPrecondition(format!("project code {project_code} has no budget posted in ERP")))?;
    let budget_before = budget
        .lines
        .iter()
        .map(|l| {
            Ok(Line {
                role: l.role.clone(),
                hours: l.hours.clone(),
                amount_minor: minor(l.amount.as_ref(), currency, "an ERP budget line")?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut budget_after = budget_before.clone();
    match budget_after.iter_mut().find(|l| l.role == request.role) {
        Some(line) => {
            let hours = decimal("an ERP budget line's hours", &line.hours)? + delta_hours;
            line.hours = hours.normalize().to_string();
            line.amount_minor += delta;
        }
        None => budget_after.push(Line {
            role: request.role.clone(),
            hours: delta_hours.normalize().to_string(),
            amount_minor: delta,
        }),
    }
    for line in &budget_after {
        if decimal("hours", &line.hours)? < Decimal::ZERO || line.amount_minor < 0 {
            return Err(negative(&format!("the ERP budget line of role {:?}", line.role)));
        }
    }

    // The delta spread over the affected milestones as PSA spreads it.
    let mut affected = Vec::with_capacity(request.affected_milestone_ids.len());
    for id in &request.affected_milestone_ids {
        let milestone = project
            .milestones
            .iter()
            .find(|m| &m.id == id)
            .ok_or_else(|| Error::FailedPrecondition(format!("project {} has no milestone {id}", project.id)))?;
        affected.push(milestone);
    }
    let amounts = affected
        .iter()
        .map(|m| minor(m.amount.as_ref(), currency, &format!("PSA milestone {}", m.id)))
        .collect::<Result<Vec<_>, Error>>()?;
    let shares = spread(delta, currency, &amounts)?;
    let shares: Vec<(String, i64)> = affected.iter().map(|m| m.id.clone()).zip(shares).collect();

    let mut milestones = Vec::new();
    for (milestone, (psa_id, share)) in affected.iter().zip(&shares) {
        let Some(erp) = erp_milestones.iter().find(|e| e.name == milestone.name) else {
            continue;
        };
        let before_minor = minor(erp.amount.as_ref(), currency, &format!("ERP milestone {}", erp.name))?;
        let after_minor = before_minor + share;
        if after_minor <= 0 {
            return Err(Error::FailedPrecondition(format!(
                "the change would leave ERP milestone {:?} at zero or less",
                erp.name
            )));
        }
        milestones.push(MilestoneMove {
            erp_id: erp.id.clone(),
            psa_id: psa_id.clone(),
            name: erp.name.clone(),
            version: erp.version,
            before_minor,
            after_minor,
        });
    }

    let revenue = match revenue {
        Some(schedule) => {
            let before_minor = minor(schedule.contract_value.as_ref(), currency, "the revenue schedule")?;
            let after_minor = before_minor + delta;
            if after_minor < 0 {
                return Err(negative("the revenue schedule's contract value"));
            }
            Some(RevenueMove {
                version: schedule.version,
                before_minor,
                after_minor,
            })
        }
        None => None,
    };

    Ok(Plan {
        change_request_id: request.id.clone(),
        change_request_version: request.version,
        project_id: project.id.clone(),
        client_id: project.account_id.clone(),
        title: request.title.clone(),
        description: request.description.clone(),
        role: request.role.clone(),
        delta_hours: delta_hours.normalize().to_string(),
        delta_amount: Money::from_minor_units(delta, currency).amount().to_string(),
        currency: currency.code().to_string(),
        project_code: project_code.to_string(),
        budget_version: budget.version,
        budget_before,
        budget_after,
        shares,
        milestones,
        revenue,
    })
}

/// Splits `delta` (minor units) over milestones of `amounts` as PSA does: by their amounts,
/// equally when they are all zero; no split of a zero delta.
pub fn spread(delta: i64, currency: Currency, amounts: &[i64]) -> Result<Vec<i64>, Error> {
    if delta == 0 {
        return Ok(vec![0; amounts.len()]);
    }
    if amounts.is_empty() {
        return Err(Error::FailedPrecondition(
            "the change moves money but names no milestone to carry it".into(),
        ));
    }
    let mut weights: Vec<Decimal> = amounts.iter().map(|a| Decimal::from(*a)).collect();
    if weights.iter().all(|w| w.is_zero()) {
        weights = vec![Decimal::ONE; amounts.len()];
    }
    let shares = Money::from_minor_units(delta, currency).allocate(&weights);
    if shares.len() != amounts.len() {
        return Err(Error::FailedPrecondition(
            "the change moves money but names no milestone to carry it".into(),
        ));
    }
    Ok(shares.iter().map(Money::to_minor_units).collect())
}

impl Plan {
    /// The change request's currency.
    pub fn currency(&self) -> Result<Currency, Error> {
        Currency::parse(&self.currency).map_err(Error::internal)
    }

    /// Minor units as the system APIs' money.
    pub fn money(&self, minor: i64) -> Result<keel_proto::common::Money, Error> {
        Ok(Money::from_minor_units(minor, self.currency()?).to_proto())
    }

    /// Budget lines as ERP takes them.
    pub fn erp_lines(&self, lines: &[Line]) -> Result<Vec<ErpBudgetLine>, Error> {
        lines
            .iter()
            .map(|l| {
                Ok(ErpBudgetLine {
                    role: l.role.clone(),
                    hours: l.hours.clone(),
                    amount: Some(self.money(l.amount_minor)?),
                })
            })
            .collect()
    }

    /// Whether ERP's lines are the given ones (hours compared as decimals).
    pub fn same_lines(&self, erp: &[ErpBudgetLine], lines: &[Line]) -> bool {
        let Ok(currency) = self.currency() else { return false };
        erp.len() == lines.len()
            && erp.iter().zip(lines).all(|(e, l)| {
                e.role == l.role
                    && Decimal::from_str(&e.hours).ok() == Decimal::from_str(&l.hours).ok()
                    && minor(e.amount.as_ref(), currency, "line").ok() == Some(l.amount_minor)
            })
    }

    /// The title the document is filed under: it names the change request, so an undo finds
    /// the document whatever the step journaled.
    pub fn document_title(&self) -> String {
        format!("Change order: {} ({})", self.title, self.change_request_id)
    }
}

/// Minor units of an amount read back from a system API in `currency`.
pub fn minor_of(money: Option<&keel_proto::common::Money>, currency: Currency) -> Result<i64, Error> {
    minor(money, currency, "an amount")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn the_spread_matches_psa_rounding_and_sums_to_the_delta() {
        // PSA's own case: 4000.01 over 30000 and 70000 is 1200.00 and 2800.01.
        assert_eq!(
            spread(400_001, eur(), &[3_000_000, 7_000_000]).unwrap(),
            [120_000, 280_001]
        );
        // Negative deltas keep their sign; zero milestones share equally.
        assert_eq!(spread(-100, eur(), &[0, 0, 0]).unwrap(), [-34, -33, -33]);
        assert_eq!(spread(0, eur(), &[5, 6]).unwrap(), [0, 0]);
        let error = spread(10, eur(), &[]).unwrap_err();
        assert!(matches!(error, Error::FailedPrecondition(_)));
        for (delta, amounts) in [
            (1_i64, vec![1_i64, 1, 1]),
            (-99_999, vec![3, 7, 11]),
            (12_345, vec![100]),
        ] {
            let shares = spread(delta, eur(), &amounts).unwrap();
            assert_eq!(shares.iter().sum::<i64>(), delta, "{delta} over {amounts:?}");
        }
    }
}
