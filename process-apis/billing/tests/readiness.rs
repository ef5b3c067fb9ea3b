//! Billing readiness over the real PSA and ERP reference adapters on loopback gRPC: a blocked
//! milestone names exactly its blockers and drafts nothing; fixed and retried, it drafts one
//! invoice for the milestone's amount; replays draft nothing new.

mod support;

use keel_auth::Role;
use keel_billing::consumer::{MILESTONE_REACHED, Outcome};
use keel_billing::readiness::MilestoneRef;
use keel_billing::{MilestoneReachedConsumer, workflow};
use keel_events::EventEnvelope;
use keel_proto::billing::{
    BillingReadiness, CheckBillingReadinessRequest, GetInvoicePreparationRequest, ListMilestoneReadinessRequest,
    PrepareInvoiceRequest, RecordDeliverableAcceptanceRequest,
};
use keel_workflow::Status;
use support::{Platform, key};

async fn readiness(platform: &Platform, milestone: &str) -> BillingReadiness {
    platform
        .billing()
        .check_billing_readiness(platform.as_role(
            Role::Finance,
            CheckBillingReadinessRequest {
                project_id: platform.project_id(),
                milestone_id: milestone.into(),
            },
        ))
        .await
        .expect("readiness")
        .into_inner()
}

fn codes(answer: &BillingReadiness) -> Vec<(&str, Vec<String>)> {
    answer
        .blockers
        .iter()
        .map(|b| (b.code.as_str(), b.record_ids.clone()))
        .collect()
}

async fn accept(platform: &Platform, milestone: &str) {
    platform
        .billing()
        .record_deliverable_acceptance(platform.as_role(
            Role::ProjectManager,
            RecordDeliverableAcceptanceRequest {
                idempotency_key: key("accept"),
                project_id: platform.project_id(),
                milestone_id: milestone.into(),
                accepted_by: "Grace Hopper, client CFO".into(),
                note: "Signed acceptance certificate".into(),
            },
        ))
        .await
        .expect("accepted");
}

fn prepare(platform: &Platform, idempotency_key: &str, milestone: &str) -> tonic::Request<PrepareInvoiceRequest> {
    platform.as_role(
        Role::Finance,
        PrepareInvoiceRequest {
            idempotency_key: idempotency_key.into(),
            project_id: platform.project_id(),
            milestone_id: milestone.into(),
        },
    )
}

