//! Distributed mode: each service its own `keel run --target` process, finding the others by
//! configuration and carrying events on NATS JetStream. Needs a NATS server, so it runs where
//! `KEEL_TEST_NATS_URL` is set (`.ci/run` sets it); stores are PostgreSQL schemas when
//! `KEEL_TEST_DATABASE_URL` is set, else one SQLite directory per process.

mod common;

use std::time::Duration;

use common::{KillOnDrop, eventually, keel_command, spawn_ready};
use keel_auth::{LocalKey, Role};
use keel_proto::common::Money;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{CreateAccountRequest, CreateOpportunityRequest, MarkOpportunityWonRequest};
use keel_proto::psa::UpsertDeliveryTemplateRequest;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_store::testing::{TempDir, test_nats_url, unique_prefix};
use tonic::Request;
use tonic::transport::Channel;

/// The key every process of this test shares (what a Secret holds in a deployment).
const SHARED_KEY: &str = "distributed-test-key-shared-by-every-service-0123456789";

struct Service {
    _process: KillOnDrop,
    _data_dir: TempDir,
    grpc: String,
    http: String,
}

async fn run(target: &str, prefix: &str, env: &[(&str, String)]) -> Service {
    let data_dir = TempDir::new();
    let mut command = keel_command(data_dir.path(), prefix);
    command.env("KEEL__AUTH__LOCAL_KEY", SHARED_KEY);
    for (key, value) in env {
        command.env(key, value);
    }
    let (child, grpc, http) = spawn_ready(
        command,
        &[
            "run",
            "--target",
            target,
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    )
    .await;
    Service {
        _process: KillOnDrop(child),
        _data_dir: data_dir,
        grpc,
        http,
    }
}

fn authorized<T>(message: T) -> Request<T> {
    let key = LocalKey::from_bytes(SHARED_KEY.as_bytes().to_vec()).unwrap();
    let token = key.issue("keel-local", "keel", "ada", &[Role::Admin], Duration::from_secs(600));
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn services_in_separate_processes_turn_a_won_deal_into_a_project() {
    if test_nats_url().is_none() {
        eprintln!("distributed test needs NATS: set KEEL_TEST_NATS_URL (.ci/run does); not run here");
        return;
    }
    let prefix = unique_prefix();
    let crm = run("crm", &prefix, &[]).await;
    let psa = run("psa", &prefix, &[]).await;
    let erp = run("erp", &prefix, &[]).await;
    let collaboration = run("collaboration", &prefix, &[]).await;
    let documents = run("documents", &prefix, &[]).await;
    assert_eq!(psa.http, "-", "a system API serves no HTTP");
    // The CRM, configured for HubSpot, serves its webhook endpoint and nothing of the gateway.
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/healthz", crm.http)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let graphql = http.get(format!("{}/graphql", crm.http)).send().await.unwrap();
    assert_eq!(graphql.status().as_u16(), 404, "a system API serves no GraphQL");
    let unsigned = http
        .post(format!("{}/webhooks/hubspot", crm.http))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401, "an unsigned delivery is refused");
    let setup = run(
        "project-setup",
        &prefix,
        &[
            ("KEEL__SERVICES__CRM", crm.grpc.clone()),
            ("KEEL__SERVICES__PSA", psa.grpc.clone()),
            ("KEEL__SERVICES__ERP", erp.grpc.clone()),
            ("KEEL__SERVICES__COLLABORATION", collaboration.grpc.clone()),
            ("KEEL__SERVICES__DOCUMENTS", documents.grpc.clone()),
        ],
    )
    .await;
    // Delivery health (and the support system API it reads): the project manager view reads
    // health and alerts from it.
    let support = run("support", &prefix, &[]).await;
    let delivery_health = run(
        "delivery-health",
        &prefix,
        &[
            ("KEEL__SERVICES__PSA", psa.grpc.clone()),
            ("KEEL__SERVICES__ERP", erp.grpc.clone()),
            ("KEEL__SERVICES__SUPPORT", support.grpc.clone()),
        ],
    )
    .await;
    // The process APIs that run workflows: the operations and resource manager views read their
    // workflow admins, and the close-out reads their exception history.
    let hris = run("hris", &prefix, &[]).await;
    let psa_erp = [
        ("KEEL__SERVICES__PSA", psa.grpc.clone()),
        ("KEEL__SERVICES__ERP", erp.grpc.clone()),
    ];
    let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        psa_erp.iter().cloned().chain(extra.iter().cloned()).collect()
    };
    let time_capture = run(
        "time-capture",
        &prefix,
        &with(&[("KEEL__SERVICES__HRIS", hris.grpc.clone())]),
    )
    .await;
    let staffing = run(
        "staffing",
        &prefix,
        &with(&[("KEEL__SERVICES__HRIS", hris.grpc.clone())]),
    )
    .await;
    let billing = run("billing", &prefix, &with(&[])).await;
    let change_orders = run(
        "change-orders",
        &prefix,
        &with(&[("KEEL__SERVICES__DOCUMENTS", documents.grpc.clone())]),
    )
    .await;
    let workflow_services = [
        ("KEEL__SERVICES__TIME_CAPTURE", time_capture.grpc.clone()),
        ("KEEL__SERVICES__STAFFING", staffing.grpc.clone()),
        ("KEEL__SERVICES__BILLING", billing.grpc.clone()),
        ("KEEL__SERVICES__CHANGE_ORDERS", change_orders.grpc.clone()),
    ];
    let mut close_out_env = with(&[
        ("KEEL__SERVICES__COLLABORATION", collaboration.grpc.clone()),
        ("KEEL__SERVICES__DOCUMENTS", documents.grpc.clone()),
    ]);
    close_out_env.extend(workflow_services.iter().cloned());
    let close_out = run("close-out", &prefix, &close_out_env).await;
    let mut gateway_env = with(&[
        ("KEEL__SERVICES__PROJECT_SETUP", setup.grpc.clone()),
        ("KEEL__SERVICES__DELIVERY_HEALTH", delivery_health.grpc.clone()),
        ("KEEL__SERVICES__CLOSE_OUT", close_out.grpc.clone()),
    ]);
    gateway_env.extend(workflow_services.iter().cloned());
    let gateway = run("gateway", &prefix, &gateway_env).await;
    assert_eq!(gateway.grpc, "-", "the gateway serves no gRPC");

    let mut psa_client =
        PsaServiceClient::new(Channel::from_shared(psa.grpc.clone()).unwrap().connect().await.unwrap());
    for template in keel_psa::demo::templates() {
        let request = UpsertDeliveryTemplateRequest {
            idempotency_key: format!("seed-{}", template.id),
            template: Some(template),
        };
        psa_client.upsert_delivery_template(authorized(request)).await.unwrap();
    }
    let mut crm_client =
        CrmServiceClient::new(Channel::from_shared(crm.grpc.clone()).unwrap().connect().await.unwrap());
    let account = crm_client
        .create_account(authorized(CreateAccountRequest {
            idempotency_key: "acct".into(),
            name: "Northwind Logistics GmbH".into(),
            tier: "enterprise".into(),
            region: "emea".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let deal = crm_client
        .create_opportunity(authorized(CreateOpportunityRequest {
            idempotency_key: "opp".into(),
            account_id: account.id,
            name: "Northwind S/4 finance rollout".into(),
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: String::new(),
            client_tier: String::new(),
            amount: Some(Money {
                amount: "1250000.00".into(),
                currency: "EUR".into(),
            }),
            close_date: "2026-11-20".into(),
            sow_reference: "SOW-2026-118".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    crm_client
        .mark_opportunity_won(authorized(MarkOpportunityWonRequest {
            idempotency_key: "won".into(),
            id: deal.id.clone(),
        }))
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let key = LocalKey::from_bytes(SHARED_KEY.as_bytes().to_vec()).unwrap();
    // An executive sees every project (a project manager only those PSA assigns them to).
    let token = key.issue(
        "keel-local",
        "keel",
        "eve",
        &[Role::Executive],
        Duration::from_secs(600),
    );
    let project = eventually(Duration::from_secs(30), || async {
        let body: serde_json::Value = client
            .post(format!("{}/graphql", gateway.http))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "query": "{ projectManager { projects { nodes { opportunityId code erpBudgetPosted templateId } } } }" }))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["data"]["projectManager"]["projects"]["nodes"]
            .as_array()?
            .iter()
            .find(|p| p["opportunityId"] == deal.id.as_str() && p["erpBudgetPosted"] == true)
            .cloned()
    })
    .await;
    assert_eq!(project["templateId"], "erp-fixed-fee-emea");
    assert!(project["code"].as_str().unwrap().starts_with("PRJ-"));

    // The gateway is ready only once the services it calls answer their health checks.
    let ready = client.get(format!("{}/readyz", gateway.http)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    // Operations reads each process API's own workflow admin.
    let operations = key.issue(
        "keel-local",
        "keel",
        "olga",
        &[Role::Operations],
        Duration::from_secs(600),
    );
    let body: serde_json::Value = client
        .post(format!("{}/graphql", gateway.http))
        .bearer_auth(&operations)
        .json(&serde_json::json!({ "query": "{ operations { processApis { name exceptions { nodes { id } } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = body["data"]["operations"]["processApis"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["time-capture", "staffing", "billing", "change-orders", "close-out"],
        "{body}"
    );
}
