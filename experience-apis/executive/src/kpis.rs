//! The operating KPIs the workflow admins' records hold: pure, table-tested.
//!
//! - Workflow cycle time: an instance's `created_at` to the moment it finished, which is its
//!   `updated_at` once `done` (nothing changes a finished instance), bucketed by the week
//!   (Monday, UTC) it finished in, by workflow kind.
//! - Staffing (and any) approval turnaround: a person's decision on a step waiting for
//!   approval, from when it was requested (journaled with the decision as `requested_at`) to
//!   when it was decided (the step's `completed_at`), by kind and week decided. Decisions a
//!   policy made on its own are not approvals anyone waited for and are left out.
//! - Exception rate: the instances of a kind that ever entered the exception queue (at least
//!   one episode in the exception history) ÷ the instances of that kind.
//! - Integration latency: from the source system's change to the moment the downstream write
//!   completed, for the workflow steps that write to another system ([`INTEGRATIONS`]). The
//!   start is the instance's `created_at`: the workflow starts when the source's event (the
//!   PSA approval, the milestone) reaches it, and the records hold no earlier time; the end is
//!   the writing step's `completed_at`. By integration and the week the write completed.
//! - The project of an instance ([`project_of`]), for the breakdown by service line and
//!   region: the `project_id` at the top of its input, else the first one at the top of a
//!   journaled step's result, else its business key (or the key's part before the first `/`)
//!   when that is a PSA project's id. An instance naming no project (a reconciliation) has no
//!   service line or region.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use keel_core::Error;
use keel_proto::psa::Project;
use keel_proto::workflow::{ExceptionEpisode, Instance, KindCount};
use rust_decimal::{Decimal, RoundingStrategy};

/// Durations of one workflow kind that ended in one week: cycle times of the instances that
/// finished, or turnarounds of the approvals decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyDurations {
    /// The workflow kind, or the integration's name for latencies.
    pub kind: String,
    /// The Monday of the week they ended in.
    pub week_starting: NaiveDate,
    /// The service line and region of the instances' project, when broken down by them;
    /// `None` too for instances naming no project.
    pub place: Option<Place>,
    pub count: u64,
    /// Seconds, to the millisecond.
    pub total_seconds: Decimal,
    pub longest_seconds: Decimal,
}

impl WeeklyDurations {
    /// The mean, in seconds rounded half to even to the millisecond.
    pub fn average_seconds(&self) -> Decimal {
        if self.count == 0 {
            return Decimal::ZERO;
        }
        (self.total_seconds / Decimal::from(self.count))
            .round_dp_with_strategy(3, RoundingStrategy::MidpointNearestEven)
    }
}

/// A project's service line and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub service_line: String,
    pub region: String,
}

/// Where the view puts each instance: nowhere in particular (by kind and week only), or at its
/// project's service line and region.
#[derive(Debug, Clone, Copy)]
pub enum Breakdown<'a> {
    None,
    ByPlace(&'a HashMap<String, Project>),
}

impl Breakdown<'_> {
    fn place(&self, instance: &Instance) -> Option<Place> {
        match self {
            Breakdown::None => None,
            Breakdown::ByPlace(projects) => project_of(instance, projects).map(|p| Place {
                service_line: p.service_line.clone(),
                region: p.region.clone(),
            }),
        }
    }
}

fn project_id_in(json: &str) -> Option<String> {
    if !json.contains("project_id") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value
        .get("project_id")
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The PSA project an instance works on, among `projects` (by id): the `project_id` at the top
/// of its input, else the first at the top of a journaled step's result, else its business key
/// or the key's part before the first `/` when that is a project's id.
pub fn project_of<'a>(instance: &Instance, projects: &'a HashMap<String, Project>) -> Option<&'a Project> {
    let named = project_id_in(&instance.input_json).or_else(|| {
        instance
            .journal
            .iter()
            .find_map(|step| project_id_in(&step.result_json))
    });
    if let Some(id) = named {
        return projects.get(&id);
    }
    let key = instance.business_key.as_str();
    projects
        .get(key)
        .or_else(|| key.split_once('/').and_then(|(head, _)| projects.get(head)))
}

