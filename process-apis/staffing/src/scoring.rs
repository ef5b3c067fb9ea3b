//! How a candidate scores against a resource request, and what staffing them costs: pure
//! functions over decimals, so every number shown to a resource manager or an approver can be
//! recomputed from the journal.
//!
//! A score is out of 100:
//! - **skills** (40): per required skill, the share of the range above the minimum the person
//!   covers: `(proficiency - min + 1) / (5 - min + 1)`, averaged; full marks when none is
//!   required.
//! - **availability** (30): available hours over the hours the request needs, capped at 1.
//! - **utilization** (20): full marks while the person's projected utilization (current
//!   allocations plus this request) stays within their target; minus the points in proportion
//!   to how far above the target it goes (none left at 50 points above); none when it goes
//!   above 100%.
//! - **location** (10): the requested city, or no city asked; 5 for the same region.

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The largest score.
pub const MAX_SCORE: Decimal = Decimal::ONE_HUNDRED;
const SKILLS: Decimal = Decimal::from_parts(40, 0, 0, false, 0);
const AVAILABILITY: Decimal = Decimal::from_parts(30, 0, 0, false, 0);
const UTILIZATION: Decimal = Decimal::from_parts(20, 0, 0, false, 0);
const LOCATION: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

/// What the request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub skills: Vec<(String, i32)>,
    pub region: String,
    pub location: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Percent of the person's capacity, 0 < p <= 100.
    pub allocation_percent: Decimal,
}

/// What is known of one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub employee_id: String,
    pub name: String,
    pub labor_category: String,
    pub location: String,
    pub region: String,
    pub skills: Vec<(String, i32)>,
    pub weekly_capacity_hours: Decimal,
    /// A fraction ("0.75").
    pub utilization_target: Decimal,
    /// HRIS's available hours over the period (capacity less time off).
    pub available_hours: Decimal,
    /// Allocation percent already committed over the period (other assignments, weighted by
    /// how much of the period each covers).
    pub committed_percent: Decimal,
    pub cost_rate: Decimal,
    pub cost_currency: String,
}

/// One part of a score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub points: Decimal,
    pub max_points: Decimal,
    pub explanation: String,
}

/// A candidate's score and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub person: Person,
    pub score: Decimal,
    pub components: Vec<Component>,
    pub needed_hours: Decimal,
    /// A fraction, with this request.
    pub projected_utilization: Decimal,
}

/// Monday to Friday between two dates, both included.
pub fn weekdays(start: NaiveDate, end: NaiveDate) -> u32 {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .count() as u32
}

