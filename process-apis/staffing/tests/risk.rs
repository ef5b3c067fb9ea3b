//! Staffing risk over the real PSA and HRIS reference adapters on loopback gRPC: the test's own
//! team (see `support`) staffed onto projects so that one person is over-allocated, one
//! certification expires before the work ends and one critical skill has a single holder, each
//! flagged once with its figures; a well-staffed project is not. Then a resource manager's
//! decision, taken once; a flag that no longer holds closed as RESOLVED; and the policy switch.

mod support;

use keel_auth::Role;
use keel_events::outbox;
use keel_proto::psa::{
    Assignment, CreateAssignmentRequest, CreateResourceRequestRequest, EndAssignmentRequest, RequiredSkill,
};
use keel_proto::staffing::{
    AssessStaffingRiskRequest, AssessStaffingRiskResponse, ListStaffingRisksRequest, ReviewStaffingRiskRequest,
    StaffingRisk,
};
use keel_staffing::consumer::{Outcome, ResourceRequestFilledConsumer};
use keel_staffing::risk;
use keel_staffing::{InsightSwitches, StaffingPolicy};
use keel_store::audit::{self, ChainReport};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use support::Platform;
use tonic::Code;

fn policy() -> StaffingPolicy {
    StaffingPolicy {
        version: "test-1".into(),
        ..StaffingPolicy::default()
    }
}

fn switches(on: bool) -> InsightSwitches {
    let mut switches = InsightSwitches {
        version: "insight-test-1".into(),
        ..InsightSwitches::default()
    };
    switches.insight.staffing_risk = on;
    switches
}

/// Another active project of PSA's (rate card as the staffed one's), with its architect.
async fn project(platform: &Platform) -> String {
    platform.psa.staffed().await.expect("a project").project.id
}

async fn assign(
    platform: &Platform,
    project_id: &str,
    person: &str,
    from: &str,
    to: &str,
    percent: &str,
) -> Assignment {
    let employee = platform.employee(person);
    platform
        .psa_client()
        .create_assignment(platform.psa.harness.service(CreateAssignmentRequest {
            idempotency_key: format!("as-{}", uuid::Uuid::new_v4()),
            project_id: project_id.to_string(),
            employee_id: employee.id.clone(),
            person_name: employee.name.clone(),
            role: "consultant".into(),
            bill_role: String::new(),
            start_date: from.into(),
            end_date: to.into(),
            allocation_percent: percent.into(),
        }))
        .await
        .expect("assignment")
        .into_inner()
}

/// A consultant request on `project_id` for December: SAP FI/CO at 4 (critical under the
/// default policy) and the sap-s4-finance certification.
async fn request(platform: &Platform, project_id: &str) {
    platform
        .psa_client()
        .create_resource_request(platform.psa.harness.service(CreateResourceRequestRequest {
            idempotency_key: format!("rr-{}", uuid::Uuid::new_v4()),
            project_id: project_id.to_string(),
            role: "consultant".into(),
            bill_role: "consultant".into(),
            start_date: "2026-12-01".into(),
            end_date: "2026-12-31".into(),
            allocation_percent: "50".into(),
            skills: vec![RequiredSkill {
                name: "sap-fico".into(),
                min_proficiency: 4,
            }],
            certifications: vec!["sap-s4-finance".into()],
            languages: vec![],
            region: "emea".into(),
            location: String::new(),
            requested_by: platform.staffed.employee_id.clone(),
            notes: String::new(),
        }))
        .await
        .expect("resource request");
}

async fn assess(platform: &Platform, project_id: &str) -> AssessStaffingRiskResponse {
    platform
        .staffing()
        .assess_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            AssessStaffingRiskRequest {
                project_id: project_id.to_string(),
            },
        ))
        .await
        .expect("assessed")
        .into_inner()
}

async fn list(platform: &Platform, project_ids: &[&str], statuses: &[&str]) -> Vec<StaffingRisk> {
    platform
        .staffing()
        .list_staffing_risks(platform.as_role(
            "rita",
            Role::ResourceManager,
            ListStaffingRisksRequest {
                project_ids: project_ids.iter().map(|s| s.to_string()).collect(),
                statuses: statuses.iter().map(|s| s.to_string()).collect(),
                page_size: 0,
                page_token: String::new(),
            },
        ))
        .await
        .expect("listed")
        .into_inner()
        .risks
}

fn review(id: &str, key: &str, decision: &str, note: &str) -> ReviewStaffingRiskRequest {
    ReviewStaffingRiskRequest {
        idempotency_key: key.into(),
        id: id.into(),
        decision: decision.into(),
        note: note.into(),
    }
}

