//! The operating KPIs the system records hold, by service line and region of the project:
//! pure, table-tested.
//!
//! - Invoice readiness: of the billing milestones ERP marked reached (`REACHED` or
//!   `INVOICED`), the ones with an invoice billing drafted (checked against the milestone's
//!   amount before it was drafted), and the reached ones still without one that billing finds
//!   blocked, by the week (Monday) of the milestone's due date. Billing's readiness does not
//!   say when a milestone was reached, so its due date is the week it counts in.
//! - Margin variance: a project's actual margin (ERP's recognised revenue less the time and
//!   expense cost booked to its code) against its baseline margin. No system holds a planned
//!   cost rate, so the baseline cost is the PSA baseline's hours at the cost per hour the
//!   project's posted time actually had (ERP's time cost ÷ PSA's posted hours), as the
//!   close-out's review measures it; the baseline margin percentage is the contract value
//!   less that cost, over the contract value. The variance in points is the actual margin
//!   percentage less the baseline's; the amount is the actual margin less the baseline
//!   percentage of the revenue recognised so far (what the plan would have earned on it), so
//!   a project part-way through is compared like for like. A project without recognised
//!   revenue or posted hours has no variance yet.
//!
//! Amounts are summed exactly and rounded once; percentages and points to two places, rates
//! to four, half to even.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use keel_core::Error;
use keel_proto::billing::MilestoneReadiness;
use keel_proto::common::Money as MoneyMessage;
use keel_proto::erp::ProjectFinancials;
use keel_proto::psa::{Project, ProjectActuals};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::kpis::week_starting;

fn decimal(what: &str, text: &str) -> Result<Decimal, Error> {
    if text.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(text).map_err(|e| Error::internal(format!("a backend sent the {what} {text:?}: {e}")))
}

fn amount(what: &str, money: Option<&MoneyMessage>) -> Result<Decimal, Error> {
    money.map_or(Ok(Decimal::ZERO), |m| decimal(what, &m.amount))
}

/// `part ÷ whole × 100` to two places, half to even; `None` when `whole` is zero.
pub fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero())
        .then(|| (part / whole * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven))
}

/// Invoice readiness of the milestones due in one week, of projects of one service line and
/// region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceReadiness {
    pub week_starting: NaiveDate,
    pub service_line: String,
    pub region: String,
    /// Every billing milestone due that week.
    pub milestones: u64,
    /// Of those, the ones ERP marked reached (or already invoiced).
    pub reached: u64,
    /// Of the reached, the ones with an invoice drafted (or issued since).
    pub drafted: u64,
    /// Of the reached without an invoice, the ones billing finds blocked.
    pub blocked: u64,
}

impl InvoiceReadiness {
    /// `drafted ÷ reached`, four places; `None` while nothing was reached.
    pub fn rate(&self) -> Option<Decimal> {
        (self.reached > 0).then(|| {
            (Decimal::from(self.drafted) / Decimal::from(self.reached))
                .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven)
        })
    }
}

/// The readiness of `milestones` (billing's, of `projects`) by due week, service line and
/// region, in that order; milestones due before `since` are left out, and so are those of a
/// project not in `projects` or without a due date.
pub fn invoice_readiness(
    projects: &[Project],
    milestones: &[MilestoneReadiness],
    since: Option<NaiveDate>,
) -> Result<Vec<InvoiceReadiness>, Error> {
    let project_of: BTreeMap<&str, &Project> = projects.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut rows: BTreeMap<(NaiveDate, String, String), InvoiceReadiness> = BTreeMap::new();
    for listed in milestones {
        let Some(readiness) = listed.readiness.as_ref() else {
            continue;
        };
        let Some(project) = project_of.get(readiness.project_id.as_str()) else {
            continue;
        };
        if readiness.due_date.is_empty() {
            continue;
        }
        let due = NaiveDate::parse_from_str(&readiness.due_date, "%Y-%m-%d").map_err(|e| {
            Error::internal(format!(
                "billing sent the due date {:?} of milestone {} of project {}: {e}",
                readiness.due_date, readiness.milestone_id, readiness.project_id
            ))
        })?;
        if since.is_some_and(|since| due < since) {
            continue;
        }
        let week = week_starting(due);
        let row = rows
            .entry((week, project.service_line.clone(), project.region.clone()))
            .or_insert_with(|| InvoiceReadiness {
                week_starting: week,
                service_line: project.service_line.clone(),
                region: project.region.clone(),
                milestones: 0,
                reached: 0,
                drafted: 0,
                blocked: 0,
            });
        row.milestones += 1;
        let reached = matches!(listed.erp_status.as_str(), "REACHED" | "INVOICED");
        if !reached {
            continue;
        }
        row.reached += 1;
        if listed.invoice.is_some() {
            row.drafted += 1;
        } else if !readiness.ready && !readiness.blockers.is_empty() {
            row.blocked += 1;
        }
    }
    Ok(rows.into_values().collect())
}

