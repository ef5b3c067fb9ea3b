//! Staffing over the real PSA and HRIS reference adapters on loopback gRPC: candidates matched
//! and explained, the policy's approval routing, the request filled in PSA, and what happens
//! when nobody matches.

mod support;

use keel_auth::Role;
use keel_events::outbox;
use keel_proto::psa::{ListAssignmentsRequest, ResourceRequestState};
use keel_proto::staffing::{GetStaffingRequest, RankCandidatesRequest, StaffResourceRequestRequest, Staffing};
use keel_staffing::ResourceRequestOpenedConsumer;
use keel_staffing::StaffingPolicy;
use keel_staffing::consumer::{Outcome, RESOURCE_REQUEST_OPENED};
use keel_store::audit::{self, ChainReport};
use keel_workflow::{Actor, Status};
use support::Platform;
use tonic::Code;

fn policy() -> StaffingPolicy {
    StaffingPolicy {
        version: "test-1".into(),
        ..StaffingPolicy::default()
    }
}

async fn staffing_of(platform: &Platform, request_id: &str) -> Staffing {
    platform
        .staffing()
        .get_staffing(platform.as_role(
            "rita",
            Role::ResourceManager,
            GetStaffingRequest {
                resource_request_id: request_id.to_string(),
            },
        ))
        .await
        .expect("staffing")
        .into_inner()
}

async fn start(platform: &Platform, request_id: &str) -> bool {
    platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "rita",
            Role::ResourceManager,
            StaffResourceRequestRequest {
                resource_request_id: request_id.to_string(),
            },
        ))
        .await
        .expect("accepted")
        .into_inner()
        .created
}