fn round2(value: Decimal) -> Decimal {
    value
        .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// The hours a request needs of a person with this weekly capacity.
pub fn needed_hours(need: &Need, weekly_capacity_hours: Decimal) -> Decimal {
    let days = Decimal::from(weekdays(need.start, need.end));
    round2(days * weekly_capacity_hours / Decimal::from(5) * need.allocation_percent / Decimal::ONE_HUNDRED)
}

/// The allocation percent `assignments` commit over the request's period: each assignment's
/// percent weighted by the share of the period's weekdays it covers.
pub fn committed_percent(need: &Need, assignments: &[(NaiveDate, NaiveDate, Decimal)]) -> Decimal {
    let total = weekdays(need.start, need.end);
    if total == 0 {
        return Decimal::ZERO;
    }
    let sum: Decimal = assignments
        .iter()
        .filter_map(|(start, end, percent)| {
            let from = (*start).max(need.start);
            let to = (*end).min(need.end);
            (from <= to).then(|| *percent * Decimal::from(weekdays(from, to)))
        })
        .sum();
    round2(sum / Decimal::from(total))
}

/// Scores one person against a need.
pub fn score(need: &Need, person: Person) -> Scored {
    let mut components = Vec::with_capacity(4);

    // Skills.
    let (skill_points, skill_text) = if need.skills.is_empty() {
        (SKILLS, "no skill is required".to_string())
    } else {
        let mut shares = Decimal::ZERO;
        let mut parts = Vec::with_capacity(need.skills.len());
        for (name, min) in &need.skills {
            let held = person
                .skills
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .unwrap_or(0);
            let share = if held < *min {
                Decimal::ZERO
            } else {
                Decimal::from(held - min + 1) / Decimal::from(5 - min + 1)
            };
            shares += share.min(Decimal::ONE);
            parts.push(format!("{name} {held} (needs {min})"));
        }
        let points = round2(SKILLS * shares / Decimal::from(need.skills.len()));
        (points, parts.join(", "))
    };
    components.push(Component {
        name: "skills".into(),
        points: skill_points,
        max_points: SKILLS,
        explanation: skill_text,
    });

    // Availability.
    let needed = needed_hours(need, person.weekly_capacity_hours);
    let ratio = if needed.is_zero() {
        Decimal::ONE
    } else {
        (person.available_hours / needed).min(Decimal::ONE)
    };
    components.push(Component {
        name: "availability".into(),
        points: round2(AVAILABILITY * ratio),
        max_points: AVAILABILITY,
        explanation: format!(
            "{} hours available of {needed} needed",
            person.available_hours.normalize()
        ),
    });

    // Utilization against target.
    let projected = round2((person.committed_percent + need.allocation_percent) / Decimal::ONE_HUNDRED);
    let target = person.utilization_target;
    let (points, text) = if projected > Decimal::ONE {
        (
            Decimal::ZERO,
            format!("over-allocated: {projected} of capacity with this request (target {target})"),
        )
    } else if projected <= target {
        (
            UTILIZATION,
            format!("{projected} of capacity with this request, within the target {target}"),
        )
    } else {
        let over = projected - target;
        let kept = (Decimal::ONE - over / Decimal::new(5, 1)).max(Decimal::ZERO);
        (
            round2(UTILIZATION * kept),
            format!("{projected} of capacity with this request, {over} above the target {target}"),
        )
    };
    components.push(Component {
        name: "utilization".into(),
        points,
        max_points: UTILIZATION,
        explanation: text,
    });

    // Location.
    let (points, text) = if need.location.is_empty() {
        (LOCATION, "no location asked".to_string())
    } else if person.location.eq_ignore_ascii_case(&need.location) {
        (LOCATION, format!("in {}, as asked", person.location))
    } else if !need.region.is_empty() && person.region.eq_ignore_ascii_case(&need.region) {
        (
            LOCATION / Decimal::from(2),
            format!("in {}, same region as {}", person.location, need.location),
        )
    } else {
        (Decimal::ZERO, format!("in {}, not {}", person.location, need.location))
    };
    components.push(Component {
        name: "location".into(),
        points,
        max_points: LOCATION,
        explanation: text,
    });

    let score = components.iter().map(|c| c.points).sum::<Decimal>().normalize();
    Scored {
        person,
        score,
        components,
        needed_hours: needed,
        projected_utilization: projected,
    }
}

/// Scores and ranks: best score first, then most available hours, then employee id.
pub fn rank(need: &Need, people: Vec<Person>) -> Vec<Scored> {
    let mut scored: Vec<Scored> = people.into_iter().map(|p| score(need, p)).collect();
    scored.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.person.available_hours.cmp(&a.person.available_hours))
            .then(a.person.employee_id.cmp(&b.person.employee_id))
    });
    scored
}

/// What staffing one person costs and earns over the request's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Economics {
    pub currency: String,
    pub hours: Decimal,
    pub labor_cost: Decimal,
    /// `None` when the project has no bill rate for the role.
    pub revenue: Option<Decimal>,
    /// Percent of revenue; `None` without revenue.
    pub margin_percent: Option<Decimal>,
    /// Why leadership must approve; empty when the policy lets staffing go ahead.
    pub approval_reasons: Vec<String>,
}

