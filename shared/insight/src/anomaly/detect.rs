//! The detector: checks the input, drops exact duplicates (flagging them), then runs each rule
//! over the remaining entries.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Weekday};
use rust_decimal::Decimal;

use super::{Allocation, AnomalyConfig, AnomalyFlag, AnomalyKind, Figure, Subject, TimeEntry};
use crate::InsightError;

/// An ISO week as (year, week number).
type IsoWeek = (i32, u32);

/// What makes two entries the same: consultant, project, date, hours and narrative.
type SameEntry<'a> = (&'a str, &'a str, chrono::NaiveDate, Decimal, String);

/// The most entries one call may judge, so that a call stays bounded.
pub const MAX_ENTRIES: usize = 200_000;

/// Flags the anomalies in `entries`, judged against the consultants' own history in the same
/// set and their `allocations`. Bad input is [`InsightError::InvalidInput`] naming the entry and
/// field, and nothing is flagged.
pub fn detect(
    entries: &[TimeEntry],
    allocations: &[Allocation],
    config: &AnomalyConfig,
) -> Result<Vec<AnomalyFlag>, InsightError> {
    check(entries, allocations, config)?;
    let mut flags = Vec::new();
    let unique = duplicates(entries, &mut flags);
    outliers(&unique, config, &mut flags);
    weekdays(&unique, config, &mut flags);
    padding(&unique, config, &mut flags);
    above_allocation(&unique, allocations, config, &mut flags);
    flags.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));
    Ok(flags)
}

fn check(entries: &[TimeEntry], allocations: &[Allocation], config: &AnomalyConfig) -> Result<(), InsightError> {
    if entries.len() > MAX_ENTRIES {
        return Err(InsightError::invalid(
            "entries",
            format!("at most {MAX_ENTRIES} entries per call"),
        ));
    }
    for (position, entry) in entries.iter().enumerate() {
        let field = |name: &str| format!("entries[{position}].{name}");
        for (name, value) in [
            ("id", &entry.id),
            ("consultant", &entry.consultant),
            ("project", &entry.project),
        ] {
            if value.trim().is_empty() {
                return Err(InsightError::invalid(field(name), "must not be empty"));
            }
        }
        if entry.hours <= Decimal::ZERO || entry.hours > Decimal::from(24) {
            return Err(InsightError::invalid(
                field("hours"),
                "must be more than 0 and at most 24",
            ));
        }
    }
    for (position, allocation) in allocations.iter().enumerate() {
        if allocation.weekly_hours <= Decimal::ZERO {
            return Err(InsightError::invalid(
                format!("allocations[{position}].weekly_hours"),
                "must be more than 0",
            ));
        }
    }
    if config.outlier_z <= Decimal::ZERO || config.allocation_factor <= Decimal::ZERO {
        return Err(InsightError::invalid(
            "config",
            "outlier_z and allocation_factor must be more than 0",
        ));
    }
    Ok(())
}

fn figure(name: &str, value: Decimal) -> Figure {
    Figure {
        name: name.to_string(),
        value: value.round_dp(2).normalize(),
    }
}

fn week_of(entry: &TimeEntry) -> IsoWeek {
    let week = entry.date.iso_week();
    (week.year(), week.week())
}

fn is_whole(hours: Decimal) -> bool {
    hours.fract().is_zero()
}

fn share(part: usize, whole: usize) -> Decimal {
    if whole == 0 {
        Decimal::ZERO
    } else {
        Decimal::from(part) / Decimal::from(whole)
    }
}

/// Flags the second and later copies of an entry; returns the entries without them.
fn duplicates<'a>(entries: &'a [TimeEntry], flags: &mut Vec<AnomalyFlag>) -> Vec<&'a TimeEntry> {
    let mut first: HashMap<SameEntry<'_>, &TimeEntry> = HashMap::new();
    let mut unique = Vec::new();
    for entry in entries {
        let narrative = entry
            .narrative
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let key = (
            entry.consultant.as_str(),
            entry.project.as_str(),
            entry.date,
            entry.hours.normalize(),
            narrative,
        );
        match first.get(&key) {
            Some(original) => flags.push(AnomalyFlag {
                kind: AnomalyKind::Duplicate,
                subject: Subject::Entry(entry.id.clone()),
                consultant: entry.consultant.clone(),
                project: Some(entry.project.clone()),
                entries: vec![entry.id.clone(), original.id.clone()],
                reason: format!(
                    "same consultant, project, date ({}), hours ({}) and narrative as entry {}",
                    entry.date, entry.hours, original.id
                ),
                figures: vec![figure("hours", entry.hours)],
            }),
            None => {
                first.insert(key, entry);
                unique.push(entry);
            }
        }
    }
    unique
}