/// Durations by kind (and place) and the week each ended in, in kind, week then place order;
/// those that ended before `since` are left out.
fn by_kind_and_week(
    durations: impl IntoIterator<Item = (String, Option<Place>, DateTime<Utc>, Decimal)>,
    since: Option<NaiveDate>,
) -> Vec<WeeklyDurations> {
    let mut buckets: BTreeMap<(String, NaiveDate, Option<Place>), WeeklyDurations> = BTreeMap::new();
    for (kind, place, ended, seconds) in durations {
        if since.is_some_and(|since| ended.date_naive() < since) {
            continue;
        }
        let week = week_starting(ended.date_naive());
        let bucket = buckets
            .entry((kind.clone(), week, place.clone()))
            .or_insert_with(|| WeeklyDurations {
                kind,
                week_starting: week,
                place,
                count: 0,
                total_seconds: Decimal::ZERO,
                longest_seconds: Decimal::ZERO,
            });
        bucket.count += 1;
        bucket.total_seconds += seconds;
        bucket.longest_seconds = bucket.longest_seconds.max(seconds);
    }
    buckets.into_values().collect()
}

fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> Decimal {
    Decimal::new((end - start).num_milliseconds(), 3)
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    timestamp.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// Monday of the week `day` is in.
pub fn week_starting(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// The cycle time of a finished instance, in seconds to the millisecond; `None` for an
/// instance not `done`.
pub fn cycle_time(instance: &Instance) -> Result<Option<(DateTime<Utc>, Decimal)>, Error> {
    if instance.status != "done" {
        return Ok(None);
    }
    let (Some(created), Some(finished)) = (time(instance.created_at.as_ref()), time(instance.updated_at.as_ref()))
    else {
        return Err(Error::internal(format!(
            "workflow instance {} is done but lacks its created or updated time",
            instance.id
        )));
    };
    Ok(Some((finished, seconds_between(created, finished))))
}

/// The finished instances among `instances`, by kind, week finished and `breakdown`, in that
/// order; those that finished before `since` are left out.
pub fn cycle_times(
    instances: &[Instance],
    since: Option<NaiveDate>,
    breakdown: Breakdown<'_>,
) -> Result<Vec<WeeklyDurations>, Error> {
    let mut durations = Vec::new();
    for instance in instances {
        if let Some((finished, seconds)) = cycle_time(instance)? {
            durations.push((instance.kind.clone(), breakdown.place(instance), finished, seconds));
        }
    }
    Ok(by_kind_and_week(durations, since))
}

/// The approvals people decided in `instances`' journals, by kind, week decided and
/// `breakdown`, in that order; those decided before `since` are left out.
pub fn approval_turnarounds(
    instances: &[Instance],
    since: Option<NaiveDate>,
    breakdown: Breakdown<'_>,
) -> Result<Vec<WeeklyDurations>, Error> {
    let mut durations = Vec::new();
    for instance in instances {
        for step in &instance.journal {
            // Only a person's decision journals when it was requested.
            if !step.result_json.contains("requested_at") {
                continue;
            }
            let result: serde_json::Value = serde_json::from_str(&step.result_json).map_err(|e| {
                Error::internal(format!(
                    "workflow instance {} journaled {:?}: {e}",
                    instance.id, step.step
                ))
            })?;
            let Some(requested) = result.get("requested_at").and_then(|r| r.as_str()) else {
                continue;
            };
            let requested = DateTime::parse_from_rfc3339(requested)
                .map_err(|e| {
                    Error::internal(format!(
                        "workflow instance {} journaled the request time {requested:?}: {e}",
                        instance.id
                    ))
                })?
                .with_timezone(&Utc);
            let decided = time(step.completed_at.as_ref()).ok_or_else(|| {
                Error::internal(format!(
                    "workflow instance {} journaled {:?} without its time",
                    instance.id, step.step
                ))
            })?;
            durations.push((
                instance.kind.clone(),
                breakdown.place(instance),
                decided,
                seconds_between(requested, decided),
            ));
        }
    }
    Ok(by_kind_and_week(durations, since))
}

/// The integrations the workflow records show: the workflow kind, the step whose completion is
/// the downstream write, and the integration's name (source change → downstream record).
pub const INTEGRATIONS: &[(&str, &str, &str)] = &[
    ("time-posting", "post-to-erp", "PSA time approval → ERP journal"),
    ("expense-posting", "post-to-erp", "PSA expense approval → ERP journal"),
    (
        "billing-readiness",
        "draft-invoice",
        "PSA milestone reached → ERP invoice",
    ),
    ("change-order", "erp-budget", "PSA change order → ERP budget"),
];

/// The integration latencies in `instances`' journals: from the instance's creation to the
/// completion of its kind's writing step, by integration name and week the write completed,
/// in that order; writes completed before `since` are left out. An instance that has not
/// reached its writing step (or whose step was compensated) is not counted.
pub fn integration_latencies(
    instances: &[Instance],
    since: Option<NaiveDate>,
    breakdown: Breakdown<'_>,
) -> Result<Vec<WeeklyDurations>, Error> {
    let mut durations = Vec::new();
    for instance in instances {
        let Some((_, step, name)) = INTEGRATIONS.iter().find(|(kind, _, _)| *kind == instance.kind) else {
            continue;
        };
        let Some(write) = instance
            .journal
            .iter()
            .find(|s| s.step == *step && s.compensated_at.is_none())
        else {
            continue;
        };
        let (Some(created), Some(written)) = (time(instance.created_at.as_ref()), time(write.completed_at.as_ref()))
        else {
            return Err(Error::internal(format!(
                "workflow instance {} journaled {step:?} without its time or lacks its created time",
                instance.id
            )));
        };
        durations.push((
            name.to_string(),
            breakdown.place(instance),
            written,
            seconds_between(created, written),
        ));
    }
    Ok(by_kind_and_week(durations, since))
}

/// How often instances of one kind entered the exception queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRate {
    pub kind: String,
    /// The service line and region of the instances' project, when broken down by them
    /// (`None` also for the instances no project could be found for).
    pub place: Option<Place>,
    /// Instances of the kind, in any status.
    pub instances: u64,
    /// Of those, the ones with at least one stay in the exception queue.
    pub with_exception: u64,
}

impl ExceptionRate {
    /// `with_exception ÷ instances`, a fraction rounded half to even to four places.
    pub fn rate(&self) -> Decimal {
        if self.instances == 0 {
            return Decimal::ZERO;
        }
        (Decimal::from(self.with_exception) / Decimal::from(self.instances))
            .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven)
    }
}