/// The economics of `candidate` at the project's `bill_rate` (in `currency`) under the policy's
/// `cost_threshold` and `margin_floor` (percent).
pub fn economics(
    candidate: &Scored,
    currency: &str,
    bill_rate: Option<Decimal>,
    cost_threshold: Decimal,
    margin_floor: Decimal,
) -> Economics {
    let hours = candidate.needed_hours;
    let cost_rate = candidate.person.cost_rate;
    let labor_cost = round2(hours * cost_rate);
    let revenue = bill_rate.map(|rate| round2(hours * rate));
    let margin_percent = revenue
        .filter(|r| !r.is_zero())
        .map(|r| round2((r - labor_cost) / r * Decimal::ONE_HUNDRED));
    let mut approval_reasons = Vec::new();
    if !candidate.person.cost_currency.eq_ignore_ascii_case(currency) {
        approval_reasons.push(format!(
            "the person's cost is in {} and the project bills in {currency}: the margin needs a person's review",
            candidate.person.cost_currency
        ));
    } else {
        if labor_cost > cost_threshold {
            approval_reasons.push(format!(
                "labor cost {labor_cost} {currency} ({hours} hours at {cost_rate}) is above the threshold {cost_threshold} {currency}"
            ));
        }
        match margin_percent {
            Some(margin) if margin < margin_floor => approval_reasons.push(format!(
                "margin {margin}% (revenue {} {currency}, cost {labor_cost} {currency}) is below the floor {margin_floor}%",
                revenue.unwrap_or_default()
            )),
            Some(_) => {}
            None => approval_reasons.push(format!(
                "the project has no bill rate for the role: no revenue to weigh {labor_cost} {currency} of cost against"
            )),
        }
    }
    Economics {
        currency: currency.to_string(),
        hours,
        labor_cost,
        revenue,
        margin_percent,
        approval_reasons,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// December 2026: 23 weekdays.
    fn need() -> Need {
        Need {
            skills: vec![("sap-fico".into(), 4), ("sql".into(), 2)],
            region: "emea".into(),
            location: "Berlin".into(),
            start: date("2026-12-01"),
            end: date("2026-12-31"),
            allocation_percent: d("50"),
        }
    }

    fn person() -> Person {
        Person {
            employee_id: "e-1".into(),
            name: "Ada".into(),
            labor_category: "senior-consultant".into(),
            location: "Berlin".into(),
            region: "emea".into(),
            skills: vec![("sap-fico".into(), 5), ("sql".into(), 2)],
            weekly_capacity_hours: d("40"),
            utilization_target: d("0.8"),
            available_hours: d("184"),
            committed_percent: d("20"),
            cost_rate: d("90"),
            cost_currency: "EUR".into(),
        }
    }

    #[test]
    fn weekdays_skip_weekends() {
        assert_eq!(weekdays(date("2026-12-01"), date("2026-12-31")), 23);
        assert_eq!(weekdays(date("2026-12-05"), date("2026-12-06")), 0);
        assert_eq!(weekdays(date("2026-12-07"), date("2026-12-07")), 1);
    }

    #[test]
    fn a_score_adds_its_explained_parts() {
        let scored = score(&need(), person());
        // 23 weekdays x 8 hours x 50% = 92 hours.
        assert_eq!(scored.needed_hours, d("92"));
        let points: Vec<(String, Decimal)> = scored.components.iter().map(|c| (c.name.clone(), c.points)).collect();
        // sap-fico 5 of min 4: 2/2; sql 2 of min 2: 1/4 → 40 × (1 + 0.25) / 2 = 25.
        assert_eq!(
            points,
            [
                ("skills".to_string(), d("25")),
                ("availability".to_string(), d("30")),
                ("utilization".to_string(), d("20")),
                ("location".to_string(), d("10")),
            ]
        );
        assert_eq!(scored.score, d("85"));
        assert_eq!(scored.projected_utilization, d("0.7"));
        assert!(scored.components[0].explanation.contains("sap-fico 5 (needs 4)"));
    }

    #[test]
    fn over_target_and_over_capacity_lose_utilization_points() {
        let mut busy = person();
        busy.committed_percent = d("40"); // 0.9 projected, 0.1 above 0.8
        let scored = score(&need(), busy.clone());
        assert_eq!(scored.components[2].points, d("16"));
        busy.committed_percent = d("60"); // 1.1: over-allocated
        let scored = score(&need(), busy);
        assert_eq!(scored.components[2].points, Decimal::ZERO);
        assert!(scored.components[2].explanation.starts_with("over-allocated"));
    }

    #[test]
    fn ranking_prefers_the_better_score_then_availability() {
        let mut elsewhere = person();
        elsewhere.employee_id = "e-2".into();
        elsewhere.location = "Munich".into();
        let mut busier = person();
        busier.employee_id = "e-3".into();
        busier.available_hours = d("46");
        let ranked = rank(&need(), vec![busier, elsewhere, person()]);
        let order: Vec<&str> = ranked.iter().map(|s| s.person.employee_id.as_str()).collect();
        // e-1 85; e-2 80 (same region); e-3 70 (half the hours).
        assert_eq!(order, ["e-1", "e-2", "e-3"]);
    }

    #[test]
    fn committed_allocation_is_weighted_by_overlap() {
        let n = need();
        // 50% for the first 10 weekdays of December's 23, 100% outside the period.
        let committed = committed_percent(
            &n,
            &[
                (date("2026-11-01"), date("2026-12-14"), d("50")),
                (date("2027-01-04"), date("2027-02-26"), d("100")),
            ],
        );
        assert_eq!(committed, d("21.74"));
    }

    #[test]
    fn economics_route_costly_or_thin_staffing_to_leadership() {
        let scored = score(&need(), person());
        let fine = economics(&scored, "EUR", Some(d("185")), d("50000"), d("30"));
        assert_eq!(fine.labor_cost, d("8280"));
        assert_eq!(fine.revenue, Some(d("17020")));
        assert_eq!(fine.margin_percent, Some(d("51.35")));
        assert!(fine.approval_reasons.is_empty());
        let thin = economics(&scored, "EUR", Some(d("110")), d("50000"), d("30"));
        assert_eq!(thin.margin_percent, Some(d("18.18")));
        assert_eq!(thin.approval_reasons.len(), 1);
        assert!(thin.approval_reasons[0].contains("below the floor 30%"));
        let costly = economics(&scored, "EUR", Some(d("185")), d("5000"), d("30"));
        assert!(costly.approval_reasons[0].contains("above the threshold 5000 EUR"));
        let no_rate = economics(&scored, "EUR", None, d("50000"), d("30"));
        assert_eq!(no_rate.approval_reasons.len(), 1);
        let other_currency = economics(&scored, "USD", Some(d("185")), d("50000"), d("30"));
        assert_eq!(other_currency.approval_reasons.len(), 1);
    }

    proptest! {
        /// Every score is the sum of its parts, each within its maximum, and never above 100.
        #[test]
        fn scores_stay_within_their_parts(
            proficiency in 0i32..=5,
            available in 0u32..400,
            committed in 0u32..150,
            target in 1u32..=100,
            allocation in 1u32..=100,
            same_city in any::<bool>(),
        ) {
            let mut n = need();
            n.allocation_percent = Decimal::from(allocation);
            let mut p = person();
            p.skills = vec![("sap-fico".into(), proficiency), ("sql".into(), proficiency)];
            p.available_hours = Decimal::from(available);
            p.committed_percent = Decimal::from(committed);
            p.utilization_target = Decimal::from(target) / Decimal::ONE_HUNDRED;
            if !same_city { p.location = "Lisbon".into(); p.region = "emea".into(); }
            let scored = score(&n, p);
            let sum: Decimal = scored.components.iter().map(|c| c.points).sum();
            prop_assert_eq!(sum.normalize(), scored.score);
            prop_assert!(scored.score >= Decimal::ZERO && scored.score <= MAX_SCORE);
            for c in &scored.components {
                prop_assert!(c.points >= Decimal::ZERO && c.points <= c.max_points, "{:?}", c);
            }
        }
    }
}
