//! The finance figures of one project, computed exactly (`rust_decimal`, never floats) from
//! what PSA and ERP hold: unbilled effort (WIP), margin, revenue against plan, and margin by
//! service line over many projects.
//!
//! - Effort value: approved and posted time at the project's rate card when it was recorded
//!   (PSA's actuals).
//! - Invoiced: the project code's ISSUED invoices (a draft is not yet billed to the client).
//! - Unbilled (WIP): effort value less invoiced, never below zero; billed ahead: invoiced less
//!   effort value, never below zero (a fixed fee invoiced ahead of the effort).
//! - Revenue: the issued invoices, as the close-out review counts it. Cost: what ERP booked
//!   to the code in its legal entity, time (cost of services) and expenses. Margin: revenue
//!   less cost; margin percent: margin ÷ revenue × 100 to two places, none without revenue.

use std::collections::BTreeMap;
use std::str::FromStr;

use keel_core::Error;
use keel_proto::common::Money as MoneyMessage;
use keel_proto::erp::{ProjectFinancials, RevenueMethod};
use keel_proto::psa::{Project, ProjectActuals};
use rust_decimal::Decimal;

use crate::Money;
use crate::model::{
    FinanceMargin, FinancePostingKind, FinancePostingQueue, FinanceRevenue, FinanceServiceLineMargin,
    FinanceServiceLineRevenue, FinanceWip,
};

fn decimal(what: &str, text: &str) -> Result<Decimal, Error> {
    if text.trim().is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(text.trim()).map_err(|e| Error::internal(format!("{what} came as {text:?}: {e}")))
}

fn amount(what: &str, money: Option<&MoneyMessage>) -> Result<Decimal, Error> {
    money.map_or(Ok(Decimal::ZERO), |m| decimal(what, &m.amount))
}

/// `amount` in `currency`, written with at least two decimal places.
pub(crate) fn money(amount: Decimal, currency: &str) -> Money {
    let mut value = amount.normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    Money {
        amount: value.to_string(),
        currency: currency.to_string(),
    }
}

/// `part` ÷ `whole` × 100, to two places (half to even); none when `whole` is zero.
pub(crate) fn percent(part: Decimal, whole: Decimal) -> Option<String> {
    if whole.is_zero() {
        return None;
    }
    Some(
        (part / whole * Decimal::ONE_HUNDRED)
            .round_dp(2)
            .normalize()
            .to_string(),
    )
}

/// Approved and posted hours, and their value at the rate card, from PSA's actuals.
fn effort(actuals: Option<&ProjectActuals>) -> Result<(Decimal, Decimal, Decimal), Error> {
    let Some(total) = actuals.and_then(|a| a.total.as_ref()) else {
        return Ok((Decimal::ZERO, Decimal::ZERO, Decimal::ZERO));
    };
    let approved = decimal("approved hours", &total.approved_hours)?;
    let posted = decimal("posted hours", &total.posted_hours)?;
    let value = amount("approved amount", total.approved_amount.as_ref())?
        + amount("posted amount", total.posted_amount.as_ref())?;
    Ok((approved, posted, value))
}

/// Unbilled effort: the effort's value against what was invoiced.
pub(crate) fn wip(actuals: Option<&ProjectActuals>, erp: &ProjectFinancials) -> Result<FinanceWip, Error> {
    let (approved, posted, value) = effort(actuals)?;
    let invoiced = amount("invoiced", erp.invoiced.as_ref())?;
    let currency = erp.currency.as_str();
    Ok(FinanceWip {
        approved_hours: approved.normalize().to_string(),
        posted_hours: posted.normalize().to_string(),
        effort_value: money(value, currency),
        invoiced: money(invoiced, currency),
        drafted: money(amount("drafted", erp.drafted.as_ref())?, currency),
        unbilled: money((value - invoiced).max(Decimal::ZERO), currency),
        billed_ahead: money((invoiced - value).max(Decimal::ZERO), currency),
    })
}

/// The margin ERP's records give: issued invoices less the cost booked.
pub(crate) fn margin(erp: &ProjectFinancials) -> Result<FinanceMargin, Error> {
    let currency = erp.currency.as_str();
    let revenue = amount("invoiced", erp.invoiced.as_ref())?;
    let time_cost = amount("time cost", erp.time_cost.as_ref())?;
    let expense_cost = amount("expense cost", erp.expense_cost.as_ref())?;
    let cost = time_cost + expense_cost;
    Ok(FinanceMargin {
        revenue: money(revenue, currency),
        time_cost: money(time_cost, currency),
        expense_cost: money(expense_cost, currency),
        cost: money(cost, currency),
        margin: money(revenue - cost, currency),
        margin_percent: percent(revenue - cost, revenue),
    })
}