async fn assignments_of(platform: &Platform, employee_id: &str) -> Vec<keel_proto::psa::Assignment> {
    platform
        .psa_client()
        .list_assignments(platform.psa.harness.service(ListAssignmentsRequest {
            project_id: platform.staffed.project.id.clone(),
            employee_id: employee_id.to_string(),
            page: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .assignments
}

#[tokio::test]
async fn a_request_within_policy_is_ranked_explained_and_filled_with_the_best_match() {
    let platform = Platform::start(policy()).await;
    let request = platform.open_request("solution-architect").await;
    assert!(start(&platform, &request.id).await, "a new staffing instance");
    platform.settle().await;

    let staffing = staffing_of(&platform, &request.id).await;
    assert_eq!(staffing.status, "DONE", "{staffing:?}");
    assert_eq!(staffing.policy_version, "test-1");
    // Cleo's certification expires before the end of the period and Dan speaks no German: only
    // Ada and Bruno qualify, Ada first.
    let ranked: Vec<(&str, &str)> = staffing
        .candidates
        .iter()
        .map(|c| (c.name.as_str(), c.score.as_str()))
        .collect();
    assert_eq!(ranked, [("Ada", "100"), ("Bruno", "75")]);
    let bruno = &staffing.candidates[1];
    let parts: Vec<(&str, &str, &str)> = bruno
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.points.as_str(), c.max_points.as_str()))
        .collect();
    assert_eq!(
        parts,
        [
            ("skills", "20", "40"),
            ("availability", "30", "30"),
            ("utilization", "20", "20"),
            ("location", "5", "10"),
        ]
    );
    assert!(bruno.components[0].explanation.contains("sap-fico 4 (needs 4)"));
    assert!(bruno.components[3].explanation.contains("Munich"));
    assert_eq!(bruno.needed_hours, "92");
    assert_eq!(bruno.projected_utilization, "0.5");

    // 92 hours at Ada's 90.00 cost against 185.00 billed: 51.35% margin, within policy.
    let economics = staffing.economics.clone().expect("economics");
    assert_eq!(
        (
            economics.labor_cost.as_str(),
            economics.revenue.as_str(),
            economics.margin_percent.as_str()
        ),
        ("8280", "17020", "51.35")
    );
    assert!(!economics.needs_approval);
    assert_eq!(staffing.approved_by, "policy test-1");

    let ada = platform.employee("Ada");
    let filled = platform.request(&request.id).await;
    assert_eq!(filled.state, ResourceRequestState::Filled as i32);
    assert_eq!(filled.proposed_employee_id, ada.id);
    assert_eq!(filled.assignment_id, staffing.assignment_id);
    let assignments = assignments_of(&platform, &ada.id).await;
    assert_eq!(assignments.len(), 1);
    let assignment = &assignments[0];
    assert_eq!(
        (
            assignment.id.as_str(),
            assignment.role.as_str(),
            assignment.bill_role.as_str(),
            assignment.start_date.as_str(),
            assignment.end_date.as_str(),
            assignment.allocation_percent.as_str(),
            assignment.person_name.as_str(),
        ),
        (
            staffing.assignment_id.as_str(),
            "consultant",
            "solution-architect",
            "2026-12-01",
            "2026-12-31",
            "50",
            "Ada"
        )
    );

    // Asking again answers the finished staffing and creates nothing.
    assert!(!start(&platform, &request.id).await);
    platform.settle().await;
    assert_eq!(assignments_of(&platform, &ada.id).await.len(), 1);
}

#[tokio::test]
async fn a_thin_margin_waits_for_leadership_who_is_never_the_submitter() {
    let platform = Platform::start(policy()).await;
    // Billed as a consultant at 100.01: 9200.92 of revenue against 8280 of cost, a 10.01% margin.
    let request = platform.open_request("consultant").await;
    start(&platform, &request.id).await;
    platform.settle().await;

    let waiting = staffing_of(&platform, &request.id).await;
    assert_eq!(waiting.status, "AWAITING_APPROVAL");
    let economics = waiting.economics.clone().unwrap();
    assert_eq!(economics.margin_percent, "10.01");
    assert!(economics.needs_approval);
    assert!(
        economics.approval_reasons[0]
            .contains("margin 10.01% (revenue 9200.92 EUR, cost 8280 EUR) is below the floor 30%"),
        "{:?}",
        economics.approval_reasons
    );
    let pending = platform.engine.pending_approvals(Some("executive")).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].summary.contains("Ada"), "{}", pending[0].summary);
    assert_eq!(pending[0].submitter, "rita");
    assert_eq!(
        platform.request(&request.id).await.state,
        ResourceRequestState::Open as i32
    );

    // Rita asked for it: even holding the role, she cannot approve it, and the refusal is audited.
    let instance = uuid::Uuid::parse_str(&waiting.staffing_id).unwrap();
    let rita = Actor {
        subject: "rita".into(),
        roles: vec!["executive".into()],
    };
    let refused = platform
        .engine
        .decide(instance, &rita, true, "fine by me")
        .await
        .unwrap_err();
    assert!(matches!(refused, keel_core::Error::Forbidden(_)), "{refused:?}");
    let history = audit::history(&platform.db, keel_workflow::RECORD_TYPE, &waiting.staffing_id)
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.action == "self_approval_refused" && e.actor == "rita")
    );
    assert_eq!(staffing_of(&platform, &request.id).await.status, "AWAITING_APPROVAL");

    let erin = Actor {
        subject: "erin".into(),
        roles: vec!["executive".into()],
    };
    platform
        .engine
        .decide(instance, &erin, true, "strategic client")
        .await
        .unwrap();
    platform.settle().await;
    let done = staffing_of(&platform, &request.id).await;
    assert_eq!(done.status, "DONE", "{done:?}");
    assert_eq!(done.approved_by, "erin");
    assert_eq!(
        platform.request(&request.id).await.state,
        ResourceRequestState::Filled as i32
    );
    assert!(matches!(
        audit::verify(&platform.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn nobody_matching_sends_the_request_to_the_exception_queue_and_ranking_changes_nothing() {
    let platform = Platform::start(StaffingPolicy {
        min_score: "101".parse().unwrap_or_default(),
        ..policy()
    })
    .await;
    let request = platform.open_request("solution-architect").await;

    // Ranking is read-only.
    let ranked = platform
        .staffing()
        .rank_candidates(platform.as_role(
            "rita",
            Role::ResourceManager,
            RankCandidatesRequest {
                resource_request_id: request.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranked.candidates.len(), 2);
    assert!(ranked.no_match_reason.is_empty());
    assert_eq!(platform.request(&request.id).await.version, request.version);

    // No score reaches 101: the instance stops, naming the best candidate and the floor.
    start(&platform, &request.id).await;
    platform.settle().await;
    let stopped = staffing_of(&platform, &request.id).await;
    assert_eq!(stopped.status, "EXCEPTION");
    assert!(
        stopped.last_error.contains("Ada") && stopped.last_error.contains("below the policy's minimum 101"),
        "{stopped:?}"
    );
    let exceptions = platform
        .engine
        .exceptions(keel_core::paging::Page::from_proto(None).unwrap())
        .await
        .unwrap();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].owning_team, "resource-management");
    let untouched = platform.request(&request.id).await;
    assert_eq!(untouched.state, ResourceRequestState::Open as i32);
    assert_eq!(untouched.version, request.version);

    // Bad ids are named.
    let status = platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "rita",
            Role::ResourceManager,
            StaffResourceRequestRequest {
                resource_request_id: "rr-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("resource_request_id"), "{}", status.message());
    let status = platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "carl",
            Role::Consultant,
            StaffResourceRequestRequest {
                resource_request_id: request.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn automation_starts_staffing_only_where_the_policy_has_rolled_it_out() {
    // Phase one: ERP deployments in North America only. The request is for an EMEA ERP
    // deployment: it waits for a resource manager, who can still staff it by hand.
    let phase_one = StaffingPolicy {
        automation: keel_workflow::Rollout {
            service_lines: vec!["erp-deployment".into()],
            regions: vec!["na".into()],
        },
        ..policy()
    };
    let platform = Platform::start(phase_one).await;
    let request = platform.open_request("solution-architect").await;
    let event = opened_event(&platform, &request.id).await;
    let consumer = ResourceRequestOpenedConsumer::new(platform.engine.clone(), platform.workflow.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::NotRolledOut);
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Duplicate);
    assert!(platform.engine.find("staffing", &request.id).await.unwrap().is_none());
    assert_eq!(
        platform.request(&request.id).await.state,
        ResourceRequestState::Open as i32,
        "left for a person"
    );
    platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "rita",
            Role::ResourceManager,
            StaffResourceRequestRequest {
                resource_request_id: request.id.clone(),
            },
        ))
        .await
        .unwrap();
    assert!(platform.engine.find("staffing", &request.id).await.unwrap().is_some());

    // Phase two widens it to EMEA: the same kind of request starts on its own.
    let phase_two = StaffingPolicy {
        automation: keel_workflow::Rollout {
            service_lines: vec!["erp-deployment".into()],
            regions: vec!["na".into(), "emea".into()],
        },
        ..policy()
    };
    let platform = Platform::start(phase_two).await;
    let request = platform.open_request("solution-architect").await;
    let event = opened_event(&platform, &request.id).await;
    let consumer = ResourceRequestOpenedConsumer::new(platform.engine.clone(), platform.workflow.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Started);
}

/// PSA's `resource_request.opened` event for `request_id`, from its outbox.
async fn opened_event(platform: &Platform, request_id: &str) -> keel_events::EventEnvelope {
    outbox::recent(&platform.psa_db, Some(RESOURCE_REQUEST_OPENED), 10)
        .await
        .unwrap()
        .iter()
        .map(|e| outbox::to_envelope(e).unwrap())
        .find(|e| e.aggregate_id == request_id)
        .expect("the opened event")
}

#[test]
fn the_automation_table_is_checked_with_the_policy() {
    let empty = StaffingPolicy::parse("version = \"x\"\n[automation]\nregions = []\n").unwrap_err();
    assert_eq!(empty.field_violations()[0].field, "staffing_policy.automation.regions");
    let unknown = StaffingPolicy::parse("version = \"x\"\n[automation]\nregion = [\"emea\"]\n").unwrap_err();
    assert!(unknown.to_string().contains("region"), "{unknown}");
}

#[tokio::test]
async fn an_opened_request_event_starts_staffing_once() {
    let platform = Platform::start(policy()).await;
    let request = platform.open_request("solution-architect").await;
    let event = opened_event(&platform, &request.id).await;
    let consumer = ResourceRequestOpenedConsumer::new(platform.engine.clone(), platform.workflow.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Started);
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Duplicate);
    platform.settle().await;
    let done = platform.engine.find("staffing", &request.id).await.unwrap().unwrap();
    assert_eq!(done.status, Status::Done);
    assert_eq!(
        platform
            .engine
            .list(
                Some(Status::Done),
                Some("staffing"),
                keel_core::paging::Page::from_proto(None).unwrap()
            )
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        platform.request(&request.id).await.state,
        ResourceRequestState::Filled as i32
    );
}
