//! The project manager's view over the real binary, after the whole delivery scenario: Greta,
//! the project's engagement manager, reads her project over HTTP with its team, burn, estimate
//! at completion, health, open alerts, time awaiting approval and change requests, checked
//! against the figures the scenario set and what the system and process APIs hold, with one
//! backend call per service and kind of lookup; another project manager sees nothing; and a
//! project manager subscribed to `alertRaised` over `/graphql/ws` receives the effort alert
//! the scenario's overrun raises, while a manager of no project does not. Then a copy of one
//! of Greta's days is submitted: after an evaluation she reads the project's margin forecast
//! and the duplicate flag (the numbers delivery health holds), another project manager may not
//! review it, and she confirms it.

mod common;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use common::scenario::{Delivered, deliver};
use common::{Keel, ws};
use keel_auth::Role;
use keel_proto::common::PageRequest;
use keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient;
use keel_proto::health::{
    EvaluateProjectRequest, GetProjectHealthRequest, ListAlertsRequest, ListTimeAnomaliesRequest,
};
use keel_proto::psa::{
    ListAssignmentsRequest, ListProjectsRequest, ListTimeEntriesRequest, RecordTimeEntryRequest,
    SubmitTimeEntriesRequest,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// The engagement-manager role the scenario staffs Greta in, its bill rate, and the hours she
/// records (12 days of 10 hours), as `tests/common/scenario.rs` sets them.
const ROLE: &str = "engagement-manager";
const BILL_RATE: &str = "200.00";
const WORKED_HOURS: u32 = 120;

const PROJECTS: &str = "query { projectManager { projects(first: 10) { nextCursor nodes {
    id name code erpBudgetPosted
    team { personId personName role billRole active }
    burn { budget { amount currency } budgetHours approvedHours approvedAmount { amount currency } burnRatio burnPercent }
    estimateAtCompletion { amount { amount currency } hours varianceToBudget { amount } method }
    health { effortBaselineHours effortActualHours effortBurnPercent effortOverBaselinePercent
             moneyBurnPercent scheduleVarianceDays unapprovedHours openHighSeverityTickets
             breaches { kind measured threshold } policyVersion }
    alerts { id kind state measured threshold summary }
    timeAwaitingApproval { id hours }
    changeRequests { title role deltaHours deltaAmount { amount currency } state }
} } } }";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 100,
        page_token: String::new(),
    })
}

#[tokio::test]
async fn greta_sees_her_project_with_its_figures_in_one_call_per_kind_and_is_told_of_the_overrun() {
    let keel = Keel::start().await;
    let addr: SocketAddr = keel
        .http
        .trim_start_matches("http://")
        .parse()
        .expect("keel serves HTTP on an address");

    // Finance subscribes before anything happens; Greta (and a manager of no project) as soon
    // as PSA assigns her, which is before her time is posted and the overrun raised.
    let mut finance_ws = subscribe(addr, &keel.token(Role::Finance)).await;
    let (delivered, (manager, mut greta_ws, mut nobody_ws)) = tokio::join!(deliver(&keel), async {
        let manager = assigned_manager(&keel).await;
        let greta_ws = subscribe(addr, &keel.token_as(&manager, Role::ProjectManager)).await;
        let nobody = uuid::Uuid::now_v7().to_string();
        let nobody_ws = subscribe(addr, &keel.token_as(&nobody, Role::ProjectManager)).await;
        (manager, greta_ws, nobody_ws)
    });
    assert_eq!(manager, delivered.greta.id);

    let raised = effort_alert(&mut greta_ws).await;
    assert_eq!(raised["projectId"], delivered.initial.id.as_str());
    assert_eq!(dec(text(&raised["measured"])).round_dp(2), dec("11.11"), "{raised}");
    assert_eq!(dec(text(&raised["threshold"])), dec("10"));
    assert_eq!(effort_alert(&mut finance_ws).await["id"], raised["id"]);
    assert!(
        nothing_for(&mut nobody_ws, Duration::from_secs(5)).await,
        "a manager of no project is told of no alert"
    );

    project_as_greta(&keel, &delivered).await;
    nobody_sees_it(&keel, &delivered).await;
    insight_as_greta(&keel, &delivered).await;
}

