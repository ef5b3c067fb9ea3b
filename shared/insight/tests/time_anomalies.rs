//! Time-entry anomaly detection measured on a generated set: sixteen weeks of ordinary entries
//! for twelve consultants (days of 6.5 to 8.5 hours in tenths, the odd half day or day off,
//! two projects for most), with anomalies of each kind injected into distinct consultant-weeks.
//! Precision and recall per kind are held by assertions; the figures in docs/insight.md come
//! from `cargo test -p keel-insight --test time_anomalies -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use keel_insight::InsightError;
use keel_insight::anomaly::{Allocation, AnomalyConfig, AnomalyKind, Subject, TimeEntry, detect};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

const CONSULTANTS: usize = 12;
const WEEKS: i64 = 16;
const PER_KIND: usize = 8;
const NARRATIVES: &[&str] = &[
    "Configuration workshop with finance",
    "Build of integration mapping",
    "Status meeting and follow-ups",
    "Testing support and defect triage",
    "Design document updates",
    "Data migration dry run",
];

fn first_monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

fn subject_week(consultant: &str, project: Option<&str>, monday: NaiveDate) -> Subject {
    let week = monday.iso_week();
    Subject::Week {
        consultant: consultant.to_string(),
        project: project.map(str::to_string),
        iso_year: week.year(),
        iso_week: week.week(),
    }
}

struct Generated {
    entries: Vec<TimeEntry>,
    allocations: Vec<Allocation>,
    truth: BTreeSet<(AnomalyKind, Subject)>,
}

/// An ordinary day, in tenths of an hour as PSA timesheets record them: 6.5 to 8.5 hours, or
/// now and then a half day of 4.
fn ordinary_day(rng: &mut ChaCha8Rng) -> Decimal {
    if rng.random_bool(0.05) {
        return Decimal::from(4);
    }
    Decimal::new(75, 1) + Decimal::new(1, 1) * Decimal::from(rng.random_range(-10..=10))
}

fn generate(seed: u64) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut entries = Vec::new();
    let mut allocations = Vec::new();
    let mut truth = BTreeSet::new();
    let mut next_id = 0usize;
    let mut id = || {
        next_id += 1;
        format!("te-{next_id:05}")
    };
    // Which consultant-weeks get which anomaly; over-allocation needs a consultant with two projects.
    let split = |consultant: usize| !consultant.is_multiple_of(3);
    let mut slots: Vec<(usize, i64)> = (0..CONSULTANTS)
        .flat_map(|consultant| (0..WEEKS).map(move |week| (consultant, week)))
        .collect();
    slots.shuffle(&mut rng);
    let mut plan: BTreeMap<(usize, i64), AnomalyKind> = BTreeMap::new();
    let mut taken = slots.into_iter();
    for kind in [
        AnomalyKind::AboveAllocation,
        AnomalyKind::Duplicate,
        AnomalyKind::HoursOutlier,
        AnomalyKind::UnusualWeekday,
        AnomalyKind::RoundNumberPadding,
    ] {
        let mut placed = 0;
        for slot in taken.by_ref() {
            if kind == AnomalyKind::AboveAllocation && !split(slot.0) {
                continue;
            }
            plan.insert(slot, kind);
            placed += 1;
            if placed == PER_KIND {
                break;
            }
        }
    }

    for consultant in 0..CONSULTANTS {
        let name = format!("consultant-{consultant:02}");
        let project_a = format!("P-{consultant:02}-A");
        let project_b = format!("P-{consultant:02}-B");
        let a_days = if split(consultant) { 3 } else { 5 };
        allocations.push(Allocation {
            consultant: name.clone(),
            project: project_a.clone(),
            weekly_hours: Decimal::new(85, 1) * Decimal::from(a_days),
        });
        if split(consultant) {
            allocations.push(Allocation {
                consultant: name.clone(),
                project: project_b.clone(),
                weekly_hours: Decimal::from(17),
            });
        }
        for week in 0..WEEKS {
            let monday = first_monday() + Duration::weeks(week);
            let anomaly = plan.get(&(consultant, week)).copied();
            let mut this_week = Vec::new();
            // Over-allocation and padding are habits of a full week: no day off, no half day.
            let full_week = matches!(
                anomaly,
                Some(AnomalyKind::AboveAllocation) | Some(AnomalyKind::RoundNumberPadding)
            );
            for day in 0..5 {
                if rng.random_bool(0.04) && !full_week {
                    continue;
                }
                let project = if day < a_days || anomaly == Some(AnomalyKind::AboveAllocation) {
                    &project_a
                } else {
                    &project_b
                };
                this_week.push(TimeEntry {
                    id: id(),
                    consultant: name.clone(),
                    project: project.clone(),
                    date: monday + Duration::days(day),
                    hours: if full_week {
                        Decimal::new(75, 1) + Decimal::new(1, 1) * Decimal::from(rng.random_range(-10..=10))
                    } else {
                        ordinary_day(&mut rng)
                    },
                    narrative: NARRATIVES.choose(&mut rng).unwrap().to_string(),
                });
            }
            let on_a: Vec<usize> = (0..this_week.len())
                .filter(|i| this_week[*i].project == project_a)
                .collect();
            match anomaly {
                Some(AnomalyKind::AboveAllocation) => {
                    truth.insert((
                        AnomalyKind::AboveAllocation,
                        subject_week(&name, Some(&project_a), monday),
                    ));
                }
                Some(AnomalyKind::Duplicate) => {
                    let original = on_a.iter().copied().min_by_key(|i| this_week[*i].hours).unwrap();
                    let copy = TimeEntry {
                        id: id(),
                        ..this_week[original].clone()
                    };
                    truth.insert((AnomalyKind::Duplicate, Subject::Entry(copy.id.clone())));
                    this_week.push(copy);
                }
                Some(AnomalyKind::HoursOutlier) => {
                    let day = *on_a.choose(&mut rng).unwrap();
                    this_week[day].hours =
                        Decimal::new(125, 1) + Decimal::new(1, 1) * Decimal::from(rng.random_range(0..=15));
                    truth.insert((AnomalyKind::HoursOutlier, Subject::Entry(this_week[day].id.clone())));
                }
                Some(AnomalyKind::UnusualWeekday) => {
                    let weekend = TimeEntry {
                        id: id(),
                        consultant: name.clone(),
                        project: project_a.clone(),
                        date: monday + Duration::days(rng.random_range(5..=6)),
                        hours: Decimal::from(3) + Decimal::new(1, 1) * Decimal::from(rng.random_range(0..=20)),
                        narrative: "Catch-up on deliverables".into(),
                    };
                    truth.insert((AnomalyKind::UnusualWeekday, Subject::Entry(weekend.id.clone())));
                    this_week.push(weekend);
                }
                Some(AnomalyKind::RoundNumberPadding) => {
                    for entry in &mut this_week {
                        entry.hours = entry.hours.ceil();
                    }
                    truth.insert((AnomalyKind::RoundNumberPadding, subject_week(&name, None, monday)));
                }
                _ => {}
            }
            entries.extend(this_week);
        }
    }
    Generated {
        entries,
        allocations,
        truth,
    }
}

