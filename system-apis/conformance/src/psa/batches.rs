//! PSA checks for the calls that carry many time entries: a timesheet recorded, a batch
//! approved, a posting's journals marked. Each is all or none. A product without such a call
//! answers `UNIMPLEMENTED` (callers then use the calls of one entry), and the check accepts
//! that.

use keel_proto::psa::{
    ApproveTimeEntriesRequest, EntryJournal, EntryVersion, MarkTimeEntriesPostedRequest, RecordTimeEntriesRequest,
    TimeEntry, TimeEntryState, WorkEntry,
};
use tonic::Code;

use super::{Call, Context, Staffed, dec, state_of};
use crate::rules::{self, ensure, expect_code, expect_field, expect_stale, ok, refused};

impl Context {
    async fn record_sheet(&self, key: &str, entries: Vec<WorkEntry>) -> Call<Vec<TimeEntry>> {
        self.client()
            .record_time_entries(self.harness.service(RecordTimeEntriesRequest {
                idempotency_key: key.to_string(),
                entries,
            }))
            .await
            .map(|r| r.into_inner().entries)
    }

    async fn approve_batch(&self, entries: &[&TimeEntry], approver_id: &str) -> Call<Vec<TimeEntry>> {
        self.client()
            .approve_time_entries(
                self.harness.service(ApproveTimeEntriesRequest {
                    idempotency_key: rules::key("approve-batch"),
                    approver_id: approver_id.to_string(),
                    entries: entries
                        .iter()
                        .map(|e| EntryVersion {
                            id: e.id.clone(),
                            expected_version: e.version,
                        })
                        .collect(),
                }),
            )
            .await
            .map(|r| r.into_inner().entries)
    }

    async fn post_batch(&self, key: &str, entries: &[&TimeEntry]) -> Call<Vec<TimeEntry>> {
        self.client()
            .mark_time_entries_posted(
                self.harness.service(MarkTimeEntriesPostedRequest {
                    idempotency_key: key.to_string(),
                    postings: entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| EntryJournal {
                            id: e.id.clone(),
                            journal_reference: format!("JE-2026-{:06}", 500 + i),
                            expected_version: e.version,
                        })
                        .collect(),
                }),
            )
            .await
            .map(|r| r.into_inner().entries)
    }
}

/// A billable entry of `hours` on `date` for the staffed person.
fn work(staffed: &Staffed, date: &str, hours: &str) -> WorkEntry {
    WorkEntry {
        project_id: staffed.project.id.clone(),
        employee_id: staffed.employee_id.clone(),
        task: "Blueprint".into(),
        date: date.into(),
        hours: hours.into(),
        narrative: "Chart of accounts workshop".into(),
        billable: true,
    }
}

/// Whether a batch call answered `UNIMPLEMENTED` (`Err` if without a message: the rule for an
/// operation the product cannot do). Any other answer is the caller's to judge.
fn unsupported<T>(answer: &Call<T>) -> Result<bool, String> {
    match answer {
        Err(status) if status.code() == Code::Unimplemented => rules::expect_not_supported(status).map(|_| true),
        _ => Ok(false),
    }
}

fn states(entries: &[TimeEntry]) -> Vec<TimeEntryState> {
    entries.iter().map(state_of).collect()
}

/// A timesheet is recorded whole, in order, priced as single entries are; replayed, it
/// answers the same entries; one entry the person has no assignment for refuses the whole
/// sheet and records none of it.
pub(super) async fn timesheet(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("sheet");
    let sheet = vec![
        work(&staffed, "2026-12-01", "8"),
        work(&staffed, "2026-12-02", "7.5"),
        work(&staffed, "2026-12-03", "4.25"),
    ];
    let first = c.record_sheet(&key, sheet.clone()).await;
    if unsupported(&first)? {
        return Ok(());
    }
    let recorded = ok(first, "RecordTimeEntries")?;
    let dates: Vec<&str> = recorded.iter().map(|e| e.date.as_str()).collect();
    ensure(dates == ["2026-12-01", "2026-12-02", "2026-12-03"], || {
        format!("RecordTimeEntries answered the entries of {dates:?}, not the sheet's three days in order")
    })?;
    ensure(states(&recorded).iter().all(|s| *s == TimeEntryState::Draft), || {
        format!("a recorded sheet's entries are {:?}, not DRAFT", states(&recorded))
    })?;
    // Priced at the architect's 185.00 an hour, as RecordTimeEntry prices one entry.
    let amounts: Vec<i128> = recorded
        .iter()
        .map(|e| e.amount.as_ref().map_or(i128::MIN, |m| dec(&m.amount)))
        .collect();
    ensure(amounts == [dec("1480"), dec("1387.5"), dec("786.25")], || {
        format!("the sheet's amounts are {amounts:?} (ten-thousandths), not 8, 7.5 and 4.25 hours at 185.00")
    })?;
    let again = ok(c.record_sheet(&key, sheet).await, "RecordTimeEntries replayed")?;
    ensure(again == recorded, || {
        "RecordTimeEntries replayed with its key answered other entries than the first time".to_string()
    })?;

    let late = vec![
        work(&staffed, "2026-12-04", "8"),
        work(&staffed, "2026-12-07", "8"),
        work(&staffed, "2027-01-04", "8"),
    ];
    let status = refused(
        c.record_sheet(&rules::key("sheet"), late).await,
        "RecordTimeEntries with an entry after the assignment ends",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "RecordTimeEntries with an entry after the assignment ends",
    )?;
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.len() == 3, || {
        format!(
            "after a refused sheet the person has {} entries, not the first sheet's 3: a refused sheet recorded part of itself",
            stored.len()
        )
    })
}