/// One project's margin against its baseline, in its ERP code's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginVariance {
    pub currency: String,
    /// Revenue ERP recognised.
    pub revenue: Decimal,
    /// Time and expense cost booked to the code.
    pub cost: Decimal,
    /// PSA's contract value, after applied change orders.
    pub contract_value: Decimal,
    /// PSA baseline hours, and the hours posted.
    pub baseline_hours: Decimal,
    pub posted_hours: Decimal,
    /// The baseline hours at the project's actual cost per hour; `None` without posted hours.
    pub baseline_cost: Option<Decimal>,
}

impl MarginVariance {
    pub fn margin(&self) -> Decimal {
        self.revenue - self.cost
    }

    pub fn margin_percent(&self) -> Option<Decimal> {
        percent(self.margin(), self.revenue)
    }

    /// Contract value less the baseline cost.
    pub fn baseline_margin(&self) -> Option<Decimal> {
        self.baseline_cost.map(|c| self.contract_value - c)
    }

    /// The baseline margin ÷ the contract value, unrounded.
    fn baseline_share(&self) -> Option<Decimal> {
        let margin = self.baseline_margin()?;
        (!self.contract_value.is_zero()).then(|| margin / self.contract_value)
    }

    pub fn baseline_margin_percent(&self) -> Option<Decimal> {
        percent(self.baseline_margin()?, self.contract_value)
    }

    /// What the baseline margin percentage earns on the revenue recognised so far, unrounded.
    pub fn baseline_margin_on_revenue(&self) -> Option<Decimal> {
        if self.revenue.is_zero() {
            return None;
        }
        self.baseline_share().map(|share| share * self.revenue)
    }

    /// The margin less the baseline margin on the same revenue; `None` without revenue or a
    /// baseline.
    pub fn variance_amount(&self) -> Option<Decimal> {
        self.baseline_margin_on_revenue().map(|b| self.margin() - b)
    }

    /// The margin percentage less the baseline's, in points to two places.
    pub fn variance_points(&self) -> Option<Decimal> {
        let baseline = self.baseline_margin_on_revenue()?;
        percent(self.margin() - baseline, self.revenue)
    }
}

/// A project's margin against its baseline from ERP's financials of its code and PSA's
/// actuals; `None` without a code.
pub fn margin_variance(
    project: &Project,
    financials: Option<&ProjectFinancials>,
    actuals: Option<&ProjectActuals>,
) -> Result<Option<MarginVariance>, Error> {
    let Some(erp) = financials else {
        return Ok(None);
    };
    let revenue = amount("recognised revenue", erp.recognized.as_ref())?;
    let time_cost = amount("time cost", erp.time_cost.as_ref())?;
    let cost = time_cost + amount("expense cost", erp.expense_cost.as_ref())?;
    let contract_value = amount("contract value", project.contract_value.as_ref())?;
    let baseline_hours = project
        .budget_baseline
        .as_ref()
        .map_or(Ok(Decimal::ZERO), |b| decimal("baseline hours", &b.total_hours))?;
    let posted_hours = actuals
        .and_then(|a| a.total.as_ref())
        .map_or(Ok(Decimal::ZERO), |t| decimal("posted hours", &t.posted_hours))?;
    let baseline_cost = (!posted_hours.is_zero()).then(|| baseline_hours * time_cost / posted_hours);
    Ok(Some(MarginVariance {
        currency: erp.currency.clone(),
        revenue,
        cost,
        contract_value,
        baseline_hours,
        posted_hours,
        baseline_cost,
    }))
}

/// The margin variance of the projects of one service line and region, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarianceRollup {
    pub service_line: String,
    pub region: String,
    pub currency: String,
    /// Projects with a variance, summed here.
    pub projects: u64,
    /// Projects with an ERP code but no variance yet (no recognised revenue or posted hours).
    pub without_variance: u64,
    pub revenue: Decimal,
    pub cost: Decimal,
    /// Σ the baseline margin on each project's revenue.
    pub baseline_margin_on_revenue: Decimal,
}

