//! Distributed mode: each service its own `keel run --target` process, finding the others by
//! configuration and carrying events on NATS JetStream, runs the firm's whole scenario from won
//! deal to invoice-ready milestone. Needs a NATS server, so it runs where `KEEL_TEST_NATS_URL`
//! is set (`.ci/run` sets it); stores are PostgreSQL schemas when `KEEL_TEST_DATABASE_URL` is
//! set, else one SQLite directory per process.

mod common;

use common::Keel;
use keel_auth::Role;

#[tokio::test]
async fn the_whole_scenario_runs_with_every_service_in_its_own_process() {
    if !common::distributed::available() {
        return;
    }
    let keel = Keel::start_distributed().await;

    // Each process serves only its own part.
    assert_eq!(keel.service("psa").http, "-", "a system API serves no HTTP");
    assert_eq!(keel.grpc, "-", "the gateway serves no gRPC");
    // The CRM, configured for HubSpot, serves its webhook endpoint and nothing of the gateway.
    let http = keel.http_client();
    let crm = &keel.service("crm").http;
    let health = http.get(format!("{crm}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let graphql = http.get(format!("{crm}/graphql")).send().await.unwrap();
    assert_eq!(graphql.status().as_u16(), 404, "a system API serves no GraphQL");
    let unsigned = http
        .post(format!("{crm}/webhooks/hubspot"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401, "an unsigned delivery is refused");
    // The gateway is ready only once the services it calls answer their health checks.
    let (ready, _) = keel.get("/readyz").await;
    assert_eq!(ready, 200);

    // Won deal → project in every system, staffing with leadership's approval, time validated,
    // approved and posted to ERP, the overrun alert, a change order in every system, and the
    // reached milestone's pre-validated draft invoice: each step crossing processes over gRPC
    // and NATS, each asserted inside the scenario.
    let delivered = common::scenario::deliver(&keel).await;

    // The gateway reads the same figures across the processes: the project's manager sees
    // the project with its ERP code and budget, and the 120 hours the scenario approved.
    let token = keel.token_as(&delivered.greta.id, Role::ProjectManager);
    let (status, body) = keel
        .graphql_with(
            Some(token),
            "{ projectManager { projects { nodes { id code erpBudgetPosted burn { approvedHours } } } } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let projects = body["data"]["projectManager"]["projects"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    let project = projects
        .iter()
        .find(|p| p["id"] == delivered.initial.id.as_str())
        .unwrap_or_else(|| panic!("Greta manages the scenario's project: {body}"));
    assert_eq!(project["code"], delivered.code.as_str());
    assert_eq!(project["erpBudgetPosted"], true);
    let approved: rust_decimal::Decimal = project["burn"]["approvedHours"].as_str().unwrap().parse().unwrap();
    assert_eq!(approved, rust_decimal::Decimal::from(120));

    // Operations reads each process API's own workflow admin.
    let (_, body) = keel
        .graphql(
            Some(Role::Operations),
            "{ operations { processApis { name exceptions { nodes { id } } } } }",
        )
        .await;
    let names: Vec<&str> = body["data"]["operations"]["processApis"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, common::distributed::WORKFLOW_TARGETS, "{body}");
}
