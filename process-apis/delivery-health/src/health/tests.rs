//! The health rules, table-driven, and the invariants that hold for every input.

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::policy::HealthPolicy;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn line(role: &str, baseline_hours: &str, actual_hours: &str, baseline: &str, actual: &str) -> LineFacts {
    LineFacts {
        role: role.into(),
        baseline_hours: dec(baseline_hours),
        actual_hours: dec(actual_hours),
        baseline_amount: dec(baseline),
        actual_amount: dec(actual),
        currency: "EUR".into(),
    }
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// A project on plan: 400 h and 48503.00 EUR baseline, 100 h approved.
fn on_plan() -> Facts {
    Facts {
        project_id: "p-1".into(),
        project_name: "ERP rollout".into(),
        today: date("2026-12-20"),
        total: line("", "400", "100", "48503.00", "18500.00"),
        roles: vec![
            line("solution-architect", "100", "100", "18500.00", "18500.00"),
            line("consultant", "300", "0", "30003.00", "0"),
        ],
        milestones: Some(vec![MilestoneFacts {
            id: "m-1".into(),
            name: "Kickoff".into(),
            due_date: date("2026-12-01"),
            reached: true,
            status: "REACHED".into(),
        }]),
        unapproved_hours: dec("8"),
        open_high_severity_tickets: 0,
        open_escalated_tickets: 0,
    }
}

fn policy() -> HealthPolicy {
    HealthPolicy::shipped().unwrap()
}

#[test]
fn a_project_on_plan_is_green_with_its_numbers() {
    let health = evaluate(&on_plan(), &policy());
    assert_eq!(health.status(), "GREEN");
    assert_eq!(health.effort.burn_percent, Some(dec("25.00")));
    assert_eq!(health.effort.over_baseline_percent, Some(dec("-75.00")));
    assert_eq!(health.roles[0].money.burn_percent, Some(dec("100.00")));
    assert_eq!(health.roles[1].effort.burn_percent, Some(dec("0.00")));
    assert_eq!(health.schedule_variance_days, 0);
    assert_eq!(health.policy_version, policy().version);
    assert_eq!(health.not_measured, vec![OVERDUE_TASKS_NOT_MEASURED.to_string()]);
}

#[test]
fn each_threshold_breaks_only_above_it() {
    // (what changes, the breach kind expected or none)
    type Change = fn(&mut Facts);
    let cases: [(&str, Change, Option<&str>); 10] = [
        (
            "architect at exactly +10%",
            |f| f.roles[0].actual_hours = dec("110"),
            None,
        ),
        (
            "architect at +10.01%",
            |f| f.roles[0].actual_hours = dec("110.01"),
            Some(kind::EFFORT_OVER_BASELINE),
        ),
        (
            "project total over",
            |f| f.total.actual_hours = dec("440.5"),
            Some(kind::EFFORT_OVER_BASELINE),
        ),
        (
            "architect money over",
            |f| f.roles[0].actual_amount = dec("20350.01"),
            Some(kind::MONEY_OVER_BASELINE),
        ),
        (
            "architect money at +10%",
            |f| f.roles[0].actual_amount = dec("20350.00"),
            None,
        ),
        ("unapproved at 40 h", |f| f.unapproved_hours = dec("40"), None),
        (
            "unapproved at 40.25 h",
            |f| f.unapproved_hours = dec("40.25"),
            Some(kind::UNAPPROVED_EFFORT),
        ),
        (
            "one high ticket",
            |f| f.open_high_severity_tickets = 1,
            Some(kind::HIGH_SEVERITY_TICKETS),
        ),
        (
            "a milestone due yesterday, not reached",
            |f| {
                let m = &mut f.milestones.as_mut().unwrap()[0];
                m.reached = false;
                m.due_date = date("2026-12-19");
            },
            Some(kind::MILESTONE_LATE),
        ),
        (
            "a milestone due today, not reached",
            |f| {
                let m = &mut f.milestones.as_mut().unwrap()[0];
                m.reached = false;
                m.due_date = date("2026-12-20");
            },
            None,
        ),
    ];
    for (what, change, expected) in cases {
        let mut facts = on_plan();
        change(&mut facts);
        let health = evaluate(&facts, &policy());
        let kinds: Vec<&str> = health.breaches.iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, expected.into_iter().collect::<Vec<_>>(), "{what}");
        assert_eq!(
            health.status(),
            if expected.is_some() { "RED" } else { "GREEN" },
            "{what}"
        );
    }
}

