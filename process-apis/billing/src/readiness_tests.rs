//! The readiness rule, case by case.

use keel_proto::common::Money as WireMoney;
use keel_proto::erp::{BillingMilestone, Invoice, InvoiceLine, MilestoneStatus, ProjectCode};
use keel_proto::psa::{ChangeRequest, ChangeRequestState, Milestone, TimeEntry, TimeEntryState};

use super::*;

fn eur(amount: &str) -> Option<WireMoney> {
    Some(WireMoney {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

fn milestone() -> Milestone {
    Milestone {
        name: "Go-live".into(),
        amount: eur("70000.00"),
        due_date: "2027-03-01".into(),
        id: "2".into(),
    }
}

fn code() -> ProjectCode {
    ProjectCode {
        code: "PRJ-000001".into(),
        ..ProjectCode::default()
    }
}

fn erp(status: MilestoneStatus, amount: &str) -> BillingMilestone {
    BillingMilestone {
        id: "erp-1".into(),
        project_code: "PRJ-000001".into(),
        name: "Go-live".into(),
        amount: eur(amount),
        due_date: "2027-03-01".into(),
        status: status as i32,
        version: 1,
    }
}

fn entry(id: &str, date: &str, state: TimeEntryState) -> TimeEntry {
    TimeEntry {
        id: id.into(),
        date: date.into(),
        state: state as i32,
        ..TimeEntry::default()
    }
}

fn change(id: &str, state: ChangeRequestState, milestones: &[&str]) -> ChangeRequest {
    ChangeRequest {
        id: id.into(),
        state: state as i32,
        affected_milestone_ids: milestones.iter().map(|m| m.to_string()).collect(),
        ..ChangeRequest::default()
    }
}

struct Case {
    name: &'static str,
    code: bool,
    erp: Vec<BillingMilestone>,
    invoices: Vec<Invoice>,
    entries: Vec<TimeEntry>,
    changes: Vec<ChangeRequest>,
    accepted: bool,
    expected: Vec<(BlockerCode, Vec<&'static str>)>,
}

fn ready() -> Case {
    Case {
        name: "",
        code: true,
        erp: vec![erp(MilestoneStatus::Reached, "70000")],
        invoices: vec![],
        entries: vec![
            entry("posted", "2027-03-01", TimeEntryState::Posted),
            entry("rejected", "2026-12-01", TimeEntryState::Rejected),
            entry("later", "2027-03-02", TimeEntryState::Submitted),
        ],
        changes: vec![
            change("applied", ChangeRequestState::Applied, &["2"]),
            change("draft", ChangeRequestState::Draft, &["2"]),
            change("rejected", ChangeRequestState::Rejected, &["2"]),
            change("other-milestone", ChangeRequestState::Submitted, &["1"]),
        ],
        accepted: true,
        expected: vec![],
    }
}

#[test]
fn each_prerequisite_blocks_alone_and_names_its_records() {
    use BlockerCode::*;
    let cases = vec![
        Case {
            name: "ready: posted, rejected and later time, closed or unrelated change requests",
            ..ready()
        },
        Case {
            name: "no project code",
            code: false,
            expected: vec![(ProjectCodeMissing, vec![])],
            ..ready()
        },
        Case {
            name: "no ERP milestone of that name",
            erp: vec![],
            expected: vec![(ErpMilestoneMissing, vec![])],
            ..ready()
        },
        Case {
            name: "two ERP milestones of that name",
            erp: vec![
                erp(MilestoneStatus::Reached, "70000"),
                erp(MilestoneStatus::Reached, "70000"),
            ],
            expected: vec![(ErpMilestoneAmbiguous, vec!["erp-1", "erp-1"])],
            ..ready()
        },
        Case {
            name: "amounts differ",
            erp: vec![erp(MilestoneStatus::Reached, "69999.99")],
            expected: vec![(AmountMismatch, vec!["erp-1"])],
            ..ready()
        },
        Case {
            name: "planned",
            erp: vec![erp(MilestoneStatus::Planned, "70000")],
            expected: vec![(MilestoneNotReached, vec!["erp-1"])],
            ..ready()
        },
        Case {
            name: "on an invoice",
            invoices: vec![Invoice {
                id: "inv-1".into(),
                lines: vec![InvoiceLine {
                    source: "milestone:erp-1".into(),
                    ..InvoiceLine::default()
                }],
                ..Invoice::default()
            }],
            expected: vec![(AlreadyInvoiced, vec!["inv-1"])],
            ..ready()
        },
        Case {
            name: "draft, submitted and approved time on or before the due date",
            entries: vec![
                entry("draft", "2026-12-03", TimeEntryState::Draft),
                entry("submitted", "2027-03-01", TimeEntryState::Submitted),
                entry("approved", "2026-12-04", TimeEntryState::Approved),
                entry("approved-later", "2027-03-02", TimeEntryState::Approved),
            ],
            expected: vec![
                (TimeNotApproved, vec!["draft", "submitted"]),
                (TimeNotPosted, vec!["approved"]),
            ],
            ..ready()
        },
        Case {
            name: "not accepted",
            accepted: false,
            expected: vec![(DeliverableNotAccepted, vec![])],
            ..ready()
        },
        Case {
            name: "submitted and approved change requests on the milestone",
            changes: vec![
                change("submitted", ChangeRequestState::Submitted, &["1", "2"]),
                change("approved", ChangeRequestState::Approved, &["2"]),
            ],
            expected: vec![(OpenChangeRequest, vec!["submitted", "approved"])],
            ..ready()
        },
    ];
    let milestone = milestone();
    let code = code();
    for case in cases {
        let facts = Facts {
            milestone: &milestone,
            project_code: case.code.then_some(&code),
            erp_milestones: &case.erp,
            invoices: &case.invoices,
            entries: &case.entries,
            change_requests: &case.changes,
            accepted: case.accepted,
        };
        let (_, found) = blockers(&facts);
        let got: Vec<(BlockerCode, Vec<&str>)> = found
            .iter()
            .map(|b| (b.code, b.record_ids.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn milestone_ids_are_positions_and_project_ids_uuids() {
    let project = "0193a3f0-0000-7000-8000-000000000001";
    for (project_id, milestone_id, bad_fields) in [
        (project, "1", vec![]),
        (project, "12", vec![]),
        (project, "0", vec!["milestone_id"]),
        (project, "01", vec!["milestone_id"]),
        (project, "", vec!["milestone_id"]),
        (project, "first", vec!["milestone_id"]),
        (project, "12345", vec!["milestone_id"]),
        ("p-1", "1", vec!["project_id"]),
        ("", "", vec!["project_id", "milestone_id"]),
    ] {
        let mut v = Violations::new();
        let parsed = MilestoneRef::parse(&mut v, project_id, milestone_id);
        let fields: Vec<String> = match v.finish() {
            Ok(()) => vec![],
            Err(e) => e.field_violations().iter().map(|f| f.field.clone()).collect(),
        };
        assert_eq!(fields, bad_fields, "{project_id:?} {milestone_id:?}");
        assert_eq!(parsed.is_some(), bad_fields.is_empty());
        if let Some(at) = parsed {
            assert_eq!(MilestoneRef::from_business_key(&at.business_key()).unwrap(), at);
        }
    }
}

#[test]
fn the_queue_message_names_every_blocker_and_at_most_fifty_records_each() {
    let entries: Vec<TimeEntry> = (0..60)
        .map(|i| entry(&format!("e{i:02}"), "2026-12-03", TimeEntryState::Submitted))
        .collect();
    let milestone = milestone();
    let facts = Facts {
        milestone: &milestone,
        project_code: None,
        erp_milestones: &[],
        invoices: &[],
        entries: &entries,
        change_requests: &[],
        accepted: false,
    };
    let (_, found) = blockers(&facts);
    assert_eq!(found[1].record_ids.len(), 60, "the answer names every entry");
    let assessment = Assessment {
        milestone_ref: MilestoneRef {
            project_id: "p".into(),
            milestone_id: "2".into(),
        },
        milestone,
        project_code: None,
        erp_milestone: None,
        blockers: found,
    };
    let message = assessment.describe();
    for code in ["PROJECT_CODE_MISSING", "TIME_NOT_APPROVED", "DELIVERABLE_NOT_ACCEPTED"] {
        assert!(message.contains(code), "{message}");
    }
    assert!(message.contains("e49, and 10 more]"), "{message}");
    assert!(!message.contains("e50"), "{message}");
}
