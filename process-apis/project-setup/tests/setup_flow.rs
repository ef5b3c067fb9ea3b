//! Project setup end to end through its real pieces: CRM's won event into the consumer, the
//! worker driving each step against the reference PSA and ERP served over gRPC, and what a
//! user then finds in PSA, in ERP, in the setup and in its audit log.

mod support;

use std::time::Duration;

use keel_auth::Role;
use keel_project_setup::WorkerOptions;
use keel_project_setup::setups;
use keel_proto::projectsetup::{ListExceptionsRequest, SetupState};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{CreateProjectRequest, UpsertDeliveryTemplateRequest};
use keel_psa::templates::{self, TemplatePolicy};
use keel_store::audit::{self, ChainReport};
use support::{CONTRACT_VALUE, EMEA_TEMPLATE, Erp, Harness, decimal, fast_options, won_event};

fn contract_value() -> rust_decimal::Decimal {
    CONTRACT_VALUE.parse().unwrap()
}

/// Asserts the one project, its one code and its one budget a completed setup of the default
/// deal leaves behind.
async fn assert_set_up_once(h: &Harness, opportunity_id: &str) {
    let setup = h.setup(opportunity_id).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");

    let projects = h.projects().await;
    let mine: Vec<_> = projects.iter().filter(|p| p.opportunity_id == opportunity_id).collect();
    assert_eq!(mine.len(), 1, "one PSA project for the deal: {projects:?}");
    let project = mine[0];
    assert_eq!(project.id, setup.project_id);
    assert_eq!(project.template_id, EMEA_TEMPLATE);
    assert_eq!(decimal(project.contract_value.as_ref()), contract_value());

    let codes = h.project_codes().await;
    let mine: Vec<_> = codes.iter().filter(|c| c.project_id == project.id).collect();
    assert_eq!(mine.len(), 1, "one ERP project code for the project: {codes:?}");
    let code = mine[0];
    assert_eq!(code.code, setup.project_code);
    assert_eq!(code.legal_entity, "UK01", "EMEA books in the UK entity");
    assert_eq!(code.currency, "EUR");
    let budget = code.budget.as_ref().expect("the budget is posted");
    assert_eq!(decimal(budget.total.as_ref()), contract_value());

    // Each PSA milestone is an ERP billing milestone, once, with its amount and due date.
    let psa: Vec<(String, String, String)> = project
        .milestones
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.amount.clone().unwrap_or_default().amount,
                m.due_date.clone(),
            )
        })
        .collect();
    let erp: Vec<(String, String, String)> = h
        .billing_milestones(&code.code)
        .await
        .into_iter()
        .map(|m| (m.name, m.amount.unwrap_or_default().amount, m.due_date))
        .collect();
    assert!(!psa.is_empty());
    assert_eq!(erp, psa, "ERP bills the PSA milestones");

    // The project has its workspace, and the SOW is filed with its retention.
    let workspace = h.workspace(&project.id).await;
    assert_eq!(workspace.name, project.name);
    let sows = h.documents_of(&project.id).await;
    assert_eq!(sows.len(), 1, "one SOW: {sows:?}");
    let sow = &sows[0];
    assert_eq!(sow.r#type, keel_proto::documents::DocumentType::Sow as i32);
    assert_eq!(sow.client_id, project.account_id);
    assert_eq!(
        sow.retain_until, "2033-11-20",
        "seven years after the close on 2026-11-20"
    );
}

#[tokio::test]
async fn a_won_deal_becomes_one_project_with_one_code_and_its_budget() {
    let h = Harness::start().await;
    let (deal, event) = h.won_deal(|_| {}).await;

    h.deliver(&event).await;
    let started = h.setup(&deal.id).await;
    assert_eq!(started.state(), SetupState::Running);
    assert_eq!(started.step, setups::step::VALIDATE);
    assert_eq!(started.opportunity_name, "Northwind S/4 finance rollout");

    let worker = h.worker(fast_options());
    let setup = h.settle(&worker, &deal.id, 5).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.step, setups::step::DONE);
    assert_eq!(setup.template_id, EMEA_TEMPLATE);
    assert_eq!(
        (setup.exception_code.as_str(), setup.exception_reason.as_str()),
        ("", "")
    );
    assert!(setup.project_code.starts_with("PRJ-"), "{}", setup.project_code);

    assert_set_up_once(&h, &deal.id).await;
    assert_eq!(h.projects().await.len(), 1);
    assert_eq!(h.project_codes().await.len(), 1);
    assert_eq!(h.erp_budget_rows().await, 1);

    // A finished setup is not worked again.
    assert_eq!(worker.run_due().await.unwrap(), 0);
}