#[test]
fn injected_anomalies_are_found_with_high_precision_and_recall() {
    let mut totals: BTreeMap<AnomalyKind, (usize, usize, usize)> = BTreeMap::new();
    for seed in [7, 11, 23] {
        let generated = generate(seed);
        let flags = detect(&generated.entries, &generated.allocations, &AnomalyConfig::default()).unwrap();
        let found: BTreeSet<(AnomalyKind, Subject)> = flags.iter().map(|f| (f.kind, f.subject.clone())).collect();
        assert_eq!(found.len(), flags.len(), "one flag per kind and subject");
        for flag in &flags {
            assert!(!flag.reason.is_empty() && !flag.figures.is_empty(), "{flag:?}");
            if !generated.truth.contains(&(flag.kind, flag.subject.clone())) {
                println!("seed {seed}: unexpected {:?}: {}", flag.kind, flag.reason);
            }
        }
        for (kind, subject) in &generated.truth {
            if !found.contains(&(*kind, subject.clone())) {
                println!("seed {seed}: missed {kind:?} {subject:?}");
            }
        }
        for kind in [
            AnomalyKind::Duplicate,
            AnomalyKind::HoursOutlier,
            AnomalyKind::UnusualWeekday,
            AnomalyKind::RoundNumberPadding,
            AnomalyKind::AboveAllocation,
        ] {
            let truth: BTreeSet<_> = generated.truth.iter().filter(|(k, _)| *k == kind).collect();
            let flagged: BTreeSet<_> = found.iter().filter(|(k, _)| *k == kind).collect();
            let total = totals.entry(kind).or_default();
            total.0 += truth.intersection(&flagged).count();
            total.1 += flagged.len();
            total.2 += truth.len();
        }
        println!(
            "seed {seed}: {} entries, {} flags",
            generated.entries.len(),
            flags.len()
        );
    }
    println!("| kind | injected | flagged | precision | recall |");
    let (mut hit, mut flagged_all, mut injected_all) = (0, 0, 0);
    for (kind, (true_positive, flagged, injected)) in &totals {
        let precision = *true_positive as f64 / (*flagged).max(1) as f64;
        let recall = *true_positive as f64 / (*injected).max(1) as f64;
        println!("| {kind:?} | {injected} | {flagged} | {precision:.3} | {recall:.3} |");
        assert_eq!(*injected, 3 * PER_KIND, "{kind:?} injected");
        assert!(precision >= 0.9, "{kind:?} precision {precision:.3}");
        assert!(recall >= 0.9, "{kind:?} recall {recall:.3}");
        hit += true_positive;
        flagged_all += flagged;
        injected_all += injected;
    }
    let (precision, recall) = (hit as f64 / flagged_all as f64, hit as f64 / injected_all as f64);
    println!("| all | {injected_all} | {flagged_all} | {precision:.3} | {recall:.3} |");
    assert!(
        precision >= 0.95 && recall >= 0.95,
        "overall precision {precision:.3}, recall {recall:.3}"
    );
}

