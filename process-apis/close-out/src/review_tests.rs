//! The review's figures on a worked example, each computed by hand below.

use keel_proto::common::Money;
use keel_proto::psa::{BudgetBaseline, BudgetLine};

use super::*;

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn entry(id: &str, role: &str, hours: &str, state: TimeEntryState) -> TimeEntry {
    TimeEntry {
        id: id.into(),
        role: role.into(),
        hours: hours.into(),
        state: state as i32,
        ..Default::default()
    }
}

fn cost(source: CostSource, amount: &str) -> CostPosting {
    CostPosting {
        source,
        amount: d(amount),
        currency: "EUR".into(),
        date: "2026-12-03".into(),
    }
}

fn invoice(total: &str, status: InvoiceStatus) -> Invoice {
    Invoice {
        total: eur(total),
        status: status as i32,
        ..Default::default()
    }
}

fn project() -> Project {
    let line = |role: &str, hours: &str| BudgetLine {
        role: role.into(),
        hours: hours.into(),
        amount: None,
    };
    Project {
        id: "p1".into(),
        name: "ERP rollout".into(),
        template_id: "erp-fixed-fee".into(),
        template_version: 3,
        // 100000.00 sold, 5000.00 added by an applied change order.
        contract_value: eur("105000.00"),
        budget_baseline: Some(BudgetBaseline {
            lines: vec![
                line("solution-architect", "100"),
                line("consultant", "300"),
                line("project-manager", "20"),
            ],
            total_hours: "420".into(),
            total: eur("105000.00"),
        }),
        ..Default::default()
    }
}

fn change_request(id: &str, state: ChangeRequestState, hours: &str, amount: &str) -> ChangeRequest {
    ChangeRequest {
        id: id.into(),
        title: format!("change {id}"),
        role: "consultant".into(),
        delta_hours: hours.into(),
        delta_amount: eur(amount),
        state: state as i32,
        ..Default::default()
    }
}

#[test]
fn every_figure_follows_from_the_records() {
    let project = project();
    let time = [
        entry("a1", "solution-architect", "60", TimeEntryState::Posted),
        entry("a2", "solution-architect", "50", TimeEntryState::Posted),
        entry("c1", "consultant", "250", TimeEntryState::Posted),
        // Not posted: no hours, and the check would have stopped the close-out anyway.
        entry("c2", "consultant", "8", TimeEntryState::Rejected),
    ];
    let costs = [
        cost(CostSource::Time("a1".into()), "5400.00"), // 90.00 an hour
        cost(CostSource::Time("a2".into()), "4500.00"),
        cost(CostSource::Time("c1".into()), "15000.00"), // 60.00 an hour
        cost(CostSource::Expense("x1".into()), "800.00"),
        cost(CostSource::Other, "100.00"),
    ];
    let invoices = [
        invoice("30000.00", InvoiceStatus::Issued),
        invoice("75000.00", InvoiceStatus::Issued),
        invoice("999.00", InvoiceStatus::Draft),
    ];
    let requests = [
        change_request("cr1", ChangeRequestState::Applied, "40", "5000.00"),
        change_request("cr2", ChangeRequestState::Rejected, "10", "1000.00"),
    ];
    let review = review(ReviewInput {
        project: &project,
        project_code: "PRJ-000001",
        close_date: "2026-12-20",
        produced_at: Utc::now(),
        time_entries: &time,
        costs: &costs,
        invoices: &invoices,
        change_requests: &requests,
        exceptions: Vec::new(),
        exceptions_truncated: false,
    })
    .unwrap();

    assert_eq!(review.currency, "EUR");
    assert_eq!(review.contract_value, d("105000.00"));
    assert_eq!(
        review.original_contract_value,
        d("100000.00"),
        "less the applied change order"
    );
    assert_eq!(review.revenue, d("105000.00"), "issued invoices only");
    assert_eq!(review.invoices, 2);
    assert_eq!(review.time_cost, d("24900.00"));
    assert_eq!(review.expense_cost, d("800.00"));
    assert_eq!(review.other_cost, d("100.00"));
    assert_eq!(review.cost, d("25800.00"));
    assert_eq!(review.margin, d("79200.00"));
    assert_eq!(review.margin_percent, Some(d("75.43")), "79200 / 105000 = 75.428...");

    // Baseline: architect 100 h at 90.00, consultant 300 h at 60.00, and the project manager,
    // who posted no time, 20 h at the blended 24900 / 360 = 69.1666... an hour.
    let roles: Vec<(&str, Decimal, Decimal, RateSource)> = review
        .effort
        .iter()
        .map(|r| (r.role.as_str(), r.baseline_hours, r.actual_hours, r.cost_rate_source))
        .collect();
    assert_eq!(
        roles,
        [
            ("solution-architect", d("100"), d("110"), RateSource::Role),
            ("consultant", d("300"), d("250"), RateSource::Role),
            ("project-manager", d("20"), d("0"), RateSource::Blended),
        ]
    );
    assert_eq!(review.effort[0].cost, d("9900.00"));
    assert_eq!(review.effort[0].cost_per_hour, Some(d("90.00")));
    assert_eq!(review.effort[0].baseline_cost, Some(d("9000.00")));
    assert_eq!(review.effort[1].baseline_cost, Some(d("18000.00")));
    assert_eq!(review.effort[2].cost_per_hour, Some(d("69.17")));
    assert_eq!(review.effort[2].baseline_cost, Some(d("1383.33")));
    // Rounded once: 9000 + 18000 + 1383.333... = 28383.33.
    assert_eq!(review.baseline_cost, Some(d("28383.33")));
    assert_eq!(review.baseline_margin, Some(d("76616.67")));
    assert_eq!(review.baseline_margin_percent, Some(d("72.97")));
    assert_eq!(review.margin_variance, Some(d("2583.33")));
    assert_eq!(review.baseline_hours, d("420"));
    assert_eq!(review.actual_hours, d("360"));

    assert_eq!(review.change_requests.len(), 2);
    assert_eq!(review.change_requests[0].state, "APPLIED");
    assert_eq!(review.change_requests_applied, 1);
    assert_eq!(review.applied_budget_delta, d("5000.00"));
    assert_eq!(review.applied_hours_delta, d("40"));
}