fn median(values: &mut [Decimal]) -> Decimal {
    values.sort_unstable();
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / Decimal::TWO
    }
}

fn outliers(entries: &[&TimeEntry], config: &AnomalyConfig, flags: &mut Vec<AnomalyFlag>) {
    let mut series: BTreeMap<(&str, &str), Vec<&TimeEntry>> = BTreeMap::new();
    for entry in entries {
        series
            .entry((&entry.consultant, &entry.project))
            .or_default()
            .push(entry);
    }
    for ((consultant, project), days) in series {
        if days.len() < config.min_history {
            continue;
        }
        let mut hours: Vec<Decimal> = days.iter().map(|entry| entry.hours).collect();
        let middle = median(&mut hours);
        let mut deviations: Vec<Decimal> = hours.iter().map(|value| (*value - middle).abs()).collect();
        let mad = median(&mut deviations);
        let scale = mad.max(config.min_mad_hours);
        for entry in days {
            let robust_z = Decimal::new(6745, 4) * (entry.hours - middle) / scale;
            if robust_z > config.outlier_z {
                flags.push(AnomalyFlag {
                    kind: AnomalyKind::HoursOutlier,
                    subject: Subject::Entry(entry.id.clone()),
                    consultant: consultant.to_string(),
                    project: Some(project.to_string()),
                    entries: vec![entry.id.clone()],
                    reason: format!(
                        "{} hours on {} against a usual {} (MAD {}): robust z-score {} above {}",
                        entry.hours,
                        entry.date,
                        middle.normalize(),
                        mad.normalize(),
                        robust_z.round_dp(2),
                        config.outlier_z
                    ),
                    figures: vec![
                        figure("hours", entry.hours),
                        figure("median_hours", middle),
                        figure("mad_hours", mad),
                        figure("scale_hours", scale),
                        figure("robust_z", robust_z),
                    ],
                });
            }
        }
    }
}

fn weekdays(entries: &[&TimeEntry], config: &AnomalyConfig, flags: &mut Vec<AnomalyFlag>) {
    let mut by_consultant: BTreeMap<&str, Vec<&TimeEntry>> = BTreeMap::new();
    for entry in entries {
        by_consultant.entry(&entry.consultant).or_default().push(entry);
    }
    for (consultant, history) in by_consultant {
        if history.len() < config.min_history {
            continue;
        }
        let mut counts: HashMap<Weekday, usize> = HashMap::new();
        for entry in &history {
            *counts.entry(entry.date.weekday()).or_default() += 1;
        }
        for entry in &history {
            let weekday = entry.date.weekday();
            let on_weekday = counts[&weekday];
            let weekday_share = share(on_weekday, history.len());
            if weekday_share <= config.unusual_weekday_share {
                flags.push(AnomalyFlag {
                    kind: AnomalyKind::UnusualWeekday,
                    subject: Subject::Entry(entry.id.clone()),
                    consultant: consultant.to_string(),
                    project: Some(entry.project.clone()),
                    entries: vec![entry.id.clone()],
                    reason: format!(
                        "logged on a {weekday:?} ({}); {on_weekday} of this consultant's {} entries fall on that weekday",
                        entry.date,
                        history.len()
                    ),
                    figures: vec![
                        figure("entries_on_weekday", Decimal::from(on_weekday)),
                        figure("entries_total", Decimal::from(history.len())),
                        figure("weekday_share", weekday_share),
                    ],
                });
            }
        }
    }
}