fn entry(id: &str, date: NaiveDate, hours: Decimal) -> TimeEntry {
    TimeEntry {
        id: id.into(),
        consultant: "ana".into(),
        project: "P-1".into(),
        date,
        hours,
        narrative: "Build".into(),
    }
}

#[test]
fn each_flag_carries_its_reason_and_exact_figures() {
    // Ten weekdays: 7, 7.5, 8, 7.5, 7, 7.5, 8, 7.5, 7.5 and a 14-hour day.
    let hours = ["7", "7.5", "8", "7.5", "7", "7.5", "8", "7.5", "7.5", "14"];
    let days = [5, 6, 7, 8, 9, 12, 13, 14, 15, 16];
    let entries: Vec<TimeEntry> = hours
        .iter()
        .zip(days)
        .enumerate()
        .map(|(n, (h, d))| {
            entry(
                &format!("e{n}"),
                NaiveDate::from_ymd_opt(2026, 1, d).unwrap(),
                h.parse().unwrap(),
            )
        })
        .collect();
    let allocation = Allocation {
        consultant: "ana".into(),
        project: "P-1".into(),
        weekly_hours: Decimal::from(30),
    };
    let flags = detect(&entries, std::slice::from_ref(&allocation), &AnomalyConfig::default()).unwrap();
    let kinds: Vec<AnomalyKind> = flags.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![AnomalyKind::HoursOutlier, AnomalyKind::AboveAllocation]);

    let outlier = &flags[0];
    assert_eq!(outlier.subject, Subject::Entry("e9".into()));
    assert_eq!(outlier.figure("median_hours"), Some(Decimal::new(75, 1)));
    // Deviations 0 (five times), 0.5 (four times) and 6.5: the MAD is 0.25, below the half-hour floor.
    assert_eq!(outlier.figure("mad_hours"), Some(Decimal::new(25, 2)));
    assert_eq!(outlier.figure("scale_hours"), Some(Decimal::new(5, 1)));
    // 0.6745 × (14 − 7.5) / 0.5 = 8.7685
    assert_eq!(outlier.figure("robust_z"), Some(Decimal::new(877, 2)));
    assert!(outlier.reason.contains("14 hours"), "{}", outlier.reason);

    // Week 3 (12-16 January): 7.5 + 8 + 7.5 + 7.5 + 14 = 44.5 hours against 30 allocated.
    let above = &flags[1];
    assert_eq!(above.figure("logged_hours"), Some(Decimal::new(445, 1)));
    assert_eq!(above.figure("allocated_hours"), Some(Decimal::from(30)));
    assert_eq!(above.figure("ratio"), Some(Decimal::new(148, 2)));
    assert_eq!(above.entries.len(), 5);

    // The same entry twice is a duplicate of the first, and counts once everywhere else.
    let mut doubled = entries[..9].to_vec();
    doubled.push(TimeEntry {
        id: "e-copy".into(),
        narrative: "  build ".into(),
        ..entries[2].clone()
    });
    let flags = detect(&doubled, &[allocation], &AnomalyConfig::default()).unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0].kind, AnomalyKind::Duplicate);
    assert_eq!(flags[0].entries, vec!["e-copy".to_string(), "e2".to_string()]);
}

#[test]
fn bad_entries_are_refused_naming_the_field() {
    let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let good = entry("e1", day, Decimal::from(8));
    let cases = [
        (
            TimeEntry {
                hours: Decimal::ZERO,
                ..good.clone()
            },
            "entries[1].hours",
        ),
        (
            TimeEntry {
                hours: Decimal::from(25),
                ..good.clone()
            },
            "entries[1].hours",
        ),
        (
            TimeEntry {
                consultant: " ".into(),
                ..good.clone()
            },
            "entries[1].consultant",
        ),
        (
            TimeEntry {
                project: String::new(),
                ..good.clone()
            },
            "entries[1].project",
        ),
    ];
    for (bad, field) in cases {
        let result = detect(&[good.clone(), bad], &[], &AnomalyConfig::default());
        assert!(
            matches!(&result, Err(InsightError::InvalidInput { field: named, .. }) if named == field),
            "{field}: {result:?}"
        );
    }
    let allocation = Allocation {
        consultant: "ana".into(),
        project: "P-1".into(),
        weekly_hours: Decimal::ZERO,
    };
    let result = detect(&[good], &[allocation], &AnomalyConfig::default());
    assert!(matches!(&result, Err(InsightError::InvalidInput { field, .. }) if field == "allocations[0].weekly_hours"));
}
