//! Change orders applied over the real PSA, ERP and documents reference adapters on loopback
//! gRPC: the whole change everywhere, a refusal at each step undone everywhere, an ERP outage
//! waited out, and approval events starting change orders once.

mod support;

use keel_auth::Role;
use keel_change_orders::ChangeRequestApprovedConsumer;
use keel_change_orders::consumer::{CHANGE_REQUEST_APPROVED, Outcome};
use keel_change_orders::workflow::{
    ERP_BILLING_SCHEDULE, ERP_BUDGET, ERP_REVENUE_FORECAST, FETCH, FILE_DOCUMENT, PSA_APPLY,
};
use keel_events::EventEnvelope;
use keel_proto::changeorders::{ApplyChangeOrderRequest, ChangeOrder, GetChangeOrderRequest};
use keel_proto::psa::{ChangeRequestChanged, ChangeRequestState};
use keel_workflow::Status;
use support::{Fault, Faults, Platform, Scenario, Snapshot, settle};
use tonic::Code;
use tonic_types::StatusExt;

async fn get(platform: &Platform, scenario: &Scenario) -> ChangeOrder {
    platform
        .change_orders()
        .get_change_order(platform.as_role(
            Role::Operations,
            GetChangeOrderRequest {
                change_request_id: scenario.change_request.id.clone(),
            },
        ))
        .await
        .expect("get change order")
        .into_inner()
}

fn outcome<'a>(order: &'a ChangeOrder, step: &str) -> &'a str {
    &order.steps.iter().find(|s| s.step == step).expect("step").outcome
}

/// The change applied everywhere: PSA moved, and ERP agrees with PSA line for line and
/// milestone for milestone.
fn assert_applied(before: &Snapshot, after: &Snapshot, delta_minor: i64) {
    assert_eq!(after.change_request_state, ChangeRequestState::Applied as i32);
    assert_eq!(
        after.psa_contract,
        before.psa_contract + delta_minor,
        "PSA contract value moved"
    );
    assert_eq!(
        after.erp_contract, after.psa_contract,
        "revenue schedule moved with PSA"
    );
    let psa_lines: Vec<_> = after
        .psa_lines
        .iter()
        .map(|(role, hours, amount)| {
            (
                role.clone(),
                hours.parse::<rust_decimal::Decimal>().unwrap().normalize(),
                *amount,
            )
        })
        .collect();
    assert_eq!(after.erp_lines, psa_lines, "ERP budget lines equal PSA's baseline");
    let erp_milestones: Vec<i64> = after.erp_milestones.iter().map(|(_, amount)| *amount).collect();
    assert_eq!(erp_milestones, after.psa_milestones, "ERP milestones split as PSA's");
    assert_eq!(
        after.psa_milestones.iter().sum::<i64>() - before.psa_milestones.iter().sum::<i64>(),
        delta_minor
    );
    assert_eq!(after.documents, before.documents + 1, "the change-order document filed");
}