#[test]
fn without_posted_time_there_is_no_baseline_cost_and_without_revenue_no_margin_percent() {
    let project = project();
    let review = review(ReviewInput {
        project: &project,
        project_code: "PRJ-000001",
        close_date: "2026-12-20",
        produced_at: Utc::now(),
        time_entries: &[],
        costs: &[cost(CostSource::Expense("x1".into()), "120.00")],
        invoices: &[],
        change_requests: &[],
        exceptions: Vec::new(),
        exceptions_truncated: false,
    })
    .unwrap();
    assert_eq!(review.margin, d("-120.00"));
    assert_eq!(review.margin_percent, None);
    assert_eq!(review.baseline_cost, None);
    assert_eq!(review.baseline_margin, None);
    assert_eq!(review.margin_variance, None);
    assert!(review.effort.iter().all(|r| r.cost_rate_source == RateSource::None));
}

#[test]
fn time_cost_of_an_entry_psa_does_not_know_is_kept_and_named() {
    let project = project();
    let review = review(ReviewInput {
        project: &project,
        project_code: "PRJ-000001",
        close_date: "2026-12-20",
        produced_at: Utc::now(),
        time_entries: &[],
        costs: &[cost(CostSource::Time("ghost".into()), "70.00")],
        invoices: &[],
        change_requests: &[],
        exceptions: Vec::new(),
        exceptions_truncated: false,
    })
    .unwrap();
    assert_eq!(review.time_cost, d("70.00"));
    let unattributed = review.effort.iter().find(|r| r.role == UNATTRIBUTED).unwrap();
    assert_eq!(unattributed.cost, d("70.00"));
}

#[test]
fn a_cost_in_another_currency_is_refused_rather_than_added() {
    let project = project();
    let mut foreign = cost(CostSource::Other, "10.00");
    foreign.currency = "GBP".into();
    let refused = review(ReviewInput {
        project: &project,
        project_code: "PRJ-000001",
        close_date: "2026-12-20",
        produced_at: Utc::now(),
        time_entries: &[],
        costs: &[foreign],
        invoices: &[],
        change_requests: &[],
        exceptions: Vec::new(),
        exceptions_truncated: false,
    });
    assert!(refused.is_err());
}

#[test]
fn percentages_round_half_to_even_and_need_a_base() {
    assert_eq!(percent(d("1"), d("8")), Some(d("12.50")));
    assert_eq!(percent(d("1"), d("3")), Some(d("33.33")));
    assert_eq!(percent(d("-1"), d("3")), Some(d("-33.33")));
    assert_eq!(percent(d("1"), d("0")), None);
}