const INSIGHT: &str = "query($id: ID!) { projectManager { project(id: $id) {
    marginForecast { contractType asOf measuredThrough currency
        costAtCompletion { low point high } revenueAtCompletion { point }
        marginPercent { low point high } budgetCost plannedMarginPercent burnRatio costRate
        floorPercent confidencePercent basis shortfall explanation pastWeeks remainingWeeks modelVersion }
    timeAnomalies { id kind subject personId timeEntryIds reason figures { name value } status }
} } }";

const REVIEW: &str = "mutation($id: ID!) { reviewTimeAnomaly(anomalyId: $id, decision: CONFIRMED,
    note: \"Day 1 was recorded twice\") { id status reviewedBy reviewNote } }";

/// A copy of Greta's first day, submitted and evaluated: she reads the margin forecast and the
/// duplicate flag as delivery health holds them, with one call per kind; Claire may not review
/// the flag; Greta confirms it, once, and the entries are as they were.
async fn insight_as_greta(keel: &Keel, delivered: &Delivered) {
    let project_id = delivered.initial.id.clone();
    let entries = keel
        .psa()
        .list_time_entries(keel.request(
            Role::Admin,
            ListTimeEntriesRequest {
                project_id: project_id.clone(),
                employee_id: delivered.greta.id.clone(),
                state: 0,
                page: page(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let first = entries
        .iter()
        .find(|e| e.narrative.ends_with("day 1"))
        .expect("Greta's first day")
        .clone();
    let copy = keel
        .psa()
        .record_time_entry(keel.request(
            Role::Admin,
            RecordTimeEntryRequest {
                idempotency_key: "view-insight-copy".into(),
                project_id: project_id.clone(),
                employee_id: delivered.greta.id.clone(),
                task: first.task.clone(),
                date: first.date.clone(),
                hours: first.hours.clone(),
                narrative: first.narrative.clone(),
                billable: true,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    keel.psa()
        .submit_time_entries(keel.request(
            Role::Admin,
            SubmitTimeEntriesRequest {
                idempotency_key: "view-insight-submit".into(),
                ids: vec![copy.id.clone()],
            },
        ))
        .await
        .unwrap();
    let mut health_client = DeliveryHealthServiceClient::new(keel.channel());
    let health = health_client
        .evaluate_project(keel.request(
            Role::Finance,
            EvaluateProjectRequest {
                idempotency_key: "view-insight-evaluate".into(),
                project_id: project_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let flags = health_client
        .list_time_anomalies(keel.request(
            Role::Finance,
            ListTimeAnomaliesRequest {
                project_ids: vec![project_id.clone()],
                status: "OPEN".into(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .anomalies;

    let greta = keel.token_as(&delivered.greta.id, Role::ProjectManager);
    let variables = json!({ "id": project_id });
    let (status, body) = keel.graphql_with(Some(greta.clone()), INSIGHT, variables).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let project = &body["data"]["projectManager"]["project"];

    // The forecast, exactly as delivery health recorded it on the evaluation.
    let forecast = health.margin_forecast.clone().unwrap_or_else(|| {
        panic!(
            "the scenario's project has a margin forecast: {:?}",
            health.not_measured
        )
    });
    let shown = &project["marginForecast"];
    let cost = forecast.cost_at_completion.clone().unwrap();
    let margin = forecast.margin_percent.clone().unwrap();
    assert_eq!(
        shown["costAtCompletion"],
        json!({ "low": cost.low, "point": cost.point, "high": cost.high }),
        "{shown}"
    );
    assert_eq!(
        shown["marginPercent"],
        json!({ "low": margin.low, "point": margin.point, "high": margin.high })
    );
    assert!(dec(&cost.low) <= dec(&cost.point) && dec(&cost.point) <= dec(&cost.high));
    for (field, value) in [
        ("contractType", &forecast.contract_type),
        ("measuredThrough", &forecast.measured_through),
        ("budgetCost", &forecast.budget_cost),
        ("costRate", &forecast.cost_rate),
        ("floorPercent", &forecast.floor_percent),
        ("explanation", &forecast.explanation),
        ("modelVersion", &forecast.model_version),
    ] {
        assert_eq!(shown[field], value.as_str(), "{field}: {shown}");
    }
    // The basis says whether the forecast is below the floor, as the numbers do.
    let below = dec(&margin.point) < dec(&forecast.floor_percent);
    assert_eq!(shown["basis"].is_null(), !below, "{shown}");
    assert_eq!(health.breaches.iter().any(|b| b.kind == "MARGIN_EROSION"), below);

    // The duplicate, flagged with its reason, as delivery health lists it.
    let shown = project["timeAnomalies"].as_array().unwrap();
    assert_eq!(shown.len(), flags.len(), "{shown:?}");
    let duplicate = shown
        .iter()
        .find(|f| f["kind"] == "DUPLICATE")
        .unwrap_or_else(|| panic!("the copy is flagged: {shown:?}"));
    assert_eq!(duplicate["subject"], format!("entry:{}", copy.id));
    assert_eq!(duplicate["personId"], delivered.greta.id.as_str());
    assert_eq!(
        duplicate["timeEntryIds"],
        json!([copy.id, first.id]),
        "the copy, then the original"
    );
    assert_eq!(duplicate["status"], "OPEN");
    assert_eq!(
        duplicate["figures"],
        json!([{ "name": "hours", "value": dec(&first.hours).normalize().to_string() }])
    );
    assert!(text(&duplicate["reason"]).contains(&first.id), "{duplicate}");
    let calls = body["extensions"]["backendCalls"].as_object().unwrap();
    assert_eq!(
        calls.get("DeliveryHealth ListProjectHealth"),
        Some(&json!(1)),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("DeliveryHealth ListTimeAnomalies"),
        Some(&json!(1)),
        "{calls:?}"
    );

    // Claire manages nothing here: refused, and the flag stays open.
    let id = json!({ "id": duplicate["id"] });
    let claire = keel.token_as(&delivered.claire.id, Role::ProjectManager);
    let (_, body) = keel.graphql_with(Some(claire), REVIEW, id.clone()).await;
    assert!(!body["errors"].is_null(), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Greta confirms it, once.
    let (_, body) = keel.graphql_with(Some(greta.clone()), REVIEW, id.clone()).await;
    assert!(body["errors"].is_null(), "{body}");
    let reviewed = &body["data"]["reviewTimeAnomaly"];
    assert_eq!(
        (reviewed["status"].clone(), reviewed["reviewedBy"].clone()),
        (json!("CONFIRMED"), json!(delivered.greta.id))
    );
    let again = "mutation($id: ID!) { reviewTimeAnomaly(anomalyId: $id, decision: DISMISSED,
        note: \"On second thoughts\") { status } }";
    let (_, body) = keel.graphql_with(Some(greta.clone()), again, id).await;
    assert!(!body["errors"].is_null(), "a flag is decided once: {body}");
    let confirmed = "query($id: ID!) { projectManager { timeAnomalies(projectId: $id, status: \"CONFIRMED\") {
        nodes { id status reviewNote } nextCursor } } }";
    let (_, body) = keel
        .graphql_with(Some(greta), confirmed, json!({ "id": project_id }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["projectManager"]["timeAnomalies"],
        json!({ "nodes": [{ "id": duplicate["id"], "status": "CONFIRMED",
                            "reviewNote": "Day 1 was recorded twice" }], "nextCursor": null })
    );
}

/// Greta's view of her project, checked figure by figure, one backend call per kind.
async fn project_as_greta(keel: &Keel, delivered: &Delivered) {
    let greta = keel.token_as(&delivered.greta.id, Role::ProjectManager);
    let (status, body) = keel.graphql_with(Some(greta), PROJECTS, json!({})).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{body}");
    let projects = &body["data"]["projectManager"]["projects"];
    assert_eq!(projects["nextCursor"], Value::Null);
    let nodes = projects["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{projects}");
    let project = &nodes[0];
    assert_eq!(project["id"], delivered.initial.id.as_str());
    assert_eq!(project["code"], delivered.code.as_str());
    assert_eq!(project["erpBudgetPosted"], true);

    // The team: Greta, as PSA staffed her.
    assert_eq!(
        project["team"],
        json!([{ "personId": delivered.greta.id, "personName": delivered.greta.name, "role": ROLE,
                 "billRole": ROLE, "active": true }])
    );

    // Burn: approved (and posted) hours × rate ÷ the budget after the change order.
    let baseline = delivered.changed.budget_baseline.clone().expect("a baseline");
    let budget = dec(&baseline.total.as_ref().unwrap().amount);
    let spent = Decimal::from(WORKED_HOURS) * dec(BILL_RATE);
    let burn = &project["burn"];
    assert_eq!(dec(text(&burn["budget"]["amount"])), budget, "{burn}");
    assert_eq!(burn["budget"]["currency"], "EUR");
    assert_eq!(dec(text(&burn["approvedHours"])), Decimal::from(WORKED_HOURS));
    assert_eq!(dec(text(&burn["approvedAmount"]["amount"])), spent);
    assert_eq!(dec(text(&burn["burnRatio"])), (spent / budget).round_dp(6), "{burn}");
    assert_eq!(
        dec(text(&burn["burnPercent"])),
        (spent / budget * Decimal::ONE_HUNDRED).round_dp(2),
        "{burn}"
    );

    // The estimate at completion: what is spent, plus each role's unspent baseline.
    let estimate: Decimal = baseline
        .lines
        .iter()
        .map(|line| {
            let planned = dec(&line.amount.as_ref().unwrap().amount);
            if line.role == ROLE { planned.max(spent) } else { planned }
        })
        .sum();
    let eac = &project["estimateAtCompletion"];
    assert_eq!(dec(text(&eac["amount"]["amount"])), estimate, "{eac}");
    assert_eq!(dec(text(&eac["varianceToBudget"]["amount"])), estimate - budget);

    // Health: the numbers delivery health holds for the project.
    let health = DeliveryHealthServiceClient::new(keel.channel())
        .get_project_health(keel.request(
            Role::Finance,
            GetProjectHealthRequest {
                project_id: delivered.initial.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let effort = health.effort.clone().unwrap();
    let shown = &project["health"];
    assert_eq!(shown["effortBaselineHours"], effort.baseline.as_str(), "{shown}");
    assert_eq!(shown["effortActualHours"], effort.actual.as_str());
    assert_eq!(dec(text(&shown["effortActualHours"])), Decimal::from(WORKED_HOURS));
    assert_eq!(shown["effortBurnPercent"], effort.burn_percent.as_str());
    assert_eq!(shown["scheduleVarianceDays"], health.schedule_variance_days);
    assert_eq!(shown["unapprovedHours"], health.unapproved_hours.as_str());
    assert_eq!(shown["openHighSeverityTickets"], health.open_high_severity_tickets);
    assert_eq!(shown["breaches"].as_array().unwrap().len(), health.breaches.len());
    assert_eq!(shown["policyVersion"], health.policy_version.as_str());

    // Alerts: the project's open ones, as delivery health lists them.
    let open: Vec<String> = DeliveryHealthServiceClient::new(keel.channel())
        .list_alerts(keel.request(
            Role::Finance,
            ListAlertsRequest {
                project_id: delivered.initial.id.clone(),
                state: "OPEN".into(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .alerts
        .into_iter()
        .map(|a| a.id)
        .collect();
    let shown: Vec<&str> = project["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| text(&a["id"]))
        .collect();
    assert_eq!(shown, open, "{}", project["alerts"]);
    assert!(
        project["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "OPEN")
    );

    // All of Greta's time was approved and posted; the one change request was applied.
    assert_eq!(project["timeAwaitingApproval"], json!([]));
    assert_eq!(
        project["changeRequests"],
        json!([{ "title": "Extended treasury governance", "role": ROLE, "deltaHours": "20",
                 "deltaAmount": { "amount": "4000.00", "currency": "EUR" }, "state": "APPLIED" }])
    );

    // One call per service and kind of lookup, whatever the page holds.
    let calls = body["extensions"]["backendCalls"]
        .as_object()
        .expect("backendCalls under keel up");
    let kinds: Vec<&str> = calls.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "DeliveryHealth ListAlertsOfProjects",
            "DeliveryHealth ListProjectHealth",
            "ERP ListProjectCodesOfProjects",
            "PSA BatchGetProjects",
            "PSA ListActualsOfProjects",
            "PSA ListAssignments",
            "PSA ListAssignmentsOfProjects",
            "PSA ListChangeRequestsOfProjects",
            "PSA ListTimeEntriesOfProjects",
        ],
        "{calls:?}"
    );
    assert!(calls.values().all(|count| *count == json!(1)), "{calls:?}");
}

/// Another project manager (Claire, who approves time but manages nothing) sees no project,
/// and Greta's project by id is null to her; finance sees it.
async fn nobody_sees_it(keel: &Keel, delivered: &Delivered) {
    let claire = keel.token_as(&delivered.claire.id, Role::ProjectManager);
    let (_, body) = keel
        .graphql_with(
            Some(claire.clone()),
            "{ projectManager { projects { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["projectManager"]["projects"]["nodes"], json!([]));
    let by_id = "query($id: ID!) { projectManager { project(id: $id) { id name } } }";
    let variables = json!({ "id": delivered.initial.id });
    let (_, body) = keel.graphql_with(Some(claire), by_id, variables.clone()).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["projectManager"]["project"], Value::Null);
    let (_, body) = keel
        .graphql_with(Some(keel.token(Role::Finance)), by_id, variables)
        .await;
    assert_eq!(
        body["data"]["projectManager"]["project"]["id"],
        delivered.initial.id.as_str(),
        "{body}"
    );
}

/// The employee PSA assigns as a project's engagement manager, as soon as it does.
async fn assigned_manager(keel: &Keel) -> String {
    common::eventually(Duration::from_secs(120), || async {
        let projects = keel
            .psa()
            .list_projects(keel.request(Role::Admin, ListProjectsRequest { page: page() }))
            .await
            .ok()?
            .into_inner()
            .projects;
        for project in projects {
            let assignments = keel
                .psa()
                .list_assignments(keel.request(
                    Role::Admin,
                    ListAssignmentsRequest {
                        project_id: project.id.clone(),
                        employee_id: String::new(),
                        page: page(),
                    },
                ))
                .await
                .ok()?
                .into_inner()
                .assignments;
            if let Some(a) = assignments.into_iter().find(|a| a.role == ROLE) {
                return Some(a.employee_id);
            }
        }
        None
    })
    .await
}

/// A `graphql-transport-ws` connection as the bearer of `token`, subscribed to `alertRaised`,
/// once its first poll (the baseline) has had time to run.
async fn subscribe(addr: SocketAddr, token: &str) -> ws::WsClient {
    let mut client = ws::WsClient::connect(addr, "/graphql/ws").await;
    client
        .send(&json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    match client.receive(Duration::from_secs(10)).await {
        Some(ws::Frame::Text(message)) => assert_eq!(message["type"], "connection_ack", "{message}"),
        other => panic!("expected connection_ack, got {other:?}"),
    }
    client
        .send(&json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": "subscription { alertRaised { id projectId kind state measured threshold summary } }" },
        }))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
}

/// The next EFFORT_OVER_BASELINE alert `client` is sent (other alerts skipped).
async fn effort_alert(client: &mut ws::WsClient) -> Value {
    let wait = keel_experience_project_manager::ALERT_POLL_INTERVAL * 5;
    loop {
        match client.receive(wait).await {
            Some(ws::Frame::Text(message)) => {
                assert_eq!(message["type"], "next", "{message}");
                let alert = &message["payload"]["data"]["alertRaised"];
                if alert["kind"] == "EFFORT_OVER_BASELINE" {
                    return alert.clone();
                }
            }
            other => panic!("expected the effort alert, got {other:?}"),
        }
    }
}

/// Whether `client` is sent no alert for the project within `wait`.
async fn nothing_for(client: &mut ws::WsClient, wait: Duration) -> bool {
    match client.receive(wait).await {
        None => true,
        Some(frame) => {
            eprintln!("unexpected: {frame:?}");
            false
        }
    }
}
