//! Time-entry compliance, by the work week of the entry and the service line and region of its
//! project: pure, table-tested.
//!
//! An entry's work week is the week (Monday to Sunday, UTC) of its date. Its deadline is the
//! end of that week (midnight UTC between Sunday and Monday) plus the policy's
//! `submit_within_days` days. An entry is on time when PSA's `submitted_at` (its first
//! submission, kept through rejection, approval and posting) is no later than the deadline,
//! and late when it is later, or when it was never submitted and the deadline has passed. An
//! entry never submitted whose deadline has not passed yet is not counted. An entry PSA marks
//! submitted (or beyond) without a submission time was submitted before PSA kept it: its
//! submission time is unknown and it is left out rather than guessed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use keel_core::Error;
use keel_proto::psa::{Project, TimeEntry, TimeEntryState};
use rust_decimal::Decimal;

use crate::kpis::week_starting;
use crate::operating::percent;

/// The entries of one work week, of the projects of one service line and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliance {
    /// The Monday of the entries' work week.
    pub week_starting: NaiveDate,
    pub service_line: String,
    pub region: String,
    /// Submitted by the deadline.
    pub on_time: u64,
    /// Submitted after the deadline, or never submitted with the deadline passed.
    pub late: u64,
}

impl Compliance {
    /// The entries counted: on time and late.
    pub fn entries(&self) -> u64 {
        self.on_time + self.late
    }

    /// `on_time ÷ entries × 100`, two places; `None` without entries.
    pub fn on_time_percent(&self) -> Option<Decimal> {
        percent(Decimal::from(self.on_time), Decimal::from(self.entries()))
    }
}

/// The deadline of the entries of the week starting `monday`.
pub fn deadline(monday: NaiveDate, submit_within_days: u32) -> DateTime<Utc> {
    (monday + Days::new(7 + u64::from(submit_within_days)))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    timestamp.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// The compliance of `entries` of `projects` as of `now`, by work week, service line and
/// region, in that order; entries dated before `since` are left out, and so are entries of
/// projects not in `projects`.
pub fn time_entry_compliance(
    projects: &[Project],
    entries: &[TimeEntry],
    submit_within_days: u32,
    now: DateTime<Utc>,
    since: Option<NaiveDate>,
) -> Result<Vec<Compliance>, Error> {
    let by_id: HashMap<&str, &Project> = projects.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut rows: BTreeMap<(NaiveDate, String, String), Compliance> = BTreeMap::new();
    for entry in entries {
        let Some(project) = by_id.get(entry.project_id.as_str()) else {
            continue;
        };
        let date = NaiveDate::parse_from_str(&entry.date, "%Y-%m-%d").map_err(|e| {
            Error::internal(format!(
                "PSA sent the date {:?} of time entry {}: {e}",
                entry.date, entry.id
            ))
        })?;
        if since.is_some_and(|since| date < since) {
            continue;
        }
        let week = week_starting(date);
        let due = deadline(week, submit_within_days);
        let on_time = match time(entry.submitted_at.as_ref()) {
            Some(submitted) => submitted <= due,
            None if entry.state == TimeEntryState::Draft as i32 && now > due => false,
            // Not due yet, or submitted before PSA kept the time.
            None => continue,
        };
        let row = rows
            .entry((week, project.service_line.clone(), project.region.clone()))
            .or_insert_with(|| Compliance {
                week_starting: week,
                service_line: project.service_line.clone(),
                region: project.region.clone(),
                on_time: 0,
                late: 0,
            });
        if on_time {
            row.on_time += 1;
        } else {
            row.late += 1;
        }
    }
    Ok(rows.into_values().collect())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn entry(project: &str, date: &str, state: TimeEntryState, submitted: Option<&str>) -> TimeEntry {
        TimeEntry {
            id: format!("{project}-{date}"),
            project_id: project.into(),
            date: date.into(),
            state: state as i32,
            submitted_at: submitted.map(|s| keel_core::time::to_timestamp(at(s))),
            ..Default::default()
        }
    }

    fn project(id: &str, line: &str, region: &str) -> Project {
        Project {
            id: id.into(),
            service_line: line.into(),
            region: region.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_deadline_is_the_end_of_the_work_week_plus_the_policys_days() {
        let monday = NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
        assert_eq!(deadline(monday, 2), at("2026-11-25T00:00:00Z"));
        assert_eq!(deadline(monday, 0), at("2026-11-23T00:00:00Z"));
    }

    #[test]
    fn entries_count_on_time_or_late_against_their_weeks_deadline() {
        use TimeEntryState::{Approved, Draft, Posted, Rejected, Submitted};
        let projects = [project("p1", "Cloud", "EMEA"), project("p2", "Data", "NA")];
        let now = at("2026-11-26T12:00:00Z");
        // The week of Monday 2026-11-16: deadline 2026-11-25T00:00Z with two days.
        let entries = [
            // Submitted on the last second, approved since: on time.
            entry("p1", "2026-11-17", Approved, Some("2026-11-24T23:59:59Z")),
            // Submitted a moment after the deadline: late, even once posted.
            entry("p1", "2026-11-18", Posted, Some("2026-11-25T00:00:01Z")),
            // Never submitted, the deadline passed: late.
            entry("p1", "2026-11-22", Draft, None),
            // Submitted on time, then rejected: the first submission counts.
            entry("p1", "2026-11-16", Rejected, Some("2026-11-20T09:00:00Z")),
            // Submitted before PSA kept the time: unknown, left out.
            entry("p1", "2026-11-19", Submitted, None),
            // This week's draft is not due yet.
            entry("p2", "2026-11-23", Draft, None),
            // This week's submitted entry is on time.
            entry("p2", "2026-11-24", Submitted, Some("2026-11-24T18:00:00Z")),
            // A project not asked about.
            entry("p9", "2026-11-17", Draft, None),
        ];
        let rows = time_entry_compliance(&projects, &entries, 2, now, None).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let cloud = &rows[0];
        assert_eq!(
            (
                cloud.week_starting.to_string().as_str(),
                cloud.service_line.as_str(),
                cloud.region.as_str()
            ),
            ("2026-11-16", "Cloud", "EMEA")
        );
        assert_eq!((cloud.entries(), cloud.on_time, cloud.late), (4, 2, 2));
        assert_eq!(cloud.on_time_percent(), Some(Decimal::from_str("50.00").unwrap()));
        let data = &rows[1];
        assert_eq!(data.week_starting.to_string(), "2026-11-23");
        assert_eq!((data.entries(), data.on_time, data.late), (1, 1, 0));
        assert_eq!(data.on_time_percent(), Some(Decimal::from_str("100.00").unwrap()));

        // A longer deadline makes the late submission on time; the unsubmitted draft stays late.
        let lenient = time_entry_compliance(&projects, &entries, 3, now, None).unwrap();
        assert_eq!((lenient[0].on_time, lenient[0].late), (3, 1));

        // `since` leaves out the entries dated before it.
        let since = NaiveDate::from_ymd_opt(2026, 11, 23);
        let rows = time_entry_compliance(&projects, &entries, 2, now, since).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].service_line, "Data");

        let bad = [entry("p1", "17/11/2026", Draft, None)];
        assert!(time_entry_compliance(&projects, &bad, 2, now, None).is_err());
    }
}
