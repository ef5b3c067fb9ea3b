//! Time approved in steps, as the policy's approval chain says, through time capture's gRPC
//! over the real PSA and ERP reference adapters: one-step entries as before, a long entry
//! approved by its project manager and then its finance partner (posted only after the
//! second), the same person refused a second step, and a rejection at the second step.

mod support;

use std::str::FromStr;

use keel_auth::Role;
use keel_proto::psa::{CreateAssignmentRequest, SubmitTimeEntriesRequest, TimeEntry, TimeEntryState};
use keel_proto::timecapture::{ApproveTimeRequest, PostApprovedTimeRequest, RejectTimeRequest};
use keel_store::audit;
use keel_time_capture::TimePolicy;
use keel_time_capture::policy::ApprovalChain;
use rust_decimal::Decimal;
use support::{Platform, settle};
use tonic::Code;

/// The chain under test: entries over 8 hours need a finance partner after the manager.
fn two_step_policy() -> TimePolicy {
    TimePolicy {
        approval: ApprovalChain {
            second_step_above_hours: Some(Decimal::from(8)),
            second_step_assignment_roles: vec!["finance-partner".into()],
        },
        ..TimePolicy::default()
    }
}

struct Chain {
    platform: Platform,
    manager: String,
    finance_partner: String,
}

impl Chain {
    async fn start() -> Chain {
        let platform = Platform::start_with(two_step_policy()).await;
        let manager = uuid::Uuid::new_v4().to_string();
        let finance_partner = uuid::Uuid::new_v4().to_string();
        let chain = Chain {
            platform,
            manager: manager.clone(),
            finance_partner: finance_partner.clone(),
        };
        chain.assign(&manager, "project-manager").await;
        chain.assign(&finance_partner, "finance-partner").await;
        chain
    }

    /// Assigns `employee_id` to the project in `role` (billed as the staffed role).
    async fn assign(&self, employee_id: &str, role: &str) {
        let staffed = &self.platform.staffed;
        self.platform
            .psa_client()
            .create_assignment(self.platform.psa.harness.service(CreateAssignmentRequest {
                idempotency_key: format!("assign-{employee_id}-{role}"),
                project_id: staffed.project.id.clone(),
                employee_id: employee_id.to_string(),
                person_name: format!("{role} {employee_id}"),
                role: role.to_string(),
                bill_role: staffed.assignment.role.clone(),
                start_date: "2026-12-01".into(),
                end_date: "2026-12-31".into(),
                allocation_percent: "10".into(),
            }))
            .await
            .expect("assignment");
    }

    /// An entry of `hours` recorded and submitted by the staffed consultant in PSA.
    async fn submitted(&self, hours: &str) -> TimeEntry {
        let mut psa = self.platform.psa_client();
        let harness = &self.platform.psa.harness;
        let request =
            keel_conformance::psa::time_entry(&format!("rec-{}", uuid::Uuid::new_v4()), &self.platform.staffed, hours);
        let entry = psa
            .record_time_entry(harness.service(request))
            .await
            .expect("record")
            .into_inner();
        psa.submit_time_entries(harness.service(SubmitTimeEntriesRequest {
            idempotency_key: format!("submit-{}", entry.id),
            ids: vec![entry.id.clone()],
        }))
        .await
        .expect("submit")
        .into_inner()
        .entries
        .remove(0)
    }

