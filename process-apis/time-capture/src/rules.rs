//! The time rules, pure: a proposed entry, the person's assignments and other entries, the
//! policy and today's date in; every broken rule out, each with a stable code and the field at
//! fault. No I/O here: the gRPC service reads PSA and calls [`validate`].

use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::Decimal;

use crate::policy::TimePolicy;

/// The stable code of a broken rule (documented in the proto; never renamed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCode {
    /// No active assignment of the person on the project covers the date.
    NotAssigned,
    /// The labor category is not one the covering assignment bills at.
    LaborCategoryNotAllowed,
    /// The day's or the week's hours go above the policy's limit.
    Overtime,
    /// A billable entry without a narrative of the policy's length.
    NarrativeRequired,
    /// The date is after today.
    FutureDate,
    /// The date is on or before the policy's closed-through date.
    ClosedPeriod,
    /// Same person, project, date, hours and narrative as another entry.
    Duplicate,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::NotAssigned => "NOT_ASSIGNED",
            FailureCode::LaborCategoryNotAllowed => "LABOR_CATEGORY_NOT_ALLOWED",
            FailureCode::Overtime => "OVERTIME",
            FailureCode::NarrativeRequired => "NARRATIVE_REQUIRED",
            FailureCode::FutureDate => "FUTURE_DATE",
            FailureCode::ClosedPeriod => "CLOSED_PERIOD",
            FailureCode::Duplicate => "DUPLICATE",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule: its code, the entry field at fault, and a sentence with the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFailure {
    pub code: FailureCode,
    pub field: &'static str,
    pub message: String,
}

/// A proposed entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedEntry {
    /// The PSA id when the entry exists already (it is not its own duplicate).
    pub id: Option<String>,
    pub project_id: String,
    pub employee_id: String,
    pub date: NaiveDate,
    pub hours: Decimal,
    pub narrative: String,
    pub billable: bool,
    /// Empty: the covering assignment's bill role.
    pub labor_category: String,
}

/// One assignment of the person, as PSA holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentWindow {
    pub project_id: String,
    pub start: NaiveDate,
    /// Inclusive; `None` when open-ended.
    pub end: Option<NaiveDate>,
    pub active: bool,
    /// The labor categories it may bill at (its role and bill role).
    pub labor_categories: Vec<String>,
}

impl AssignmentWindow {
    fn covers(&self, project_id: &str, date: NaiveDate) -> bool {
        self.active && self.project_id == project_id && self.start <= date && self.end.is_none_or(|end| date <= end)
    }
}

/// Another entry of the same person (rejected entries left out by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEntry {
    pub id: String,
    pub project_id: String,
    pub date: NaiveDate,
    pub hours: Decimal,
    pub narrative: String,
}

/// What the rules read besides the entry.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    pub policy: &'a TimePolicy,
    pub today: NaiveDate,
    pub assignments: &'a [AssignmentWindow],
    pub other_entries: &'a [OtherEntry],
}

/// The dates whose entries the rules read for an entry on `date`: its ISO week, Monday to
/// Sunday (the daily and weekly limits and the duplicate check look no further). The caller
/// passes only the person's entries in this window as [`RuleContext::other_entries`], so a
/// check costs the week, not the person's whole history.
pub fn window(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let week = date.iso_week();
    let monday = NaiveDate::from_isoywd_opt(week.year(), week.week(), Weekday::Mon).unwrap_or(date);
    let sunday = NaiveDate::from_isoywd_opt(week.year(), week.week(), Weekday::Sun).unwrap_or(date);
    (monday, sunday)
}