async fn stored(platform: &Platform) -> u64 {
    risk::entity::Entity::find().count(&platform.db).await.unwrap()
}

/// Projects P (Ada over-allocated with Q, Cleo's certification expiring), R (Dan alone holds
/// SAP FI/CO) and W (Bruno and Dan, well staffed), all with a consultant request.
struct Scenario {
    p: String,
    q: String,
    r: String,
    w: String,
    ada_on_q: Assignment,
}

async fn scenario(platform: &Platform) -> Scenario {
    let p = platform.staffed.project.id.clone();
    let (q, r, w) = (
        project(platform).await,
        project(platform).await,
        project(platform).await,
    );
    let ada_on_q = assign(platform, &q, "Ada", "2026-12-01", "2026-12-31", "80").await;
    assign(platform, &p, "Ada", "2026-12-07", "2026-12-31", "50").await;
    assign(platform, &p, "Cleo", "2026-12-01", "2026-12-31", "50").await;
    assign(platform, &r, "Dan", "2026-12-01", "2026-12-31", "50").await;
    assign(platform, &w, "Bruno", "2026-12-01", "2026-12-31", "50").await;
    assign(platform, &w, "Dan", "2026-12-01", "2026-12-31", "50").await;
    for project in [&p, &r, &w] {
        request(platform, project).await;
    }
    Scenario { p, q, r, w, ada_on_q }
}

/// Ada leaves Q at the end of the first week of December.
async fn end_ada_on_q(platform: &Platform, s: &Scenario) {
    platform
        .psa_client()
        .end_assignment(platform.psa.harness.service(EndAssignmentRequest {
            idempotency_key: format!("end-{}", uuid::Uuid::new_v4()),
            id: s.ada_on_q.id.clone(),
            end_date: "2026-12-04".into(),
            expected_version: s.ada_on_q.version,
        }))
        .await
        .expect("ended");
}

#[tokio::test]
async fn over_allocation_an_expiring_certification_and_a_single_point_of_failure_are_flagged_with_their_figures() {
    let platform = Platform::start_with(policy(), switches(true)).await;
    let s = scenario(&platform).await;
    let (ada, cleo, dan) = (
        platform.employee("Ada").id.clone(),
        platform.employee("Cleo").id.clone(),
        platform.employee("Dan").id.clone(),
    );

    let on_p = assess(&platform, &s.p).await;
    assert_eq!(on_p.flagged, 2, "{:#?}", on_p.risks);
    let over = on_p
        .risks
        .iter()
        .find(|r| r.kind == "over-allocated")
        .expect("Ada over-allocated");
    assert_eq!(over.employee_id, ada);
    // 80% on Q all December plus 50% on P from Monday 7 December: four weeks at 130%.
    assert_eq!(over.peak_percent, "130");
    assert_eq!(over.first_week, "2026-12-07");
    assert_eq!(over.last_week, "2026-12-28");
    let figures: serde_json::Value = serde_json::from_str(&over.figures_json).unwrap();
    assert_eq!(figures["weeks"], 4);
    assert!(over.reason.contains("130%"), "{}", over.reason);
    assert_eq!(over.status, "OPEN");
    assert_eq!(over.policy_version, "insight-test-1");
    assert!(
        over.model_version.starts_with("keel-insight staffing::assess"),
        "{}",
        over.model_version
    );

    let expiring = on_p
        .risks
        .iter()
        .find(|r| r.kind == "certification-expiring")
        .expect("Cleo's certification");
    assert_eq!(expiring.employee_id, cleo);
    assert_eq!(expiring.skill, "sap-s4-finance");
    assert_eq!(expiring.expires_on, "2026-12-15");
    assert_eq!(expiring.needed_until, "2026-12-31");
    assert_eq!(expiring.days_uncovered, 16);

    let on_r = assess(&platform, &s.r).await;
    assert_eq!(on_r.risks.len(), 1, "{:#?}", on_r.risks);
    assert_eq!(on_r.risks[0].kind, "single-point-of-failure");
    assert_eq!(on_r.risks[0].employee_id, dan);
    assert_eq!(on_r.risks[0].skill, "sap-fico");

    let on_w = assess(&platform, &s.w).await;
    assert!(on_w.risks.is_empty(), "a well-staffed project: {:#?}", on_w.risks);
    assert_eq!(on_w.flagged, 0);

    // Assessed again: each flag is stored once.
    let again = assess(&platform, &s.p).await;
    assert_eq!((again.flagged, again.resolved, again.risks.len()), (0, 0, 2));
    assert_eq!(stored(&platform).await, 3);
    assert_eq!(list(&platform, &[&s.p, &s.r, &s.w], &["OPEN"]).await.len(), 3);
    assert_eq!(list(&platform, &[&s.w], &[]).await.len(), 0);

    // Ada leaves Q at the end of the first week: the over-allocation no longer holds.
    end_ada_on_q(&platform, &s).await;
    let after = assess(&platform, &s.p).await;
    assert_eq!((after.flagged, after.resolved), (0, 1));
    let resolved = list(&platform, &[&s.p], &["RESOLVED"]).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].id, over.id);
    assert!(
        resolved[0].resolution.contains("no longer allocated over 100%"),
        "{}",
        resolved[0].resolution
    );
    assert!(resolved[0].resolved_at.is_some());
    // Flags never change an assignment: Q still has Ada's (ended by the person, not the flag).
    assert_eq!(stored(&platform).await, 3);
    let _ = s.q;
    assert_eq!(
        audit::verify(&platform.db).await.unwrap(),
        ChainReport::Intact { entries: 4 }
    );
}