/// The exception rate of every kind that has instances, in kind order: `counts` from the
/// admin's `GetCounts`, `episodes` its whole exception history.
pub fn exception_rates(counts: &[KindCount], episodes: &[ExceptionEpisode]) -> Vec<ExceptionRate> {
    let mut instances: BTreeMap<&str, u64> = BTreeMap::new();
    for count in counts {
        *instances.entry(count.kind.as_str()).or_default() += count.count;
    }
    let mut raised: HashMap<&str, HashSet<&str>> = HashMap::new();
    for episode in episodes {
        raised
            .entry(episode.kind.as_str())
            .or_default()
            .insert(episode.instance_id.as_str());
    }
    instances
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| ExceptionRate {
            kind: kind.to_string(),
            place: None,
            instances: n,
            with_exception: raised.get(kind).map_or(0, |ids| ids.len() as u64).min(n),
        })
        .collect()
}

/// The exception rate by kind and the service line and region of each instance's project, in
/// kind then place order: `instances` every instance of the admin (any status), `episodes`
/// its whole exception history. Instances no project is found for are counted at no place.
pub fn exception_rates_by_place(
    instances: &[Instance],
    episodes: &[ExceptionEpisode],
    breakdown: Breakdown<'_>,
) -> Vec<ExceptionRate> {
    let raised: HashSet<&str> = episodes.iter().map(|e| e.instance_id.as_str()).collect();
    let mut rates: BTreeMap<(String, Option<Place>), ExceptionRate> = BTreeMap::new();
    for instance in instances {
        let place = breakdown.place(instance);
        let rate = rates
            .entry((instance.kind.clone(), place.clone()))
            .or_insert_with(|| ExceptionRate {
                kind: instance.kind.clone(),
                place,
                instances: 0,
                with_exception: 0,
            });
        rate.instances += 1;
        if raised.contains(instance.id.as_str()) {
            rate.with_exception += 1;
        }
    }
    rates.into_values().collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn at(rfc3339: &str) -> Option<prost_types::Timestamp> {
        let t = DateTime::parse_from_rfc3339(rfc3339).unwrap();
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        })
    }

    fn instance(id: &str, kind: &str, status: &str, created: &str, updated: &str) -> Instance {
        Instance {
            id: id.into(),
            kind: kind.into(),
            status: status.into(),
            created_at: at(created),
            updated_at: at(updated),
            ..Default::default()
        }
    }

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn cycle_times_are_created_to_done_by_kind_and_week_finished() {
        let instances = [
            // Thursday 2026-11-19 and Friday 2026-11-20: the week of Monday 2026-11-16.
            instance(
                "a",
                "staffing",
                "done",
                "2026-11-19T10:00:00Z",
                "2026-11-19T10:00:30.500Z",
            ),
            instance("b", "staffing", "done", "2026-11-18T10:00:00Z", "2026-11-20T10:00:00Z"),
            // Monday 2026-11-23, the next week.
            instance("c", "staffing", "done", "2026-11-23T09:00:00Z", "2026-11-23T09:00:01Z"),
            instance(
                "d",
                "time-posting",
                "done",
                "2026-11-23T09:00:00Z",
                "2026-11-23T09:00:02Z",
            ),
            // Not finished: no cycle time.
            instance(
                "e",
                "staffing",
                "awaiting_approval",
                "2026-11-23T09:00:00Z",
                "2026-11-24T09:00:00Z",
            ),
        ];
        let times = cycle_times(&instances, None, Breakdown::None).unwrap();
        let keys: Vec<(&str, String)> = times
            .iter()
            .map(|t| (t.kind.as_str(), t.week_starting.to_string()))
            .collect();
        assert_eq!(
            keys,
            [
                ("staffing", "2026-11-16".to_string()),
                ("staffing", "2026-11-23".to_string()),
                ("time-posting", "2026-11-23".to_string())
            ]
        );
        assert_eq!(times[0].count, 2);
        assert_eq!(times[0].total_seconds, d("172830.500"));
        assert_eq!(times[0].average_seconds(), d("86415.250"));
        assert_eq!(times[0].longest_seconds, d("172800.000"));
        assert_eq!(times[1].average_seconds(), d("1.000"));

        let since = NaiveDate::from_ymd_opt(2026, 11, 23);
        assert_eq!(cycle_times(&instances, since, Breakdown::None).unwrap().len(), 2);
    }

    #[test]
    fn approval_turnaround_is_requested_to_decided_for_peoples_decisions_only() {
        let step = |name: &str, result: &str, completed: &str| keel_proto::workflow::StepRecord {
            step: name.into(),
            result_json: result.into(),
            completed_at: at(completed),
            ..Default::default()
        };
        let mut waited = instance("a", "staffing", "done", "2026-11-19T09:00:00Z", "2026-11-20T12:00:00Z");
        waited.journal = vec![
            step("rank", r#"{"candidates":[]}"#, "2026-11-19T09:00:01Z"),
            step(
                "approve",
                r#"{"approved":true,"by":"emp-7","role":"executive","requested_at":"2026-11-19T09:00:01.250000Z"}"#,
                "2026-11-20T11:00:01Z",
            ),
        ];
        let mut by_policy = instance("b", "staffing", "done", "2026-11-19T09:00:00Z", "2026-11-19T09:01:00Z");
        by_policy.journal = vec![step(
            "approve",
            r#"{"approved":true,"by":"policy 3"}"#,
            "2026-11-19T09:00:30Z",
        )];
        let turnarounds = approval_turnarounds(&[waited.clone(), by_policy], None, Breakdown::None).unwrap();
        assert_eq!(turnarounds.len(), 1);
        assert_eq!(turnarounds[0].kind, "staffing");
        assert_eq!(turnarounds[0].week_starting.to_string(), "2026-11-16");
        assert_eq!(turnarounds[0].count, 1);
        assert_eq!(turnarounds[0].average_seconds(), d("93599.750"));

        waited.journal[1].result_json = r#"{"requested_at":"yesterday"}"#.into();
        assert!(approval_turnarounds(&[waited], None, Breakdown::None).is_err());
    }

    #[test]
    fn a_done_instance_without_its_times_is_an_error_not_a_zero() {
        let mut broken = instance("a", "staffing", "done", "2026-11-19T10:00:00Z", "2026-11-19T10:00:30Z");
        broken.updated_at = None;
        assert!(cycle_times(&[broken], None, Breakdown::None).is_err());
    }

    #[test]
    fn exception_rate_counts_each_instance_once_however_often_it_was_raised() {
        let counts = [
            KindCount {
                kind: "time-posting".into(),
                status: "done".into(),
                count: 10,
            },
            KindCount {
                kind: "time-posting".into(),
                status: "exception".into(),
                count: 2,
            },
            KindCount {
                kind: "staffing".into(),
                status: "done".into(),
                count: 1,
            },
            KindCount {
                kind: "empty".into(),
                status: "done".into(),
                count: 0,
            },
        ];
        let episode = |instance: &str, kind: &str| ExceptionEpisode {
            instance_id: instance.into(),
            kind: kind.into(),
            ..Default::default()
        };
        let episodes = [
            episode("t1", "time-posting"),
            episode("t1", "time-posting"),
            episode("t2", "time-posting"),
            episode("t3", "time-posting"),
        ];
        let rates = exception_rates(&counts, &episodes);
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0].kind, "staffing");
        assert_eq!(rates[0].rate(), Decimal::ZERO);
        assert_eq!(rates[1].instances, 12);
        assert_eq!(rates[1].with_exception, 3);
        assert_eq!(rates[1].rate(), d("0.25"));
    }

    fn step(name: &str, result: &str, completed: &str) -> keel_proto::workflow::StepRecord {
        keel_proto::workflow::StepRecord {
            step: name.into(),
            result_json: result.into(),
            completed_at: at(completed),
            ..Default::default()
        }
    }

    #[test]
    fn exception_rate_by_place_counts_every_status_and_each_raised_instance_once() {
        let projects: HashMap<String, Project> = [
            (
                "p1".to_string(),
                Project {
                    id: "p1".into(),
                    service_line: "Cloud".into(),
                    region: "EMEA".into(),
                    ..Default::default()
                },
            ),
            (
                "p2".to_string(),
                Project {
                    id: "p2".into(),
                    service_line: "Data".into(),
                    region: "NA".into(),
                    ..Default::default()
                },
            ),
        ]
        .into();
        let on = |id: &str, status: &str, project: &str| {
            let mut i = instance(
                id,
                "time-posting",
                status,
                "2026-11-19T10:00:00Z",
                "2026-11-19T10:00:05Z",
            );
            i.input_json = format!(r#"{{"project_id":"{project}"}}"#);
            i
        };
        let instances = [
            on("a", "done", "p1"),
            on("b", "exception", "p1"),
            on("c", "resolved", "p1"),
            on("d", "done", "p2"),
            on("e", "running", "unknown"),
        ];
        let episode = |id: &str| ExceptionEpisode {
            instance_id: id.into(),
            kind: "time-posting".into(),
            ..Default::default()
        };
        // b is in the queue now; c was, twice, and was resolved; e was once.
        let episodes = [episode("b"), episode("c"), episode("c"), episode("e")];
        let rates = exception_rates_by_place(&instances, &episodes, Breakdown::ByPlace(&projects));
        type Seen<'a> = (Option<(&'a str, &'a str)>, u64, u64, Decimal);
        let seen: Vec<Seen> = rates
            .iter()
            .map(|r| {
                (
                    r.place.as_ref().map(|p| (p.service_line.as_str(), p.region.as_str())),
                    r.instances,
                    r.with_exception,
                    r.rate(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (None, 1, 1, Decimal::ONE),
                (Some(("Cloud", "EMEA")), 3, 2, Decimal::from_str("0.6667").unwrap()),
                (Some(("Data", "NA")), 1, 0, Decimal::ZERO),
            ]
        );
    }

    #[test]
    fn an_instance_is_attributed_to_the_project_its_records_name() {
        let project = |id: &str, line: &str, region: &str| {
            (
                id.to_string(),
                Project {
                    id: id.into(),
                    service_line: line.into(),
                    region: region.into(),
                    ..Default::default()
                },
            )
        };
        let projects: HashMap<String, Project> = [project("p1", "Cloud", "EMEA"), project("p2", "Data", "NA")].into();
        let mut posting = instance(
            "a",
            "time-posting",
            "done",
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:00:05Z",
        );
        posting.business_key = "entry-1".into();
        posting.journal = vec![step(
            "fetch",
            r#"{"time_entry_id":"entry-1","project_id":"p2"}"#,
            "2026-11-19T10:00:01Z",
        )];
        let mut close_out = instance("b", "close-out", "done", "2026-11-19T10:00:00Z", "2026-11-19T10:00:05Z");
        close_out.input_json = r#"{"project_id":"p1","idempotency_key":"k"}"#.into();
        close_out.journal = vec![step("check", r#"{"project_id":"p2"}"#, "2026-11-19T10:00:01Z")];
        let mut billing = instance(
            "c",
            "billing-readiness",
            "done",
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:00:05Z",
        );
        billing.business_key = "p2/3".into();
        let mut reconciliation = instance(
            "d",
            "reconciliation",
            "done",
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:00:09Z",
        );
        reconciliation.business_key = "2026-11".into();
        let mut unknown = instance("e", "staffing", "done", "2026-11-19T10:00:00Z", "2026-11-19T10:00:05Z");
        unknown.journal = vec![step("fetch", r#"{"project_id":"p9"}"#, "2026-11-19T10:00:01Z")];

        let id = |i: &Instance| project_of(i, &projects).map(|p| p.id.clone());
        assert_eq!(id(&posting).as_deref(), Some("p2"), "the journal's fetch");
        assert_eq!(id(&close_out).as_deref(), Some("p1"), "the input before the journal");
        assert_eq!(id(&billing).as_deref(), Some("p2"), "the business key's project part");
        assert_eq!(id(&reconciliation), None);
        assert_eq!(id(&unknown), None, "a project PSA does not know");

        let all = [posting, close_out, billing, reconciliation];
        let rows = cycle_times(&all, None, Breakdown::ByPlace(&projects)).unwrap();
        let places: Vec<String> = rows
            .iter()
            .map(|r| match &r.place {
                Some(p) => format!("{} {}/{} {}", r.kind, p.service_line, p.region, r.count),
                None => format!("{} - {}", r.kind, r.count),
            })
            .collect();
        assert_eq!(
            places,
            [
                "billing-readiness Data/NA 1",
                "close-out Cloud/EMEA 1",
                "reconciliation - 1",
                "time-posting Data/NA 1",
            ]
        );
    }

    #[test]
    fn integration_latency_is_created_to_the_writing_steps_completion() {
        let mut a = instance(
            "a",
            "time-posting",
            "done",
            "2026-11-19T10:00:00Z",
            "2026-11-19T10:00:09Z",
        );
        a.journal = vec![
            step("fetch", "{}", "2026-11-19T10:00:01Z"),
            step("cost", "{}", "2026-11-19T10:00:02Z"),
            step("post-to-erp", "{}", "2026-11-19T10:00:03.250Z"),
            step("mark-posted", "{}", "2026-11-19T10:00:09Z"),
        ];
        let mut b = instance(
            "b",
            "time-posting",
            "done",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:09Z",
        );
        b.journal = vec![step("post-to-erp", "{}", "2026-11-20T10:00:07Z")];
        // Compensated: the write was undone; not reached: nothing written; a kind with no
        // integration.
        let mut undone = instance(
            "c",
            "time-posting",
            "done",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:09Z",
        );
        undone.journal = vec![step("post-to-erp", "{}", "2026-11-20T10:00:02Z")];
        undone.journal[0].compensated_at = at("2026-11-20T10:00:05Z");
        let pending = instance(
            "d",
            "time-posting",
            "running",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:01Z",
        );
        let mut staffing = instance("e", "staffing", "done", "2026-11-20T10:00:00Z", "2026-11-20T10:00:09Z");
        staffing.journal = vec![step("post-to-erp", "{}", "2026-11-20T10:00:02Z")];
        let mut invoice = instance(
            "f",
            "billing-readiness",
            "done",
            "2026-11-23T08:00:00Z",
            "2026-11-23T08:01:00Z",
        );
        invoice.journal = vec![
            step("check", "{}", "2026-11-23T08:00:01Z"),
            step("draft-invoice", "{}", "2026-11-23T08:00:30Z"),
        ];
        let rows = integration_latencies(
            &[a, b, undone, pending, staffing, invoice.clone()],
            None,
            Breakdown::None,
        )
        .unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].kind, "PSA milestone reached → ERP invoice");
        assert_eq!(rows[0].week_starting.to_string(), "2026-11-23");
        assert_eq!(rows[0].average_seconds(), d("30.000"));
        assert_eq!(rows[1].kind, "PSA time approval → ERP journal");
        assert_eq!(rows[1].week_starting.to_string(), "2026-11-16");
        assert_eq!(rows[1].count, 2);
        assert_eq!(rows[1].average_seconds(), d("5.125"));
        assert_eq!(rows[1].longest_seconds, d("7.000"));

        let since = NaiveDate::from_ymd_opt(2026, 11, 21);
        assert_eq!(
            integration_latencies(&[invoice.clone()], since, Breakdown::None)
                .unwrap()
                .len(),
            1
        );
        invoice.journal[1].completed_at = None;
        assert!(integration_latencies(&[invoice], None, Breakdown::None).is_err());
    }

    #[test]
    fn weeks_start_on_monday() {
        for (day, monday) in [
            ("2026-11-23", "2026-11-23"),
            ("2026-11-29", "2026-11-23"),
            ("2026-11-30", "2026-11-30"),
        ] {
            let day = NaiveDate::from_str(day).unwrap();
            assert_eq!(week_starting(day).to_string(), monday);
        }
    }
}
