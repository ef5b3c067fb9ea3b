//! A consultant recording and submitting their own time through time capture's gRPC over the
//! real PSA, ERP and HRIS reference adapters: the time rules read only the entry's week, and
//! still count every entry of that week the person already has, in whatever state it is
//! (draft, submitted, approved, posted), rejected ones left out; replays answer as before.

mod support;

use keel_auth::Role;
use keel_proto::psa::{
    ApproveTimeEntryRequest, CreateAssignmentRequest, ListTimeEntriesRequest, RejectTimeEntryRequest, TimeEntry,
    TimeEntryState,
};
use keel_proto::timecapture::{
    PostApprovedTimeRequest, ProposedTimeEntry, RecordTimeRequest, RecordTimesheetRequest, SubmitTimeRequest,
    TimesheetLine,
};
use support::{Platform, settle};
use tonic::Code;

impl Platform {
    fn proposed(&self, date: &str, hours: &str, narrative: &str) -> ProposedTimeEntry {
        ProposedTimeEntry {
            id: String::new(),
            project_id: self.staffed.project.id.clone(),
            employee_id: self.staffed.employee_id.clone(),
            date: date.into(),
            hours: hours.into(),
            narrative: narrative.into(),
            billable: true,
            labor_category: String::new(),
        }
    }