/// Two assessments of P at once: the slow one read while Ada was still over-allocated, the
/// other after she left Q and recorded first. The slow one changes nothing when it records.
#[tokio::test]
async fn an_assessment_that_read_before_a_later_recorded_one_changes_nothing() {
    let platform = Platform::start_with(policy(), switches(true)).await;
    let s = scenario(&platform).await;
    let first = assess(&platform, &s.p).await;
    assert_eq!(first.flagged, 2, "{:#?}", first.risks);
    let over = first
        .risks
        .iter()
        .find(|r| r.kind == "over-allocated")
        .expect("Ada over-allocated")
        .clone();

    // The slow assessment reads now, while Ada is on Q...
    let slow = platform.risks.evaluate(&s.p).await.expect("read");
    assert!(
        slow.flags.iter().any(|f| f.reason.contains("130%")),
        "{:#?}",
        slow.flags
    );
    // ...then Ada leaves Q, and a later assessment reads and records.
    end_ada_on_q(&platform, &s).await;
    let fresh = assess(&platform, &s.p).await;
    assert_eq!((fresh.flagged, fresh.resolved, fresh.risks.len()), (0, 1, 1));

    // The slow one records last: it would reopen the over-allocation; it changes nothing.
    let late = platform
        .risks
        .record(&platform.db, &slow, "slow-reader")
        .await
        .expect("answered");
    assert!(late.superseded);
    assert_eq!((late.flagged, late.resolved), (0, 0));
    assert_eq!(late.current.len(), 1, "{:#?}", late.current);
    let resolved = list(&platform, &[&s.p], &["RESOLVED"]).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].id, over.id);
    let open = list(&platform, &[&s.p], &["OPEN"]).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "certification-expiring");
    // Flagged twice, resolved once; nothing audited for the slow one.
    assert_eq!(
        audit::verify(&platform.db).await.unwrap(),
        ChainReport::Intact { entries: 3 }
    );

    // An assessment that reads after them all is recorded as usual.
    let later = platform.risks.evaluate(&s.p).await.expect("read");
    let recorded = platform
        .risks
        .record(&platform.db, &later, "later-reader")
        .await
        .expect("recorded");
    assert!(!recorded.superseded);
    assert_eq!(recorded.current.len(), 1);
}