impl VarianceRollup {
    pub fn margin(&self) -> Decimal {
        self.revenue - self.cost
    }
    pub fn margin_percent(&self) -> Option<Decimal> {
        percent(self.margin(), self.revenue)
    }
    pub fn baseline_margin_percent(&self) -> Option<Decimal> {
        percent(self.baseline_margin_on_revenue, self.revenue)
    }
    pub fn variance_amount(&self) -> Option<Decimal> {
        (self.projects > 0).then(|| self.margin() - self.baseline_margin_on_revenue)
    }
    pub fn variance_points(&self) -> Option<Decimal> {
        percent(self.margin() - self.baseline_margin_on_revenue, self.revenue)
    }
}

/// The variances of `projects` summed by service line, region and currency (never across
/// currencies), in that order.
pub fn rollups<'a>(projects: impl IntoIterator<Item = (&'a Project, &'a MarginVariance)>) -> Vec<VarianceRollup> {
    let mut rows: BTreeMap<(String, String, String), VarianceRollup> = BTreeMap::new();
    for (project, variance) in projects {
        let row = rows
            .entry((
                project.service_line.clone(),
                project.region.clone(),
                variance.currency.clone(),
            ))
            .or_insert_with(|| VarianceRollup {
                service_line: project.service_line.clone(),
                region: project.region.clone(),
                currency: variance.currency.clone(),
                projects: 0,
                without_variance: 0,
                revenue: Decimal::ZERO,
                cost: Decimal::ZERO,
                baseline_margin_on_revenue: Decimal::ZERO,
            });
        match variance.baseline_margin_on_revenue() {
            Some(baseline) => {
                row.projects += 1;
                row.revenue += variance.revenue;
                row.cost += variance.cost;
                row.baseline_margin_on_revenue += baseline;
            }
            None => row.without_variance += 1,
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use keel_proto::billing::{BillingReadiness, Blocker, MilestoneInvoice};
    use keel_proto::psa::{BudgetBaseline, RoleActuals};

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn eur(amount: &str) -> Option<MoneyMessage> {
        Some(MoneyMessage {
            amount: amount.into(),
            currency: "EUR".into(),
        })
    }

    fn project(id: &str, line: &str, region: &str, contract: &str, hours: &str) -> Project {
        Project {
            id: id.into(),
            service_line: line.into(),
            region: region.into(),
            contract_value: eur(contract),
            budget_baseline: Some(BudgetBaseline {
                total_hours: hours.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn milestone(project: &str, due: &str, erp_status: &str, invoiced: bool, blocked: bool) -> MilestoneReadiness {
        MilestoneReadiness {
            readiness: Some(BillingReadiness {
                project_id: project.into(),
                milestone_id: "1".into(),
                due_date: due.into(),
                ready: !blocked,
                blockers: if blocked {
                    vec![Blocker {
                        code: "TIME_NOT_POSTED".into(),
                        ..Default::default()
                    }]
                } else {
                    Vec::new()
                },
                ..Default::default()
            }),
            erp_status: erp_status.into(),
            invoice: invoiced.then(MilestoneInvoice::default),
        }
    }

    #[test]
    fn invoice_readiness_counts_reached_milestones_by_due_week_service_line_and_region() {
        let projects = [
            project("p1", "Cloud", "EMEA", "100", "10"),
            project("p2", "Cloud", "EMEA", "100", "10"),
            project("p3", "Data", "NA", "100", "10"),
        ];
        let milestones = [
            // Week of Monday 2026-11-16, Cloud/EMEA: two reached, one drafted, one blocked.
            milestone("p1", "2026-11-18", "REACHED", true, false),
            milestone("p2", "2026-11-20", "REACHED", false, true),
            // Not reached: counted as due, not as reached, even though blocked.
            milestone("p1", "2026-11-19", "PLANNED", false, true),
            // Invoiced (issued): reached and drafted.
            milestone("p3", "2026-11-23", "INVOICED", true, false),
            // Reached, no invoice, not blocked (ready, its preparation not run yet).
            milestone("p3", "2026-11-24", "REACHED", false, false),
            // A project not asked about, and one without a due date.
            milestone("p9", "2026-11-24", "REACHED", false, false),
            milestone("p3", "", "REACHED", false, false),
        ];
        let rows = invoice_readiness(&projects, &milestones, None).unwrap();
        assert_eq!(rows.len(), 2);
        let cloud = &rows[0];
        assert_eq!(
            (
                cloud.week_starting.to_string().as_str(),
                cloud.service_line.as_str(),
                cloud.region.as_str()
            ),
            ("2026-11-16", "Cloud", "EMEA")
        );
        assert_eq!(
            (cloud.milestones, cloud.reached, cloud.drafted, cloud.blocked),
            (3, 2, 1, 1)
        );
        assert_eq!(cloud.rate(), Some(d("0.5")));
        let data = &rows[1];
        assert_eq!(data.week_starting.to_string(), "2026-11-23");
        assert_eq!(
            (data.milestones, data.reached, data.drafted, data.blocked),
            (2, 2, 1, 0)
        );

        let since = NaiveDate::from_ymd_opt(2026, 11, 21);
        assert_eq!(invoice_readiness(&projects, &milestones, since).unwrap().len(), 1);

        let nothing_reached = invoice_readiness(&projects, &milestones[2..3], None).unwrap();
        assert_eq!(nothing_reached[0].rate(), None);

        let bad = [milestone("p1", "18/11/2026", "REACHED", true, false)];
        assert!(invoice_readiness(&projects, &bad, None).is_err());
    }

    fn financials(recognized: &str, time_cost: &str, expense_cost: &str) -> ProjectFinancials {
        ProjectFinancials {
            currency: "EUR".into(),
            recognized: eur(recognized),
            time_cost: eur(time_cost),
            expense_cost: eur(expense_cost),
            ..Default::default()
        }
    }

    fn actuals(posted_hours: &str) -> ProjectActuals {
        ProjectActuals {
            total: Some(RoleActuals {
                posted_hours: posted_hours.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn margin_variance_compares_the_margin_with_the_baseline_on_the_same_revenue() {
        // Contract 100,000 for 400 baseline hours; 120 hours posted at 170 = 20,400 cost,
        // 600 of expenses; 40,000 recognised.
        let p = project("p1", "Cloud", "EMEA", "100000", "400");
        let v = margin_variance(&p, Some(&financials("40000", "20400", "600")), Some(&actuals("120")))
            .unwrap()
            .unwrap();
        assert_eq!(v.margin(), d("19000"));
        assert_eq!(v.margin_percent(), Some(d("47.50")));
        // Baseline: 400 h × 170 = 68,000 cost; margin 32,000, 32 % of the contract.
        assert_eq!(v.baseline_cost, Some(d("68000")));
        assert_eq!(v.baseline_margin(), Some(d("32000")));
        assert_eq!(v.baseline_margin_percent(), Some(d("32.00")));
        // On 40,000 of revenue the plan would have earned 12,800: 6,200 (15.5 points) better.
        assert_eq!(v.variance_amount(), Some(d("6200")));
        assert_eq!(v.variance_points(), Some(d("15.50")));

        // No posted hours: no baseline cost, no variance; no revenue: none either.
        let none = margin_variance(&p, Some(&financials("40000", "0", "0")), Some(&actuals("0")))
            .unwrap()
            .unwrap();
        assert_eq!((none.baseline_margin(), none.variance_amount()), (None, None));
        let early = margin_variance(&p, Some(&financials("0", "20400", "0")), Some(&actuals("120")))
            .unwrap()
            .unwrap();
        assert_eq!((early.variance_amount(), early.variance_points()), (None, None));
        assert_eq!(early.baseline_margin(), Some(d("32000")));
        // No ERP code: nothing to compare.
        assert!(margin_variance(&p, None, None).unwrap().is_none());
    }

    #[test]
    fn rollups_sum_by_service_line_region_and_currency_and_count_those_without_a_variance() {
        let a = project("a", "Cloud", "EMEA", "100000", "400");
        let b = project("b", "Cloud", "EMEA", "50000", "100");
        let c = project("c", "Cloud", "EMEA", "50000", "100");
        let va = margin_variance(&a, Some(&financials("40000", "20400", "600")), Some(&actuals("120")))
            .unwrap()
            .unwrap();
        // b: 100 h at 200 = 20,000 baseline cost, 60 % baseline; 10,000 revenue, 4,000 cost.
        let vb = margin_variance(&b, Some(&financials("10000", "4000", "0")), Some(&actuals("20")))
            .unwrap()
            .unwrap();
        let vc = margin_variance(&c, Some(&financials("0", "0", "0")), Some(&actuals("0")))
            .unwrap()
            .unwrap();
        let rows = rollups([(&a, &va), (&b, &vb), (&c, &vc)]);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!((row.projects, row.without_variance), (2, 1));
        assert_eq!(row.revenue, d("50000"));
        assert_eq!(row.cost, d("25000"));
        // 12,800 + 6,000 of baseline margin on the revenue.
        assert_eq!(row.baseline_margin_on_revenue, d("18800"));
        assert_eq!(row.margin_percent(), Some(d("50.00")));
        assert_eq!(row.baseline_margin_percent(), Some(d("37.60")));
        assert_eq!(row.variance_amount(), Some(d("6200")));
        assert_eq!(row.variance_points(), Some(d("12.40")));
    }
}
