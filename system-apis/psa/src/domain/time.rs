//! Time entries: recording, editing and moving them through their states.

use chrono::NaiveDate;
use keel_core::{Error, Violations};
use keel_proto::psa::{
    ApproveTimeEntriesRequest, ApproveTimeEntryRequest, EntryJournal, EntryVersion, ListTimeEntriesRequest,
    MarkTimeEntriesPostedRequest, MarkTimeEntryPostedRequest, RecordTimeEntriesRequest, RecordTimeEntryRequest,
    RejectTimeEntryRequest, SubmitTimeEntriesRequest, TimeEntryState, UpdateTimeEntryRequest, WorkEntry,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::decimal_text;
use super::positive_decimal;
use super::staffing::{expected_version, expected_version_at, optional_uuid, required_date};

/// The most hours one entry may hold.
pub const MAX_HOURS: Decimal = Decimal::from_parts(24, 0, 0, false, 0);
/// The most entries one `SubmitTimeEntries` may hold.
pub const MAX_SUBMIT: usize = 100;
/// The most entries one `RecordTimeEntries` or `ApproveTimeEntries` may hold: a person's
/// timesheet, a manager's batch of approvals.
pub const MAX_SHEET: usize = 100;
/// The most entries one `MarkTimeEntriesPosted` may hold: a posting's batch.
pub const MAX_POSTED: usize = 1000;

/// What an entry says about the work: shared by record and update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkDone {
    /// Optional task name.
    pub task: String,
    pub date: NaiveDate,
    /// 0 < hours <= 24, at most 2 decimal places.
    pub hours: Decimal,
    pub narrative: String,
    pub billable: bool,
}

impl WorkDone {
    /// Each field named after `prefix` (`entries[2].` for an entry of a batch).
    fn parse(
        v: &mut Violations,
        prefix: &str,
        task: &str,
        date: &str,
        hours: &str,
        narrative: &str,
        billable: bool,
    ) -> Option<WorkDone> {
        let task = v.optional_text(&format!("{prefix}task"), task);
        let date = required_date(v, &format!("{prefix}date"), date);
        let hours = positive_decimal(v, &format!("{prefix}hours"), hours, 2, MAX_HOURS);
        let narrative = v.required_text(&format!("{prefix}narrative"), narrative);
        Some(WorkDone {
            task,
            date: date?,
            hours: hours?,
            narrative,
            billable,
        })
    }
}

/// A checked `RecordTimeEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeEntry {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub employee_id: Uuid,
    pub work: WorkDone,
}

impl NewTimeEntry {
    pub fn parse(request: &RecordTimeEntryRequest) -> Result<NewTimeEntry, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let employee_id = v.uuid("employee_id", &request.employee_id);
        let work = WorkDone::parse(
            &mut v,
            "",
            &request.task,
            &request.date,
            &request.hours,
            &request.narrative,
            request.billable,
        );
        v.finish()?;
        match (project_id, employee_id, work) {
            (Some(project_id), Some(employee_id), Some(work)) => Ok(NewTimeEntry {
                idempotency_key,
                project_id,
                employee_id,
                work,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> RecordTimeEntryRequest {
        RecordTimeEntryRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            employee_id: self.employee_id.to_string(),
            task: self.work.task.clone(),
            date: self.work.date.to_string(),
            hours: decimal_text(self.work.hours),
            narrative: self.work.narrative.clone(),
            billable: self.work.billable,
        }
    }
}

/// A checked `UpdateTimeEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryEdit {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
    pub work: WorkDone,
    pub request_reapproval: bool,
}

impl TimeEntryEdit {
    pub fn parse(request: &UpdateTimeEntryRequest) -> Result<TimeEntryEdit, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let work = WorkDone::parse(
            &mut v,
            "",
            &request.task,
            &request.date,
            &request.hours,
            &request.narrative,
            request.billable,
        );
        v.finish()?;
        match (id, work) {
            (Some(id), Some(work)) => Ok(TimeEntryEdit {
                idempotency_key,
                id,
                expected_version,
                work,
                request_reapproval: request.request_reapproval,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> UpdateTimeEntryRequest {
        UpdateTimeEntryRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            task: self.work.task.clone(),
            date: self.work.date.to_string(),
            hours: decimal_text(self.work.hours),
            narrative: self.work.narrative.clone(),
            billable: self.work.billable,
            request_reapproval: self.request_reapproval,
        }
    }
}

/// A checked `SubmitTimeEntries`: 1 to [`MAX_SUBMIT`] distinct ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntrySubmission {
    pub idempotency_key: String,
    pub ids: Vec<Uuid>,
}

impl TimeEntrySubmission {
    pub fn parse(request: &SubmitTimeEntriesRequest) -> Result<TimeEntrySubmission, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        if request.ids.is_empty() {
            v.add("ids", "must name at least one time entry");
        } else if request.ids.len() > MAX_SUBMIT {
            v.add("ids", format!("may name at most {MAX_SUBMIT} time entries"));
        }
        let mut ids = Vec::with_capacity(request.ids.len());
        for (i, raw) in request.ids.iter().enumerate() {
            if let Some(id) = v.uuid(&format!("ids[{i}]"), raw) {
                if ids.contains(&id) {
                    v.add(format!("ids[{i}]"), "appears twice");
                }
                ids.push(id);
            }
        }
        v.finish()?;
        Ok(TimeEntrySubmission { idempotency_key, ids })
    }

