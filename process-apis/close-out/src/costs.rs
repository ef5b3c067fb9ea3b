//! A project's cost as ERP booked it: pure, over the journals with a line for its project code.
//!
//! Cost is what the project code's lines post, in its own legal entity, to the two cost
//! accounts of the canonical chart every ERP adapter maps to: 5000 cost of services (time)
//! and 5100 project expenses, debits less credits. An intercompany posting books the cost in
//! the project's entity too (against the intercompany payable), so it counts once; the
//! person's entity's side (the intercompany receivable) is not a cost of the project.
//!
//! Each line is attributed by its journal's source: `time:<entry id>`, `expense:<id>`; a
//! reversal by the source of the journal it reverses; anything else (a manual journal) is
//! other cost.

use std::collections::HashMap;
use std::str::FromStr;

use keel_core::Error;
use keel_proto::erp::{Journal, ProjectCode};
use rust_decimal::Decimal;

/// The cost of services account (time) in the canonical chart.
pub const COST_OF_SERVICES: &str = "5000";
/// The project expenses account in the canonical chart.
pub const PROJECT_EXPENSES: &str = "5100";

/// What a cost posting was for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CostSource {
    /// Posted time: the PSA time entry's id.
    Time(String),
    /// A posted expense: the PSA expense's id.
    Expense(String),
    /// Any other journal posting to a cost account for the project.
    Other,
}

/// One line's net effect on the project's cost, in the currency it was booked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostPosting {
    pub source: CostSource,
    /// Debit less credit: negative for a reversal.
    pub amount: Decimal,
    pub currency: String,
    /// The journal's date (YYYY-MM-DD): the date a conversion uses.
    pub date: String,
}

fn source_of(source: &str) -> CostSource {
    match source.split_once(':') {
        Some(("time", id)) if !id.is_empty() => CostSource::Time(id.to_string()),
        Some(("expense", id)) if !id.is_empty() => CostSource::Expense(id.to_string()),
        _ => CostSource::Other,
    }
}

fn amount(money: &Option<keel_proto::common::Money>) -> Result<(Decimal, String), Error> {
    match money {
        Some(m) if !m.amount.is_empty() => Ok((
            Decimal::from_str(&m.amount)
                .map_err(|e| Error::internal(format!("ERP sent the amount {:?}: {e}", m.amount)))?,
            m.currency.clone(),
        )),
        _ => Ok((Decimal::ZERO, String::new())),
    }
}

/// The cost postings of `code` among `journals`.
pub fn cost_postings(journals: &[Journal], code: &ProjectCode) -> Result<Vec<CostPosting>, Error> {
    let by_id: HashMap<&str, &Journal> = journals.iter().map(|j| (j.id.as_str(), j)).collect();
    let mut postings = Vec::new();
    for journal in journals {
        let source = if journal.reverses_journal_id.is_empty() {
            source_of(&journal.source)
        } else {
            by_id
                .get(journal.reverses_journal_id.as_str())
                .map_or(CostSource::Other, |reversed| source_of(&reversed.source))
        };
        for line in &journal.lines {
            let cost_account = line.account_code == COST_OF_SERVICES || line.account_code == PROJECT_EXPENSES;
            if !cost_account || line.project_code != code.code || line.legal_entity != code.legal_entity {
                continue;
            }
            let (debit, debit_currency) = amount(&line.debit)?;
            let (credit, credit_currency) = amount(&line.credit)?;
            let currency = if debit_currency.is_empty() {
                credit_currency
            } else {
                debit_currency
            };
            postings.push(CostPosting {
                source: source.clone(),
                amount: debit - credit,
                currency,
                date: journal.journal_date.clone(),
            });
        }
    }
    Ok(postings)
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

    fn journal(id: &str, source: &str, reverses: &str, lines: Vec<JournalLine>) -> Journal {
        Journal {
            id: id.into(),
            source: source.into(),
            reverses_journal_id: reverses.into(),
            journal_date: "2026-12-03".into(),
            lines,
            ..Default::default()
        }
    }

    #[test]
    fn only_the_project_entitys_cost_accounts_count_attributed_by_source() {
        let code = ProjectCode {
            code: "PRJ-000001".into(),
            legal_entity: "KEEL-UK".into(),
            ..Default::default()
        };
        let journals = [
            // Time in the project's own entity: the cost and its accrual.
            journal(
                "j1",
                "time:te-1",
                "",
                vec![
                    line("KEEL-UK", "5000", "PRJ-000001", Some("450.00"), None),
                    line("KEEL-UK", "2100", "PRJ-000001", None, Some("450.00")),
                ],
            ),
            // Intercompany time: the person's entity's side is no cost of the project...
            journal(
                "j2",
                "time:te-2",
                "",
                vec![
                    line("KEEL-NL", "1300", "PRJ-000001", Some("300.00"), None),
                    line("KEEL-NL", "2100", "PRJ-000001", None, Some("300.00")),
                ],
            ),
            // ...the project's entity's side is.
            journal(
                "j3",
                "time:te-2",
                "",
                vec![
                    line("KEEL-UK", "5000", "PRJ-000001", Some("300.00"), None),
                    line("KEEL-UK", "2300", "PRJ-000001", None, Some("300.00")),
                ],
            ),
            journal(
                "j4",
                "expense:ex-1",
                "",
                vec![
                    line("KEEL-UK", "5100", "PRJ-000001", Some("80.00"), None),
                    line("KEEL-UK", "2200", "PRJ-000001", None, Some("80.00")),
                ],
            ),
            // The reversal of j1 takes te-1's cost back.
            journal(
                "j5",
                "reversal:JE-000001",
                "j1",
                vec![
                    line("KEEL-UK", "5000", "PRJ-000001", None, Some("450.00")),
                    line("KEEL-UK", "2100", "PRJ-000001", Some("450.00"), None),
                ],
            ),
            // A manual accrual to the project, and another project's cost.
            journal(
                "j6",
                "manual",
                "",
                vec![
                    line("KEEL-UK", "5000", "PRJ-000001", Some("25.00"), None),
                    line("KEEL-UK", "5000", "PRJ-000002", Some("999.00"), None),
                    line("KEEL-UK", "1000", "", None, Some("1024.00")),
                ],
            ),
        ];
        let postings = cost_postings(&journals, &code).unwrap();
        let summary: Vec<(CostSource, String)> = postings
            .iter()
            .map(|p| (p.source.clone(), p.amount.to_string()))
            .collect();
        assert_eq!(
            summary,
            [
                (CostSource::Time("te-1".into()), "450.00".to_string()),
                (CostSource::Time("te-2".into()), "300.00".to_string()),
                (CostSource::Expense("ex-1".into()), "80.00".to_string()),
                (CostSource::Time("te-1".into()), "-450.00".to_string()),
                (CostSource::Other, "25.00".to_string()),
            ]
        );
        assert!(postings.iter().all(|p| p.currency == "EUR" && p.date == "2026-12-03"));
    }
}