#[tokio::test]
async fn a_blocked_milestone_names_every_blocker_drafts_nothing_and_drafts_once_when_fixed_and_retried() {
    let platform = Platform::start().await;
    // Go-live ("2", due 2027-03-01): every kind of time on 3 December 2026.
    let submitted = platform.submitted("2026-12-03", "2").await;
    let approved = platform.approved("2026-12-04", "3").await;
    platform.posted("2026-12-07", "4").await;
    platform.rejected("2026-12-08", "1").await;
    let change = platform.submitted_change_request(&["2"]).await;
    // A draft change request on the same milestone does not block.
    let answer = readiness(&platform, "2").await;
    assert!(!answer.ready);
    assert_eq!(answer.milestone_name, "Go-live");
    assert_eq!(answer.project_code, platform.project_code);
    assert_eq!(
        codes(&answer),
        vec![
            ("MILESTONE_NOT_REACHED", vec![answer.erp_milestone_id.clone()]),
            ("TIME_NOT_APPROVED", vec![submitted.id.clone()]),
            ("TIME_NOT_POSTED", vec![approved.id.clone()]),
            ("DELIVERABLE_NOT_ACCEPTED", vec![]),
            ("OPEN_CHANGE_REQUEST", vec![change.id.clone()]),
        ]
    );

    // Kickoff ("1", due 2026-12-01): the December time is after its due date and does not count.
    platform.reach("Kickoff").await;
    accept(&platform, "1").await;
    assert!(
        readiness(&platform, "1").await.ready,
        "only later time, accepted, reached"
    );

    // The workflow: blocked, the instance waits in the exception queue naming each blocker.
    let first = platform
        .billing()
        .prepare_invoice(prepare(&platform, "prepare-go-live", "2"))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    platform.settle().await;
    let view = platform
        .engine
        .find(workflow::KIND, &format!("{}/2", platform.project_id()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, Status::Exception);
    assert_eq!(view.step.as_deref(), Some(workflow::CHECK));
    assert_eq!(view.reason.as_deref(), Some("FAILED_PRECONDITION"));
    let reason = view.last_error.clone().unwrap();
    for code in [
        "MILESTONE_NOT_REACHED",
        "TIME_NOT_APPROVED",
        "TIME_NOT_POSTED",
        "DELIVERABLE_NOT_ACCEPTED",
        "OPEN_CHANGE_REQUEST",
    ] {
        assert!(reason.contains(code), "{code} in {reason}");
    }
    assert!(reason.contains(&submitted.id) && reason.contains(&approved.id) && reason.contains(&change.id));
    assert!(platform.invoices().await.is_empty(), "nothing drafted while blocked");

    // Partly fixed: a retry finds what is left, and still drafts nothing.
    let approved_now = platform.approve(&submitted).await;
    platform.post(&approved_now).await;
    platform.post(&approved).await;
    platform.engine.retry(view.id, "ops").await.unwrap();
    platform.settle().await;
    let view = platform.engine.instance(view.id).await.unwrap();
    assert_eq!(view.status, Status::Exception);
    let reason = view.last_error.clone().unwrap();
    assert!(
        !reason.contains("TIME_NOT_APPROVED") && !reason.contains("TIME_NOT_POSTED"),
        "{reason}"
    );
    assert!(reason.contains("MILESTONE_NOT_REACHED"), "{reason}");
    assert!(platform.invoices().await.is_empty());

    // Every blocker fixed: the retry drafts exactly one invoice for the milestone's amount.
    platform.change_request_step("reject", &change).await;
    platform.reach("Go-live").await;
    accept(&platform, "2").await;
    assert!(readiness(&platform, "2").await.ready);
    platform.engine.retry(view.id, "ops").await.unwrap();
    platform.settle().await;
    let view = platform.engine.instance(view.id).await.unwrap();
    assert_eq!(view.status, Status::Done, "{:?}", view.last_error);
    let invoices = platform.invoices().await;
    assert_eq!(invoices.len(), 1);
    let total = invoices[0].total.clone().unwrap();
    assert_eq!((total.amount.as_str(), total.currency.as_str()), ("70000.00", "EUR"));
    let erp_go_live = platform.erp_milestone("Go-live").await;
    assert_eq!(invoices[0].lines[0].source, format!("milestone:{}", erp_go_live.id));
    let preparation = platform
        .billing()
        .get_invoice_preparation(platform.as_role(
            Role::Operations,
            GetInvoicePreparationRequest {
                project_id: platform.project_id(),
                milestone_id: "2".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preparation.status, "DONE");
    assert_eq!(preparation.invoice_id, invoices[0].id);
    assert_eq!(preparation.invoice_total.unwrap().amount, "70000.00");

    // Replays: the same key answers the first result; a new key finds the done preparation.
    let replay = platform
        .billing()
        .prepare_invoice(prepare(&platform, "prepare-go-live", "2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first);
    let again = platform
        .billing()
        .prepare_invoice(prepare(&platform, "prepare-go-live-again", "2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.preparation_id.as_str(), again.created, again.status.as_str()),
        (first.preparation_id.as_str(), false, "DONE")
    );
    platform.settle().await;
    assert_eq!(platform.invoices().await.len(), 1, "replays draft nothing new");
    // Drafted, the milestone now reads as invoiced.
    let answer = readiness(&platform, "2").await;
    assert_eq!(codes(&answer), vec![("ALREADY_INVOICED", vec![invoices[0].id.clone()])]);
    assert!(matches!(
        keel_store::audit::verify(&platform.db).await.unwrap(),
        keel_store::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn an_applied_change_request_moves_psa_amounts_and_the_milestone_reads_as_an_amount_mismatch() {
    let platform = Platform::start().await;
    platform.reach("Kickoff").await;
    accept(&platform, "1").await;
    let change = platform.submitted_change_request(&["1"]).await;
    assert_eq!(
        codes(&readiness(&platform, "1").await),
        vec![("OPEN_CHANGE_REQUEST", vec![change.id.clone()])]
    );
    let approved = platform.change_request_step("approve", &change).await;
    assert_eq!(
        codes(&readiness(&platform, "1").await),
        vec![("OPEN_CHANGE_REQUEST", vec![change.id.clone()])],
        "approved but not applied still blocks"
    );
    platform.change_request_step("apply", &approved).await;
    let answer = readiness(&platform, "1").await;
    let erp = platform.erp_milestone("Kickoff").await;
    assert_eq!(codes(&answer), vec![("AMOUNT_MISMATCH", vec![erp.id.clone()])]);
    assert!(
        answer.blockers[0].message.contains("31000.00 EUR"),
        "{}",
        answer.blockers[0].message
    );
    assert!(
        answer.blockers[0].message.contains("30000.00 EUR"),
        "{}",
        answer.blockers[0].message
    );
}

#[tokio::test]
async fn erp_reaching_a_milestone_starts_its_preparation_once() {
    let platform = Platform::start().await;
    accept(&platform, "1").await;
    let reached = platform.reach("Kickoff").await;
    let consumer = MilestoneReachedConsumer::new(platform.engine.clone(), platform.downstream.clone());
    // The event exactly as ERP wrote it to its outbox.
    let emitted = keel_events::outbox::recent(&platform.erp_db, Some(MILESTONE_REACHED), 10)
        .await
        .unwrap();
    assert_eq!(
        emitted.len(),
        1,
        "ERP emits {MILESTONE_REACHED} when a milestone is reached"
    );
    let event = keel_events::outbox::to_envelope(&emitted[0]).unwrap();
    let at = MilestoneRef {
        project_id: platform.project_id(),
        milestone_id: "1".into(),
    };
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Started(at));
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Duplicate);
    platform.settle().await;
    assert_eq!(platform.invoices().await.len(), 1);
    let again = EventEnvelope::new(MILESTONE_REACHED, "erp", &reached.id, &reached);
    assert_eq!(consumer.apply(&again).await.unwrap(), Outcome::AlreadyPrepared);
    let mut stranger = reached.clone();
    stranger.name = "Not a PSA milestone".into();
    let other = EventEnvelope::new(MILESTONE_REACHED, "erp", &reached.id, &stranger);
    assert_eq!(consumer.apply(&other).await.unwrap(), Outcome::Unmapped);
    platform.settle().await;
    assert_eq!(platform.invoices().await.len(), 1);
}

#[tokio::test]
async fn bad_ids_are_refused_naming_the_field_and_roles_are_enforced() {
    let platform = Platform::start().await;
    let mut billing = platform.billing();
    let bad = billing
        .check_billing_readiness(platform.as_role(
            Role::Finance,
            CheckBillingReadinessRequest {
                project_id: "not-an-id".into(),
                milestone_id: "first".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(
        bad.message().contains("project_id") && bad.message().contains("milestone_id"),
        "{}",
        bad.message()
    );

    let missing = billing
        .check_billing_readiness(platform.as_role(
            Role::Finance,
            CheckBillingReadinessRequest {
                project_id: platform.project_id(),
                milestone_id: "9".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let no_key = billing.prepare_invoice(prepare(&platform, "", "1")).await.unwrap_err();
    assert_eq!(no_key.code(), tonic::Code::InvalidArgument);
    assert!(no_key.message().contains("idempotency_key"));
    let no_name = billing
        .record_deliverable_acceptance(platform.as_role(
            Role::ProjectManager,
            RecordDeliverableAcceptanceRequest {
                idempotency_key: key("accept"),
                project_id: platform.project_id(),
                milestone_id: "1".into(),
                accepted_by: "  ".into(),
                note: "x".repeat(2001),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(no_name.code(), tonic::Code::InvalidArgument);
    assert!(no_name.message().contains("accepted_by") && no_name.message().contains("note"));
    assert!(
        readiness(&platform, "1")
            .await
            .blockers
            .iter()
            .any(|b| b.code == "DELIVERABLE_NOT_ACCEPTED")
    );
    assert!(
        platform
            .engine
            .find(workflow::KIND, &format!("{}/1", platform.project_id()))
            .await
            .unwrap()
            .is_none()
    );

    let refused = billing
        .prepare_invoice(platform.as_role(
            Role::Consultant,
            PrepareInvoiceRequest {
                idempotency_key: key("prepare"),
                project_id: platform.project_id(),
                milestone_id: "1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = billing
        .record_deliverable_acceptance(platform.as_role(
            Role::Consultant,
            RecordDeliverableAcceptanceRequest {
                idempotency_key: key("accept"),
                project_id: platform.project_id(),
                milestone_id: "1".into(),
                accepted_by: "Grace Hopper".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    // An acceptance is recorded once: a replay and a second acceptance answer the first.
    let request = RecordDeliverableAcceptanceRequest {
        idempotency_key: key("accept"),
        project_id: platform.project_id(),
        milestone_id: "1".into(),
        accepted_by: "Grace Hopper".into(),
        note: "Kickoff deck signed".into(),
    };
    let first = billing
        .record_deliverable_acceptance(platform.as_role(Role::ProjectManager, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.milestone_name, "Kickoff");
    assert_eq!(first.recorded_by, "alice");
    let replay = billing
        .record_deliverable_acceptance(platform.as_role(Role::ProjectManager, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first);
    let mut other = request.clone();
    other.idempotency_key = key("accept");
    other.accepted_by = "Someone else".into();
    let second = billing
        .record_deliverable_acceptance(platform.as_role(Role::Finance, other))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second, first);
    let mut reused = request;
    reused.note = "another note".into();
    let mismatch = billing
        .record_deliverable_acceptance(platform.as_role(Role::ProjectManager, reused))
        .await
        .unwrap_err();
    assert_eq!(mismatch.code(), tonic::Code::InvalidArgument);
    assert!(
        !readiness(&platform, "1")
            .await
            .blockers
            .iter()
            .any(|b| b.code == "DELIVERABLE_NOT_ACCEPTED")
    );
}

#[tokio::test]
async fn one_call_lists_every_milestones_readiness_as_the_single_check_does_with_its_draft_invoice() {
    let platform = Platform::start().await;
    platform.reach("Kickoff").await;
    accept(&platform, "1").await;
    platform
        .billing()
        .prepare_invoice(prepare(&platform, "prepare-kickoff", "1"))
        .await
        .unwrap();
    platform.settle().await;
    let drafted = platform.invoices().await;
    assert_eq!(drafted.len(), 1);

    // The project twice and a project PSA does not know: each known project once.
    let unknown = uuid::Uuid::new_v4().to_string();
    let listed = platform
        .billing()
        .list_milestone_readiness(platform.as_role(
            Role::Finance,
            ListMilestoneReadinessRequest {
                project_ids: vec![platform.project_id(), unknown, platform.project_id()],
            },
        ))
        .await
        .expect("listed")
        .into_inner()
        .milestones;
    let positions: Vec<&str> = listed
        .iter()
        .map(|m| m.readiness.as_ref().unwrap().milestone_id.as_str())
        .collect();
    assert_eq!(positions, vec!["1", "2"]);
    for (listed, position) in listed.iter().zip(["1", "2"]) {
        assert_eq!(listed.readiness.as_ref(), Some(&readiness(&platform, position).await));
    }

    // Kickoff: reached and drafted, so ALREADY_INVOICED, with its draft for its 30000.00.
    let kickoff = &listed[0];
    let kickoff_readiness = kickoff.readiness.as_ref().unwrap();
    assert_eq!(kickoff_readiness.milestone_name, "Kickoff");
    assert_eq!(
        codes(kickoff_readiness),
        vec![("ALREADY_INVOICED", vec![drafted[0].id.clone()])]
    );
    assert_eq!(kickoff.erp_status, "REACHED");
    let invoice = kickoff.invoice.as_ref().expect("the kickoff draft");
    assert_eq!(
        (
            invoice.invoice_id.as_str(),
            invoice.status.as_str(),
            invoice.number.as_str()
        ),
        (drafted[0].id.as_str(), "DRAFT", "")
    );
    assert_eq!(invoice.total, support::eur("30000.00"));

    // Go-live: planned, not accepted, no invoice.
    let go_live = &listed[1];
    assert_eq!(go_live.erp_status, "PLANNED");
    assert!(go_live.invoice.is_none());
    let go_live_codes: Vec<&str> = go_live
        .readiness
        .as_ref()
        .unwrap()
        .blockers
        .iter()
        .map(|b| b.code.as_str())
        .collect();
    assert_eq!(go_live_codes, vec!["MILESTONE_NOT_REACHED", "DELIVERABLE_NOT_ACCEPTED"]);

    // Bad input names the field; a consultant may not read readiness.
    for (ids, field) in [
        (vec![], "project_ids"),
        (vec![platform.project_id(), "not-an-id".to_string()], "project_ids[1]"),
        (vec![platform.project_id(); 101], "project_ids"),
    ] {
        let refused = platform
            .billing()
            .list_milestone_readiness(
                platform.as_role(Role::Finance, ListMilestoneReadinessRequest { project_ids: ids }),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }
    let forbidden = platform
        .billing()
        .list_milestone_readiness(platform.as_role(
            Role::Consultant,
            ListMilestoneReadinessRequest {
                project_ids: vec![platform.project_id()],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), tonic::Code::PermissionDenied);
}