    pub fn to_request(&self) -> SubmitTimeEntriesRequest {
        SubmitTimeEntriesRequest {
            idempotency_key: self.idempotency_key.clone(),
            ids: self.ids.iter().map(Uuid::to_string).collect(),
        }
    }
}

/// An approver's decision on a submitted entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject { reason: String },
}

/// A checked `ApproveTimeEntry` or `RejectTimeEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryDecision {
    pub idempotency_key: String,
    pub id: Uuid,
    pub approver_id: Uuid,
    pub expected_version: i64,
    pub decision: Decision,
}

impl TimeEntryDecision {
    pub fn parse_approve(request: &ApproveTimeEntryRequest) -> Result<TimeEntryDecision, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let approver_id = v.uuid("approver_id", &request.approver_id);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (id, approver_id) {
            (Some(id), Some(approver_id)) => Ok(TimeEntryDecision {
                idempotency_key,
                id,
                approver_id,
                expected_version,
                decision: Decision::Approve,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn parse_reject(request: &RejectTimeEntryRequest) -> Result<TimeEntryDecision, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let approver_id = v.uuid("approver_id", &request.approver_id);
        let reason = v.required_text("reason", &request.reason);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (id, approver_id) {
            (Some(id), Some(approver_id)) => Ok(TimeEntryDecision {
                idempotency_key,
                id,
                approver_id,
                expected_version,
                decision: Decision::Reject { reason },
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    /// The canonical request, for the idempotency fingerprint: an approval or a rejection.
    pub fn fingerprint_request(&self) -> RejectTimeEntryRequest {
        RejectTimeEntryRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            approver_id: self.approver_id.to_string(),
            reason: match &self.decision {
                Decision::Approve => String::new(),
                Decision::Reject { reason } => reason.clone(),
            },
            expected_version: self.expected_version,
        }
    }
}

/// A checked `MarkTimeEntryPosted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryPosting {
    pub idempotency_key: String,
    pub id: Uuid,
    pub journal_reference: String,
    pub expected_version: i64,
}

impl TimeEntryPosting {
    pub fn parse(request: &MarkTimeEntryPostedRequest) -> Result<TimeEntryPosting, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let journal_reference = v.required_text("journal_reference", &request.journal_reference);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("id", "is required"))?;
        Ok(TimeEntryPosting {
            idempotency_key,
            id,
            journal_reference,
            expected_version,
        })
    }

    pub fn to_request(&self) -> MarkTimeEntryPostedRequest {
        MarkTimeEntryPostedRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            journal_reference: self.journal_reference.clone(),
            expected_version: self.expected_version,
        }
    }
}

/// The number of items a batch holds: 1 to `max`, else a violation on `field`.
fn batch_size(v: &mut Violations, field: &str, len: usize, max: usize, what: &str) {
    if len == 0 {
        v.add(field, format!("must hold at least one {what}"));
    } else if len > max {
        v.add(field, format!("may hold at most {max} {what}s, not {len}"));
    }
}

/// The ids of a batch, each parsed and named by its place (`entries[3].id`); an id given
/// twice is a violation on its second place.
fn batch_ids<'a>(v: &mut Violations, field: &str, raw: impl Iterator<Item = &'a str>) -> Vec<Option<Uuid>> {
    let mut ids: Vec<Option<Uuid>> = Vec::new();
    for (i, raw) in raw.enumerate() {
        let id = v.uuid(&format!("{field}[{i}].id"), raw);
        if let Some(id) = id
            && let Some(first) = ids.iter().position(|seen| *seen == Some(id))
        {
            v.add(format!("{field}[{i}].id"), format!("repeats {field}[{first}].id"));
        }
        ids.push(id);
    }
    ids
}