fn padding(entries: &[&TimeEntry], config: &AnomalyConfig, flags: &mut Vec<AnomalyFlag>) {
    let mut weeks: BTreeMap<(&str, IsoWeek), Vec<&TimeEntry>> = BTreeMap::new();
    for entry in entries {
        weeks
            .entry((&entry.consultant, week_of(entry)))
            .or_default()
            .push(entry);
    }
    let mut totals: HashMap<&str, (usize, usize)> = HashMap::new();
    for entry in entries {
        let total = totals.entry(&entry.consultant).or_default();
        total.0 += usize::from(is_whole(entry.hours));
        total.1 += 1;
    }
    for ((consultant, (iso_year, iso_week)), week) in &weeks {
        if week.len() < config.padding_min_entries || !week.iter().all(|entry| is_whole(entry.hours)) {
            continue;
        }
        let (whole_total, count_total) = totals[consultant];
        let baseline_entries = count_total - week.len();
        if baseline_entries < config.min_history {
            continue;
        }
        let baseline = share(whole_total - week.len(), baseline_entries);
        let chance = (0..week.len()).fold(Decimal::ONE, |chance, _| chance * baseline);
        if chance <= config.padding_max_chance {
            flags.push(AnomalyFlag {
                kind: AnomalyKind::RoundNumberPadding,
                subject: Subject::Week {
                    consultant: consultant.to_string(),
                    project: None,
                    iso_year: *iso_year,
                    iso_week: *iso_week,
                },
                consultant: consultant.to_string(),
                project: None,
                entries: week.iter().map(|entry| entry.id.clone()).collect(),
                reason: format!(
                    "all {} entries in week {iso_year}-W{iso_week:02} are whole hours; {}% of this consultant's other entries are, so such a week comes by chance with probability {}",
                    week.len(),
                    (baseline * Decimal::ONE_HUNDRED).round_dp(0),
                    chance.round_sf(2).unwrap_or(chance).normalize()
                ),
                figures: vec![
                    figure("entries_in_week", Decimal::from(week.len())),
                    figure("whole_hour_share_in_week", Decimal::ONE),
                    figure("baseline_whole_hour_share", baseline),
                    figure("baseline_entries", Decimal::from(baseline_entries)),
                    Figure { name: "chance_if_usual".into(), value: chance.round_sf(3).unwrap_or(chance) },
                ],
            });
        }
    }
}

fn above_allocation(
    entries: &[&TimeEntry],
    allocations: &[Allocation],
    config: &AnomalyConfig,
    flags: &mut Vec<AnomalyFlag>,
) {
    let allocated: HashMap<(&str, &str), Decimal> = allocations
        .iter()
        .map(|allocation| {
            (
                (allocation.consultant.as_str(), allocation.project.as_str()),
                allocation.weekly_hours,
            )
        })
        .collect();
    let mut weeks: BTreeMap<(&str, &str, IsoWeek), Vec<&TimeEntry>> = BTreeMap::new();
    for entry in entries {
        weeks
            .entry((&entry.consultant, &entry.project, week_of(entry)))
            .or_default()
            .push(entry);
    }
    for ((consultant, project, (iso_year, iso_week)), week) in weeks {
        let Some(weekly_hours) = allocated.get(&(consultant, project)) else {
            continue;
        };
        let logged: Decimal = week.iter().map(|entry| entry.hours).sum();
        if logged > *weekly_hours * config.allocation_factor {
            let ratio = logged / *weekly_hours;
            flags.push(AnomalyFlag {
                kind: AnomalyKind::AboveAllocation,
                subject: Subject::Week {
                    consultant: consultant.to_string(),
                    project: Some(project.to_string()),
                    iso_year,
                    iso_week,
                },
                consultant: consultant.to_string(),
                project: Some(project.to_string()),
                entries: week.iter().map(|entry| entry.id.clone()).collect(),
                reason: format!(
                    "{logged} hours on {project} in week {iso_year}-W{iso_week:02} against an allocation of {weekly_hours} ({}× the allocation, above {}×)",
                    ratio.round_dp(2),
                    config.allocation_factor
                ),
                figures: vec![
                    figure("logged_hours", logged),
                    figure("allocated_hours", *weekly_hours),
                    figure("ratio", ratio),
                ],
            });
        }
    }
}