#[tokio::test]
async fn a_flag_is_decided_once_by_a_resource_manager_and_other_roles_change_nothing() {
    let platform = Platform::start_with(policy(), switches(true)).await;
    let s = scenario(&platform).await;
    let flag = assess(&platform, &s.r).await.risks.remove(0);
    let mut client = platform.staffing();

    let refused = client
        .review_staffing_risk(platform.as_role(
            "pam",
            Role::ProjectManager,
            review(&flag.id, "k-pm", "DISMISSED", "not my problem"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = client
        .review_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            review(&flag.id, "k-bad", "IGNORED", " "),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("decision") && bad.message().contains("note"),
        "{}",
        bad.message()
    );
    assert_eq!(list(&platform, &[&s.r], &[]).await[0].status, "OPEN", "nothing changed");

    let decided = client
        .review_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            review(&flag.id, "k-1", "ACKNOWLEDGED", "Bruno shadows Dan from January"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.status, "ACKNOWLEDGED");
    assert_eq!(decided.decided_by, "rita");
    assert_eq!(decided.note, "Bruno shadows Dan from January");
    // The same request again answers the same decision.
    let repeated = client
        .review_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            review(&flag.id, "k-1", "ACKNOWLEDGED", "Bruno shadows Dan from January"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repeated.decided_at, decided.decided_at);
    // Another decision is refused and changes nothing.
    let second = client
        .review_staffing_risk(platform.as_role(
            "rob",
            Role::ResourceManager,
            review(&flag.id, "k-2", "DISMISSED", "fine"),
        ))
        .await
        .unwrap_err();
    assert_eq!(second.code(), Code::FailedPrecondition);
    assert!(
        second.message().contains("already ACKNOWLEDGED by rita"),
        "{}",
        second.message()
    );
    let now = list(&platform, &[&s.r], &[]).await;
    assert_eq!(
        (now[0].status.as_str(), now[0].decided_by.as_str()),
        ("ACKNOWLEDGED", "rita")
    );

    let history = audit::history(&platform.db, "staffing_risk", &flag.id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["flagged", "acknowledged"]);
    assert!(history[1].detail.contains("Bruno shadows Dan"), "{}", history[1].detail);
    // A re-assessment keeps the decision.
    assert_eq!(assess(&platform, &s.r).await.risks[0].status, "ACKNOWLEDGED");
}

#[tokio::test]
async fn a_filled_request_assesses_its_project_once() {
    let platform = Platform::start_with(policy(), switches(true)).await;
    // Staffing fills a request on the staffed project (Ada, the best match, within the policy)
    // and PSA emits
    // resource_request.filled.
    let opened = platform.open_request("solution-architect").await;
    platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "rita",
            Role::ResourceManager,
            keel_proto::staffing::StaffResourceRequestRequest {
                resource_request_id: opened.id.clone(),
            },
        ))
        .await
        .unwrap();
    platform.settle().await;
    let event = outbox::recent(
        &platform.psa_db,
        Some(keel_staffing::consumer::RESOURCE_REQUEST_FILLED),
        10,
    )
    .await
    .unwrap()
    .iter()
    .map(|e| outbox::to_envelope(e).unwrap())
    .find(|e| e.aggregate_id == opened.id)
    .expect("the filled event");
    let consumer = ResourceRequestFilledConsumer::new(platform.engine.clone(), platform.risks.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Started);
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Duplicate);
    // Ada joined the architect, who holds no skill: she alone holds SAP FI/CO.
    let flags = list(&platform, &[&platform.staffed.project.id], &["OPEN"]).await;
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert_eq!(flags[0].kind, "single-point-of-failure");
    assert_eq!(flags[0].employee_id, platform.employee("Ada").id);
    assert_eq!(flags[0].skill, "sap-fico");
    assert_eq!(stored(&platform).await, 1);
}

#[tokio::test]
async fn with_the_switch_off_nothing_is_assessed_or_recorded() {
    let platform = Platform::start_with(policy(), switches(false)).await;
    let project = platform.staffed.project.id.clone();
    let mut client = platform.staffing();
    let assess = client
        .assess_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            AssessStaffingRiskRequest {
                project_id: project.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(assess.code(), Code::FailedPrecondition);
    assert!(
        assess.message().contains("insight.staffing_risk"),
        "{}",
        assess.message()
    );
    let listed = client
        .list_staffing_risks(platform.as_role("rita", Role::ResourceManager, ListStaffingRisksRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::FailedPrecondition);
    assert!(
        listed.message().contains("insight.staffing_risk"),
        "{}",
        listed.message()
    );
    let reviewed = client
        .review_staffing_risk(platform.as_role(
            "rita",
            Role::ResourceManager,
            review(&uuid::Uuid::now_v7().to_string(), "k", "DISMISSED", "x"),
        ))
        .await
        .unwrap_err();
    assert_eq!(reviewed.code(), Code::FailedPrecondition);
    // Nor does a filled request's event assess anything.
    let opened = platform.open_request("solution-architect").await;
    platform
        .staffing()
        .staff_resource_request(platform.as_role(
            "rita",
            Role::ResourceManager,
            keel_proto::staffing::StaffResourceRequestRequest {
                resource_request_id: opened.id.clone(),
            },
        ))
        .await
        .unwrap();
    platform.settle().await;
    let event = outbox::recent(
        &platform.psa_db,
        Some(keel_staffing::consumer::RESOURCE_REQUEST_FILLED),
        10,
    )
    .await
    .unwrap()
    .iter()
    .map(|e| outbox::to_envelope(e).unwrap())
    .find(|e| e.aggregate_id == opened.id)
    .expect("the filled event");
    let consumer = ResourceRequestFilledConsumer::new(platform.engine.clone(), platform.risks.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Skipped);
    assert_eq!(stored(&platform).await, 0);
    let audited = audit::entity::Entity::find()
        .filter(audit::entity::Column::RecordType.eq("staffing_risk"))
        .count(&platform.db)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}
