//! SOW intake through project setup's gRPC service and worker, against the reference CRM, PSA
//! and ERP: a recommendation is recorded with its explanation and confidence, decided once by
//! someone other than the requester, and only the template that person approved sets the
//! project up. Nothing a model answers reaches PSA, ERP or CRM before that decision.

mod support;

use std::sync::LazyLock;

use keel_auth::Role;
use keel_insight::sow::LabelledSow;
use keel_project_setup::intake::{self, IntakePolicy};
use keel_project_setup::{Intake, setups};
use keel_proto::common::Money;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{GetOpportunityRequest, Opportunity};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, GetRevenueScheduleRequest, ProjectCode, RevenueMethod, RevenueSchedule, SetRevenueScheduleRequest,
};
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::projectsetup::{
    DecideRecommendationRequest, GetRecommendationRequest, ListRecommendationsRequest, RecommendTemplateRequest,
    Recommendation, SetupState,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    DeliveryTemplate, GetProjectRateCardRequest, ListDeliveryTemplatesRequest, Project, RateCard, RoleRate,
    SetProjectRateCardRequest,
};
use keel_store::audit;
use support::{EMEA_TEMPLATE, Harness, channel, count, decimal, fast_options};
use tonic::Code;
use tonic::transport::Channel;

const ANY_TEMPLATE: &str = "erp-fixed-fee-any";
const REQUESTER: &str = "priya.pm";
const APPROVER: &str = "lars.delivery-lead";

/// One trained recommender for every test in this file (training is deterministic).
static INTAKE: LazyLock<Intake> = LazyLock::new(Intake::default);

static HELDOUT: LazyLock<Vec<LabelledSow>> = LazyLock::new(|| {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/insight/data/sows/heldout.jsonl"
    ))
    .unwrap();
    LabelledSow::read_jsonl(&text).unwrap()
});

fn sow(id: &str) -> &'static LabelledSow {
    HELDOUT.iter().find(|s| s.id == id).expect("a held-out SOW")
}