/// Revenue against plan: PSA's contract value (the plan, after applied change orders) against
/// ERP's revenue schedule and what it recognised.
pub(crate) fn revenue(project: &Project, erp: &ProjectFinancials) -> Result<FinanceRevenue, Error> {
    let currency = erp.currency.as_str();
    let plan = amount("contract value", project.contract_value.as_ref())?;
    let scheduled = amount("scheduled contract value", erp.contract_value.as_ref())?;
    let recognized = amount("recognised revenue", erp.recognized.as_ref())?;
    let method = RevenueMethod::try_from(erp.revenue_method)
        .ok()
        .filter(|m| *m != RevenueMethod::Unspecified)
        .map(|m| m.as_str_name().trim_start_matches("REVENUE_METHOD_").to_string());
    Ok(FinanceRevenue {
        has_schedule: method.is_some(),
        method,
        contract_value: money(plan, currency),
        scheduled: money(scheduled, currency),
        schedule_variance: money(scheduled - plan, currency),
        recognized: money(recognized, currency),
        remaining_to_recognize: money(scheduled - recognized, currency),
        recognized_percent: percent(recognized, scheduled),
    })
}

/// The margins of many projects summed by service line and currency (amounts in different
/// currencies are never added), in service-line order.
pub(crate) fn by_service_line(projects: &[(String, FinanceMargin)]) -> Result<Vec<FinanceServiceLineMargin>, Error> {
    let mut lines: BTreeMap<(String, String), (i32, Decimal, Decimal)> = BTreeMap::new();
    for (service_line, margin) in projects {
        let entry = lines
            .entry((service_line.clone(), margin.revenue.currency.clone()))
            .or_default();
        entry.0 += 1;
        entry.1 += decimal("revenue", &margin.revenue.amount)?;
        entry.2 += decimal("cost", &margin.cost.amount)?;
    }
    Ok(lines
        .into_iter()
        .map(
            |((service_line, currency), (projects, revenue, cost))| FinanceServiceLineMargin {
                service_line,
                projects,
                revenue: money(revenue, &currency),
                cost: money(cost, &currency),
                margin: money(revenue - cost, &currency),
                margin_percent: percent(revenue - cost, revenue),
            },
        )
        .collect())
}

/// The revenue against plan of many projects summed by service line and currency (amounts in
/// different currencies are never added), in service-line then currency order.
pub(crate) fn revenue_by_service_line(
    projects: &[(String, FinanceRevenue)],
) -> Result<Vec<FinanceServiceLineRevenue>, Error> {
    #[derive(Default)]
    struct Sums {
        projects: i32,
        with_schedule: i32,
        plan: Decimal,
        scheduled: Decimal,
        recognized: Decimal,
    }
    let mut lines: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for (service_line, revenue) in projects {
        let sums = lines
            .entry((service_line.clone(), revenue.contract_value.currency.clone()))
            .or_default();
        sums.projects += 1;
        sums.with_schedule += i32::from(revenue.has_schedule);
        sums.plan += decimal("contract value", &revenue.contract_value.amount)?;
        sums.scheduled += decimal("scheduled", &revenue.scheduled.amount)?;
        sums.recognized += decimal("recognised", &revenue.recognized.amount)?;
    }
    Ok(lines
        .into_iter()
        .map(|((service_line, currency), s)| FinanceServiceLineRevenue {
            service_line,
            projects: s.projects,
            with_schedule: s.with_schedule,
            contract_value: money(s.plan, &currency),
            scheduled: money(s.scheduled, &currency),
            schedule_variance: money(s.scheduled - s.plan, &currency),
            recognized: money(s.recognized, &currency),
            remaining_to_recognize: money(s.scheduled - s.recognized, &currency),
            recognized_percent: percent(s.recognized, s.scheduled),
            currency,
        })
        .collect())
}

/// The workflow kinds that post approved work to ERP, in the order they are shown.
pub(crate) const POSTING_KINDS: &[&str] = &["time-posting", "expense-posting"];