/// A version a batch expects of one of its entries, named by its place.
fn batch_version(v: &mut Violations, field: &str, i: usize, value: i64) -> i64 {
    expected_version_at(v, &format!("{field}[{i}].expected_version"), value)
}

/// One entry of work to record: whose, on which project, and the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOfWork {
    pub project_id: Uuid,
    pub employee_id: Uuid,
    pub work: WorkDone,
}

impl From<&NewTimeEntry> for EntryOfWork {
    fn from(entry: &NewTimeEntry) -> EntryOfWork {
        EntryOfWork {
            project_id: entry.project_id,
            employee_id: entry.employee_id,
            work: entry.work.clone(),
        }
    }
}

/// A checked `RecordTimeEntries`: 1 to [`MAX_SHEET`] entries, recorded all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeEntries {
    pub idempotency_key: String,
    pub entries: Vec<EntryOfWork>,
}

impl NewTimeEntries {
    pub fn parse(request: &RecordTimeEntriesRequest) -> Result<NewTimeEntries, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        batch_size(&mut v, "entries", request.entries.len(), MAX_SHEET, "time entry");
        let mut entries = Vec::with_capacity(request.entries.len());
        for (i, entry) in request.entries.iter().enumerate() {
            let prefix = format!("entries[{i}].");
            let project_id = v.uuid(&format!("{prefix}project_id"), &entry.project_id);
            let employee_id = v.uuid(&format!("{prefix}employee_id"), &entry.employee_id);
            let work = WorkDone::parse(
                &mut v,
                &prefix,
                &entry.task,
                &entry.date,
                &entry.hours,
                &entry.narrative,
                entry.billable,
            );
            if let (Some(project_id), Some(employee_id), Some(work)) = (project_id, employee_id, work) {
                entries.push(EntryOfWork {
                    project_id,
                    employee_id,
                    work,
                });
            }
        }
        v.finish()?;
        Ok(NewTimeEntries {
            idempotency_key,
            entries,
        })
    }

    pub fn to_request(&self) -> RecordTimeEntriesRequest {
        RecordTimeEntriesRequest {
            idempotency_key: self.idempotency_key.clone(),
            entries: self
                .entries
                .iter()
                .map(|e| WorkEntry {
                    project_id: e.project_id.to_string(),
                    employee_id: e.employee_id.to_string(),
                    task: e.work.task.clone(),
                    date: e.work.date.to_string(),
                    hours: decimal_text(e.work.hours),
                    narrative: e.work.narrative.clone(),
                    billable: e.work.billable,
                })
                .collect(),
        }
    }
}

/// A checked `ApproveTimeEntries`: 1 to [`MAX_SHEET`] distinct entries, each at the version
/// the approver saw; approved all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryApprovals {
    pub idempotency_key: String,
    pub approver_id: Uuid,
    /// Each entry's id and expected version.
    pub entries: Vec<(Uuid, i64)>,
}

impl TimeEntryApprovals {
    pub fn parse(request: &ApproveTimeEntriesRequest) -> Result<TimeEntryApprovals, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let approver_id = v.uuid("approver_id", &request.approver_id);
        batch_size(&mut v, "entries", request.entries.len(), MAX_SHEET, "time entry");
        let ids = batch_ids(&mut v, "entries", request.entries.iter().map(|e| e.id.as_str()));
        let versions: Vec<i64> = request
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| batch_version(&mut v, "entries", i, e.expected_version))
            .collect();
        v.finish()?;
        let approver_id = approver_id.ok_or_else(|| Error::invalid("approver_id", "is required"))?;
        let entries: Vec<(Uuid, i64)> = ids
            .into_iter()
            .zip(versions)
            .map(|(id, version)| Ok((id.ok_or_else(|| Error::invalid("entries", "is incomplete"))?, version)))
            .collect::<Result<_, Error>>()?;
        Ok(TimeEntryApprovals {
            idempotency_key,
            approver_id,
            entries,
        })
    }

    pub fn to_request(&self) -> ApproveTimeEntriesRequest {
        ApproveTimeEntriesRequest {
            idempotency_key: self.idempotency_key.clone(),
            approver_id: self.approver_id.to_string(),
            entries: self
                .entries
                .iter()
                .map(|(id, version)| EntryVersion {
                    id: id.to_string(),
                    expected_version: *version,
                })
                .collect(),
        }
    }

    /// Each entry's approval as [`TimeEntryDecision`] under this batch's key.
    pub fn decisions(&self) -> impl Iterator<Item = TimeEntryDecision> + '_ {
        self.entries.iter().map(|(id, version)| TimeEntryDecision {
            idempotency_key: self.idempotency_key.clone(),
            id: *id,
            approver_id: self.approver_id,
            expected_version: *version,
            decision: Decision::Approve,
        })
    }
}

