//! The first flow end to end, through the real binary: a won deal in CRM becomes a PSA
//! project with its ERP code and budget, visible to the project manager in GraphQL; a deal
//! that cannot be set up lands in the operations exception list and makes nothing.

mod common;

use std::time::Duration;

use common::{Keel, eventually};
use keel_auth::Role;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::{CreateOpportunityRequest, ListOpportunitiesRequest, MarkOpportunityWonRequest, Opportunity};
use keel_proto::erp::ListProjectCodesRequest;
use keel_proto::events::{ListEventsRequest, ReplayEventRequest};
use keel_proto::projectsetup::{GetSetupRequest, ListSetupsRequest, SetupState};
use keel_proto::psa::ListProjectsRequest;
use serde_json::Value;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

const PROJECTS: &str = r#"{ projectManager { projects { nodes {
    id name opportunityId status templateId code erpBudgetPosted
    contractValue { amount currency }
    budgetBaseline { totalHours total { amount currency } lines { role hours amount { amount currency } } }
    milestones { name amount { amount currency } dueDate }
} } } }"#;

const EXCEPTIONS: &str = r#"{ operations { exceptions { nodes {
    opportunityId opportunityName state exceptionCode exceptionReason exceptionFields
} } } }"#;

async fn opportunity(keel: &Keel, name: &str) -> Opportunity {
    let list = ListOpportunitiesRequest {
        page: Some(PageRequest {
            page_size: 100,
            page_token: String::new(),
        }),
        stage: 0,
    };
    let all = keel
        .crm()
        .list_opportunities(keel.request(Role::Admin, list))
        .await
        .unwrap()
        .into_inner()
        .opportunities;
    all.into_iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("demo opportunity {name:?}"))
}

async fn win(keel: &Keel, id: &str) {
    let request = MarkOpportunityWonRequest {
        idempotency_key: format!("win-{id}"),
        id: id.to_string(),
    };
    keel.crm()
        .mark_opportunity_won(keel.request(Role::Admin, request))
        .await
        .expect("marked won");
}