/// The posting queue from a workflow admin's counts by kind and status: running, retrying,
/// awaiting approval or compensating is waiting; in the exception queue, failed; done or
/// resolved by hand, done. Kinds other than [`POSTING_KINDS`] are not postings.
pub(crate) fn posting_queue(counts: &keel_proto::workflow::Counts) -> FinancePostingQueue {
    let mut queue = FinancePostingQueue {
        kinds: POSTING_KINDS
            .iter()
            .map(|kind| FinancePostingKind {
                kind: kind.to_string(),
                ..FinancePostingKind::default()
            })
            .collect(),
        ..FinancePostingQueue::default()
    };
    for count in &counts.by_kind {
        let Some(kind) = queue.kinds.iter_mut().find(|k| k.kind == count.kind) else {
            continue;
        };
        let n = i32::try_from(count.count).unwrap_or(i32::MAX);
        let (for_kind, total) = match count.status.as_str() {
            "exception" => (&mut kind.failed, &mut queue.failed),
            "done" | "resolved" => (&mut kind.done, &mut queue.done),
            "abandoned" => (&mut kind.abandoned, &mut queue.abandoned),
            _ => (&mut kind.waiting, &mut queue.waiting),
        };
        *for_kind = for_kind.saturating_add(n);
        *total = total.saturating_add(n);
    }
    queue
}

#[cfg(test)]
mod tests {
    use keel_proto::psa::RoleActuals;

    use super::*;

    fn eur(amount: &str) -> Option<MoneyMessage> {
        Some(MoneyMessage {
            amount: amount.into(),
            currency: "EUR".into(),
        })
    }

    fn erp(invoiced: &str, time_cost: &str, expense_cost: &str) -> ProjectFinancials {
        ProjectFinancials {
            currency: "EUR".into(),
            invoiced: eur(invoiced),
            drafted: eur("84000.00"),
            time_cost: eur(time_cost),
            expense_cost: eur(expense_cost),
            contract_value: eur("400000.00"),
            recognized: eur("84000.00"),
            revenue_method: RevenueMethod::FixedFeeMilestone as i32,
            ..ProjectFinancials::default()
        }
    }

    fn actuals(approved_hours: &str, approved: &str, posted_hours: &str, posted: &str) -> ProjectActuals {
        ProjectActuals {
            total: Some(RoleActuals {
                approved_hours: approved_hours.into(),
                approved_amount: eur(approved),
                posted_hours: posted_hours.into(),
                posted_amount: eur(posted),
                ..RoleActuals::default()
            }),
            ..ProjectActuals::default()
        }
    }

    #[test]
    fn wip_is_effort_at_the_rate_card_less_issued_invoices_never_below_zero() {
        // (approved, posted, invoiced) → (unbilled, billed ahead)
        for (approved, posted, invoiced, unbilled, ahead) in [
            ("0.00", "24000.00", "0.00", "24000.00", "0.00"),
            ("2000.00", "24000.00", "10000.00", "16000.00", "0.00"),
            ("0.00", "24000.00", "84000.00", "0.00", "60000.00"),
            ("0.00", "0.00", "0.00", "0.00", "0.00"),
        ] {
            let wip = wip(Some(&actuals("10", approved, "120", posted)), &erp(invoiced, "0", "0")).unwrap();
            assert_eq!(
                (wip.unbilled.amount.as_str(), wip.billed_ahead.amount.as_str()),
                (unbilled, ahead),
                "{approved} + {posted} against {invoiced}"
            );
            assert_eq!(wip.approved_hours, "10");
            assert_eq!(wip.drafted.amount, "84000.00");
        }
        let none = wip(None, &erp("5.00", "0", "0")).unwrap();
        assert_eq!(
            (none.effort_value.amount.as_str(), none.billed_ahead.amount.as_str()),
            ("0.00", "5.00")
        );
    }

    #[test]
    fn margin_is_issued_revenue_less_time_and_expense_cost_with_an_exact_percent() {
        for (invoiced, time, expense, margin_amount, margin_percent) in [
            ("84000.00", "20400.00", "0.00", "63600.00", Some("75.71")),
            ("0.00", "20400.00", "0.00", "-20400.00", None),
            ("1000.00", "600.00", "400.00", "0.00", Some("0")),
            ("3.00", "1.00", "0.00", "2.00", Some("66.67")),
        ] {
            let m = margin(&erp(invoiced, time, expense)).unwrap();
            assert_eq!(m.margin.amount, margin_amount, "{invoiced} {time} {expense}");
            assert_eq!(m.margin_percent.as_deref(), margin_percent);
        }
    }