/// A checked `MarkTimeEntriesPosted`: 1 to [`MAX_POSTED`] distinct entries with their
/// journals; posted all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryPostings {
    pub idempotency_key: String,
    pub postings: Vec<TimeEntryPosting>,
}

impl TimeEntryPostings {
    pub fn parse(request: &MarkTimeEntriesPostedRequest) -> Result<TimeEntryPostings, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        batch_size(&mut v, "postings", request.postings.len(), MAX_POSTED, "posting");
        let ids = batch_ids(&mut v, "postings", request.postings.iter().map(|p| p.id.as_str()));
        let mut postings = Vec::with_capacity(request.postings.len());
        for (i, (posting, id)) in request.postings.iter().zip(ids).enumerate() {
            let journal_reference =
                v.required_text(&format!("postings[{i}].journal_reference"), &posting.journal_reference);
            let expected_version = batch_version(&mut v, "postings", i, posting.expected_version);
            if let Some(id) = id {
                postings.push(TimeEntryPosting {
                    idempotency_key: idempotency_key.clone(),
                    id,
                    journal_reference,
                    expected_version,
                });
            }
        }
        v.finish()?;
        Ok(TimeEntryPostings {
            idempotency_key,
            postings,
        })
    }

    pub fn to_request(&self) -> MarkTimeEntriesPostedRequest {
        MarkTimeEntriesPostedRequest {
            idempotency_key: self.idempotency_key.clone(),
            postings: self
                .postings
                .iter()
                .map(|p| EntryJournal {
                    id: p.id.to_string(),
                    journal_reference: p.journal_reference.clone(),
                    expected_version: p.expected_version,
                })
                .collect(),
        }
    }
}

/// Which entries a `ListTimeEntries` asks for; `None` matches any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeEntryFilter {
    pub project_id: Option<Uuid>,
    pub employee_id: Option<Uuid>,
    pub state: Option<TimeEntryState>,
    /// Work dates on or after.
    pub date_from: Option<NaiveDate>,
    /// Work dates on or before.
    pub date_to: Option<NaiveDate>,
}

impl TimeEntryFilter {
    pub fn parse(request: &ListTimeEntriesRequest) -> Result<TimeEntryFilter, Error> {
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", &request.project_id);
        let employee_id = optional_uuid(&mut v, "employee_id", &request.employee_id);
        let date = |v: &mut Violations, field: &str, text: &str| {
            if text.trim().is_empty() {
                None
            } else {
                v.date(field, text)
            }
        };
        let date_from = date(&mut v, "date_from", &request.date_from);
        let date_to = date(&mut v, "date_to", &request.date_to);
        if let (Some(from), Some(to)) = (date_from, date_to)
            && from > to
        {
            v.add("date_to", format!("{to} is before date_from {from}"));
        }
        let state = request.state;
        let state = match TimeEntryState::try_from(state) {
            Ok(TimeEntryState::Unspecified) => None,
            Ok(state) => Some(state),
            Err(_) => {
                v.add("state", format!("{state} is not a time entry state"));
                None
            }
        };
        v.finish()?;
        Ok(TimeEntryFilter {
            project_id,
            employee_id,
            state,
            date_from,
            date_to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RecordTimeEntryRequest {
        RecordTimeEntryRequest {
            idempotency_key: "t-1".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            employee_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            task: "Blueprint".into(),
            date: "2026-12-03".into(),
            hours: "7.50".into(),
            narrative: "Workshop on the chart of accounts".into(),
            billable: true,
        }
    }

    #[test]
    fn hours_are_normalized_and_bounded() {
        let parsed = NewTimeEntry::parse(&record()).unwrap();
        assert_eq!(parsed.to_request().hours, "7.5");
        let table: &[(&str, bool)] = &[
            ("24", true),
            ("0.25", true),
            ("0", false),
            ("-1", false),
            ("24.01", false),
            ("1.255", false),
            ("", false),
            ("seven", false),
        ];
        for (hours, ok) in table {
            let mut request = record();
            request.hours = (*hours).into();
            match NewTimeEntry::parse(&request) {
                Ok(_) => assert!(ok, "{hours:?} was accepted"),
                Err(error) => {
                    assert!(!ok, "{hours:?} was refused");
                    assert_eq!(error.field_violations()[0].field, "hours");
                }
            }
        }
    }

    #[test]
    fn every_bad_time_entry_field_is_named() {
        type Change = fn(&mut RecordTimeEntryRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.project_id = "x".into(), "project_id"),
            (|r| r.employee_id.clear(), "employee_id"),
            (|r| r.date.clear(), "date"),
            (|r| r.date = "03/12/2026".into(), "date"),
            (|r| r.narrative = "  ".into(), "narrative"),
        ];
        for (change, field) in table {
            let mut request = record();
            change(&mut request);
            let error = NewTimeEntry::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field]);
        }
    }