/// Every project, as an executive sees them (a project manager sees only the projects PSA
/// assigns them to, and nobody is assigned here).
async fn projects(keel: &Keel) -> Vec<Value> {
    let (status, body) = keel.graphql(Some(Role::Executive), PROJECTS).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["projectManager"]["projects"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the deal's project shows in the project manager view with its ERP budget posted.
async fn set_up_project(keel: &Keel, opportunity_id: &str) -> Value {
    eventually(WAIT, || async {
        projects(keel)
            .await
            .into_iter()
            .find(|p| p["opportunityId"] == opportunity_id && p["erpBudgetPosted"] == true)
    })
    .await
}

async fn psa_project_count(keel: &Keel) -> usize {
    let list = ListProjectsRequest {
        page: Some(PageRequest {
            page_size: 500,
            page_token: String::new(),
        }),
    };
    keel.psa()
        .list_projects(keel.request(Role::Admin, list))
        .await
        .unwrap()
        .into_inner()
        .projects
        .len()
}

async fn erp_code_count(keel: &Keel) -> usize {
    let list = ListProjectCodesRequest {
        page: Some(PageRequest {
            page_size: 500,
            page_token: String::new(),
        }),
    };
    keel.erp()
        .list_project_codes(keel.request(Role::Admin, list))
        .await
        .unwrap()
        .into_inner()
        .project_codes
        .len()
}

async fn exception_for(keel: &Keel, opportunity_id: &str) -> Value {
    eventually(WAIT, || async {
        let (status, body) = keel.graphql(Some(Role::Operations), EXCEPTIONS).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["operations"]["exceptions"]["nodes"]
            .as_array()?
            .iter()
            .find(|e| e["opportunityId"] == opportunity_id)
            .cloned()
    })
    .await
}

#[tokio::test]
async fn a_won_deal_becomes_a_project_the_project_manager_sees_with_code_and_budget() {
    let keel = Keel::start().await;
    let deal = opportunity(&keel, "Northwind S/4 finance rollout").await;
    win(&keel, &deal.id).await;

    let project = set_up_project(&keel, &deal.id).await;
    assert_eq!(project["name"], "Northwind S/4 finance rollout");
    assert_eq!(project["status"], "PLANNED");
    // EMEA fixed-fee ERP work takes the EMEA template over the any-region one.
    assert_eq!(project["templateId"], "erp-fixed-fee-emea");
    let code = project["code"].as_str().expect("an ERP project code");
    assert!(code.starts_with("PRJ-"), "{code}");
    assert_eq!(
        project["contractValue"],
        serde_json::json!({ "amount": "1250000.00", "currency": "EUR" })
    );
    assert_eq!(
        project["budgetBaseline"]["total"],
        serde_json::json!({ "amount": "1250000.00", "currency": "EUR" })
    );
    let lines = project["budgetBaseline"]["lines"].as_array().unwrap();
    assert!(lines.len() >= 2, "a line per role: {lines:?}");
    let milestones = project["milestones"].as_array().unwrap();
    assert!(!milestones.is_empty());
    let cents = |v: &Value| -> i64 {
        let text = v["amount"]["amount"].as_str().unwrap();
        (text.parse::<f64>().unwrap() * 100.0).round() as i64
    };
    assert_eq!(
        milestones.iter().map(cents).sum::<i64>(),
        125_000_000,
        "milestones sum to the fee"
    );

    // The setup goes on to bill the milestones in ERP, open the workspace and file the SOW,
    // then records every step as done.
    let setup = eventually(WAIT, || async {
        let setup = keel
            .setup()
            .get_setup(keel.request(
                Role::Operations,
                GetSetupRequest {
                    id: String::new(),
                    opportunity_id: deal.id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        (setup.state == SetupState::Completed as i32).then_some(setup)
    })
    .await;
    assert_eq!(setup.project_code, code);
}

#[tokio::test]
async fn a_deal_missing_fields_lands_in_exceptions_and_makes_no_project() {
    let keel = Keel::start().await;
    // The demo's warehouse deal has no close date and no SOW reference.
    let deal = opportunity(&keel, "Northwind warehouse integration").await;
    win(&keel, &deal.id).await;

    let exception = exception_for(&keel, &deal.id).await;
    assert_eq!(exception["state"], "EXCEPTION");
    assert_eq!(exception["exceptionCode"], "MISSING_FIELD");
    assert_eq!(
        exception["exceptionFields"],
        serde_json::json!(["close_date", "sow_reference"])
    );
    assert!(exception["exceptionReason"].as_str().unwrap().contains("sow_reference"));
    assert_eq!(psa_project_count(&keel).await, 0);
    assert_eq!(erp_code_count(&keel).await, 0);
    assert!(projects(&keel).await.is_empty());
}

#[tokio::test]
async fn a_deal_no_template_fits_lands_in_exceptions_and_makes_no_project() {
    let keel = Keel::start().await;
    let account = opportunity(&keel, "Northwind S/4 finance rollout").await.account_id;
    let request = CreateOpportunityRequest {
        idempotency_key: "cloud-1".into(),
        account_id: account,
        name: "Northwind cloud landing zone".into(),
        // The firm's cloud template is fixed-fee: none fits time and materials.
        service_line: "cloud-migration".into(),
        contract_type: "time-and-materials".into(),
        region: String::new(),
        client_tier: String::new(),
        amount: Some(Money {
            amount: "90000.00".into(),
            currency: "EUR".into(),
        }),
        close_date: "2026-12-01".into(),
        sow_reference: "SOW-2026-150".into(),
    };
    let deal = keel
        .crm()
        .create_opportunity(keel.request(Role::Admin, request))
        .await
        .unwrap()
        .into_inner();
    win(&keel, &deal.id).await;

    let exception = exception_for(&keel, &deal.id).await;
    assert_eq!(exception["exceptionCode"], "NO_TEMPLATE");
    assert!(
        exception["exceptionReason"]
            .as_str()
            .unwrap()
            .contains("cloud-migration")
    );
    assert_eq!(psa_project_count(&keel).await, 0);
}

#[tokio::test]
async fn the_same_won_event_delivered_twice_makes_one_project() {
    let keel = Keel::start().await;
    let deal = opportunity(&keel, "Contoso claims analytics platform").await;
    win(&keel, &deal.id).await;
    set_up_project(&keel, &deal.id).await;

    // An operator replays the won event, twice.
    let listed = won_events(&keel).await;
    let event = listed
        .iter()
        .find(|e| e.aggregate_id == deal.id)
        .expect("the won event");
    assert!(event.published);
    for _ in 0..2 {
        keel.outbox()
            .replay_event(keel.request(
                Role::Operations,
                ReplayEventRequest {
                    event_id: event.id.clone(),
                },
            ))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(psa_project_count(&keel).await, 1);
    assert_eq!(erp_code_count(&keel).await, 1);
    let setups = keel
        .setup()
        .list_setups(keel.request(
            Role::Operations,
            ListSetupsRequest {
                page_size: 100,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .setups;
    assert_eq!(setups.len(), 1);

    // Winning it again through CRM emits nothing new either.
    let again = MarkOpportunityWonRequest {
        idempotency_key: "win-again".into(),
        id: deal.id.clone(),
    };
    keel.crm()
        .mark_opportunity_won(keel.request(Role::Admin, again))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(psa_project_count(&keel).await, 1);
}

#[tokio::test]
async fn graphql_refuses_callers_without_a_token_or_the_role() {
    let keel = Keel::start().await;
    let (status, body) = keel.graphql(None, PROJECTS).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let response = keel
        .http_client()
        .post(format!("{}/graphql", keel.http))
        .bearer_auth("not.a.jwt")
        .json(&serde_json::json!({ "query": PROJECTS }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let (status, body) = keel.graphql(Some(Role::Consultant), PROJECTS).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(body["data"].is_null() || body["data"]["projectManager"].is_null());

    let (_, body) = keel.graphql(Some(Role::ProjectManager), EXCEPTIONS).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let keel = Keel::start().await;
    let account = opportunity(&keel, "Northwind S/4 finance rollout").await.account_id;
    let count = || async {
        let list = ListOpportunitiesRequest {
            page: Some(PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
            stage: 0,
        };
        keel.crm()
            .list_opportunities(keel.request(Role::Admin, list))
            .await
            .unwrap()
            .into_inner()
            .opportunities
            .len()
    };
    let before = count().await;
    let good = CreateOpportunityRequest {
        idempotency_key: "bad".into(),
        account_id: account,
        name: "Valid name".into(),
        service_line: "erp-deployment".into(),
        contract_type: "fixed-fee".into(),
        region: String::new(),
        client_tier: String::new(),
        amount: Some(Money {
            amount: "100.00".into(),
            currency: "EUR".into(),
        }),
        close_date: "2026-12-01".into(),
        sow_reference: "SOW-1".into(),
    };
    type Edit = fn(&mut CreateOpportunityRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.name = "   ".into(), "name"),
        (
            |r| {
                r.amount = Some(Money {
                    amount: "-100.00".into(),
                    currency: "EUR".into(),
                })
            },
            "amount.amount",
        ),
        (
            |r| {
                r.amount = Some(Money {
                    amount: "100.00".into(),
                    currency: "XXY".into(),
                })
            },
            "amount.currency",
        ),
        (|r| r.account_id = "acct-42".into(), "account_id"),
    ];
    for (edit, field) in table {
        let mut request = good.clone();
        edit(&mut request);
        let status = keel
            .crm()
            .create_opportunity(keel.request(Role::Admin, request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(keel_core::Error::from(status).field_violations()[0].field, *field);
    }
    // A malformed id when winning.
    let status = keel
        .crm()
        .mark_opportunity_won(keel.request(
            Role::Admin,
            MarkOpportunityWonRequest {
                idempotency_key: "k".into(),
                id: "42".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(keel_core::Error::from(status).field_violations()[0].field, "id");
    // An oversized gRPC request: above the 4 MiB receive limit every service sets.
    let mut huge = good.clone();
    huge.name = "n".repeat(5 * 1024 * 1024);
    let status = keel
        .crm()
        .create_opportunity(keel.request(Role::Admin, huge))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert_eq!(count().await, before);

    // An oversized GraphQL request.
    let padding = " ".repeat(1024 * 1024);
    let response = keel
        .http_client()
        .post(format!("{}/graphql", keel.http))
        .bearer_auth(keel.token(Role::ProjectManager))
        .header("content-type", "application/json")
        .body(format!(r#"{{"query": "{{ __typename }}{padding}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn health_readiness_metrics_and_reflection_answer() {
    let keel = Keel::start().await;
    assert_eq!(keel.get("/healthz").await.0, 200);
    let ready = eventually(WAIT, || async { (keel.get("/readyz").await.0 == 200).then_some(()) }).await;
    let () = ready;
    keel.graphql(Some(Role::ProjectManager), PROJECTS).await;
    let (status, metrics) = keel.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("keel_http_requests_total"), "{metrics}");
    assert!(metrics.contains("keel_grpc_requests_total"), "{metrics}");

    // A won deal shows in the event counters: published by CRM's relay, applied by project setup.
    let deal = opportunity(&keel, "Contoso claims analytics platform").await;
    win(&keel, &deal.id).await;
    set_up_project(&keel, &deal.id).await;
    let (_, metrics) = keel.get("/metrics").await;
    let counted = |needle: &str| {
        metrics
            .lines()
            .any(|l| l.starts_with("keel_events_") && l.contains(needle))
    };
    assert!(
        counted("published_total{event_type=\"crm.opportunity.won\"} 1"),
        "{metrics}"
    );
    assert!(counted("outcome=\"applied\""), "{metrics}");

    let mut health = tonic_health::pb::health_client::HealthClient::new(keel.channel());
    for service in [
        "keel.crm.v1.CrmService",
        "keel.psa.v1.PsaService",
        "keel.erp.v1.ErpService",
        "keel.projectsetup.v1.ProjectSetupService",
    ] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"))
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
}

/// Sends `keel up` SIGTERM and waits for it to exit within its grace period.
fn sigterm(keel: &mut Keel) -> std::process::ExitStatus {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &keel.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    keel.wait_exit(Duration::from_secs(15))
        .expect("keel stops within its grace period")
}

#[tokio::test]
async fn sigterm_stops_keel_cleanly_and_a_restart_keeps_every_record() {
    let mut keel = Keel::start().await;
    let deal = opportunity(&keel, "Fabrikam ERP phase 1").await;
    win(&keel, &deal.id).await;
    set_up_project(&keel, &deal.id).await;

    let status = sigterm(&mut keel);
    assert!(status.success(), "{status:?}");

    // Same data directory and stores: the project is still there, and seeding again
    // added nothing.
    let data_dir = std::mem::replace(&mut keel.data_dir, keel_store::testing::TempDir::new());
    let prefix = keel.prefix.clone();
    drop(keel);
    let keel = Keel::start_in(data_dir, prefix).await;
    let found = projects(&keel).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["opportunityId"], deal.id.as_str());
    let list = ListOpportunitiesRequest {
        page: Some(PageRequest {
            page_size: 500,
            page_token: String::new(),
        }),
        stage: 0,
    };
    let opportunities = keel
        .crm()
        .list_opportunities(keel.request(Role::Admin, list))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opportunities.opportunities.len(), 4, "seeding twice adds nothing");
}

#[tokio::test]
async fn keel_token_signs_with_the_embedded_key_and_names_bad_roles() {
    let data_dir = keel_store::testing::TempDir::new();
    let output = common::keel_command(data_dir.path(), "unused_")
        .args(["token", "--role", "finance", "--sub", "fran"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let key = keel_auth::LocalKey::load_or_create(data_dir.path()).unwrap();
    let verifier = keel_auth::Verifier::new(keel_auth::VerifierConfig {
        issuer: "keel-local".into(),
        audience: "keel".into(),
        leeway_seconds: 0,
        keys: key.key_source(),
    })
    .await
    .unwrap();
    let identity = verifier.verify(token.trim()).unwrap();
    assert_eq!(
        (identity.subject.as_str(), identity.roles.as_slice()),
        ("fran", [Role::Finance].as_slice())
    );

    let output = common::keel_command(data_dir.path(), "unused_")
        .args(["token", "--role", "boss", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--role"));

    let output = common::keel_command(data_dir.path(), "unused_")
        .env("KEEL__AUTH__MODE", "jwks")
        .env("KEEL__AUTH__ALGORITHM", "RS256")
        .env("KEEL__AUTH__JWKS_URL", "https://idp.example.com/.well-known/jwks.json")
        .env("KEEL__AUTH__SERVICE_TOKEN", "service-token")
        .args(["token", "--role", "finance", "--sub", "fran"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("embedded key"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `sql` on `service`'s store of a stopped (or running) `keel up`.
async fn on_store(data_dir: &std::path::Path, prefix: &str, service: &str, sql: &str) -> u64 {
    use sea_orm::ConnectionTrait;
    let options = keel_store::StoreOptions::for_service(
        service,
        data_dir,
        keel_store::testing::test_database_url().as_deref(),
        prefix,
        1,
    );
    let db = keel_store::connect(&options).await.unwrap();
    let done = db.execute_unprepared(sql).await.unwrap();
    db.close().await.unwrap();
    done.rows_affected()
}

/// The newest `crm.opportunity.won` events CRM's outbox holds, as an operator lists them.
async fn won_events(keel: &Keel) -> Vec<keel_proto::events::OutboxEvent> {
    keel.outbox()
        .list_events(keel.request(
            Role::Operations,
            ListEventsRequest {
                event_type: "crm.opportunity.won".into(),
                limit: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events
}

#[tokio::test]
async fn a_restart_prunes_published_events_applied_event_ids_and_idempotency_keys_past_their_retention() {
    let mut keel = Keel::start().await;
    let deal = opportunity(&keel, "Fabrikam ERP phase 1").await;
    win(&keel, &deal.id).await;
    set_up_project(&keel, &deal.id).await;
    assert_eq!(won_events(&keel).await.len(), 1, "the won event is in CRM's outbox");
    sigterm(&mut keel);
    let data_dir = std::mem::replace(&mut keel.data_dir, keel_store::testing::TempDir::new());
    let prefix = keel.prefix.clone();
    drop(keel);

    // CRM's events were published years ago, past the 30 days kept; time capture (a process
    // API) answered a call under a key as long ago.
    let aged = on_store(
        data_dir.path(),
        &prefix,
        "crm",
        "UPDATE outbox SET published_at = '2020-01-01T00:00:00Z' WHERE published_at IS NOT NULL",
    )
    .await;
    assert!(aged >= 1, "CRM published its events");
    // Project setup applied the won event as long ago.
    let applied = on_store(
        data_dir.path(),
        &prefix,
        "project-setup",
        "UPDATE inbox SET applied_at = '2020-01-01T00:00:00Z'",
    )
    .await;
    assert!(applied >= 1, "project setup applied the won event");
    on_store(
        data_dir.path(),
        &prefix,
        "time-capture",
        "INSERT INTO idempotency_keys (scope, key, fingerprint, response, created_at) \
         VALUES ('timecapture.record_time', 'old-key', 'f', '', '2020-01-01T00:00:00Z')",
    )
    .await;

    let keel = Keel::start_in(data_dir, prefix).await;
    // Pruning runs at start and then hourly.
    eventually(Duration::from_secs(20), || async {
        let gone = won_events(&keel).await.is_empty();
        let old_keys = on_store(
            keel.data_dir.path(),
            &keel.prefix,
            "time-capture",
            "UPDATE idempotency_keys SET fingerprint = fingerprint WHERE key = 'old-key'",
        )
        .await;
        let remembered = on_store(
            keel.data_dir.path(),
            &keel.prefix,
            "project-setup",
            "UPDATE inbox SET applied_at = applied_at",
        )
        .await;
        (gone && old_keys == 0 && remembered == 0).then_some(())
    })
    .await;
    // What the restart keeps working on is untouched: the project is still there.
    assert_eq!(projects(&keel).await.len(), 1);
}

#[tokio::test]
async fn a_backup_taken_while_keel_runs_starts_another_keel_with_every_record_and_the_same_key() {
    let keel = Keel::start().await;
    let deal = opportunity(&keel, "Contoso claims analytics platform").await;
    win(&keel, &deal.id).await;
    let project = set_up_project(&keel, &deal.id).await;
    let to = keel_store::testing::TempDir::new();
    let backup = || {
        common::keel_command(keel.data_dir.path(), &keel.prefix)
            .args(["backup", "--to"])
            .arg(to.path())
            .output()
            .unwrap()
    };

    let output = backup();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    if keel_store::testing::test_database_url().is_some() {
        // PostgreSQL's stores are PostgreSQL's to back up: refused, naming why, nothing written.
        assert!(!output.status.success(), "{stdout}");
        assert!(
            stderr.contains("database.url") && stderr.contains("pg_dump"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_dir(to.path()).map(|d| d.count()).unwrap_or(0), 0);
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let copied: Vec<&str> = stdout.lines().filter(|l| l.starts_with("backed up ")).collect();
    assert_eq!(copied.len(), 15, "every store and the key: {stdout}");
    assert!(
        stdout.contains("backed up crm (") && stdout.contains("backed up the local signing key"),
        "{stdout}"
    );

    // Into the same directory again: refused, naming the flag.
    let again = backup();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("--to:") && stderr.contains("already exists"),
        "{stderr}"
    );

    // A second Keel starts from the copy alone: the project is there, and the first Keel's
    // tokens are good on it (the signing key came along).
    let restored = Keel::start_in(to, keel.prefix.clone()).await;
    let (status, body) = restored
        .graphql_with(Some(keel.token(Role::Executive)), PROJECTS, serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["data"]["projectManager"]["projects"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 1, "{body}");
    assert_eq!(nodes[0]["id"], project["id"]);
    assert_eq!(nodes[0]["code"], project["code"]);
}