/// A bad batch names the entry and its field, and records nothing. (Keel's service checks
/// the request before the adapter sees it, so this holds for every adapter.)
pub(super) async fn bad_batches(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let status = refused(
        c.record_sheet(&rules::key("bad"), vec![]).await,
        "RecordTimeEntries of no entry",
    )?;
    expect_field(&status, "entries")?;

    let mut sheet = vec![
        work(&staffed, "2026-12-01", "8"),
        work(&staffed, "2026-12-02", "25"),
        work(&staffed, "2026-12-03", "8"),
    ];
    sheet[2].date = String::new();
    let status = refused(
        c.record_sheet(&rules::key("bad"), sheet).await,
        "RecordTimeEntries with a bad entry",
    )?;
    expect_field(&status, "entries[1].hours")?;
    expect_field(&status, "entries[2].date")?;
    let too_many = (0..101).map(|_| work(&staffed, "2026-12-01", "1")).collect();
    let status = refused(
        c.record_sheet(&rules::key("bad"), too_many).await,
        "RecordTimeEntries of 101 entries",
    )?;
    expect_field(&status, "entries")?;
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.is_empty(), || {
        format!("refused sheets recorded {} entries", stored.len())
    })?;

    // An entry named twice in one approval or posting.
    let entry = ok(
        c.record(super::time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry",
    )?;
    let approver = uuid::Uuid::now_v7().to_string();
    let status = refused(
        c.approve_batch(&[&entry, &entry], &approver).await,
        "ApproveTimeEntries naming an entry twice",
    )?;
    expect_field(&status, "entries[1].id")?;
    let status = refused(
        c.post_batch(&rules::key("post"), &[&entry, &entry]).await,
        "MarkTimeEntriesPosted naming an entry twice",
    )?;
    expect_field(&status, "postings[1].id")
}

/// Approving and posting many entries: one entry that cannot move refuses the batch and
/// moves none; a stale one is ABORTED naming it; then the batch moves whole, and a replayed
/// posting answers the same.
pub(super) async fn approve_and_post_batches(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let approver = uuid::Uuid::now_v7().to_string();
    let mut entries = Vec::new();
    for (i, date) in ["2026-12-01", "2026-12-02", "2026-12-03"].iter().enumerate() {
        let mut request = super::time_entry(&rules::key("time"), &staffed, "8");
        request.date = date.to_string();
        entries.push(ok(c.record(request).await, &format!("RecordTimeEntry {i}"))?);
    }
    let submitted = ok(
        c.submit(&[entries[0].id.as_str(), entries[1].id.as_str()]).await,
        "SubmitTimeEntries",
    )?;
    let draft = &entries[2];

    let answer = c.approve_batch(&[&submitted[0], &submitted[1], draft], &approver).await;
    if unsupported(&answer)? {
        return Ok(());
    }
    let status = refused(answer, "ApproveTimeEntries with a draft among them")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "ApproveTimeEntries with a draft among them",
    )?;
    let first = ok(c.get_entry(&submitted[0].id).await, "GetTimeEntry")?;
    ensure(state_of(&first) == TimeEntryState::Submitted, || {
        format!("a refused approval batch approved its first entry: {:?}", first.state)
    })?;
    let mut stale = submitted[1].clone();
    stale.version -= 1;
    let status = refused(
        c.approve_batch(&[&submitted[0], &stale], &approver).await,
        "ApproveTimeEntries with a stale entry",
    )?;
    expect_stale(&status, &stale.id)?;
    let status = refused(
        c.approve_batch(&[&submitted[0]], &staffed.employee_id).await,
        "ApproveTimeEntries of one's own time",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "ApproveTimeEntries of one's own time",
    )?;

    let approved = ok(
        c.approve_batch(&[&submitted[0], &submitted[1]], &approver).await,
        "ApproveTimeEntries",
    )?;
    ensure(
        states(&approved) == [TimeEntryState::Approved, TimeEntryState::Approved]
            && approved.iter().all(|e| e.approver_id == approver),
        || format!("an approved batch came back as {approved:?}"),
    )?;

    let answer = c
        .post_batch(&rules::key("post"), &[&approved[0], &approved[1], draft])
        .await;
    if unsupported(&answer)? {
        return Ok(());
    }
    let status = refused(answer, "MarkTimeEntriesPosted with a draft among them")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "MarkTimeEntriesPosted with a draft among them",
    )?;
    let first = ok(c.get_entry(&approved[0].id).await, "GetTimeEntry")?;
    ensure(state_of(&first) == TimeEntryState::Approved, || {
        format!("a refused posting batch posted its first entry: {:?}", first.state)
    })?;
    let key = rules::key("post");
    let pair = [&approved[0], &approved[1]];
    let posted = rules::replay_returns_first(|| c.post_batch(&key, &pair), "MarkTimeEntriesPosted").await?;
    let journals: Vec<&str> = posted.iter().map(|e| e.journal_reference.as_str()).collect();
    ensure(
        states(&posted) == [TimeEntryState::Posted, TimeEntryState::Posted]
            && journals == ["JE-2026-000500", "JE-2026-000501"],
        || {
            format!(
                "a posted batch came back as {:?} with journals {journals:?}",
                states(&posted)
            )
        },
    )
}
