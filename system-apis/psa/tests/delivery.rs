//! Delivery records on the reference PSA beyond the contract: what the database holds after
//! each change (audit entries, outbox events, rows unchanged after a refusal) for time entries,
//! expenses, resource requests and change requests, and a property
//! test that replayed idempotency keys never change anything.

use std::collections::HashSet;
use std::sync::Arc;

use keel_auth::Role;
use keel_conformance::psa::{Context, Staffed, time_entry};
use keel_events::outbox;
use keel_proto::common::{Money, PageRequest};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveExpenseRequest, CreateResourceRequestRequest, ExpenseChanged, FillResourceRequestRequest,
    ProposeCandidateRequest, RecordExpenseRequest, ResourceRequestChanged, ResourceRequestState, SubmitExpensesRequest,
};
use keel_proto::psa::{
    ApproveTimeEntryRequest, ChangeRequest, ChangeRequestTransitionRequest, CreateChangeRequestRequest,
    GetProjectRequest, ListTimeEntriesRequest, Project, ProjectClosed, ProjectStatus, RecordTimeEntryRequest,
    SubmitTimeEntriesRequest, TimeEntry, TimeEntryChanged, TimeEntryState, UpdateProjectStatusRequest,
    UpdateTimeEntryRequest,
};
use keel_psa::ReferencePsa;
use keel_psa::reference::{
    EXPENSE_APPROVED, EXPENSE_SUBMITTED, Migrator, PROJECT_CLOSED, RESOURCE_REQUEST_FILLED, RESOURCE_REQUEST_OPENED,
    RESOURCE_REQUEST_PROPOSED, TIME_ENTRY_APPROVED, TIME_ENTRY_SUBMITTED,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use proptest::prelude::*;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::Code;
use tonic::transport::Channel;

struct App {
    context: Context,
    db: DatabaseConnection,
    _store: TestStore,
}

impl App {
    async fn spawn() -> App {
        let (store, db) = keel_conformance::migrated_store::<Migrator>("psa").await;
        let adapter = Arc::new(ReferencePsa::new(db.clone(), Arc::new(Notify::new())));
        App {
            context: Context::new(adapter).await,
            db,
            _store: store,
        }
    }

    fn client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.context.harness.channel())
    }

    async fn staffed(&self) -> Staffed {
        self.context.staffed().await.expect("a staffed project")
    }

    async fn record(&self, request: RecordTimeEntryRequest) -> Result<TimeEntry, tonic::Status> {
        self.client()
            .record_time_entry(self.context.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn submit(&self, entry: &TimeEntry) -> TimeEntry {
        self.client()
            .submit_time_entries(self.context.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: key("submit"),
                ids: vec![entry.id.clone()],
            }))
            .await
            .unwrap()
            .into_inner()
            .entries
            .remove(0)
    }

    async fn approve(&self, entry: &TimeEntry, approver_id: &str) -> Result<TimeEntry, tonic::Status> {
        self.client()
            .approve_time_entry(self.context.harness.service(ApproveTimeEntryRequest {
                idempotency_key: key("approve"),
                id: entry.id.clone(),
                approver_id: approver_id.into(),
                expected_version: entry.version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn edit(&self, entry: &TimeEntry, hours: &str, reapproval: bool) -> Result<TimeEntry, tonic::Status> {
        self.client()
            .update_time_entry(self.context.harness.service(UpdateTimeEntryRequest {
                idempotency_key: key("edit"),
                id: entry.id.clone(),
                expected_version: entry.version,
                task: entry.task.clone(),
                date: entry.date.clone(),
                hours: hours.into(),
                narrative: entry.narrative.clone(),
                billable: entry.billable,
                request_reapproval: reapproval,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn entries_of(&self, employee_id: &str) -> Vec<TimeEntry> {
        self.client()
            .list_time_entries(self.context.harness.reader(
                Role::Finance,
                ListTimeEntriesRequest {
                    employee_id: employee_id.into(),
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    async fn project(&self, id: &str) -> Project {
        self.client()
            .get_project(self.context.harness.reader(
                Role::Executive,
                GetProjectRequest {
                    id: id.into(),
                    opportunity_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn actions(&self, record_type: &str, id: &str) -> Vec<String> {
        audit::history(&self.db, record_type, id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    async fn events(&self, event_type: &str, aggregate_id: &str) -> Vec<outbox::entity::Model> {
        outbox::recent(&self.db, Some(event_type), 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.aggregate_id == aggregate_id)
            .collect()
    }
}

fn key(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4())
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

#[tokio::test]
async fn the_rate_card_is_applied_on_record_exactly() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let entry = app.record(time_entry(&key("t"), &staffed, "7.5")).await.unwrap();
    assert_eq!(entry.rate, eur("185.00"));
    assert_eq!(entry.amount, eur("1387.50"));
    assert_eq!(entry.exact_amount, "1387.5");
    assert_eq!(entry.role, "solution-architect");
    assert_eq!(entry.assignment_id, staffed.assignment.id);

    // 0.33 h × 185.00 = 61.05 exactly.
    let entry = app.record(time_entry(&key("t"), &staffed, "0.33")).await.unwrap();
    assert_eq!(entry.amount, eur("61.05"));
    assert_eq!(entry.exact_amount, "61.05");

    let history = audit::history(&app.db, "time_entry", &entry.id).await.unwrap();
    assert_eq!(history.len(), 1);
    let detail: serde_json::Value = serde_json::from_str(&history[0].detail).unwrap();
    assert_eq!(detail["rate"], "185.00");
    assert_eq!(detail["amount"], "61.05");
    assert_eq!(
        audit::verify(&app.db).await.unwrap(),
        ChainReport::Intact {
            entries: audit_count(&app).await
        }
    );
}

async fn audit_count(app: &App) -> u64 {
    match audit::verify(&app.db).await.unwrap() {
        ChainReport::Intact { entries } => entries,
        other => panic!("the audit chain is broken: {other:?}"),
    }
}

#[tokio::test]
async fn an_approved_entry_is_locked_until_reapproval() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let approver = uuid::Uuid::now_v7().to_string();
    let entry = app.record(time_entry(&key("t"), &staffed, "8")).await.unwrap();
    let submitted = app.submit(&entry).await;
    let approved = app.approve(&submitted, &approver).await.unwrap();
    assert_eq!(approved.state, TimeEntryState::Approved as i32);
    assert_eq!(approved.amount, eur("1480.00"));

    let refused = app.edit(&approved, "4", false).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("locked"), "{refused:?}");
    assert_eq!(app.entries_of(&staffed.employee_id).await, vec![approved.clone()]);

    let reopened = app.edit(&approved, "4", true).await.unwrap();
    assert_eq!(reopened.state, TimeEntryState::Submitted as i32);
    assert!(reopened.reapproval_required);
    assert_eq!(reopened.amount, eur("740.00"));
    assert_eq!(reopened.version, approved.version + 1);
    let again = app.approve(&reopened, &approver).await.unwrap();
    assert!(!again.reapproval_required);

    assert_eq!(
        app.actions("time_entry", &entry.id).await,
        ["recorded", "submitted", "approved", "edited_for_reapproval", "approved"]
    );
    let detail: serde_json::Value =
        serde_json::from_str(&audit::history(&app.db, "time_entry", &entry.id).await.unwrap()[3].detail).unwrap();
    assert_eq!(detail["before"]["hours"], "8");
    assert_eq!(detail["after"]["hours"], "4");
    assert_eq!(detail["before"]["state"], "approved");
    assert_eq!(detail["after"]["state"], "submitted");
    // Submitted twice (first submission and the re-approval edit), approved twice.
    assert_eq!(app.events(TIME_ENTRY_SUBMITTED, &entry.id).await.len(), 2);
    let approvals = app.events(TIME_ENTRY_APPROVED, &entry.id).await;
    assert_eq!(approvals.len(), 2);
    let newest: TimeEntryChanged = outbox::to_envelope(&approvals[0]).unwrap().decode().unwrap();
    assert_eq!(newest.entry.unwrap().hours, "4");
}

#[tokio::test]
async fn self_approval_is_refused_and_nothing_changes() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let entry = app.record(time_entry(&key("t"), &staffed, "8")).await.unwrap();
    let submitted = app.submit(&entry).await;
    let audit_before = audit_count(&app).await;
    let events_before = outbox::recent(&app.db, None, 1000).await.unwrap().len();

    let refused = app.approve(&submitted, &staffed.employee_id).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains(&staffed.employee_id), "{refused:?}");

    assert_eq!(app.entries_of(&staffed.employee_id).await, vec![submitted]);
    assert_eq!(audit_count(&app).await, audit_before);
    assert_eq!(outbox::recent(&app.db, None, 1000).await.unwrap().len(), events_before);
    assert!(app.events(TIME_ENTRY_APPROVED, &entry.id).await.is_empty());
}

#[tokio::test]
async fn time_entry_transitions_are_enforced() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let approver = uuid::Uuid::now_v7().to_string();
    let entry = app.record(time_entry(&key("t"), &staffed, "8")).await.unwrap();

    // Only submitted entries can be approved.
    let refused = app.approve(&entry, &approver).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("draft"), "{refused:?}");

    let submitted = app.submit(&entry).await;
    let approved = app.approve(&submitted, &approver).await.unwrap();
    // An approved entry cannot be submitted or approved again.
    let resubmit = app
        .client()
        .submit_time_entries(app.context.harness.service(SubmitTimeEntriesRequest {
            idempotency_key: key("submit"),
            ids: vec![approved.id.clone()],
        }))
        .await
        .unwrap_err();
    assert_eq!(resubmit.code(), Code::FailedPrecondition);
    let twice = app.approve(&approved, &approver).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);

    // A submission is all or none: one approved id refuses the batch.
    let draft = app.record(time_entry(&key("t"), &staffed, "2")).await.unwrap();
    let mixed = app
        .client()
        .submit_time_entries(app.context.harness.service(SubmitTimeEntriesRequest {
            idempotency_key: key("submit"),
            ids: vec![draft.id.clone(), approved.id.clone()],
        }))
        .await
        .unwrap_err();
    assert_eq!(mixed.code(), Code::FailedPrecondition);
    let stored: Vec<_> = app.entries_of(&staffed.employee_id).await;
    assert!(
        stored.contains(&draft),
        "the draft in a refused batch changed: {stored:?}"
    );
    assert_eq!(app.actions("time_entry", &draft.id).await, ["recorded"]);
}

#[tokio::test]
async fn an_applied_change_request_updates_baseline_and_milestones_exactly() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let before = staffed.project.clone();
    let mut client = app.client();
    let step = |request: &ChangeRequest| ChangeRequestTransitionRequest {
        idempotency_key: key("cr"),
        id: request.id.clone(),
        expected_version: request.version,
        reason: String::new(),
    };
    // -0.03 EUR over milestones of 30000.00 and 70000.00: -0.01 and -0.02.
    let created = client
        .create_change_request(app.context.harness.service(CreateChangeRequestRequest {
            idempotency_key: key("cr"),
            project_id: before.id.clone(),
            title: "Rounding credit".into(),
            description: String::new(),
            role: "consultant".into(),
            delta_hours: "12.5".into(),
            delta_amount: eur("-0.03"),
            affected_milestone_ids: vec!["1".into(), "2".into()],
        }))
        .await
        .unwrap()
        .into_inner();
    let submitted = client
        .submit_change_request(app.context.harness.service(step(&created)))
        .await
        .unwrap()
        .into_inner();
    let approved = client
        .approve_change_request(app.context.harness.service(step(&submitted)))
        .await
        .unwrap()
        .into_inner();
    let applied = client
        .apply_change_request(app.context.harness.service(step(&approved)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.version, 4);

    let after = app.project(&before.id).await;
    let amounts: Vec<_> = after
        .milestones
        .iter()
        .map(|m| m.amount.clone().unwrap().amount)
        .collect();
    assert_eq!(amounts, ["29999.99", "69999.98"]);
    assert_eq!(after.contract_value, eur("99999.97"));
    let baseline = after.budget_baseline.clone().unwrap();
    assert_eq!(baseline.total, eur("99999.97"));
    assert_eq!(baseline.total_hours, "412.5");
    let old = before.budget_baseline.clone().unwrap();
    let old_line = old.lines.iter().find(|l| l.role == "consultant").unwrap();
    let line = baseline.lines.iter().find(|l| l.role == "consultant").unwrap();
    assert_eq!(
        (old_line.hours.as_str(), old_line.amount.clone()),
        ("300", eur("75000.00"))
    );
    assert_eq!((line.hours.as_str(), line.amount.clone()), ("312.5", eur("74999.97")));
    // The other role's line is untouched.
    assert_eq!(old.lines[0], baseline.lines[0]);
    assert_eq!(after.version, before.version + 1);

    let history = audit::history(&app.db, "project", &before.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.action, "change_request_applied");
    let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
    assert_eq!(detail["baseline"]["before"]["total_minor"], 10_000_000);
    assert_eq!(detail["baseline"]["after"]["total_minor"], 9_999_997);
    assert_eq!(detail["baseline"]["before"]["total_hours"], "400");
    assert_eq!(detail["baseline"]["after"]["milestones"][1]["amount_minor"], 6_999_998);
    assert_eq!(
        app.actions("change_request", &created.id).await,
        ["created", "submitted", "approved", "applied"]
    );
    assert_eq!(app.events("psa.change_request.approved", &created.id).await.len(), 1);
    assert_eq!(app.events("psa.change_request.applied", &created.id).await.len(), 1);
}

#[tokio::test]
async fn closing_a_project_emits_its_event_once() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let request = UpdateProjectStatusRequest {
        idempotency_key: key("close"),
        project_id: staffed.project.id.clone(),
        status: ProjectStatus::Closed as i32,
        expected_version: staffed.project.version,
    };
    let closed = app
        .client()
        .update_project_status(app.context.harness.service(request.clone()))
        .await
        .unwrap()
        .into_inner();
    let replayed = app
        .client()
        .update_project_status(app.context.harness.service(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed, replayed);
    let events = app.events(PROJECT_CLOSED, &staffed.project.id).await;
    assert_eq!(events.len(), 1);
    let payload: ProjectClosed = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.project.unwrap().status, ProjectStatus::Closed as i32);
}

#[tokio::test]
async fn expenses_and_resource_requests_audit_each_change_and_emit_their_events() {
    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let mut client = app.client();
    let harness = &app.context.harness;
    let expense = client
        .record_expense(harness.service(RecordExpenseRequest {
            idempotency_key: key("expense"),
            project_id: staffed.project.id.clone(),
            employee_id: staffed.employee_id.clone(),
            date: "2026-12-04".into(),
            category: "lodging".into(),
            description: "Hotel, two nights".into(),
            amount: eur("312.40"),
            billable: true,
            receipt_document_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let submitted = client
        .submit_expenses(harness.service(SubmitExpensesRequest {
            idempotency_key: key("submit"),
            ids: vec![expense.id.clone()],
        }))
        .await
        .unwrap()
        .into_inner()
        .expenses
        .remove(0);
    let audit_before = audit_count(&app).await;
    let status = client
        .approve_expense(harness.service(ApproveExpenseRequest {
            idempotency_key: key("self"),
            id: submitted.id.clone(),
            approver_id: staffed.employee_id.clone(),
            expected_version: submitted.version,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        audit_count(&app).await,
        audit_before,
        "a refused approval writes nothing"
    );
    assert!(app.events(EXPENSE_APPROVED, &expense.id).await.is_empty());
    let approved = client
        .approve_expense(harness.service(ApproveExpenseRequest {
            idempotency_key: key("approve"),
            id: submitted.id.clone(),
            approver_id: uuid::Uuid::now_v7().to_string(),
            expected_version: submitted.version,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        app.actions("expense", &expense.id).await,
        ["recorded", "submitted", "approved"]
    );
    let events = app.events(EXPENSE_APPROVED, &expense.id).await;
    assert_eq!(events.len(), 1);
    let payload: ExpenseChanged = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.expense.unwrap(), approved);
    assert_eq!(app.events(EXPENSE_SUBMITTED, &expense.id).await.len(), 1);

    let opened = client
        .create_resource_request(harness.service(CreateResourceRequestRequest {
            idempotency_key: key("request"),
            project_id: staffed.project.id.clone(),
            role: "consultant".into(),
            start_date: "2026-12-01".into(),
            end_date: "2026-12-31".into(),
            allocation_percent: "50".into(),
            requested_by: staffed.employee_id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let proposed = client
        .propose_candidate(harness.service(ProposeCandidateRequest {
            idempotency_key: key("propose"),
            id: opened.id.clone(),
            employee_id: staffed.employee_id.clone(),
            expected_version: opened.version,
        }))
        .await
        .unwrap()
        .into_inner();
    let filled = client
        .fill_resource_request(harness.service(FillResourceRequestRequest {
            idempotency_key: key("fill"),
            id: opened.id.clone(),
            assignment_id: staffed.assignment.id.clone(),
            expected_version: proposed.version,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filled.state, ResourceRequestState::Filled as i32);
    assert_eq!(
        app.actions("resource_request", &opened.id).await,
        ["opened", "proposed", "filled"]
    );
    for event_type in [
        RESOURCE_REQUEST_OPENED,
        RESOURCE_REQUEST_PROPOSED,
        RESOURCE_REQUEST_FILLED,
    ] {
        assert_eq!(app.events(event_type, &opened.id).await.len(), 1, "{event_type}");
    }
    let events = app.events(RESOURCE_REQUEST_FILLED, &opened.id).await;
    let payload: ResourceRequestChanged = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.resource_request.unwrap().assignment_id, staffed.assignment.id);
    assert!(matches!(
        audit::verify(&app.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random sequences of RecordTimeEntry calls drawing keys from a small pool: every key
    /// makes exactly one entry, and a replay answers with the entry its key first made.
    #[test]
    fn a_replayed_key_never_changes_anything(calls in proptest::collection::vec(0usize..6, 1..14)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let app = App::spawn().await;
            let staffed = app.staffed().await;
            let run = uuid::Uuid::new_v4();
            let mut first: std::collections::HashMap<usize, TimeEntry> = std::collections::HashMap::new();
            for slot in &calls {
                let key = format!("prop-{run}-{slot}");
                // The same key always carries the same request; its hours depend on the slot.
                let answer = app.record(time_entry(&key, &staffed, &slot_hours(*slot))).await.unwrap();
                match first.get(slot) {
                    Some(earlier) => assert_eq!(&answer, earlier),
                    None => {
                        first.insert(*slot, answer);
                    }
                }
            }
            let distinct: HashSet<usize> = calls.iter().copied().collect();
            let stored = app.entries_of(&staffed.employee_id).await;
            assert_eq!(stored.len(), distinct.len());
            assert_eq!(audit::history(&app.db, "time_entry", &stored[0].id).await.unwrap().len(), 1);
        });
    }
}

/// The hours a slot's request carries: 0.25 to 1.5.
fn slot_hours(slot: usize) -> String {
    let quarters = slot + 1;
    format!("{}.{:02}", quarters / 4, (quarters % 4) * 25)
}

#[tokio::test]
async fn batch_reads_give_a_projects_assignments_and_its_time_in_one_state() {
    use keel_proto::psa::{ListTimeEntriesOfProjectsRequest, ProjectIdsRequest};

    let app = App::spawn().await;
    let staffed = app.staffed().await;
    let draft = app.record(time_entry(&key("t"), &staffed, "2")).await.unwrap();
    let submitted = app.record(time_entry(&key("t"), &staffed, "3")).await.unwrap();
    let submitted = app.submit(&submitted).await;
    let project_ids = vec![staffed.project.id.clone()];

    let assignments = app
        .client()
        .list_assignments_of_projects(app.context.harness.reader(
            Role::ProjectManager,
            ProjectIdsRequest {
                project_ids: project_ids.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    let ids: Vec<&str> = assignments.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, [staffed.assignment.id.as_str()]);

    let entries = |state: TimeEntryState| {
        let request = app.context.harness.reader(
            Role::ProjectManager,
            ListTimeEntriesOfProjectsRequest {
                project_ids: project_ids.clone(),
                state: state as i32,
            },
        );
        let mut client = app.client();
        async move {
            let entries = client
                .list_time_entries_of_projects(request)
                .await
                .unwrap()
                .into_inner()
                .entries;
            entries.into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(entries(TimeEntryState::Submitted).await, vec![submitted.id.clone()]);
    assert_eq!(entries(TimeEntryState::Draft).await, vec![draft.id.clone()]);
    let mut all = vec![draft.id.clone(), submitted.id.clone()];
    all.sort();
    assert_eq!(entries(TimeEntryState::Unspecified).await, all);

    let refused = app
        .client()
        .list_time_entries_of_projects(app.context.harness.reader(
            Role::ProjectManager,
            ListTimeEntriesOfProjectsRequest { project_ids, state: 99 },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}