    #[test]
    fn a_submission_names_duplicate_and_bad_ids() {
        let id = "0193b2a4-6f1e-7c3a-9f00-1234567890ab".to_string();
        let error = TimeEntrySubmission::parse(&SubmitTimeEntriesRequest {
            idempotency_key: "s".into(),
            ids: vec![id.clone(), "nope".into(), id],
        })
        .unwrap_err();
        let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["ids[1]", "ids[2]"]);
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        let error = TimeEntryDecision::parse_reject(&RejectTimeEntryRequest {
            idempotency_key: "r".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            approver_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            reason: String::new(),
            expected_version: 2,
        })
        .unwrap_err();
        assert_eq!(error.field_violations()[0].field, "reason");
    }

    fn journal(id: &str, version: i64) -> EntryJournal {
        EntryJournal {
            id: id.into(),
            journal_reference: "JE-1".into(),
            expected_version: version,
        }
    }

    #[test]
    fn a_posting_batch_holds_one_to_a_thousand_entries_each_named_by_its_place() {
        let ids: Vec<String> = (0..=MAX_POSTED)
            .map(|i| format!("0193b2a4-6f1e-7c3a-9f00-{i:012}"))
            .collect();
        let batch = |postings: Vec<EntryJournal>| MarkTimeEntriesPostedRequest {
            idempotency_key: "p".into(),
            postings,
        };
        let full = TimeEntryPostings::parse(&batch(ids[..MAX_POSTED].iter().map(|id| journal(id, 3)).collect()))
            .expect("a thousand postings are one batch");
        assert_eq!(full.postings.len(), MAX_POSTED);
        assert_eq!(full.to_request().postings[999].id, ids[999]);
        for postings in [vec![], ids.iter().map(|id| journal(id, 3)).collect()] {
            let error = TimeEntryPostings::parse(&batch(postings)).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, ["postings"]);
        }
        let mut bad = vec![journal(&ids[0], 3), journal(&ids[1], 0), journal(&ids[0], 3)];
        bad[0].journal_reference = " ".into();
        let error = TimeEntryPostings::parse(&batch(bad)).unwrap_err();
        let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "postings[2].id",
                "postings[0].journal_reference",
                "postings[1].expected_version"
            ]
        );
    }

    #[test]
    fn an_approval_batch_is_each_entry_approved_under_the_batch_s_key() {
        let approvals = TimeEntryApprovals::parse(&ApproveTimeEntriesRequest {
            idempotency_key: "a".into(),
            approver_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            entries: vec![
                EntryVersion {
                    id: "0193b2a4-6f1e-7c3a-9f00-000000000001".into(),
                    expected_version: 2,
                },
                EntryVersion {
                    id: "0193b2a4-6f1e-7c3a-9f00-000000000002".into(),
                    expected_version: 5,
                },
            ],
        })
        .unwrap();
        let decisions: Vec<(String, i64, Decision)> = approvals
            .decisions()
            .map(|d| (d.id.to_string(), d.expected_version, d.decision))
            .collect();
        assert_eq!(
            decisions,
            [
                ("0193b2a4-6f1e-7c3a-9f00-000000000001".to_string(), 2, Decision::Approve),
                ("0193b2a4-6f1e-7c3a-9f00-000000000002".to_string(), 5, Decision::Approve),
            ]
        );
        let error = TimeEntryApprovals::parse(&ApproveTimeEntriesRequest {
            idempotency_key: "a".into(),
            approver_id: String::new(),
            entries: vec![],
        })
        .unwrap_err();
        let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["approver_id", "entries"]);
    }
}