    /// `RecordTime` as the staffed consultant under `key`.
    async fn record(&self, key: &str, date: &str, hours: &str, narrative: &str) -> Result<TimeEntry, tonic::Status> {
        self.time_capture()
            .record_time(self.service.request_as(
                &self.staffed.employee_id,
                Role::Consultant,
                RecordTimeRequest {
                    idempotency_key: key.into(),
                    entry: Some(self.proposed(date, hours, narrative)),
                    task: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// `SubmitTime` as the staffed consultant under `key`.
    async fn submit(&self, key: &str, ids: &[&TimeEntry]) -> Result<Vec<TimeEntry>, tonic::Status> {
        self.time_capture()
            .submit_time(self.service.request_as(
                &self.staffed.employee_id,
                Role::Consultant,
                SubmitTimeRequest {
                    idempotency_key: key.into(),
                    time_entry_ids: ids.iter().map(|e| e.id.clone()).collect(),
                },
            ))
            .await
            .map(|r| r.into_inner().entries)
    }

    /// `RecordTimesheet` as the staffed consultant under `key`: a line a (date, hours,
    /// narrative).
    async fn sheet(
        &self,
        key: &str,
        lines: &[(&str, &str, &str)],
        submit: bool,
    ) -> Result<Vec<TimeEntry>, tonic::Status> {
        let lines = lines
            .iter()
            .map(|(date, hours, narrative)| TimesheetLine {
                entry: Some(self.proposed(date, hours, narrative)),
                task: "Migration".into(),
            })
            .collect();
        self.record_sheet(key, lines, submit).await
    }

    async fn record_sheet(
        &self,
        key: &str,
        lines: Vec<TimesheetLine>,
        submit: bool,
    ) -> Result<Vec<TimeEntry>, tonic::Status> {
        self.time_capture()
            .record_timesheet(self.service.request_as(
                &self.staffed.employee_id,
                Role::Consultant,
                RecordTimesheetRequest {
                    idempotency_key: key.into(),
                    lines,
                    submit,
                },
            ))
            .await
            .map(|r| r.into_inner().entries)
    }

    /// How many entries PSA holds for the staffed consultant.
    async fn entry_count(&self) -> usize {
        self.psa_client()
            .list_time_entries(self.psa.harness.service(ListTimeEntriesRequest {
                employee_id: self.staffed.employee_id.clone(),
                ..Default::default()
            }))
            .await
            .expect("list")
            .into_inner()
            .entries
            .len()
    }
}

/// The codes and fields of a refused `RecordTime`, from its field violations.
fn refused(status: &tonic::Status) -> Vec<(String, String)> {
    violations(status)
        .into_iter()
        .map(|(field, description)| {
            let code = description.split(':').next().unwrap_or_default().to_string();
            (code, field)
        })
        .collect()
}

/// The field violations of an INVALID_ARGUMENT answer: field and description.
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    keel_core::Error::from(status.clone())
        .field_violations()
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

/// Whether one of the answer's violations says `text`.
fn says(status: &tonic::Status, text: &str) -> bool {
    violations(status).iter().any(|(_, d)| d.contains(text))
}

#[tokio::test]
async fn the_daily_and_weekly_limits_count_every_entry_of_the_week_in_any_state_but_rejected() {
    let platform = Platform::start().await;
    // Today is Sunday 20 December 2026: week 2026-W51 runs from Monday 14 to Sunday 20.
    // The week before: ten hours on Friday 11, which must not count towards W51.
    platform
        .record("prev-fri", "2026-12-11", "10", "Cut-over rehearsal, week 50")
        .await
        .expect("the week before");
    // Monday to Thursday of W51, ten hours a day, each moved on to another state.
    let mon = platform
        .record("mon", "2026-12-14", "10", "Ledger migration, Monday")
        .await
        .unwrap();
    let tue = platform
        .record("tue", "2026-12-15", "10", "Ledger migration, Tuesday")
        .await
        .unwrap();
    let wed = platform
        .record("wed", "2026-12-16", "10", "Ledger migration, Wednesday")
        .await
        .unwrap();
    platform
        .record("thu", "2026-12-17", "10", "Ledger migration, Thursday")
        .await
        .unwrap();
    let fri_rejected = platform
        .record("fri-1", "2026-12-18", "10", "Ledger migration, Friday draft")
        .await
        .unwrap();
    let submitted = platform.submit("submit-1", &[&mon, &tue, &fri_rejected]).await.unwrap();
    assert!(submitted.iter().all(|e| e.state == TimeEntryState::Submitted as i32));
    // Monday approved and posted, Tuesday approved, Friday's rejected; Wednesday and
    // Thursday stay drafts.
    let approver = uuid::Uuid::now_v7().to_string();
    let mut psa = platform.psa_client();
    for entry in submitted.iter().filter(|e| e.id != fri_rejected.id) {
        psa.approve_time_entry(platform.psa.harness.service(ApproveTimeEntryRequest {
            idempotency_key: format!("approve-{}", entry.id),
            id: entry.id.clone(),
            approver_id: approver.clone(),
            expected_version: entry.version,
        }))
        .await
        .expect("approve");
    }
    let to_reject = submitted.iter().find(|e| e.id == fri_rejected.id).unwrap();
    psa.reject_time_entry(platform.psa.harness.service(RejectTimeEntryRequest {
        idempotency_key: format!("reject-{}", to_reject.id),
        id: to_reject.id.clone(),
        approver_id: approver.clone(),
        reason: "Friday was a public holiday for this client".into(),
        expected_version: to_reject.version,
    }))
    .await
    .expect("reject");
    platform
        .time_capture()
        .post_approved_time(platform.reader(
            Role::Finance,
            PostApprovedTimeRequest {
                time_entry_ids: vec![mon.id.clone()],
            },
        ))
        .await
        .expect("accepted");
    settle(&platform.engine("worker")).await;
    assert_eq!(platform.entry(&mon.id).await.state, TimeEntryState::Posted as i32);
    assert_eq!(platform.entry(&tue.id).await.state, TimeEntryState::Approved as i32);
    assert_eq!(platform.entry(&wed.id).await.state, TimeEntryState::Draft as i32);
    assert_eq!(
        platform.entry(&fri_rejected.id).await.state,
        TimeEntryState::Rejected as i32
    );
    let before = platform.entry_count().await;
    assert_eq!(before, 6);

    // Thursday is full: a quarter of an hour more is over the day's limit.
    let over_day = platform
        .record("thu-2", "2026-12-17", "0.25", "Ledger migration, late call")
        .await
        .unwrap_err();
    assert_eq!(
        refused(&over_day),
        [("OVERTIME".to_string(), "entry.hours".to_string())]
    );
    assert!(says(&over_day, "10.25 hours on 2026-12-17"), "{over_day:?}");
    // Friday's rejected ten hours do not count: ten more on Friday make exactly fifty in
    // the week (the previous week's Friday not counted either), which is allowed.
    let fri = platform
        .record("fri-2", "2026-12-18", "10", "Ledger migration, Friday")
        .await
        .expect("fifty hours in the week is the limit, not over it");
    // Half an hour on Saturday is over the week's fifty: posted Monday, approved Tuesday,
    // draft Wednesday and Thursday and today's Friday all counted.
    let over_week = platform
        .record("sat", "2026-12-19", "0.5", "Ledger migration, weekend check")
        .await
        .unwrap_err();
    assert_eq!(
        refused(&over_week),
        [("OVERTIME".to_string(), "entry.hours".to_string())]
    );
    assert!(says(&over_week, "50.5 hours in week 2026-W51"), "{over_week:?}");
    // The same entry as the posted Monday's is its duplicate (and over that day's limit).
    let twin = platform
        .record("mon-2", "2026-12-14", "10", "Ledger migration, Monday")
        .await
        .unwrap_err();
    assert_eq!(
        refused(&twin),
        [
            ("OVERTIME".to_string(), "entry.hours".to_string()),
            ("OVERTIME".to_string(), "entry.hours".to_string()),
            ("DUPLICATE".to_string(), "entry.narrative".to_string()),
        ]
    );
    // The week before counts only its own time: Thursday 10 December takes ten hours
    // beside that week's Friday, whatever W51 holds.
    platform
        .record("prev-thu", "2026-12-10", "10", "Cut-over rehearsal, week 50 prep")
        .await
        .expect("week 50 holds ten hours");
    assert_eq!(platform.entry_count().await, before + 2, "nothing refused was recorded");

    // A replay of an accepted RecordTime answers its entry, not a refusal as its own twin.
    let replayed = platform
        .record("fri-2", "2026-12-18", "10", "Ledger migration, Friday")
        .await
        .expect("replay");
    assert_eq!(replayed.id, fri.id);
    assert_eq!(platform.entry_count().await, before + 2);
}

#[tokio::test]
async fn submit_time_takes_the_callers_drafts_refuses_anothers_entry_and_replays_after_it_went_through() {
    let platform = Platform::start().await;
    let a = platform
        .record("a", "2026-12-07", "4", "Data mapping workshop")
        .await
        .unwrap();
    let b = platform
        .record("b", "2026-12-08", "4", "Data mapping follow-up")
        .await
        .unwrap();
    // Someone else's entry on the same project, recorded in PSA.
    let colleague = uuid::Uuid::now_v7().to_string();
    platform
        .psa_client()
        .create_assignment(platform.psa.harness.service(CreateAssignmentRequest {
            idempotency_key: format!("assign-{colleague}"),
            project_id: platform.staffed.project.id.clone(),
            employee_id: colleague.clone(),
            person_name: "Grace Hopper".into(),
            role: platform.staffed.assignment.role.clone(),
            bill_role: String::new(),
            start_date: "2026-12-01".into(),
            end_date: "2026-12-31".into(),
            allocation_percent: "50".into(),
        }))
        .await
        .expect("assignment");
    let mut theirs = keel_conformance::psa::time_entry("theirs", &platform.staffed, "2");
    theirs.employee_id = colleague;
    let theirs = platform
        .psa_client()
        .record_time_entry(platform.psa.harness.service(theirs))
        .await
        .expect("their entry")
        .into_inner();

    let refused = platform.submit("mixed", &[&a, &theirs]).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let error = keel_core::Error::from(refused);
    assert_eq!(error.field_violations()[0].field, "time_entry_ids[1]");
    assert_eq!(
        platform.entry(&a.id).await.state,
        TimeEntryState::Draft as i32,
        "nothing submitted"
    );

    let submitted = platform.submit("both", &[&a, &b]).await.expect("submit");
    assert_eq!(submitted.len(), 2);
    assert!(submitted.iter().all(|e| e.state == TimeEntryState::Submitted as i32));
    // The same request again, once its entries are no longer drafts: the same answer.
    let replayed = platform.submit("both", &[&a, &b]).await.expect("replay");
    assert_eq!(
        replayed.iter().map(|e| (&e.id, e.version)).collect::<Vec<_>>(),
        submitted.iter().map(|e| (&e.id, e.version)).collect::<Vec<_>>()
    );
    // A new submission of an entry already submitted is PSA's to refuse, not a wrong owner.
    let again = platform.submit("again", &[&a]).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
}

#[tokio::test]
async fn a_timesheet_is_checked_whole_recorded_all_or_nothing_and_submitted_in_one_call() {
    let platform = Platform::start().await;
    // Today is Sunday 20 December 2026. Ten hours already on Monday of week 2026-W51.
    platform
        .record("mon", "2026-12-14", "10", "Ledger migration, Monday")
        .await
        .unwrap();
    let week = [
        ("2026-12-15", "10", "Ledger migration, Tuesday"),
        ("2026-12-16", "10", "Ledger migration, Wednesday"),
        ("2026-12-17", "10", "Ledger migration, Thursday"),
        ("2026-12-18", "10", "Ledger migration, Friday"),
    ];

    // Half an hour on Saturday puts the week at 50.5 hours: every line of the week is in it,
    // so each is named, and none is recorded.
    let mut over = week.to_vec();
    over.push(("2026-12-19", "0.5", "Ledger migration, weekend check"));
    let status = platform.sheet("over", &over, true).await.unwrap_err();
    let fields: Vec<(String, String)> = refused(&status);
    assert_eq!(
        fields,
        (0..5)
            .map(|i| ("OVERTIME".to_string(), format!("lines[{i}].entry.hours")))
            .collect::<Vec<_>>()
    );
    assert!(says(&status, "50.5 hours in week 2026-W51"), "{status:?}");
    assert_eq!(platform.entry_count().await, 1, "a refused sheet records nothing");

    // Two lines alike are each other's duplicate; a day's lines count together.
    let twins = [
        ("2026-12-15", "6", "Ledger migration, Tuesday"),
        ("2026-12-15", "6", "Ledger migration, Tuesday"),
    ];
    let status = platform.sheet("twins", &twins, false).await.unwrap_err();
    assert_eq!(
        refused(&status),
        [
            ("OVERTIME".to_string(), "lines[0].entry.hours".to_string()),
            ("DUPLICATE".to_string(), "lines[0].entry.narrative".to_string()),
            ("OVERTIME".to_string(), "lines[1].entry.hours".to_string()),
            ("DUPLICATE".to_string(), "lines[1].entry.narrative".to_string()),
        ]
    );
    assert!(says(&status, "entry lines[1] has the same"), "{status:?}");

    // Bad input names the line and its field; an empty sheet names the lines.
    let mut bad = week.to_vec();
    bad[1].1 = "25";
    let status = platform.sheet("bad", &bad, false).await.unwrap_err();
    assert_eq!(
        violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
        ["lines[1].entry.hours"]
    );
    let status = platform.record_sheet("empty", vec![], false).await.unwrap_err();
    assert_eq!(
        violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
        ["lines"]
    );
    // A sheet is one person's, and the caller's own.
    let colleague = uuid::Uuid::now_v7().to_string();
    let mut mixed: Vec<TimesheetLine> = week
        .iter()
        .map(|(date, hours, narrative)| TimesheetLine {
            entry: Some(platform.proposed(date, hours, narrative)),
            task: String::new(),
        })
        .collect();
    if let Some(entry) = mixed[2].entry.as_mut() {
        entry.employee_id = colleague.clone();
    }
    let status = platform.record_sheet("mixed", mixed.clone(), false).await.unwrap_err();
    assert_eq!(
        violations(&status).into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
        ["lines[2].entry.employee_id"]
    );
    for line in &mut mixed {
        if let Some(entry) = line.entry.as_mut() {
            entry.employee_id = colleague.clone();
        }
    }
    let status = platform.record_sheet("theirs", mixed, false).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(platform.entry_count().await, 1, "nothing refused was recorded");

    // The week to fifty hours exactly: recorded and submitted in one call, in the sheet's order.
    let submitted = platform.sheet("week", &week, true).await.expect("the sheet");
    assert_eq!(
        submitted.iter().map(|e| e.date.as_str()).collect::<Vec<_>>(),
        ["2026-12-15", "2026-12-16", "2026-12-17", "2026-12-18"]
    );
    assert!(
        submitted
            .iter()
            .all(|e| e.state == TimeEntryState::Submitted as i32 && e.task == "Migration"),
        "{submitted:?}"
    );
    assert_eq!(platform.entry_count().await, 5);
    // Replayed with its key: the same entries, nothing recorded twice.
    let replayed = platform.sheet("week", &week, true).await.expect("replay");
    assert_eq!(
        replayed.iter().map(|e| &e.id).collect::<Vec<_>>(),
        submitted.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    assert_eq!(platform.entry_count().await, 5);
}