async fn recommend(
    h: &Harness,
    client: &mut ProjectSetupServiceClient<Channel>,
    opportunity_id: &str,
    text: &str,
) -> Result<Recommendation, tonic::Status> {
    client
        .recommend_template(h.as_person(
            REQUESTER,
            Role::ProjectManager,
            RecommendTemplateRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                opportunity_id: opportunity_id.to_string(),
                setup_id: String::new(),
                sow_text: text.to_string(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn decide(
    h: &Harness,
    client: &mut ProjectSetupServiceClient<Channel>,
    who: &str,
    id: &str,
    accept: bool,
    template: &str,
    reason: &str,
) -> Result<Recommendation, tonic::Status> {
    client
        .decide_recommendation(h.as_person(
            who,
            Role::ProjectManager,
            DecideRecommendationRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                id: id.to_string(),
                accept,
                override_template: template.to_string(),
                reason: reason.to_string(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn field_of(status: &tonic::Status) -> Vec<String> {
    match keel_core::Error::from(status.clone()) {
        keel_core::Error::InvalidInput(violations) => violations.into_iter().map(|v| v.field).collect(),
        other => panic!("not a field error: {other:?}"),
    }
}

/// Opens and wins a deal, delivers CRM's won event, and runs the worker until the setup either
/// finishes or waits (a pass leaves it running with nothing due).
async fn win_and_work(h: &Harness, opportunity_id: &str) -> keel_proto::projectsetup::Setup {
    let event = h.win(opportunity_id).await;
    h.deliver(&event).await;
    work(h, opportunity_id).await
}

async fn work(h: &Harness, opportunity_id: &str) -> keel_proto::projectsetup::Setup {
    let worker = h.worker(fast_options());
    for _ in 0..12 {
        let row = setups::by_opportunity(&h.setups, opportunity_id)
            .await
            .unwrap()
            .unwrap();
        if row.state != setups::RUNNING || row.next_attempt_at > chrono::Utc::now() + chrono::Duration::seconds(5) {
            break;
        }
        h.run_when_due(&worker, opportunity_id).await;
    }
    h.setup(opportunity_id).await
}

fn waiting(setup: &keel_proto::projectsetup::Setup, recommendation_id: &str) {
    assert_eq!(
        (
            setup.state(),
            setup.step.as_str(),
            setup.template_id.as_str(),
            setup.project_id.as_str()
        ),
        (SetupState::Running, setups::step::SELECT_TEMPLATE, "", ""),
        "the setup waits for the decision: {setup:?}"
    );
    assert!(
        setup.exception_reason.contains(recommendation_id),
        "it says what it waits for: {setup:?}"
    );
}

#[tokio::test]
async fn a_recommendation_is_recorded_refused_to_its_requester_and_accepted_by_another_sets_the_project_up() {
    let h = Harness::start().await;
    let mut client = h.serve_project_setup_with(INTAKE.clone()).await;
    // The deal alone would pick the EMEA template; the SOW describes a North American rollout.
    let deal = h.open_deal(|_| {}).await;
    let text = &sow("sow-0005").text;

    let recommendation = recommend(&h, &mut client, &deal.id, text).await.unwrap();
    assert_eq!(recommendation.capability, "sow-template");
    assert_eq!(recommendation.subject, deal.id);
    assert_eq!(recommendation.status, "open");
    assert_eq!(recommendation.recommended_template, ANY_TEMPLATE);
    assert!(recommendation.confidence >= 0.7, "{}", recommendation.confidence);
    assert!(
        !recommendation.explanation.is_empty(),
        "the terms that drove it are shown"
    );
    assert!(
        recommendation
            .explanation
            .iter()
            .all(|t| t.weight > 0.0 && !t.term.is_empty())
    );
    assert_eq!(
        recommendation.alternatives.len(),
        7,
        "every template with its probability"
    );
    let total: f64 = recommendation.alternatives.iter().map(|a| a.probability).sum();
    assert!((total - 1.0).abs() < 1e-6, "{total}");
    assert!(recommendation.model_version.starts_with("sow-template-lr/504/"));
    assert_eq!(recommendation.policy_version, "default");
    assert_eq!(recommendation.created_by, REQUESTER);
    let input: serde_json::Value = serde_json::from_str(&recommendation.input_json).unwrap();
    assert_eq!(input["sow_text"], text.as_str());
    let output: serde_json::Value = serde_json::from_str(&recommendation.output_json).unwrap();
    assert_eq!(output["extracted"]["contract_type"], "fixed-fee", "{output}");

    // Read back as stored.
    let stored = client
        .get_recommendation(h.as_role(
            Role::Executive,
            GetRecommendationRequest {
                id: recommendation.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, recommendation);

    let setup = win_and_work(&h, &deal.id).await;
    waiting(&setup, &recommendation.id);
    assert!(h.projects().await.is_empty(), "nothing is set up before the decision");

    // The requester cannot approve their own recommendation; the refusal is audited.
    let refused = decide(&h, &mut client, REQUESTER, &recommendation.id, true, "", "")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains(REQUESTER), "{refused:?}");
    let history = audit::history(&h.setups, "recommendation", &recommendation.id)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = history.iter().map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    assert_eq!(
        actions,
        [(REQUESTER, "recommended"), (REQUESTER, "self_approval_refused")]
    );
    waiting(&work(&h, &deal.id).await, &recommendation.id);

    // A consultant may not decide at all.
    let mut as_consultant = h.as_person(
        "sam.consultant",
        Role::Consultant,
        DecideRecommendationRequest {
            idempotency_key: "k".into(),
            id: recommendation.id.clone(),
            accept: true,
            ..Default::default()
        },
    );
    as_consultant.set_timeout(std::time::Duration::from_secs(5));
    assert_eq!(
        client.decide_recommendation(as_consultant).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let accepted = decide(&h, &mut client, APPROVER, &recommendation.id, true, "", "")
        .await
        .unwrap();
    assert_eq!(
        (
            accepted.status.as_str(),
            accepted.decided_by.as_str(),
            accepted.chosen_template.as_str()
        ),
        ("accepted", APPROVER, ANY_TEMPLATE)
    );
    assert!(accepted.decided_at.is_some());

    let setup = work(&h, &deal.id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.template_id, ANY_TEMPLATE, "the approved template, not the deal's");
    let projects = h.projects().await;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].template_id, ANY_TEMPLATE);

    // Decided once: a second decision, even by another person, is refused and changes nothing.
    let again = decide(
        &h,
        &mut client,
        "mei.pmo",
        &recommendation.id,
        false,
        EMEA_TEMPLATE,
        "second thoughts",
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert!(again.message().contains("already accepted"), "{again:?}");
    let stored = intake::by_id(&h.setups, &recommendation.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.status.as_str(),
            stored.decided_by.as_deref(),
            stored.chosen_value.as_deref()
        ),
        ("accepted", Some(APPROVER), Some(ANY_TEMPLATE))
    );

    // The decided record is a labelled example for retraining.
    assert_eq!(
        intake::training_labels(&h.setups).await.unwrap(),
        vec![(text.clone(), ANY_TEMPLATE.to_string())]
    );
    assert!(matches!(
        audit::verify(&h.setups).await.unwrap(),
        audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn an_override_sets_the_project_up_with_the_overriding_template_and_bad_decisions_name_their_field() {
    let h = Harness::start().await;
    let mut client = h.serve_project_setup_with(INTAKE.clone()).await;
    let deal = h.open_deal(|_| {}).await;
    let text = &sow("sow-0011").text;
    let recommendation = recommend(&h, &mut client, &deal.id, text).await.unwrap();
    assert_eq!(recommendation.recommended_template, EMEA_TEMPLATE);
    let setup = win_and_work(&h, &deal.id).await;
    waiting(&setup, &recommendation.id);

    let cases: [(bool, &str, &str, &str); 4] = [
        (false, ANY_TEMPLATE, "", "reason"),
        (false, "no-such-template", "the client asked", "override_template"),
        (true, ANY_TEMPLATE, "the client asked", "accept"),
        (false, "", "", "accept"),
    ];
    for (accept, template, reason, field) in cases {
        let error = decide(&h, &mut client, APPROVER, &recommendation.id, accept, template, reason)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
        assert!(field_of(&error).contains(&field.to_string()), "{field}: {error:?}");
    }
    let still = intake::by_id(&h.setups, &recommendation.id).await.unwrap().unwrap();
    assert_eq!((still.status.as_str(), still.decided_by), ("open", None));

    let reason = "the client's finance entity is in Toronto; the CRM record is wrong";
    let overridden = decide(
        &h,
        &mut client,
        APPROVER,
        &recommendation.id,
        false,
        ANY_TEMPLATE,
        reason,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            overridden.status.as_str(),
            overridden.chosen_template.as_str(),
            overridden.reason.as_str()
        ),
        ("overridden", ANY_TEMPLATE, reason)
    );
    assert_eq!(
        overridden.recommended_template, EMEA_TEMPLATE,
        "what the model said is kept"
    );

    let setup = work(&h, &deal.id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.template_id, ANY_TEMPLATE);
    assert_eq!(
        intake::training_labels(&h.setups).await.unwrap(),
        vec![(text.clone(), ANY_TEMPLATE.to_string())],
        "the override is the label"
    );
}

#[tokio::test]
async fn an_abstained_recommendation_never_picks_the_template_and_only_an_override_decides_it() {
    let h = Harness::start().await;
    let mut client = h.serve_project_setup_with(INTAKE.clone()).await;
    // A held-out SOW the model is unsure of.
    let recommender = INTAKE.recommender().await.unwrap();
    let unsure = HELDOUT
        .iter()
        .find(|s| {
            matches!(
                recommender.recommend(&s.text).unwrap().output,
                keel_insight::sow::RecommendedTemplate::Abstained { .. }
            ) && s.template.starts_with("erp-")
        })
        .expect("the held-out set has an abstention");
    let deal = h.open_deal(|_| {}).await;
    let recommendation = recommend(&h, &mut client, &deal.id, &unsure.text).await.unwrap();
    assert_eq!(recommendation.status, "abstained");
    assert_eq!(recommendation.recommended_template, "");
    assert!(!recommendation.best_guess.is_empty());
    assert!(recommendation.confidence < 0.7);

    let setup = win_and_work(&h, &deal.id).await;
    waiting(&setup, &recommendation.id);

    let error = decide(&h, &mut client, APPROVER, &recommendation.id, true, "", "")
        .await
        .unwrap_err();
    assert_eq!(field_of(&error), ["accept"], "nothing to accept: {error:?}");
    waiting(&work(&h, &deal.id).await, &recommendation.id);
    assert!(h.projects().await.is_empty());

    decide(
        &h,
        &mut client,
        APPROVER,
        &recommendation.id,
        false,
        &unsure.template,
        "region confirmed from the CRM record",
    )
    .await
    .unwrap();
    let setup = work(&h, &deal.id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.template_id, unsure.template);
}

#[tokio::test]
async fn a_switched_off_intake_answers_failed_precondition_naming_the_switch_and_records_nothing() {
    let h = Harness::start().await;
    let policy = IntakePolicy::parse("version = \"2026-12\"\n[insight]\nintake = false\n").unwrap();
    let mut client = h.serve_project_setup_with(Intake::new(policy)).await;
    let deal = h.open_deal(|_| {}).await;

    let error = recommend(&h, &mut client, &deal.id, &sow("sow-0005").text)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert!(error.message().contains("insight.intake"), "{error:?}");
    assert_eq!(count(&h.setups, "recommendations").await, 0);
    assert_eq!(count(&h.setups, "audit_log").await, 0, "nothing audited either");

    // Without a recommendation, setup selects the template from the deal as before.
    let setup = win_and_work(&h, &deal.id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.template_id, EMEA_TEMPLATE);
}

#[tokio::test]
async fn recommendations_page_filter_and_refuse_bad_requests_by_field() {
    let h = Harness::start().await;
    let mut client = h.serve_project_setup_with(INTAKE.clone()).await;
    let mut ids = Vec::new();
    for sow_id in ["sow-0005", "sow-0011", "sow-0040"] {
        let deal = h.open_deal(|_| {}).await;
        ids.push(
            recommend(&h, &mut client, &deal.id, &sow(sow_id).text)
                .await
                .unwrap()
                .id,
        );
    }
    decide(&h, &mut client, APPROVER, &ids[1], true, "", "").await.unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_recommendations(h.as_role(
                Role::ProjectManager,
                ListRecommendationsRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.recommendations.len() <= 2);
        seen.extend(page.recommendations.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);

    let open = client
        .list_recommendations(h.as_role(
            Role::Executive,
            ListRecommendationsRequest {
                statuses: vec!["open".into(), "abstained".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut open_ids: Vec<String> = open.recommendations.into_iter().map(|r| r.id).collect();
    open_ids.sort();
    let mut undecided = vec![ids[0].clone(), ids[2].clone()];
    undecided.sort();
    assert_eq!(open_ids, undecided);

    let error = client
        .list_recommendations(h.as_role(
            Role::Executive,
            ListRecommendationsRequest {
                statuses: vec!["pending".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(field_of(&error), ["statuses[0]"]);

    // Bad requests name their field and record nothing.
    let before = count(&h.setups, "recommendations").await;
    let deal = h.open_deal(|_| {}).await;
    let error = recommend(&h, &mut client, &deal.id, "   ").await.unwrap_err();
    assert_eq!(field_of(&error), ["sow_text"]);
    let error = recommend(&h, &mut client, "not-an-id", "text").await.unwrap_err();
    assert_eq!(field_of(&error), ["opportunity_id"]);
    let error = recommend(
        &h,
        &mut client,
        &uuid::Uuid::new_v4().to_string(),
        &sow("sow-0005").text,
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(&error), ["opportunity_id"], "CRM has no such deal");
    // A second recommendation while the first is undecided is refused.
    let first = recommend(&h, &mut client, &deal.id, &sow("sow-0005").text)
        .await
        .unwrap();
    let error = recommend(&h, &mut client, &deal.id, &sow("sow-0011").text)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains(&first.id), "{error:?}");
    assert_eq!(count(&h.setups, "recommendations").await, before + 1);
}

// --- the must-show: no model output reaches billing, rates, revenue or contract terms ---------

/// What a firm's billing rules, rate cards, revenue schedules and contract terms are, read
/// through the system APIs.
#[derive(Debug, Clone, PartialEq)]
struct Books {
    /// CRM: each deal's contract terms (value, contract type, SOW reference).
    deals: Vec<Opportunity>,
    /// PSA: the delivery templates (their milestone rules) and the projects (contract value,
    /// contract type, milestones).
    templates: Vec<DeliveryTemplate>,
    projects: Vec<Project>,
    rate_cards: Vec<(String, Option<RateCard>)>,
    /// ERP: project codes with their budgets, billing milestones and revenue schedules.
    codes: Vec<ProjectCode>,
    billing_milestones: Vec<(String, Vec<BillingMilestone>)>,
    revenue_schedules: Vec<(String, Option<RevenueSchedule>)>,
}

async fn read_books(h: &Harness, deal_ids: &[&str]) -> Books {
    let mut crm = CrmServiceClient::new(channel(h.crm.addr));
    let mut deals = Vec::new();
    for id in deal_ids {
        deals.push(
            crm.get_opportunity(h.as_role(Role::Admin, GetOpportunityRequest { id: id.to_string() }))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let mut psa = PsaServiceClient::new(channel(h.psa.addr));
    let templates = psa
        .list_delivery_templates(h.as_role(Role::Admin, ListDeliveryTemplatesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .templates;
    let projects = h.projects().await;
    let mut rate_cards = Vec::new();
    for project in &projects {
        let card = match psa
            .get_project_rate_card(h.as_role(
                Role::Admin,
                GetProjectRateCardRequest {
                    project_id: project.id.clone(),
                },
            ))
            .await
        {
            Ok(card) => Some(card.into_inner()),
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => panic!("{status:?}"),
        };
        rate_cards.push((project.id.clone(), card));
    }
    let mut erp = ErpServiceClient::new(channel(h.erp().addr));
    let codes = h.project_codes().await;
    let mut billing_milestones = Vec::new();
    let mut revenue_schedules = Vec::new();
    for code in &codes {
        billing_milestones.push((code.code.clone(), h.billing_milestones(&code.code).await));
        let schedule = match erp
            .get_revenue_schedule(h.as_role(
                Role::Finance,
                GetRevenueScheduleRequest {
                    project_code: code.code.clone(),
                },
            ))
            .await
        {
            Ok(s) => Some(s.into_inner()),
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => panic!("{status:?}"),
        };
        revenue_schedules.push((code.code.clone(), schedule));
    }
    Books {
        deals,
        templates,
        projects,
        rate_cards,
        codes,
        billing_milestones,
        revenue_schedules,
    }
}

#[tokio::test]
async fn no_model_output_changes_billing_rates_revenue_or_contract_terms_without_a_recorded_approval() {
    let h = Harness::start().await;
    let mut client = h.serve_project_setup_with(INTAKE.clone()).await;

    // A project already running, set up without a SOW, with its rate card and revenue schedule.
    let running = h.open_deal(|_| {}).await;
    let setup = win_and_work(&h, &running.id).await;
    assert_eq!(
        (setup.state(), setup.template_id.as_str()),
        (SetupState::Completed, EMEA_TEMPLATE)
    );
    PsaServiceClient::new(channel(h.psa.addr))
        .set_project_rate_card(h.as_role(
            Role::Admin,
            SetProjectRateCardRequest {
                idempotency_key: "rate-card".into(),
                project_id: setup.project_id.clone(),
                rates: vec![RoleRate {
                    role: "solution-architect".into(),
                    bill_rate: Some(Money {
                        amount: "210.00".into(),
                        currency: "EUR".into(),
                    }),
                }],
                expected_version: 0,
            },
        ))
        .await
        .unwrap();
    ErpServiceClient::new(channel(h.erp().addr))
        .set_revenue_schedule(h.as_role(
            Role::Finance,
            SetRevenueScheduleRequest {
                idempotency_key: "revenue".into(),
                project_code: setup.project_code.clone(),
                method: RevenueMethod::FixedFeeMilestone as i32,
                contract_value: Some(Money {
                    amount: support::CONTRACT_VALUE.into(),
                    currency: "EUR".into(),
                }),
            },
        ))
        .await
        .unwrap();

    // Two new deals, won in CRM by people; their SOWs disagree with the deals: one states
    // fixed-fee milestones of 86,400.50 and 453,599.50 (540,000, not the deal's 1,250,000), the
    // other is time and materials where the deal is fixed fee.
    let fixed = h.open_deal(|_| {}).await;
    let fixed_won = h.win(&fixed.id).await;
    let tm = h.open_deal(|_| {}).await;
    let tm_won = h.win(&tm.id).await;
    let deals = [running.id.as_str(), fixed.id.as_str(), tm.id.as_str()];
    let before = read_books(&h, &deals).await;
    assert!(before.rate_cards.iter().any(|(_, card)| card.is_some()));
    assert!(before.revenue_schedules.iter().any(|(_, s)| s.is_some()));

    // The models run: a recommendation for each deal; their setups start and the worker runs.
    let fixed_sow = sow("sow-0040");
    let fixed_rec = recommend(&h, &mut client, &fixed.id, &fixed_sow.text).await.unwrap();
    let output: serde_json::Value = serde_json::from_str(&fixed_rec.output_json).unwrap();
    let extracted: Vec<String> = output["extracted"]["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["amount"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        extracted,
        ["86400.50", "453599.50"],
        "the model read the SOW's milestones"
    );
    let tm_rec = recommend(&h, &mut client, &tm.id, &sow("sow-0003").text).await.unwrap();
    let output: serde_json::Value = serde_json::from_str(&tm_rec.output_json).unwrap();
    assert_eq!(output["extracted"]["contract_type"], "time-and-materials");
    h.deliver(&fixed_won).await;
    h.deliver(&tm_won).await;
    waiting(&work(&h, &fixed.id).await, &fixed_rec.id);
    waiting(&work(&h, &tm.id).await, &tm_rec.id);

    // A refused self-approval changes nothing either.
    decide(&h, &mut client, REQUESTER, &fixed_rec.id, true, "", "")
        .await
        .unwrap_err();
    waiting(&work(&h, &fixed.id).await, &fixed_rec.id);

    let undecided = read_books(&h, &deals).await;
    assert_eq!(
        undecided, before,
        "before any recorded approval, CRM, PSA and ERP hold exactly what they held"
    );

    // A person approves one; only then does anything change, and only through that decision.
    let decision = decide(&h, &mut client, APPROVER, &fixed_rec.id, true, "", "")
        .await
        .unwrap();
    let setup = work(&h, &fixed.id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    waiting(&work(&h, &tm.id).await, &tm_rec.id);
    let after = read_books(&h, &deals).await;

    assert_eq!(after.deals, before.deals, "contract terms in CRM are untouched");
    assert_eq!(
        after.templates, before.templates,
        "the templates' billing rules are untouched"
    );
    let old = |id: &str| before.projects.iter().any(|p| p.id == id);
    assert_eq!(
        after
            .projects
            .iter()
            .filter(|p| old(&p.id))
            .cloned()
            .collect::<Vec<_>>(),
        before.projects,
        "existing projects (contract value, milestones) are untouched"
    );
    assert_eq!(
        after
            .rate_cards
            .iter()
            .filter(|(id, _)| old(id))
            .cloned()
            .collect::<Vec<_>>(),
        before.rate_cards,
        "existing rate cards are untouched"
    );
    let old_code = |code: &str| before.codes.iter().any(|c| c.code == code);
    assert_eq!(
        after
            .codes
            .iter()
            .filter(|c| old_code(&c.code))
            .cloned()
            .collect::<Vec<_>>(),
        before.codes
    );
    assert_eq!(
        after
            .billing_milestones
            .iter()
            .filter(|(c, _)| old_code(c))
            .cloned()
            .collect::<Vec<_>>(),
        before.billing_milestones
    );
    assert_eq!(
        after
            .revenue_schedules
            .iter()
            .filter(|(c, _)| old_code(c))
            .cloned()
            .collect::<Vec<_>>(),
        before.revenue_schedules
    );

    // Every new record belongs to the approved deal's setup, and that setup names the decision.
    let new_projects: Vec<&Project> = after.projects.iter().filter(|p| !old(&p.id)).collect();
    assert_eq!(new_projects.len(), 1, "{new_projects:?}");
    let project = new_projects[0];
    assert_eq!(
        (project.id.as_str(), project.opportunity_id.as_str()),
        (setup.project_id.as_str(), fixed.id.as_str())
    );
    assert_eq!(project.template_id, decision.chosen_template);
    assert_eq!(
        decimal(project.contract_value.as_ref()),
        decimal(fixed.amount.as_ref()),
        "the contract value is the deal's, not the SOW's milestones"
    );
    let new_codes: Vec<&ProjectCode> = after.codes.iter().filter(|c| !old_code(&c.code)).collect();
    assert_eq!(new_codes.len(), 1);
    assert_eq!(new_codes[0].code, setup.project_code);
    let billed = &after
        .billing_milestones
        .iter()
        .find(|(c, _)| *c == setup.project_code)
        .unwrap()
        .1;
    let total: rust_decimal::Decimal = billed.iter().map(|m| decimal(m.amount.as_ref())).sum();
    assert_eq!(
        total,
        decimal(fixed.amount.as_ref()),
        "billing follows the deal and the template"
    );
    assert!(
        billed
            .iter()
            .all(|m| !extracted.contains(&m.amount.as_ref().unwrap().amount)),
        "no SOW amount read by the model became a billing milestone: {billed:?}"
    );
    assert!(
        after
            .rate_cards
            .iter()
            .filter(|(id, _)| !old(id))
            .all(|(_, card)| card.is_none())
    );
    assert!(
        after
            .revenue_schedules
            .iter()
            .filter(|(c, _)| !old_code(c))
            .all(|(_, s)| s.is_none())
    );

    let history = audit::history(&h.setups, "setup", &setup.id).await.unwrap();
    let chosen = history
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).unwrap())
        .find(|d| d["from"] == setups::step::SELECT_TEMPLATE)
        .expect("the template step is audited");
    assert_eq!(chosen["recommendation_id"], fixed_rec.id.as_str());
    assert_eq!(chosen["approved_by"], APPROVER);
    let record = intake::by_id(&h.setups, &fixed_rec.id).await.unwrap().unwrap();
    assert_eq!(record.decided_by.as_deref(), Some(APPROVER));
    assert_eq!(record.chosen_value.as_deref(), Some(project.template_id.as_str()));
}
