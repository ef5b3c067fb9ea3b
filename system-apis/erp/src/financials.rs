//! A project's money as ERP holds it, for `ListProjectFinancialsOfProjects`: what its code
//! invoiced and holds in draft, its revenue schedule, and the cost booked to it.
//!
//! [`summarize`] is the rule, pure and unit-tested; [`of_projects`] reads its records through
//! any [`ErpAdapter`]'s own operations, so every adapter that keeps invoices, journals and
//! revenue schedules answers the batch without more code.
//!
//! Cost is what the code's lines post, in the code's own legal entity, to the two cost
//! accounts of the canonical chart: 5000 cost of services (time) and 5100 project expenses,
//! debits less credits (a reversal takes its posting back). An intercompany posting books the
//! cost in the project's entity too, so it counts once.

use keel_core::paging::Page;
use keel_core::{Currency, Error, Money};
use keel_proto::erp::{
    Invoice, InvoiceStatus, Journal, ProjectCode, ProjectFinancials, RevenueMethod, RevenueSchedule,
};
use uuid::Uuid;

use crate::adapter::ErpAdapter;
use crate::domain::ProjectCodeNumber;
use crate::domain::ledger::{JournalFilter, accounts};

/// Records read per page from one list.
const PAGE_SIZE: u32 = 100;
/// Pages read at most from one list of one code: 20,000 records.
const MAX_PAGES: usize = 200;

fn sum(field: &str, total: &mut Money, money: Option<&keel_proto::common::Money>) -> Result<(), Error> {
    let Some(money) = money else {
        return Ok(());
    };
    let value = Money::from_proto(field, Some(money))
        .map_err(|_| Error::internal(format!("{field} holds {money:?}, not an amount")))?;
    *total = total.checked_add(&value).ok_or_else(|| {
        Error::FailedPrecondition(format!(
            "{field} is booked in {} where the project code's currency is {}",
            value.currency().code(),
            total.currency().code()
        ))
    })?;
    Ok(())
}

/// The money of `code` from its invoices, the journals with a line on it, and its revenue
/// schedule if it has one. Amounts in another currency than the code's are refused
/// (`FAILED_PRECONDITION`) rather than added.
pub fn summarize(
    code: &ProjectCode,
    invoices: &[Invoice],
    journals: &[Journal],
    schedule: Option<&RevenueSchedule>,
) -> Result<ProjectFinancials, Error> {
    let currency = Currency::parse(&code.currency).map_err(|e| {
        Error::internal(format!(
            "project code {} has the currency {:?}: {e}",
            code.code, code.currency
        ))
    })?;
    let zero = Money::zero(currency);
    let (mut invoiced, mut drafted) = (zero, zero);
    let (mut issued_count, mut draft_count) = (0u32, 0u32);
    for invoice in invoices.iter().filter(|i| i.project_code == code.code) {
        if invoice.status == InvoiceStatus::Issued as i32 {
            issued_count += 1;
            sum("invoice.total", &mut invoiced, invoice.total.as_ref())?;
        } else if invoice.status == InvoiceStatus::Draft as i32 {
            draft_count += 1;
            sum("invoice.total", &mut drafted, invoice.total.as_ref())?;
        }
    }
    let (mut time_debits, mut time_credits) = (zero, zero);
    let (mut expense_debits, mut expense_credits) = (zero, zero);
    for line in journals.iter().flat_map(|j| &j.lines) {
        if line.project_code != code.code || line.legal_entity != code.legal_entity {
            continue;
        }
        let (debits, credits) = match line.account_code.as_str() {
            accounts::COST_OF_SERVICES => (&mut time_debits, &mut time_credits),
            accounts::PROJECT_EXPENSES => (&mut expense_debits, &mut expense_credits),
            _ => continue,
        };
        sum("journal.line.debit", debits, line.debit.as_ref())?;
        sum("journal.line.credit", credits, line.credit.as_ref())?;
    }
    let net = |debits: Money, credits: Money| {
        Money::new(debits.amount() - credits.amount(), currency).map_err(Error::internal)
    };
    let (mut contract_value, mut recognized) = (zero, zero);
    let mut revenue_method = RevenueMethod::Unspecified as i32;
    if let Some(schedule) = schedule {
        revenue_method = schedule.method;
        sum(
            "revenue_schedule.contract_value",
            &mut contract_value,
            schedule.contract_value.as_ref(),
        )?;
        sum(
            "revenue_schedule.recognized",
            &mut recognized,
            schedule.recognized.as_ref(),
        )?;
    }
    Ok(ProjectFinancials {
        project_id: code.project_id.clone(),
        project_code: code.code.clone(),
        legal_entity: code.legal_entity.clone(),
        currency: currency.code().to_string(),
        invoiced: Some(invoiced.to_proto()),
        invoices_issued: issued_count,
        drafted: Some(drafted.to_proto()),
        invoices_drafted: draft_count,
        revenue_method,
        contract_value: Some(contract_value.to_proto()),
        recognized: Some(recognized.to_proto()),
        time_cost: Some(net(time_debits, time_credits)?.to_proto()),
        expense_cost: Some(net(expense_debits, expense_credits)?.to_proto()),
    })
}

/// Reads every page of a list of one code: `read` answers a page's records and the next
/// page's token (empty on the last).
async fn every_page<T, F, Fut>(what: &str, mut read: F) -> Result<Vec<T>, Error>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), Error>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let (records, next) = read(Page::parse(PAGE_SIZE, &token)?).await?;
        all.extend(records);
        if next.is_empty() {
            return Ok(all);
        }
        token = next;
    }
    Err(Error::FailedPrecondition(format!(
        "{what} holds more than {} records",
        MAX_PAGES * PAGE_SIZE as usize
    )))
}