/// Every rule `entry` breaks, in a fixed order (empty: it may be recorded).
pub fn validate(entry: &ProposedEntry, cx: &RuleContext<'_>) -> Vec<ValidationFailure> {
    let mut failures = Vec::new();
    let mut fail = |code, field, message: String| failures.push(ValidationFailure { code, field, message });

    if entry.date > cx.today {
        fail(
            FailureCode::FutureDate,
            "date",
            format!("{} is after today ({})", entry.date, cx.today),
        );
    }
    if let Some(closed) = cx.policy.closed_through
        && entry.date <= closed
    {
        fail(
            FailureCode::ClosedPeriod,
            "date",
            format!("{} is in a closed period (closed through {closed})", entry.date),
        );
    }

    let covering: Vec<&AssignmentWindow> = cx
        .assignments
        .iter()
        .filter(|a| a.covers(&entry.project_id, entry.date))
        .collect();
    if covering.is_empty() {
        fail(
            FailureCode::NotAssigned,
            "project_id",
            format!(
                "no active assignment on project {} covers {}",
                entry.project_id, entry.date
            ),
        );
    } else {
        let category = entry.labor_category.trim();
        if !category.is_empty()
            && !covering
                .iter()
                .any(|a| a.labor_categories.iter().any(|c| c.eq_ignore_ascii_case(category)))
        {
            fail(
                FailureCode::LaborCategoryNotAllowed,
                "labor_category",
                format!("the assignment on {} does not bill as {category:?}", entry.date),
            );
        }
    }

    let others = || {
        cx.other_entries
            .iter()
            .filter(move |o| entry.id.as_deref() != Some(o.id.as_str()))
    };
    let day_total: Decimal = entry.hours
        + others()
            .filter(|o| o.date == entry.date)
            .map(|o| o.hours)
            .sum::<Decimal>();
    if day_total > cx.policy.max_daily_hours {
        fail(
            FailureCode::Overtime,
            "hours",
            format!(
                "{day_total} hours on {} is above the daily limit of {}",
                entry.date, cx.policy.max_daily_hours
            ),
        );
    }
    let week = entry.date.iso_week();
    let week_total: Decimal = entry.hours
        + others()
            .filter(|o| o.date.iso_week() == week)
            .map(|o| o.hours)
            .sum::<Decimal>();
    if week_total > cx.policy.max_weekly_hours {
        fail(
            FailureCode::Overtime,
            "hours",
            format!(
                "{week_total} hours in week {}-W{:02} is above the weekly limit of {}",
                week.year(),
                week.week(),
                cx.policy.max_weekly_hours
            ),
        );
    }

    let narrative_chars = entry.narrative.trim().chars().count();
    if entry.billable && narrative_chars < cx.policy.min_billable_narrative_chars {
        fail(
            FailureCode::NarrativeRequired,
            "narrative",
            format!(
                "billable time needs a narrative of at least {} characters ({narrative_chars} given)",
                cx.policy.min_billable_narrative_chars
            ),
        );
    }

    if let Some(twin) = others().find(|o| {
        o.project_id == entry.project_id
            && o.date == entry.date
            && o.hours == entry.hours
            && o.narrative.trim() == entry.narrative.trim()
    }) {
        fail(
            FailureCode::Duplicate,
            "narrative",
            format!("entry {} has the same project, date, hours and narrative", twin.id),
        );
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    const PROJECT: &str = "p-1";

    fn entry() -> ProposedEntry {
        ProposedEntry {
            id: None,
            project_id: PROJECT.into(),
            employee_id: "e-1".into(),
            date: date("2026-03-04"), // a Wednesday
            hours: dec("8"),
            narrative: "Data migration design workshop".into(),
            billable: true,
            labor_category: String::new(),
        }
    }

    fn assignments() -> Vec<AssignmentWindow> {
        vec![AssignmentWindow {
            project_id: PROJECT.into(),
            start: date("2026-03-01"),
            end: Some(date("2026-06-30")),
            active: true,
            labor_categories: vec!["consultant".into(), "senior-consultant".into()],
        }]
    }

    fn other(id: &str, day: &str, hours: &str, narrative: &str) -> OtherEntry {
        OtherEntry {
            id: id.into(),
            project_id: PROJECT.into(),
            date: date(day),
            hours: dec(hours),
            narrative: narrative.into(),
        }
    }

    struct Case {
        name: &'static str,
        edit: fn(&mut ProposedEntry, &mut Vec<AssignmentWindow>, &mut Vec<OtherEntry>, &mut TimePolicy),
        expect: &'static [(&'static str, &'static str)],
    }

    #[test]
    fn each_rule_is_named_with_its_code_and_field() {
        let cases = [
            Case {
                name: "a clean entry passes",
                edit: |_, _, _, _| {},
                expect: &[],
            },
            Case {
                name: "no assignment on the project",
                edit: |_, a, _, _| a.clear(),
                expect: &[("NOT_ASSIGNED", "project_id")],
            },
            Case {
                name: "the assignment ended before the date",
                edit: |_, a, _, _| a[0].end = Some(date("2026-03-03")),
                expect: &[("NOT_ASSIGNED", "project_id")],
            },
            Case {
                name: "the assignment starts after the date",
                edit: |_, a, _, _| a[0].start = date("2026-03-05"),
                expect: &[("NOT_ASSIGNED", "project_id")],
            },
            Case {
                name: "an ended assignment does not count",
                edit: |_, a, _, _| a[0].active = false,
                expect: &[("NOT_ASSIGNED", "project_id")],
            },
            Case {
                name: "an assignment on another project does not count",
                edit: |e, _, _, _| e.project_id = "p-2".into(),
                expect: &[("NOT_ASSIGNED", "project_id")],
            },
            Case {
                name: "an open-ended assignment covers the date",
                edit: |_, a, _, _| a[0].end = None,
                expect: &[],
            },
            Case {
                name: "a labor category the assignment bills at",
                edit: |e, _, _, _| e.labor_category = "Senior-Consultant".into(),
                expect: &[],
            },
            Case {
                name: "a labor category the assignment does not bill at",
                edit: |e, _, _, _| e.labor_category = "partner".into(),
                expect: &[("LABOR_CATEGORY_NOT_ALLOWED", "labor_category")],
            },
            Case {
                name: "eleven hours in one entry",
                edit: |e, _, _, _| e.hours = dec("11"),
                expect: &[("OVERTIME", "hours")],
            },
            Case {
                name: "exactly the daily limit passes",
                edit: |e, _, o, _| {
                    e.hours = dec("2.5");
                    o.push(other("o-1", "2026-03-04", "7.5", "Workshop follow-up notes"));
                },
                expect: &[],
            },
            Case {
                name: "the day goes above the limit across entries",
                edit: |e, _, o, _| {
                    e.hours = dec("2.75");
                    o.push(other("o-1", "2026-03-04", "7.5", "Workshop follow-up notes"));
                },
                expect: &[("OVERTIME", "hours")],
            },
            Case {
                name: "the week goes above fifty hours",
                edit: |_, _, o, _| {
                    for (n, day) in ["2026-03-02", "2026-03-03", "2026-03-05", "2026-03-06", "2026-03-07"]
                        .iter()
                        .enumerate()
                    {
                        o.push(other(&format!("o-{n}"), day, "9", "Build and test cycle"));
                    }
                },
                expect: &[("OVERTIME", "hours")],
            },
            Case {
                name: "hours in the next week do not count towards this one",
                edit: |_, _, o, _| {
                    for (n, day) in ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13"]
                        .iter()
                        .enumerate()
                    {
                        o.push(other(&format!("o-{n}"), day, "9", "Build and test cycle"));
                    }
                },
                expect: &[],
            },
            Case {
                name: "billable with a short narrative",
                edit: |e, _, _, _| e.narrative = "  work ".into(),
                expect: &[("NARRATIVE_REQUIRED", "narrative")],
            },
            Case {
                name: "non-billable needs no narrative",
                edit: |e, _, _, _| {
                    e.narrative = String::new();
                    e.billable = false;
                },
                expect: &[],
            },
            Case {
                name: "a date after today",
                edit: |e, _, _, _| e.date = date("2026-03-11"),
                expect: &[("FUTURE_DATE", "date")],
            },
            Case {
                name: "on the closed-through date",
                edit: |_, _, _, p| p.closed_through = Some(date("2026-03-04")),
                expect: &[("CLOSED_PERIOD", "date")],
            },
            Case {
                name: "the day after the closed-through date",
                edit: |_, _, _, p| p.closed_through = Some(date("2026-03-03")),
                expect: &[],
            },
            Case {
                name: "the same entry twice",
                edit: |e, _, o, _| {
                    e.hours = dec("1");
                    o.push(other("o-1", "2026-03-04", "1.0", "Data migration design workshop"));
                },
                expect: &[("DUPLICATE", "narrative")],
            },
            Case {
                name: "an entry is not its own duplicate",
                edit: |e, _, o, _| {
                    e.id = Some("o-1".into());
                    o.push(other("o-1", "2026-03-04", "8", "Data migration design workshop"));
                },
                expect: &[],
            },
            Case {
                name: "same day and hours with another narrative is no duplicate",
                edit: |e, _, o, _| {
                    e.hours = dec("1");
                    o.push(other("o-1", "2026-03-04", "1", "Steering committee"));
                },
                expect: &[],
            },
            Case {
                name: "several rules at once, in a fixed order",
                edit: |e, a, _, p| {
                    e.date = date("2026-03-12");
                    e.hours = dec("12");
                    e.narrative = "x".into();
                    a.clear();
                    p.closed_through = Some(date("2026-03-31"));
                },
                expect: &[
                    ("FUTURE_DATE", "date"),
                    ("CLOSED_PERIOD", "date"),
                    ("NOT_ASSIGNED", "project_id"),
                    ("OVERTIME", "hours"),
                    ("NARRATIVE_REQUIRED", "narrative"),
                ],
            },
        ];
        for case in cases {
            let (mut e, mut a, mut o, mut p) = (entry(), assignments(), Vec::new(), TimePolicy::default());
            (case.edit)(&mut e, &mut a, &mut o, &mut p);
            let cx = RuleContext {
                policy: &p,
                today: date("2026-03-10"),
                assignments: &a,
                other_entries: &o,
            };
            let got: Vec<(&str, &str)> = validate(&e, &cx).iter().map(|f| (f.code.as_str(), f.field)).collect();
            assert_eq!(got, case.expect, "{}", case.name);
        }
    }

    #[test]
    fn the_window_is_the_iso_week_and_entries_outside_it_change_nothing() {
        // Wednesday 4 March 2026: Monday 2 to Sunday 8 March.
        assert_eq!(window(date("2026-03-04")), (date("2026-03-02"), date("2026-03-08")));
        assert_eq!(window(date("2026-03-02")), (date("2026-03-02"), date("2026-03-08")));
        assert_eq!(window(date("2026-03-08")), (date("2026-03-02"), date("2026-03-08")));
        // A week across the turn of the year: ISO week 2026-W53 ends on Sunday 3 January 2027.
        assert_eq!(window(date("2027-01-01")), (date("2026-12-28"), date("2027-01-03")));

        // Every entry the rules count lies in the window: the answer with the window's
        // entries alone is the answer with the person's whole history.
        let policy = TimePolicy::default();
        let a = assignments();
        let mut history = Vec::new();
        for (n, day) in (1..=31).filter_map(|d| NaiveDate::from_ymd_opt(2026, 3, d)).enumerate() {
            history.push(other(&format!("o-{n}"), &day.to_string(), "9", "Build and test cycle"));
        }
        for hours in ["0.5", "1", "8", "9"] {
            let mut e = entry();
            e.hours = dec(hours);
            e.narrative = "Build and test cycle".into();
            let (from, to) = window(e.date);
            let in_window: Vec<OtherEntry> = history
                .iter()
                .filter(|o| from <= o.date && o.date <= to)
                .cloned()
                .collect();
            assert_eq!(in_window.len(), 7);
            let with = |others: &[OtherEntry]| {
                let cx = RuleContext {
                    policy: &policy,
                    today: date("2026-03-31"),
                    assignments: &a,
                    other_entries: others,
                };
                validate(&e, &cx)
            };
            assert_eq!(with(&in_window), with(&history), "{hours} hours");
            assert!(!with(&in_window).is_empty(), "the week's 63 hours are over its limit");
        }
    }

    #[test]
    fn messages_carry_the_numbers() {
        let mut e = entry();
        e.hours = dec("10.5");
        let policy = TimePolicy::default();
        let a = assignments();
        let cx = RuleContext {
            policy: &policy,
            today: date("2026-03-10"),
            assignments: &a,
            other_entries: &[],
        };
        let failures = validate(&e, &cx);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].message.contains("10.5") && failures[0].message.contains("10"));
    }
}