    #[test]
    fn revenue_by_service_line_sums_plan_forecast_and_recognised_per_currency() {
        let planned = |value: &str| Project {
            contract_value: eur(value),
            ..Project::default()
        };
        let unscheduled = ProjectFinancials {
            currency: "EUR".into(),
            ..ProjectFinancials::default()
        };
        let a = revenue(&planned("404000.00"), &erp("0", "0", "0")).unwrap();
        let b = revenue(&planned("100000.00"), &unscheduled).unwrap();
        let c = revenue(&planned("50000.00"), &erp("0", "0", "0")).unwrap();
        let lines = revenue_by_service_line(&[("Cloud".into(), a), ("Data".into(), c), ("Cloud".into(), b)]).unwrap();
        assert_eq!(lines.len(), 2);
        let cloud = &lines[0];
        assert_eq!(
            (cloud.service_line.as_str(), cloud.projects, cloud.with_schedule),
            ("Cloud", 2, 1)
        );
        assert_eq!(cloud.contract_value.amount, "504000.00");
        assert_eq!(cloud.scheduled.amount, "400000.00");
        assert_eq!(cloud.schedule_variance.amount, "-104000.00");
        assert_eq!(cloud.recognized.amount, "84000.00");
        assert_eq!(cloud.remaining_to_recognize.amount, "316000.00");
        assert_eq!(cloud.recognized_percent.as_deref(), Some("21"));
        let data = &lines[1];
        assert_eq!(data.schedule_variance.amount, "350000.00");
        assert_eq!(data.recognized_percent.as_deref(), Some("21"));
    }

    #[test]
    fn revenue_against_plan_compares_the_schedule_with_psas_contract_value() {
        let project = Project {
            contract_value: eur("404000.00"),
            ..Project::default()
        };
        let r = revenue(&project, &erp("0", "0", "0")).unwrap();
        assert_eq!(r.method.as_deref(), Some("FIXED_FEE_MILESTONE"));
        assert_eq!(r.schedule_variance.amount, "-4000.00");
        assert_eq!(r.remaining_to_recognize.amount, "316000.00");
        assert_eq!(r.recognized_percent.as_deref(), Some("21"));
        let unscheduled = ProjectFinancials {
            currency: "EUR".into(),
            ..ProjectFinancials::default()
        };
        let r = revenue(&project, &unscheduled).unwrap();
        assert!(!r.has_schedule && r.method.is_none() && r.recognized_percent.is_none());
    }

    #[test]
    fn service_lines_sum_their_projects_by_currency() {
        let a = margin(&erp("1000.00", "400.00", "0")).unwrap();
        let b = margin(&erp("3000.00", "2600.00", "0")).unwrap();
        let mut usd = margin(&erp("10.00", "1.00", "0")).unwrap();
        usd.revenue.currency = "USD".into();
        let lines = by_service_line(&[
            ("erp-deployment".into(), a),
            ("erp-deployment".into(), b),
            ("erp-deployment".into(), usd),
            ("advisory".into(), margin(&erp("0", "0", "0")).unwrap()),
        ])
        .unwrap();
        let shown: Vec<(&str, i32, &str, &str, Option<&str>)> = lines
            .iter()
            .map(|l| {
                (
                    l.service_line.as_str(),
                    l.projects,
                    l.margin.currency.as_str(),
                    l.margin.amount.as_str(),
                    l.margin_percent.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("advisory", 1, "EUR", "0.00", None),
                ("erp-deployment", 2, "EUR", "1000.00", Some("25")),
                ("erp-deployment", 1, "USD", "9.00", Some("90")),
            ]
        );
    }

    #[test]
    fn the_posting_queue_counts_only_postings_by_state() {
        use keel_proto::workflow::{Counts, KindCount};
        let count = |kind: &str, status: &str, count: u64| KindCount {
            kind: kind.into(),
            status: status.into(),
            count,
        };
        let queue = posting_queue(&Counts {
            by_kind: vec![
                count("time-posting", "done", 12),
                count("time-posting", "resolved", 1),
                count("time-posting", "running", 2),
                count("time-posting", "exception", 3),
                count("expense-posting", "awaiting_approval", 1),
                count("expense-posting", "abandoned", 1),
                count("billing-readiness", "exception", 9),
            ],
            ..Counts::default()
        });
        assert_eq!(
            (queue.waiting, queue.failed, queue.done, queue.abandoned),
            (3, 3, 13, 1)
        );
        let time = &queue.kinds[0];
        assert_eq!(
            (time.kind.as_str(), time.waiting, time.failed, time.done),
            ("time-posting", 2, 3, 13)
        );
        let expenses = &queue.kinds[1];
        assert_eq!((expenses.waiting, expenses.abandoned), (1, 1));
    }
}