#[tokio::test]
async fn an_approved_change_request_is_applied_everywhere_and_a_replay_starts_nothing() {
    let platform = Platform::start().await;
    // +40 h of consultant time for 4000.01 EUR over both milestones (30000 and 70000).
    let scenario = platform.scenario("consultant", "40", "4000.01", &["1", "2"]).await;
    let before = platform.snapshot(&scenario).await;
    let apply = |key: &str| ApplyChangeOrderRequest {
        change_request_id: scenario.change_request.id.clone(),
        idempotency_key: key.to_string(),
    };
    let mut client = platform.change_orders();
    let first = client
        .apply_change_order(platform.as_role(Role::Finance, apply("co-1")))
        .await
        .expect("accepted")
        .into_inner();
    assert!(first.created);
    assert_eq!(first.status, "RUNNING");
    let replay = client
        .apply_change_order(platform.as_role(Role::ProjectManager, apply("co-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (replay.change_order_id.as_str(), replay.created),
        (first.change_order_id.as_str(), false)
    );

    let engine = platform.engine("worker-a");
    settle(&engine).await;
    let after = platform.snapshot(&scenario).await;
    assert_applied(&before, &after, 400_001);
    // PSA's own split (1200.00 and 2800.01), and ERP's the same.
    assert_eq!(after.psa_milestones, [3_120_000, 7_280_001]);
    assert_eq!(
        after.erp_milestones,
        [("Kickoff".to_string(), 3_120_000), ("Go-live".to_string(), 7_280_001)]
    );
    let consultant = after.erp_lines.iter().find(|(role, ..)| role == "consultant").unwrap();
    let consultant_before = before.erp_lines.iter().find(|(role, ..)| role == "consultant").unwrap();
    assert_eq!(consultant.1, consultant_before.1 + rust_decimal::Decimal::from(40));
    assert_eq!(consultant.2, consultant_before.2 + 400_001);

    let order = get(&platform, &scenario).await;
    assert_eq!(order.status, "DONE");
    assert_eq!(order.project_id, scenario.project.id);
    assert!(order.steps.iter().all(|s| s.outcome == "DONE"), "{:?}", order.steps);
    assert!(order.compensated.is_empty());
    assert_eq!(order.erp_budget_version, 2);
    let documents = platform.documents_of(&scenario.project.id).await;
    assert_eq!(order.document_id, documents[0].id);
    assert!(documents[0].title.contains(&scenario.change_request.id));
    assert_eq!(documents[0].version_count, 1, "filed with its content");

    // Replays once done, under the same key or another, answer the done change order.
    for key in ["co-1", "co-2"] {
        let again = client
            .apply_change_order(platform.as_role(Role::Finance, apply(key)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (again.change_order_id.as_str(), again.created, again.status.as_str()),
            (first.change_order_id.as_str(), false, "DONE")
        );
    }
    settle(&engine).await;
    assert_eq!(platform.snapshot(&scenario).await, after, "a replay changes nothing");
    assert!(matches!(
        keel_store::audit::verify(&platform.db).await.unwrap(),
        keel_store::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn bad_input_and_the_wrong_role_are_refused_and_change_nothing() {
    let platform = Platform::start().await;
    let mut client = platform.change_orders();
    let status = client
        .apply_change_order(platform.as_role(
            Role::Finance,
            ApplyChangeOrderRequest {
                change_request_id: "cr-42".into(),
                idempotency_key: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["change_request_id", "idempotency_key"]);
    let id = uuid::Uuid::now_v7().to_string();
    let status = client
        .apply_change_order(platform.as_role(
            Role::Consultant,
            ApplyChangeOrderRequest {
                change_request_id: id.clone(),
                idempotency_key: "k".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = client
        .get_change_order(platform.as_role(Role::Finance, GetChangeOrderRequest { change_request_id: id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "nothing was started");
    let status = client
        .get_change_order(platform.as_role(
            Role::Finance,
            GetChangeOrderRequest {
                change_request_id: "x".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_refusal_at_any_step_undoes_every_earlier_effect_and_is_recorded() {
    let platform = Platform::start().await;
    let engine = platform.engine("worker-a");
    let cases: [(&Faults, &'static str, u32, &str); 6] = [
        (&platform.psa_faults, "GetChangeRequest", 0, FETCH),
        (&platform.erp_faults, "UpdateBudget", 0, ERP_BUDGET),
        // The second milestone refused after the first moved.
        (&platform.erp_faults, "UpdateBillingMilestone", 1, ERP_BILLING_SCHEDULE),
        (&platform.erp_faults, "ReviseRevenueSchedule", 0, ERP_REVENUE_FORECAST),
        // The document created, then its content refused.
        (&platform.documents_faults, "AddVersion", 0, FILE_DOCUMENT),
        (&platform.psa_faults, "ApplyChangeRequest", 0, PSA_APPLY),
    ];
    let order = [
        FETCH,
        ERP_BUDGET,
        ERP_BILLING_SCHEDULE,
        ERP_REVENUE_FORECAST,
        FILE_DOCUMENT,
        PSA_APPLY,
    ];
    for (faults, method, skip, step) in cases {
        let scenario = platform
            .scenario("solution-architect", "-12.5", "-2312.50", &["2", "1"])
            .await;
        let before = platform.snapshot(&scenario).await;
        faults.refuse(method, skip);
        let id = platform.start_change_order(&engine, &scenario).await;
        settle(&engine).await;
        faults.clear();
        assert_eq!(
            platform.snapshot(&scenario).await,
            before,
            "refused at {step}: every effect undone"
        );
        let view = engine.instance(id).await.unwrap();
        assert_eq!(view.status, Status::Abandoned, "refused at {step}");
        let record = get(&platform, &scenario).await;
        assert_eq!(record.status, "COMPENSATED", "{record:?}");
        assert_eq!(record.step, step);
        assert_eq!(record.reason, "FAILED_PRECONDITION");
        assert!(
            record.last_error.contains(&format!("{method}: refused by the test")),
            "{record:?}"
        );
        assert_eq!(outcome(&record, step), "REFUSED");
        assert!(
            record
                .steps
                .iter()
                .find(|s| s.step == step)
                .unwrap()
                .detail
                .contains("refused by the test")
        );
        let position = order.iter().position(|s| *s == step).unwrap();
        let undone: Vec<&str> = order[1..position.max(1)]
            .iter()
            .copied()
            .filter(|s| *s != PSA_APPLY)
            .collect();
        for earlier in &undone {
            assert_eq!(outcome(&record, earlier), "COMPENSATED", "{earlier} before {step}");
        }
        assert_eq!(
            record.compensated,
            undone.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert!(record.document_id.is_empty(), "no document left behind");
        for later in &order[position + 1..] {
            assert_eq!(outcome(&record, later), "PENDING");
        }
    }
    assert!(matches!(
        keel_store::audit::verify(&platform.db).await.unwrap(),
        keel_store::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn an_unavailable_erp_is_retried_and_the_change_order_completes() {
    let platform = Platform::start().await;
    let scenario = platform.scenario("consultant", "8", "800.00", &["1"]).await;
    let before = platform.snapshot(&scenario).await;
    for method in ["UpdateBudget", "UpdateBillingMilestone", "ReviseRevenueSchedule"] {
        platform.erp_faults.arm(Fault {
            method,
            skip: 0,
            times: 4,
            code: Code::Unavailable,
        });
    }
    let engine = platform.engine("worker-a");
    let id = platform.start_change_order(&engine, &scenario).await;
    settle(&engine).await;
    let view = engine.instance(id).await.unwrap();
    assert_eq!(view.status, Status::Done, "{view:?}");
    let budget = view.journal.iter().find(|s| s.step == ERP_BUDGET).unwrap();
    assert_eq!(budget.attempts, 5, "four outages, then through");
    assert!(
        view.journal
            .iter()
            .all(|s| keel_workflow::step_refusal(&s.result).is_none())
    );
    let after = platform.snapshot(&scenario).await;
    assert_applied(&before, &after, 80_000);
    assert_eq!(after.psa_milestones, [3_080_000, 7_000_000], "all of it on the kickoff");
    let incidents = engine.incidents().await.unwrap();
    assert!(
        incidents.iter().any(|i| i.system == "erp" && i.closed_at.is_some()),
        "{incidents:?}"
    );
}

#[tokio::test]
async fn an_approval_event_starts_one_change_order() {
    let platform = Platform::start().await;
    let scenario = platform.scenario("consultant", "4", "400.00", &["2"]).await;
    let engine = platform.engine("worker-a");
    let consumer = ChangeRequestApprovedConsumer::new(engine.clone());
    let event = |state: ChangeRequestState| {
        let mut request = scenario.change_request.clone();
        request.state = state as i32;
        let id = request.id.clone();
        EventEnvelope::new(
            CHANGE_REQUEST_APPROVED,
            "psa",
            &id,
            &ChangeRequestChanged {
                change_request: Some(request),
                project: None,
            },
        )
    };
    let approved = event(ChangeRequestState::Approved);
    assert_eq!(consumer.apply(&approved).await.unwrap(), Outcome::Started);
    assert_eq!(consumer.apply(&approved).await.unwrap(), Outcome::Duplicate);
    settle(&engine).await;
    assert_eq!(get(&platform, &scenario).await.status, "DONE");
    assert_eq!(
        consumer.apply(&event(ChangeRequestState::Approved)).await.unwrap(),
        Outcome::AlreadyApplied
    );
    assert_eq!(
        consumer.apply(&event(ChangeRequestState::Draft)).await.unwrap(),
        Outcome::Skipped
    );
    assert_eq!(
        platform.documents_of(&scenario.project.id).await.len(),
        1,
        "applied once"
    );
}