/// The money of each of `project_ids` that has a project code, in id order.
pub async fn of_projects<A: ErpAdapter + ?Sized>(
    adapter: &A,
    project_ids: Vec<Uuid>,
) -> Result<Vec<ProjectFinancials>, Error> {
    let codes = adapter.list_project_codes_of_projects(project_ids).await?;
    let mut financials = Vec::with_capacity(codes.len());
    for code in codes {
        let number = ProjectCodeNumber::parse(&code.code).map_err(Error::internal)?;
        let invoices = every_page("the code's invoices", |page| {
            let number = number.clone();
            async move {
                let answer = adapter.list_invoices(Some(number), page).await?;
                Ok((
                    answer.invoices,
                    answer.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        })
        .await?;
        let journals = every_page("the code's journals", |page| {
            let filter = JournalFilter {
                legal_entity: None,
                project_code: Some(number.clone()),
            };
            async move {
                let answer = adapter.list_journals(filter, page).await?;
                Ok((
                    answer.journals,
                    answer.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        })
        .await?;
        let schedule = match adapter.get_revenue_schedule(number.clone()).await {
            Ok(schedule) => Some(schedule),
            Err(Error::NotFound(_)) => None,
            Err(error) => return Err(error),
        };
        financials.push(summarize(&code, &invoices, &journals, schedule.as_ref())?);
    }
    Ok(financials)
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as WireMoney;
    use keel_proto::erp::JournalLine;

    use super::*;

    fn eur(amount: &str) -> Option<WireMoney> {
        Some(WireMoney {
            amount: amount.into(),
            currency: "EUR".into(),
        })
    }

    fn code() -> ProjectCode {
        ProjectCode {
            code: "PRJ-000001".into(),
            project_id: "p".into(),
            legal_entity: "UK01".into(),
            currency: "EUR".into(),
            ..ProjectCode::default()
        }
    }

    fn invoice(status: InvoiceStatus, total: &str) -> Invoice {
        Invoice {
            project_code: "PRJ-000001".into(),
            status: status as i32,
            total: eur(total),
            ..Invoice::default()
        }
    }

    fn line(entity: &str, account: &str, code: &str, debit: Option<&str>, credit: Option<&str>) -> JournalLine {
        JournalLine {
            legal_entity: entity.into(),
            account_code: account.into(),
            project_code: code.into(),
            debit: debit.and_then(eur),
            credit: credit.and_then(eur),
            ..JournalLine::default()
        }
    }

    #[test]
    fn invoices_split_by_state_and_cost_nets_the_codes_cost_lines_in_its_own_entity() {
        let invoices = [
            invoice(InvoiceStatus::Issued, "1000.00"),
            invoice(InvoiceStatus::Issued, "500.50"),
            invoice(InvoiceStatus::Draft, "84000.00"),
        ];
        let journals = [Journal {
            lines: vec![
                line("UK01", accounts::COST_OF_SERVICES, "PRJ-000001", Some("1700.00"), None),
                line("UK01", accounts::COST_OF_SERVICES, "PRJ-000001", None, Some("170.00")),
                line("UK01", accounts::PROJECT_EXPENSES, "PRJ-000001", Some("42.10"), None),
                // The person's entity's side, another code and another account: not this cost.
                line("US01", accounts::COST_OF_SERVICES, "PRJ-000001", Some("999.00"), None),
                line("UK01", accounts::COST_OF_SERVICES, "PRJ-000002", Some("999.00"), None),
                line("UK01", accounts::ACCRUED_LABOUR, "PRJ-000001", None, Some("1700.00")),
            ],
            ..Journal::default()
        }];
        let schedule = RevenueSchedule {
            method: RevenueMethod::FixedFeeMilestone as i32,
            contract_value: eur("400000.00"),
            recognized: eur("1000.00"),
            ..RevenueSchedule::default()
        };
        let f = summarize(&code(), &invoices, &journals, Some(&schedule)).unwrap();
        assert_eq!((f.invoiced, f.invoices_issued), (eur("1500.50"), 2));
        assert_eq!((f.drafted, f.invoices_drafted), (eur("84000.00"), 1));
        assert_eq!(f.time_cost, eur("1530.00"));
        assert_eq!(f.expense_cost, eur("42.10"));
        assert_eq!(f.contract_value, eur("400000.00"));
        assert_eq!(f.recognized, eur("1000.00"));
        assert_eq!(f.revenue_method, RevenueMethod::FixedFeeMilestone as i32);
    }

    #[test]
    fn without_records_every_figure_is_zero_and_another_currency_is_refused() {
        let f = summarize(&code(), &[], &[], None).unwrap();
        assert_eq!(f.invoiced, eur("0.00"));
        assert_eq!(f.time_cost, eur("0.00"));
        assert_eq!(f.revenue_method, RevenueMethod::Unspecified as i32);
        let mut usd = invoice(InvoiceStatus::Issued, "10.00");
        usd.total = Some(WireMoney {
            amount: "10.00".into(),
            currency: "USD".into(),
        });
        let error = summarize(&code(), &[usd], &[], None).unwrap_err();
        assert!(matches!(error, Error::FailedPrecondition(_)), "{error:?}");
    }
}
