//! Which exceptions a project raised: pure attribution of the episodes the process APIs'
//! workflow admins report (`ListExceptionHistory`) to one project.
//!
//! Workflow instances do not carry a project: each is keyed by the record it is about (a
//! time entry, an expense, a change request, a resource request, a milestone, the project).
//! An episode belongs to the project when its business key is one of the project's own
//! records as PSA and ERP list them, or names the project (`<project id>` or
//! `<project id>/<...>`), or its input does (`"project_id"`). Record ids are UUIDs, unique
//! across systems, so a key cannot match another project's record.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_proto::workflow::ExceptionEpisode;
use serde::{Deserialize, Serialize};

/// One exception the project raised, as the review keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRecord {
    pub id: String,
    pub kind: String,
    pub instance_id: String,
    pub business_key: String,
    pub owning_team: String,
    pub reason: String,
    pub error: String,
    pub raised_at: DateTime<Utc>,
    /// `retried`, `resolved` or `abandoned`; `None` while still in the queue.
    pub outcome: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
}

impl ExceptionRecord {
    /// How long it stayed in the queue; `None` while it is still there.
    pub fn time_to_resolve(&self) -> Option<chrono::Duration> {
        self.closed_at.map(|closed| closed - self.raised_at)
    }
}

/// The ids of a project's records, in every system that keys workflows by them.
#[derive(Debug, Clone, Default)]
pub struct ProjectRecords {
    pub project_id: String,
    pub ids: HashSet<String>,
}

impl ProjectRecords {
    pub fn new(project_id: &str) -> ProjectRecords {
        ProjectRecords {
            project_id: project_id.to_string(),
            ids: HashSet::from([project_id.to_string()]),
        }
    }

    /// Adds record ids (empty ones are skipped).
    pub fn extend<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        self.ids
            .extend(ids.into_iter().filter(|id| !id.is_empty()).map(str::to_string));
    }

    /// Whether an episode was about this project.
    pub fn owns(&self, episode: &ExceptionEpisode) -> bool {
        let key = episode.business_key.as_str();
        if self.ids.contains(key) || key.split('/').next() == Some(self.project_id.as_str()) {
            return true;
        }
        serde_json::from_str::<serde_json::Value>(&episode.input_json)
            .ok()
            .and_then(|input| input.get("project_id")?.as_str().map(|p| p == self.project_id))
            .unwrap_or(false)
    }
}

fn time(at: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let at = at.as_ref()?;
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
}

/// The project's episodes among `episodes` (which may repeat: one admin can answer for
/// several engines), each once, in the order raised.
pub fn attribute(records: &ProjectRecords, episodes: &[ExceptionEpisode]) -> Result<Vec<ExceptionRecord>, Error> {
    let mut kept = BTreeMap::new();
    for episode in episodes.iter().filter(|e| records.owns(e)) {
        let raised_at = time(&episode.raised_at)
            .ok_or_else(|| Error::internal(format!("exception {} has no time it was raised", episode.id)))?;
        let outcome = (!episode.outcome.is_empty()).then(|| episode.outcome.clone());
        kept.insert(
            (raised_at, episode.id.clone()),
            ExceptionRecord {
                id: episode.id.clone(),
                kind: episode.kind.clone(),
                instance_id: episode.instance_id.clone(),
                business_key: episode.business_key.clone(),
                owning_team: episode.owning_team.clone(),
                reason: episode.reason.clone(),
                error: episode.error.clone(),
                raised_at,
                closed_at: outcome.as_ref().and_then(|_| time(&episode.closed_at)),
                closed_by: outcome.as_ref().map(|_| episode.closed_by.clone()),
                outcome,
            },
        );
    }
    Ok(kept.into_values().collect())
}

/// The longest and the median time an exception took to leave the queue (the median of an
/// even count is the shorter of the two middle ones), over those that left it.
pub fn resolution_times(records: &[ExceptionRecord]) -> (Option<chrono::Duration>, Option<chrono::Duration>) {
    let mut times: Vec<chrono::Duration> = records.iter().filter_map(ExceptionRecord::time_to_resolve).collect();
    times.sort();
    let longest = times.last().copied();
    let median = (!times.is_empty()).then(|| times[(times.len() - 1) / 2]);
    (longest, median)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn episode(id: &str, key: &str, input: &str, raised: i64, closed: Option<i64>) -> ExceptionEpisode {
        ExceptionEpisode {
            id: id.into(),
            instance_id: format!("i-{id}"),
            kind: "time-posting".into(),
            business_key: key.into(),
            owning_team: "operations".into(),
            reason: "RETRIES_EXHAUSTED".into(),
            error: "ERP unavailable".into(),
            raised_at: at(raised),
            outcome: closed.map(|_| "retried".to_string()).unwrap_or_default(),
            closed_at: closed.and_then(at),
            closed_by: closed.map(|_| "olga".to_string()).unwrap_or_default(),
            note: String::new(),
            input_json: input.into(),
        }
    }

    #[test]
    fn episodes_belong_by_record_key_project_key_or_input() {
        let mut records = ProjectRecords::new("p1");
        records.extend(["te-1", "cr-1", ""]);
        let episodes = [
            episode("a", "te-1", "{}", 10, Some(70)),
            episode("b", "te-9", "{}", 11, None),
            episode("c", "p1/2", "{}", 12, Some(13)),
            episode("d", "run-1", r#"{"project_id":"p1"}"#, 13, None),
            episode("e", "run-2", r#"{"project_id":"p2"}"#, 14, None),
            episode("f", "p1", "not json", 15, Some(1015)),
            episode("g", "p10", "{}", 16, None),
            episode("h", "", "{}", 17, None),
            // The same episode from a second admin that answers for the same engine.
            episode("a", "te-1", "{}", 10, Some(70)),
        ];
        let kept = attribute(&records, &episodes).unwrap();
        let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d", "f"]);
        assert_eq!(kept[0].time_to_resolve(), Some(chrono::Duration::seconds(60)));
        assert_eq!(kept[0].closed_by.as_deref(), Some("olga"));
        assert_eq!(kept[2].time_to_resolve(), None, "still open");
        assert_eq!(kept[2].closed_by, None);
        let (longest, median) = resolution_times(&kept);
        assert_eq!(longest, Some(chrono::Duration::seconds(1000)));
        assert_eq!(median, Some(chrono::Duration::seconds(60)), "1 s, 60 s, 1000 s");
    }

    #[test]
    fn no_resolved_exception_has_no_resolution_time() {
        assert_eq!(resolution_times(&[]), (None, None));
    }
}