#[test]
fn a_breach_carries_the_numbers_that_triggered_it() {
    let mut facts = on_plan();
    facts.roles[0].actual_hours = dec("115");
    let health = evaluate(&facts, &policy());
    let breach = health.breach(kind::EFFORT_OVER_BASELINE).unwrap();
    assert_eq!(breach.measured, dec("15.00"));
    assert_eq!(breach.threshold, dec("10"));
    assert_eq!(
        breach.summary,
        "solution-architect: 115 h against a baseline of 100 h (115.00% of baseline, 15.00% over); \
         the policy allows 10% over"
    );

    let mut facts = on_plan();
    let milestones = facts.milestones.as_mut().unwrap();
    milestones[0].reached = false;
    milestones[0].due_date = date("2026-12-08");
    let health = evaluate(&facts, &policy());
    assert_eq!(health.schedule_variance_days, 12);
    let breach = health.breach(kind::MILESTONE_LATE).unwrap();
    assert_eq!(breach.measured, Decimal::from(12));
    assert_eq!(
        breach.summary,
        "Kickoff (due 2026-12-08) is 12 days late; the policy allows 0 days"
    );
}

#[test]
fn a_project_without_milestones_in_erp_says_so() {
    let mut facts = on_plan();
    facts.milestones = None;
    let health = evaluate(&facts, &policy());
    assert_eq!(health.not_measured.len(), 2);
    assert!(health.not_measured[1].starts_with("schedule variance"));
    assert_eq!(health.status(), "GREEN");
}

fn hours() -> impl Strategy<Value = Decimal> {
    (0i64..100_000_000).prop_map(|n| Decimal::new(n, 2))
}

proptest! {
    /// A line breaks the effort threshold exactly when actual × 100 > baseline × (100 + N),
    /// whatever the rounding of the reported percentage.
    #[test]
    fn effort_breach_matches_the_exact_comparison(
        baseline in hours(),
        actual in hours(),
        allowed in (0i64..100_000).prop_map(|n| Decimal::new(n, 2)),
    ) {
        let mut facts = on_plan();
        facts.roles = vec![];
        facts.total.baseline_hours = baseline;
        facts.total.actual_hours = actual;
        let mut policy = policy();
        policy.thresholds.effort_over_baseline_percent = allowed;
        let health = evaluate(&facts, &policy);
        let expected = !baseline.is_zero()
            && actual * Decimal::ONE_HUNDRED > baseline * (Decimal::ONE_HUNDRED + allowed);
        prop_assert_eq!(health.breach(kind::EFFORT_OVER_BASELINE).is_some(), expected);
        if let Some(p) = health.effort.burn_percent {
            prop_assert_eq!(health.effort.over_baseline_percent, Some(p - Decimal::ONE_HUNDRED));
            prop_assert!(p.scale() <= 2);
        }
    }

    /// Loosening a threshold never adds a breach.
    #[test]
    fn looser_thresholds_never_add_breaches(
        architect in hours(),
        unapproved in hours(),
        tickets in 0i64..10,
        extra in (0i64..10_000).prop_map(|n| Decimal::new(n, 2)),
    ) {
        let mut facts = on_plan();
        facts.roles[0].actual_hours = architect;
        facts.unapproved_hours = unapproved;
        facts.open_high_severity_tickets = tickets;
        let strict = policy();
        let mut loose = strict.clone();
        loose.thresholds.effort_over_baseline_percent += extra;
        loose.thresholds.unapproved_hours += extra;
        loose.thresholds.open_high_severity_tickets += 1;
        let strict_kinds: Vec<String> = evaluate(&facts, &strict).breaches.into_iter().map(|b| b.kind).collect();
        for breach in evaluate(&facts, &loose).breaches {
            prop_assert!(strict_kinds.contains(&breach.kind));
        }
    }
}