    async fn approve(&self, who: &str, role: Role, entry: &TimeEntry) -> Result<TimeEntry, tonic::Status> {
        self.platform
            .time_capture()
            .approve_time(self.platform.service.request_as(
                who,
                role,
                ApproveTimeRequest {
                    idempotency_key: format!("approve-{}-{who}", entry.id),
                    time_entry_id: entry.id.clone(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Asks for the posting of `entry` and runs the engine until nothing is left.
    async fn post(&self, entry: &TimeEntry) {
        self.platform
            .time_capture()
            .post_approved_time(self.platform.reader(
                Role::Finance,
                PostApprovedTimeRequest {
                    time_entry_ids: vec![entry.id.clone()],
                },
            ))
            .await
            .expect("accepted");
        settle(&self.platform.engine("worker")).await;
    }

    async fn journals_of(&self, entry: &TimeEntry) -> usize {
        let source = format!("time:{}", entry.id);
        self.platform
            .journals()
            .await
            .iter()
            .filter(|j| j.source == source)
            .count()
    }

    /// The audit actions recorded for `entry` in time capture's log, oldest first.
    async fn audited(&self, entry: &TimeEntry) -> Vec<(String, serde_json::Value)> {
        audit::history(
            &self.platform.db,
            keel_time_capture::actions::AUDIT_RECORD_TYPE,
            &entry.id,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, serde_json::from_str(&e.detail).unwrap()))
        .collect()
    }
}

#[tokio::test]
async fn an_entry_within_the_chains_hours_is_approved_in_one_step_as_before() {
    let chain = Chain::start().await;
    let entry = chain.submitted("8").await;
    let approved = chain
        .approve(&chain.manager, Role::ProjectManager, &entry)
        .await
        .unwrap();
    assert_eq!(approved.state, TimeEntryState::Approved as i32);
    assert_eq!(approved.approver_id, chain.manager);
    chain.post(&entry).await;
    assert_eq!(chain.journals_of(&entry).await, 1);
}

#[tokio::test]
async fn a_long_entry_is_posted_only_after_the_finance_partner_approves_the_second_step() {
    let chain = Chain::start().await;
    let entry = chain.submitted("9.5").await;

    // The finance partner cannot take the first step: that is the manager's.
    let early = chain
        .approve(&chain.finance_partner, Role::Finance, &entry)
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::PermissionDenied, "{early:?}");

    let first = chain
        .approve(&chain.manager, Role::ProjectManager, &entry)
        .await
        .unwrap();
    assert_eq!(
        first.state,
        TimeEntryState::Submitted as i32,
        "awaiting the second step"
    );
    assert_eq!(
        chain.platform.entry(&entry.id).await.state,
        TimeEntryState::Submitted as i32
    );
    assert_eq!(chain.journals_of(&entry).await, 0, "not posted after the first step");

    let second = chain
        .approve(&chain.finance_partner, Role::Finance, &entry)
        .await
        .unwrap();
    assert_eq!(second.state, TimeEntryState::Approved as i32);
    assert_eq!(second.approver_id, chain.finance_partner);
    chain.post(&entry).await;
    assert_eq!(chain.journals_of(&entry).await, 1, "posted once after the second step");
    assert_eq!(
        chain.platform.entry(&entry.id).await.state,
        TimeEntryState::Posted as i32
    );

    let steps: Vec<(u64, String)> = chain
        .audited(&entry)
        .await
        .into_iter()
        .filter(|(action, _)| action == "approval_step_given")
        .map(|(_, d)| {
            (
                d["step"].as_u64().unwrap(),
                d["approver_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![(1, chain.manager.clone()), (2, chain.finance_partner.clone())]
    );
    assert!(matches!(
        audit::verify(&chain.platform.db).await.unwrap(),
        audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn the_same_person_may_not_approve_two_steps() {
    let chain = Chain::start().await;
    // The manager is also the project's finance partner; still one step each.
    chain.assign(&chain.manager, "finance-partner").await;
    let entry = chain.submitted("10").await;
    chain
        .approve(&chain.manager, Role::ProjectManager, &entry)
        .await
        .unwrap();
    let mut again = chain.platform.time_capture();
    let twice = again
        .approve_time(chain.platform.service.request_as(
            &chain.manager,
            Role::Finance,
            ApproveTimeRequest {
                idempotency_key: format!("second-{}", entry.id),
                time_entry_id: entry.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::PermissionDenied, "{twice:?}");
    assert!(
        twice.message().contains("already approved step 1"),
        "{}",
        twice.message()
    );
    assert_eq!(
        chain.platform.entry(&entry.id).await.state,
        TimeEntryState::Submitted as i32
    );

    // A replay of the manager's own first approval answers the same, and adds no step.
    let replay = chain
        .approve(&chain.manager, Role::ProjectManager, &entry)
        .await
        .unwrap();
    assert_eq!(replay.state, TimeEntryState::Submitted as i32);
    let given = keel_time_capture::approvals::given(&chain.platform.db, &entry.id, entry.version)
        .await
        .unwrap();
    assert_eq!(given.len(), 1);

    chain
        .approve(&chain.finance_partner, Role::Finance, &entry)
        .await
        .unwrap();
    assert_eq!(
        chain.platform.entry(&entry.id).await.state,
        TimeEntryState::Approved as i32
    );
}

#[tokio::test]
async fn a_rejection_at_the_second_step_returns_the_entry_to_the_consultant_with_the_reason() {
    let chain = Chain::start().await;
    let entry = chain.submitted("9").await;
    chain
        .approve(&chain.manager, Role::ProjectManager, &entry)
        .await
        .unwrap();
    let missing_reason = chain
        .platform
        .time_capture()
        .reject_time(chain.platform.service.request_as(
            &chain.finance_partner,
            Role::Finance,
            RejectTimeRequest {
                idempotency_key: format!("reject-blank-{}", entry.id),
                time_entry_id: entry.id.clone(),
                reason: "  ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing_reason.code(), Code::InvalidArgument);

    let rejected = chain
        .platform
        .time_capture()
        .reject_time(chain.platform.service.request_as(
            &chain.finance_partner,
            Role::Finance,
            RejectTimeRequest {
                idempotency_key: format!("reject-{}", entry.id),
                time_entry_id: entry.id.clone(),
                reason: "Nine hours on one workshop: split it by session".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state, TimeEntryState::Rejected as i32);
    assert_eq!(
        rejected.rejection_reason,
        "Nine hours on one workshop: split it by session"
    );
    let in_psa = chain.platform.entry(&entry.id).await;
    assert_eq!(in_psa.state, TimeEntryState::Rejected as i32);
    chain.post(&entry).await;
    assert_eq!(chain.journals_of(&entry).await, 0, "a rejected entry is not posted");

    let rejection = chain
        .audited(&entry)
        .await
        .into_iter()
        .find(|(action, _)| action == "approval_step_rejected")
        .expect("the rejection audited");
    assert_eq!(rejection.1["step"], 2);
    assert_eq!(rejection.1["approver_id"], chain.finance_partner.as_str());
    assert_eq!(
        Decimal::from_str(&in_psa.hours).unwrap(),
        Decimal::from(9),
        "the entry comes back as it was"
    );
}