#[tokio::test]
async fn while_erp_is_down_the_setup_waits_and_completes_once_when_erp_returns() {
    let mut h = Harness::start_with(Erp::Down).await;
    let (deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let worker = h.worker(fast_options());

    assert_eq!(worker.run_due().await.unwrap(), 1);
    for attempt in 1..=3 {
        let setup = h.setup(&deal.id).await;
        assert_eq!(setup.state(), SetupState::Running, "{setup:?}");
        assert_eq!(setup.step, setups::step::OPEN_PROJECT_CODE);
        assert_eq!(setup.attempts, attempt);
        assert_eq!(setup.exception_code, "", "a down ERP is not an exception");
        assert!(!setup.project_id.is_empty(), "the PSA project is recorded");
        if attempt < 3 {
            assert_eq!(h.run_when_due(&worker, &deal.id).await, 1);
        }
    }
    assert_eq!(h.projects().await.len(), 1, "PSA was called once for the project");

    // ERP comes back on the address the worker already uses; the same worker carries on.
    h.erp_comes_up().await;
    let setup = h.settle(&worker, &deal.id, 10).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(
        setup.exception_reason, "",
        "a completed setup carries no stale retry reason"
    );
    assert_set_up_once(&h, &deal.id).await;
    assert_eq!(h.projects().await.len(), 1);
    assert_eq!(h.project_codes().await.len(), 1);
    assert_eq!(h.erp_budget_rows().await, 1);
}

#[tokio::test]
async fn a_hung_erp_costs_an_attempt_not_the_worker() {
    let mut h = Harness::start_with(Erp::Hung).await;
    let (deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let worker = keel_project_setup::Worker::new(
        h.setups.clone(),
        h.downstream_with_timeout(Duration::from_millis(300)),
        fast_options(),
    );

    let pass = tokio::time::timeout(Duration::from_secs(10), worker.run_due()).await;
    assert!(pass.is_ok(), "the call to an ERP that never answers must time out");
    let setup = h.setup(&deal.id).await;
    assert_eq!(
        (setup.state(), setup.step.as_str(), setup.attempts),
        (SetupState::Running, setups::step::OPEN_PROJECT_CODE, 1),
        "{setup:?}"
    );

    h.erp_comes_up().await;
    let setup = h.settle(&worker, &deal.id, 10).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_set_up_once(&h, &deal.id).await;
}

#[tokio::test]
async fn a_worker_that_dies_after_creating_the_project_is_finished_by_the_next_without_a_second_project() {
    let mut h = Harness::start_with(Erp::Hung).await;
    let (deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;

    // The first process: its ERP call hangs, and the process dies in the middle of it,
    // holding the setup's lease.
    let lease = Duration::from_secs(3);
    let first = keel_project_setup::Worker::new(
        h.setups.clone(),
        h.downstream_with_timeout(Duration::from_secs(60)),
        WorkerOptions {
            lease,
            ..fast_options()
        },
    );
    let running = tokio::spawn(async move { first.run_due().await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.setup(&deal.id).await.step != setups::step::OPEN_PROJECT_CODE {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker never reached ERP"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert_eq!(h.projects().await.len(), 1);

    // A new process: it leaves the setup alone while the dead worker's lease holds...
    let second = h.worker(fast_options());
    let row = setups::by_opportunity(&h.setups, &deal.id).await.unwrap().unwrap();
    let lease_until = row.lease_until.expect("the dead worker still holds its lease");
    assert!(lease_until > chrono::Utc::now(), "the test outran the lease");
    assert_eq!(
        second.run_due().await.unwrap(),
        0,
        "a held lease keeps other workers off"
    );

    // ...then, with ERP back, takes over at the step that did not finish.
    h.erp_comes_up().await;
    let wait = (lease_until - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(20)).await;

    let setup = h.settle(&second, &deal.id, 10).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
    assert_eq!(setup.project_id, row.project_id, "the recorded project carried over");
    let history = audit::history(&h.setups, "setup", &setup.id).await.unwrap();
    let created = history
        .iter()
        .filter(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            detail["from"] == setups::step::CREATE_PROJECT
        })
        .count();
    assert_eq!(created, 1, "the create-project step ran once: {history:?}");
    assert_set_up_once(&h, &deal.id).await;
    assert_eq!(h.projects().await.len(), 1);
    assert_eq!(h.erp_budget_rows().await, 1);
}

#[tokio::test]
async fn a_project_psa_made_for_an_attempt_whose_answer_was_lost_is_adopted_not_duplicated() {
    let h = Harness::start().await;
    let psa = PsaServiceClient::new(support::channel(h.psa.addr));

    // Two deals whose project PSA already holds: one made under the worker's own key (PSA
    // committed, the answer never arrived), one made under another key.
    let mut made = Vec::new();
    for under_the_workers_key in [true, false] {
        let (deal, event) = h.won_deal(|_| {}).await;
        h.deliver(&event).await;
        let setup = h.setup(&deal.id).await;
        let request = CreateProjectRequest {
            idempotency_key: if under_the_workers_key {
                format!("setup-{}-{}", setup.id, setups::step::CREATE_PROJECT)
            } else {
                "made-by-hand".to_string()
            },
            opportunity_id: deal.id.clone(),
            account_id: deal.account_id.clone(),
            name: deal.name.clone(),
            template_id: EMEA_TEMPLATE.into(),
            service_line: deal.service_line.clone(),
            contract_type: deal.contract_type.clone(),
            region: deal.region.clone(),
            client_tier: deal.client_tier.clone(),
            contract_value: deal.amount.clone(),
            start_date: deal.close_date.clone(),
        };
        let project = psa
            .clone()
            .create_project(h.as_role(keel_auth::Role::Service, request))
            .await
            .unwrap()
            .into_inner();
        made.push((deal.id, project.id));
    }

    let worker = h.worker(fast_options());
    for (opportunity_id, project_id) in &made {
        let setup = h.settle(&worker, opportunity_id, 5).await;
        assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");
        assert_eq!(&setup.project_id, project_id, "the existing project is adopted");
        assert_set_up_once(&h, opportunity_id).await;
    }
    assert_eq!(h.projects().await.len(), 2);
    assert_eq!(h.project_codes().await.len(), 2);
}

#[tokio::test]
async fn the_same_won_deal_delivered_twice_or_in_two_events_is_set_up_once() {
    let h = Harness::start().await;
    let (deal, event) = h.won_deal(|_| {}).await;

    h.deliver(&event).await;
    h.deliver(&event).await;
    // The same deal in a second, distinct event (CRM re-emitted it, or an operator replayed
    // it with a new id).
    let another = won_event(&deal);
    assert_ne!(another.id, event.id);
    h.deliver(&another).await;
    assert_eq!(h.setup_count().await, 1);
    let setup = h.setup(&deal.id).await;

    // Two replicas racing for it: only one takes it.
    let (a, b) = (h.worker(fast_options()), h.worker(fast_options()));
    let (taken_a, taken_b) = tokio::join!(a.run_due(), b.run_due());
    assert_eq!(taken_a.unwrap() + taken_b.unwrap(), 1);
    let done = h.settle(&a, &deal.id, 5).await;
    assert_eq!(done.id, setup.id);

    // Delivered again after it finished: still nothing new.
    h.deliver(&event).await;
    h.deliver(&won_event(&deal)).await;
    assert_eq!(a.run_due().await.unwrap(), 0);
    assert_eq!(h.setup_count().await, 1);
    assert_set_up_once(&h, &deal.id).await;
    assert_eq!(h.projects().await.len(), 1);
    assert_eq!(h.project_codes().await.len(), 1);
    assert_eq!(h.erp_budget_rows().await, 1);
}

#[tokio::test]
async fn a_deal_missing_mandatory_fields_is_an_exception_naming_them_and_nothing_is_made() {
    let h = Harness::start().await;
    // CRM lets an open deal lack its close date and statement of work; setup does not.
    let (deal, event) = h
        .won_deal(|o| {
            o.close_date.clear();
            o.sow_reference.clear();
        })
        .await;
    h.deliver(&event).await;

    let setup = h.settle(&h.worker(fast_options()), &deal.id, 3).await;
    assert_eq!(setup.state(), SetupState::Exception, "{setup:?}");
    assert_eq!(setup.exception_code, "MISSING_FIELD");
    assert_eq!(setup.exception_fields, ["close_date", "sow_reference"]);
    assert!(
        setup.exception_reason.contains("close_date"),
        "{}",
        setup.exception_reason
    );
    assert!(
        setup.exception_reason.contains("sow_reference"),
        "{}",
        setup.exception_reason
    );
    assert_eq!(setup.step, setups::step::VALIDATE);
    assert!(h.projects().await.is_empty());
    assert!(h.project_codes().await.is_empty());
}

#[tokio::test]
async fn a_deal_no_template_fits_is_an_exception_and_nothing_is_made() {
    let h = Harness::start().await;
    // Data and analytics is only templated as time and materials in North America.
    let (deal, event) = h.won_deal(|o| o.service_line = "data-analytics".into()).await;
    h.deliver(&event).await;

    let setup = h.settle(&h.worker(fast_options()), &deal.id, 3).await;
    assert_eq!(setup.state(), SetupState::Exception, "{setup:?}");
    assert_eq!(setup.exception_code, "NO_TEMPLATE");
    assert_eq!(setup.step, setups::step::SELECT_TEMPLATE);
    assert!(
        setup.exception_reason.contains("data-analytics"),
        "{}",
        setup.exception_reason
    );
    assert!(setup.exception_fields.contains(&"service_line".to_string()));
    assert!(h.projects().await.is_empty());
    assert!(h.project_codes().await.is_empty());
}

#[tokio::test]
async fn a_deal_psa_refuses_is_an_exception_naming_the_field_and_nothing_is_made() {
    let h = Harness::start().await;
    // Another CRM's adapter passes a free-text tier through; the EMEA template takes any
    // tier, but PSA refuses one that is not a key.
    let (mut deal, _) = h.won_deal(|_| {}).await;
    deal.client_tier = "Key Account".into();
    h.deliver(&won_event(&deal)).await;

    let setup = h.settle(&h.worker(fast_options()), &deal.id, 3).await;
    assert_eq!(setup.state(), SetupState::Exception, "{setup:?}");
    assert_eq!(setup.exception_code, "DOWNSTREAM_REJECTED");
    assert_eq!(setup.exception_fields, ["client_tier"]);
    assert_eq!(setup.step, setups::step::CREATE_PROJECT);
    assert!(h.projects().await.is_empty());
    assert!(h.project_codes().await.is_empty());
}

#[tokio::test]
async fn when_erp_stays_down_the_setup_gives_up_after_max_attempts_and_is_listed_as_an_exception() {
    let h = Harness::start_with(Erp::Down).await;
    let (deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let worker = h.worker(WorkerOptions {
        max_attempts: 3,
        ..fast_options()
    });

    let setup = h.settle(&worker, &deal.id, 10).await;
    assert_eq!(setup.state(), SetupState::Exception, "{setup:?}");
    assert_eq!(setup.exception_code, "RETRIES_EXHAUSTED");
    assert_eq!(setup.step, setups::step::OPEN_PROJECT_CODE);
    assert_eq!(setup.attempts, 3, "the setup shows the attempts it made");
    assert!(
        setup.exception_reason.contains(setups::step::OPEN_PROJECT_CODE),
        "{}",
        setup.exception_reason
    );
    // It stays stopped: no more attempts, and what PSA made before ERP is all there is.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(worker.run_due().await.unwrap(), 0);
    assert_eq!(h.projects().await.len(), 1);

    let service = h.serve_project_setup().await;
    let listed = service
        .clone()
        .list_exceptions(h.as_role(
            keel_auth::Role::Operations,
            ListExceptionsRequest {
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.setups.len(), 1);
    let listed = &listed.setups[0];
    assert_eq!(listed.opportunity_id, deal.id);
    assert_eq!(listed.state(), SetupState::Exception);
    assert_eq!(listed.exception_code, "RETRIES_EXHAUSTED");
    assert_eq!(listed.exception_reason, setup.exception_reason);
}

#[tokio::test]
async fn the_audit_log_of_a_full_run_is_intact_and_tells_its_story() {
    let h = Harness::start().await;
    let (deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let setup = h.settle(&h.worker(fast_options()), &deal.id, 5).await;
    assert_eq!(setup.state(), SetupState::Completed, "{setup:?}");

    assert_eq!(
        audit::verify(&h.setups).await.unwrap(),
        ChainReport::Intact { entries: 9 }
    );
    let history = audit::history(&h.setups, "setup", &setup.id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "started",
            "step_completed",
            "step_completed",
            "step_completed",
            "step_completed",
            "step_completed",
            "step_completed",
            "step_completed",
            "completed"
        ]
    );
    assert_eq!(history[0].actor, format!("event:{}", event.id));
    let steps: Vec<(String, String)> = history[1..]
        .iter()
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            (
                detail["from"].as_str().unwrap().to_string(),
                detail["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        (setups::step::VALIDATE, setups::step::SELECT_TEMPLATE),
        (setups::step::SELECT_TEMPLATE, setups::step::CREATE_PROJECT),
        (setups::step::CREATE_PROJECT, setups::step::OPEN_PROJECT_CODE),
        (setups::step::OPEN_PROJECT_CODE, setups::step::POST_BUDGET),
        (setups::step::POST_BUDGET, setups::step::CREATE_BILLING_MILESTONES),
        (setups::step::CREATE_BILLING_MILESTONES, setups::step::OPEN_WORKSPACE),
        (setups::step::OPEN_WORKSPACE, setups::step::FILE_SOW),
        (setups::step::FILE_SOW, setups::step::DONE),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(steps, expected);
    let last: serde_json::Value = serde_json::from_str(&history[8].detail).unwrap();
    assert_eq!(last["project_code"], setup.project_code.as_str());
    assert_eq!(last["project_id"], setup.project_id.as_str());
}

#[tokio::test]
async fn a_template_file_edited_gives_a_new_version_in_psa_and_the_next_setup_records_it() {
    let h = Harness::start().await;
    let worker = h.worker(fast_options());
    let mut psa = PsaServiceClient::new(support::channel(h.psa.addr));

    let (first_deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let first = h.settle(&worker, &first_deal.id, 5).await;
    assert_eq!(first.state(), SetupState::Completed, "{first:?}");
    assert_eq!(first.template_id, EMEA_TEMPLATE);
    assert!(first.template_version >= 1, "{first:?}");

    // The firm edits the template's file: the blueprint takes 96 hours, not 80. Read and
    // checked as `keel up` reads it, then upserted keyed by its content.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let policy = TemplatePolicy::load(&root.join("config/policies/templates.toml")).unwrap();
    let path = root.join("config/templates/erp-fixed-fee-emea.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace(
        r#"{ name = "Solution blueprint", role = "solution-architect", hours = "80" }"#,
        r#"{ name = "Solution blueprint", role = "solution-architect", hours = "96" }"#,
    );
    assert_ne!(edited, text, "the edit applies to the shipped file");
    let template = templates::parse(&path, &edited, &policy).unwrap().template;
    let upserted = psa
        .upsert_delivery_template(h.as_role(
            Role::Admin,
            UpsertDeliveryTemplateRequest {
                idempotency_key: format!(
                    "template-{}-{}",
                    template.id,
                    keel_store::idempotency::fingerprint(&template)
                ),
                template: Some(template),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        upserted.version,
        first.template_version + 1,
        "a new version for new content"
    );

    let (second_deal, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    let second = h.settle(&worker, &second_deal.id, 5).await;
    assert_eq!(second.state(), SetupState::Completed, "{second:?}");
    assert_eq!(
        second.template_version, upserted.version,
        "the new setup records the new version"
    );
    assert_eq!(
        h.setup(&first_deal.id).await.template_version,
        first.template_version,
        "the first setup keeps the version it ran under"
    );
    let projects = h.projects().await;
    let second_project = projects.iter().find(|p| p.id == second.project_id).unwrap();
    assert_eq!(second_project.template_version, upserted.version);
}
