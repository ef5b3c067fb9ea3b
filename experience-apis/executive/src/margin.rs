//! A project's margin as ERP booked it: pure, over the journals with a line for its code.
//!
//! Revenue is what the code's lines post, in the code's own legal entity, to services revenue
//! (4000), credits less debits; cost is what they post there to cost of services (5000) and
//! project expenses (5100), debits less credits; margin is revenue less cost. An intercompany
//! posting books the cost in the project's entity too, so it counts once. A line in another
//! currency than the code's is not summed into it: it is counted apart, so the figure never
//! mixes currencies.

use std::collections::HashMap;
use std::str::FromStr;

use keel_core::Error;
use keel_proto::erp::{Journal, ProjectCode};
use rust_decimal::Decimal;

/// Services revenue in the canonical chart every ERP adapter maps to.
pub const SERVICES_REVENUE: &str = "4000";
/// Cost of services (time) in the canonical chart.
pub const COST_OF_SERVICES: &str = "5000";
/// Project expenses in the canonical chart.
pub const PROJECT_EXPENSES: &str = "5100";

/// What ERP booked for one project code, in the code's currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Booked {
    pub revenue: Decimal,
    pub cost: Decimal,
    /// Lines for the code in another currency, left out of revenue and cost.
    pub lines_in_other_currencies: u32,
}

impl Booked {
    /// Revenue less cost.
    pub fn margin(&self) -> Decimal {
        self.revenue - self.cost
    }
}

fn amount(money: &Option<keel_proto::common::Money>) -> Result<Option<(Decimal, &str)>, Error> {
    match money {
        Some(m) if !m.amount.is_empty() => {
            let value = Decimal::from_str(&m.amount)
                .map_err(|e| Error::internal(format!("ERP sent the amount {:?}: {e}", m.amount)))?;
            Ok(Some((value, m.currency.as_str())))
        }
        _ => Ok(None),
    }
}

/// What `journals` book for each of `codes`, by code (`PRJ-000001`). Every code is in the
/// answer, at zero when nothing was booked.
pub fn booked_by_code(journals: &[Journal], codes: &[ProjectCode]) -> Result<HashMap<String, Booked>, Error> {
    let by_code: HashMap<&str, &ProjectCode> = codes.iter().map(|c| (c.code.as_str(), c)).collect();
    let mut booked: HashMap<String, Booked> = codes.iter().map(|c| (c.code.clone(), Booked::default())).collect();
    for line in journals.iter().flat_map(|j| &j.lines) {
        let Some(code) = by_code.get(line.project_code.as_str()) else {
            continue;
        };
        if line.legal_entity != code.legal_entity {
            continue;
        }
        let revenue = line.account_code == SERVICES_REVENUE;
        let cost = line.account_code == COST_OF_SERVICES || line.account_code == PROJECT_EXPENSES;
        if !revenue && !cost {
            continue;
        }
        let entry = booked.entry(code.code.clone()).or_default();
        let mut debit_less_credit = Decimal::ZERO;
        let mut foreign = false;
        for (side, sign) in [(&line.debit, Decimal::ONE), (&line.credit, Decimal::NEGATIVE_ONE)] {
            if let Some((value, currency)) = amount(side)? {
                if currency == code.currency {
                    debit_less_credit += value * sign;
                } else {
                    foreign = true;
                }
            }
        }
        if foreign {
            entry.lines_in_other_currencies += 1;
            continue;
        }
        if revenue {
            entry.revenue -= debit_less_credit;
        } else {
            entry.cost += debit_less_credit;
        }
    }
    Ok(booked)
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money;
    use keel_proto::erp::JournalLine;

    use super::*;

    fn money(amount: &str, currency: &str) -> Option<Money> {
        Some(Money {
            amount: amount.into(),
            currency: currency.into(),
        })
    }

    fn line(entity: &str, account: &str, code: &str, debit: Option<&str>, credit: Option<&str>) -> JournalLine {
        JournalLine {
            legal_entity: entity.into(),
            account_code: account.into(),
            project_code: code.into(),
            debit: debit.and_then(|d| money(d, "EUR")),
            credit: credit.and_then(|c| money(c, "EUR")),
            ..Default::default()
        }
    }

    fn code(code: &str) -> ProjectCode {
        ProjectCode {
            code: code.into(),
            legal_entity: "UK01".into(),
            currency: "EUR".into(),
            ..Default::default()
        }
    }

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn revenue_and_cost_of_the_codes_own_entity_make_its_margin() {
        let journals = vec![
            Journal {
                lines: vec![
                    // Time at cost: booked in the project's entity and, intercompany, in the
                    // person's; only the project's side is the project's cost.
                    line("UK01", "5000", "PRJ-1", Some("1700.00"), None),
                    line("UK01", "2300", "PRJ-1", None, Some("1700.00")),
                    line("DE01", "1300", "PRJ-1", Some("1700.00"), None),
                    line("DE01", "5000", "PRJ-1", None, Some("1700.00")),
                ],
                ..Default::default()
            },
            Journal {
                lines: vec![
                    line("UK01", "1200", "PRJ-1", Some("5000.00"), None),
                    line("UK01", "4000", "PRJ-1", None, Some("5000.00")),
                ],
                ..Default::default()
            },
            Journal {
                // A reversal of part of the cost, and an expense.
                lines: vec![
                    line("UK01", "5000", "PRJ-1", None, Some("170.00")),
                    line("UK01", "5100", "PRJ-1", Some("80.10"), None),
                    line("UK01", "5000", "PRJ-2", Some("999.00"), None),
                    line("UK01", "5000", "", Some("5.00"), None),
                ],
                ..Default::default()
            },
        ];
        let booked = booked_by_code(&journals, &[code("PRJ-1"), code("PRJ-3")]).unwrap();
        let one = &booked["PRJ-1"];
        assert_eq!(one.revenue, d("5000.00"));
        assert_eq!(one.cost, d("1610.10"));
        assert_eq!(one.margin(), d("3389.90"));
        assert_eq!(one.lines_in_other_currencies, 0);
        assert_eq!(booked["PRJ-3"], Booked::default());
        assert!(!booked.contains_key("PRJ-2"));
    }

    #[test]
    fn a_line_in_another_currency_is_counted_apart_never_summed() {
        let mut foreign = line("UK01", "5000", "PRJ-1", None, None);
        foreign.debit = money("100.00", "USD");
        let journals = vec![Journal {
            lines: vec![foreign, line("UK01", "5000", "PRJ-1", Some("10.00"), None)],
            ..Default::default()
        }];
        let booked = booked_by_code(&journals, &[code("PRJ-1")]).unwrap();
        assert_eq!(booked["PRJ-1"].cost, d("10.00"));
        assert_eq!(booked["PRJ-1"].lines_in_other_currencies, 1);
    }

    #[test]
    fn an_amount_that_is_not_a_decimal_is_an_error_not_a_zero() {
        let journals = vec![Journal {
            lines: vec![line("UK01", "5000", "PRJ-1", Some("ten"), None)],
            ..Default::default()
        }];
        assert!(booked_by_code(&journals, &[code("PRJ-1")]).is_err());
    }
}
