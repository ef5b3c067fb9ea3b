//! The gateway served on a real port over real tonic stand-ins for PSA, ERP and project-setup:
//! authentication, role checks, the two views, limits, readiness, metrics, GraphQL over
//! WebSocket, and the exported SDL.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use keel_auth::Role;
use keel_gateway::GatewayOptions;
use reqwest::StatusCode;
use serde_json::json;
use support::backends::{
    PROJECT_MANAGER, PROJECT_SETUP_SERVICE, PROJECT_WITH_CODE, PROJECT_WITHOUT_CODE, UNKNOWN_PROJECT,
};
use support::ws_client::{Frame, WsClient};
use support::{Gateway, first_error_code, options, token, token_as};

const PROJECTS: &str = "{ projectManager { projects { nextCursor nodes { id name status code erpBudgetPosted \
    contractValue { amount currency } startDate \
    budgetBaseline { totalHours total { amount currency } lines { role hours amount { amount currency } } } \
    milestones { name amount { amount } dueDate } phases { name tasks { name role plannedHours } } } } } }";

#[tokio::test]
async fn a_request_without_a_valid_token_is_401_unauthenticated() {
    let gateway = Gateway::spawn(options()).await;
    for token in [None, Some("not-a-jwt".to_string()), Some(support::foreign_token())] {
        let mut request = gateway
            .http
            .post(format!("{}/graphql", gateway.url))
            .json(&json!({ "query": "{ operations { setups { nodes { id } } } }" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(first_error_code(&body), "UNAUTHENTICATED");
        assert!(
            body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    assert!(
        gateway.backends.recorded.authorizations.lock().unwrap().is_empty(),
        "no backend was called"
    );
}

#[tokio::test]
async fn a_consultant_is_forbidden_the_project_manager_view_and_pm_the_operations_view() {
    let gateway = Gateway::spawn(options()).await;
    let (status, body) = gateway
        .graphql(
            Some(&token(&[Role::Consultant])),
            "{ projectManager { projects { nodes { id } } } }",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first_error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["projectManager"]));
    assert_eq!(body["data"], serde_json::Value::Null);

    let (_, body) = gateway
        .graphql(
            Some(&token(&[Role::ProjectManager])),
            "{ operations { exceptions { nodes { id } } } }",
        )
        .await;
    assert_eq!(first_error_code(&body), "FORBIDDEN", "{body}");
    assert!(gateway.backends.recorded.authorizations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_project_manager_sees_the_projects_they_manage_with_their_erp_code_and_budget() {
    let gateway = Gateway::spawn(options()).await;
    let pm_token = token_as(PROJECT_MANAGER, &[Role::ProjectManager]);
    let (status, body) = gateway.graphql(Some(&pm_token), PROJECTS).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"].is_null(), "{body}");
    let page = &body["data"]["projectManager"]["projects"];
    assert_eq!(page["nextCursor"], serde_json::Value::Null);
    let nodes = page["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);

    let opened = &nodes[0];
    assert_eq!(opened["id"], PROJECT_WITH_CODE);
    assert_eq!(opened["status"], "ACTIVE");
    assert_eq!(opened["code"], "PRJ-000001");
    assert_eq!(opened["erpBudgetPosted"], true);
    assert_eq!(
        opened["contractValue"],
        json!({ "amount": "1250000.00", "currency": "USD" })
    );
    assert_eq!(opened["startDate"], "2025-03-01");
    assert_eq!(
        opened["budgetBaseline"],
        json!({
            "totalHours": "80.5",
            "total": { "amount": "20125.00", "currency": "USD" },
            "lines": [{ "role": "solution-architect", "hours": "80.5", "amount": { "amount": "20125.00", "currency": "USD" } }],
        })
    );
    assert_eq!(opened["milestones"][0]["amount"]["amount"], "250000.00");
    assert_eq!(opened["phases"][0]["tasks"][0]["plannedHours"], "80.5");

    let not_opened = &nodes[1];
    assert_eq!(not_opened["id"], PROJECT_WITHOUT_CODE);
    assert_eq!(not_opened["code"], serde_json::Value::Null);
    assert_eq!(not_opened["erpBudgetPosted"], false);

    // PSA twice (the caller's assignments, then their projects), ERP once for the page: each
    // carrying the caller's own token.
    let seen = gateway.backends.recorded.authorizations.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|a| *a == format!("Bearer {pm_token}")), "{seen:?}");

    // Another project manager manages neither project, sees none, and cannot read one by id.
    let other = token(&[Role::ProjectManager]);
    let (_, body) = gateway.graphql(Some(&other), PROJECTS).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["projectManager"]["projects"]["nodes"], json!([]));
    let (_, body) = gateway
        .graphql(
            Some(&other),
            &format!("{{ projectManager {{ project(id: \"{PROJECT_WITH_CODE}\") {{ name }} }} }}"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["projectManager"]["project"], serde_json::Value::Null);
}

#[tokio::test]
async fn projects_page_with_first_and_after_and_refuse_a_page_over_a_hundred() {
    let gateway = Gateway::spawn(options()).await;
    let finance = token(&[Role::Finance]);
    let (_, body) = gateway
        .graphql(
            Some(&finance),
            "{ projectManager { projects(first: 1) { nextCursor nodes { id } } } }",
        )
        .await;
    let page = &body["data"]["projectManager"]["projects"];
    assert_eq!(page["nodes"][0]["id"], PROJECT_WITH_CODE, "{body}");
    let cursor = page["nextCursor"].as_str().unwrap().to_string();
    let (_, body) = gateway
        .graphql(
            Some(&finance),
            &format!(
                "{{ projectManager {{ projects(first: 1, after: \"{cursor}\") {{ nextCursor nodes {{ id }} }} }} }}"
            ),
        )
        .await;
    let page = &body["data"]["projectManager"]["projects"];
    assert_eq!(page["nodes"][0]["id"], PROJECT_WITHOUT_CODE, "{body}");
    assert_eq!(page["nextCursor"], serde_json::Value::Null);

    for first in [101, 0] {
        let (_, body) = gateway
            .graphql(
                Some(&finance),
                &format!("{{ projectManager {{ projects(first: {first}) {{ nodes {{ id }} }} }} }}"),
            )
            .await;
        assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "first");
    }

    let (_, body) = gateway
        .graphql(
            Some(&finance),
            "{ projectManager { projects(after: \"garbage\") { nodes { id } } } }",
        )
        .await;
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "after");
}

#[tokio::test]
async fn one_project_by_id_malformed_ids_name_id_and_unknown_ids_are_null() {
    let gateway = Gateway::spawn(options()).await;
    let executive = token(&[Role::Executive]);
    let (_, body) = gateway
        .graphql(
            Some(&executive),
            &format!("{{ projectManager {{ project(id: \"{PROJECT_WITH_CODE}\") {{ name code erpBudgetPosted }} }} }}"),
        )
        .await;
    assert_eq!(
        body["data"]["projectManager"]["project"],
        json!({ "name": "Acme ERP rollout", "code": "PRJ-000001", "erpBudgetPosted": true }),
        "{body}"
    );

    let (_, body) = gateway
        .graphql(Some(&executive), "{ projectManager { project(id: \"p-1\") { name } } }")
        .await;
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "id");

    let (_, body) = gateway
        .graphql(
            Some(&executive),
            &format!("{{ projectManager {{ project(id: \"{UNKNOWN_PROJECT}\") {{ name }} }} }}"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["projectManager"]["project"], serde_json::Value::Null);
}

#[tokio::test]
async fn operations_sees_the_exception_list_setups_and_one_setup() {
    let gateway = Gateway::spawn(options()).await;
    let ops = token(&[Role::Operations]);
    let (_, body) = gateway
        .graphql(
            Some(&ops),
            "{ operations { exceptions { nextCursor nodes { opportunityName state step exceptionCode \
             exceptionReason exceptionFields attempts projectId updatedAt } } } }",
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["operations"]["exceptions"],
        json!({
            "nextCursor": null,
            "nodes": [{
                "opportunityName": "Globex finance transformation",
                "state": "EXCEPTION",
                "step": "validate",
                "exceptionCode": "MISSING_FIELD",
                "exceptionReason": "the opportunity has no region",
                "exceptionFields": ["region"],
                "attempts": 3,
                "projectId": null,
                "updatedAt": "2025-06-15T15:11:40+00:00",
            }],
        })
    );

    let (_, body) = gateway
        .graphql(
            Some(&ops),
            "{ operations { setups(first: 1) { nextCursor nodes { state projectCode } } \
               setup(opportunityId: \"0190f2a0-0000-7000-8000-0000000000a1\") { state projectCode } \
               missing: setup(opportunityId: \"0190f2a0-0000-7000-8000-0000000000ff\") { state } } }",
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let view = &body["data"]["operations"];
    assert_eq!(
        view["setups"]["nodes"],
        json!([{ "state": "COMPLETED", "projectCode": "PRJ-000001" }])
    );
    assert!(view["setups"]["nextCursor"].is_string());
    assert_eq!(
        view["setup"],
        json!({ "state": "COMPLETED", "projectCode": "PRJ-000001" })
    );
    assert_eq!(view["missing"], serde_json::Value::Null);

    let (_, body) = gateway
        .graphql(Some(&ops), "{ operations { setup(opportunityId: \"o-1\") { state } } }")
        .await;
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"],
        "opportunityId"
    );
}

#[tokio::test]
async fn admin_passes_every_view() {
    let gateway = Gateway::spawn(options()).await;
    let (_, body) = gateway
        .graphql(
            Some(&token(&[Role::Admin])),
            "{ projectManager { projects { nodes { id } } } operations { exceptions { nodes { id } } } }",
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["projectManager"]["projects"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        body["data"]["operations"]["exceptions"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_backend_that_is_down_is_unavailable_not_a_crash() {
    let backends = support::Backends::spawn().await;
    let live = tonic::transport::Endpoint::from_shared(format!("http://{}", backends.addr))
        .unwrap()
        .connect_lazy();
    let nowhere = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
    let gateway = Gateway::spawn_over(options(), backends, nowhere, live).await;
    let (status, body) = gateway
        .graphql(
            Some(&token_as(PROJECT_MANAGER, &[Role::ProjectManager])),
            "{ projectManager { projects { nodes { id } } } }",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first_error_code(&body), "UNAVAILABLE", "{body}");
}

#[tokio::test]
async fn operations_deeper_or_more_complex_than_the_limits_are_refused_before_they_run() {
    let gateway = Gateway::spawn(GatewayOptions {
        max_depth: 6,
        max_complexity: 20,
        ..options()
    })
    .await;
    let pm = token(&[Role::ProjectManager]);
    // Depth 7: projectManager > projects > nodes > budgetBaseline > lines > amount > currency.
    let (_, body) = gateway
        .graphql(
            Some(&pm),
            "{ projectManager { projects { nodes { budgetBaseline { lines { amount { currency } } } } } } }",
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("depth limit of 6"),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");

    let wide = format!(
        "{{ projectManager {{ projects {{ nodes {{ {} }} }} }} }}",
        (0..25).map(|i| format!("n{i}: name")).collect::<Vec<_>>().join(" ")
    );
    let (_, body) = gateway.graphql(Some(&pm), &wide).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complexity limit of 20"),
        "{body}"
    );
    assert!(
        gateway.backends.recorded.authorizations.lock().unwrap().is_empty(),
        "nothing ran"
    );
}

#[tokio::test]
async fn a_field_flooded_with_directives_is_refused() {
    let gateway = Gateway::spawn(options()).await;
    let flood = (0..keel_gateway::MAX_DIRECTIVES_PER_FIELD + 1)
        .map(|_| "@include(if: true)")
        .collect::<Vec<_>>()
        .join(" ");
    let (_, body) = gateway
        .graphql(
            Some(&token(&[Role::Operations])),
            &format!("{{ operations {flood} {{ setups {{ nodes {{ id }} }} }} }}"),
        )
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert!(!body["errors"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gateway = Gateway::spawn(options()).await;
    let padding = " ".repeat(options().max_body_bytes);
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.url))
        .bearer_auth(token(&[Role::Operations]))
        .header("content-type", "application/json")
        .body(format!("{{\"query\": \"{{ __typename }}\"{padding}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let refusal: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        refusal["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refusal}"
    );
    assert!(
        refusal["errors"][0]["message"].as_str().unwrap().contains("limit"),
        "{refusal}"
    );

    let (status, body) = gateway
        .graphql(Some(&token(&[Role::Operations])), "{ __typename }")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_400() {
    let gateway = Gateway::spawn(options()).await;
    let response = gateway
        .http
        .post(format!("{}/graphql", gateway.url))
        .bearer_auth(token(&[Role::Operations]))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(first_error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn introspection_answers_null_when_disabled() {
    let query = "{ __schema { queryType { name } } }";
    let enabled = Gateway::spawn(options()).await;
    let (_, body) = enabled.graphql(Some(&token(&[Role::Consultant])), query).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query", "{body}");

    let disabled = Gateway::spawn(GatewayOptions {
        introspection: false,
        ..options()
    })
    .await;
    let (_, body) = disabled.graphql(Some(&token(&[Role::Consultant])), query).await;
    assert_eq!(body["data"]["__schema"], serde_json::Value::Null, "{body}");
}

#[tokio::test]
async fn readyz_waits_for_migrations_and_serving_backends() {
    let gateway = Gateway::spawn_unmigrated(options()).await;
    let (status, _, body) = gateway.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["notReady"].as_array().unwrap().len(), 1, "{body}");
    assert!(
        body["notReady"][0].as_str().unwrap().starts_with("migrations"),
        "{body}"
    );

    gateway.readiness.mark_migrated();
    let (status, _, body) = gateway.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    gateway
        .backends
        .health
        .set_service_status(PROJECT_SETUP_SERVICE, tonic_health::ServingStatus::NotServing)
        .await;
    let (status, _, body) = gateway.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["notReady"],
        json!([format!("{PROJECT_SETUP_SERVICE}: NOT_SERVING")])
    );
}

#[tokio::test]
async fn readyz_names_a_backend_that_does_not_answer() {
    let nowhere = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
    let readiness = keel_gateway::Readiness::new(vec![("keel.crm.v1.CrmService".into(), nowhere)]);
    readiness.mark_migrated();
    let not_ready = readiness.check().await.unwrap_err();
    assert_eq!(not_ready.len(), 1);
    assert!(not_ready[0].starts_with("keel.crm.v1.CrmService: "), "{not_ready:?}");
}

#[tokio::test]
async fn healthz_graphiql_and_metrics_are_served_and_requests_are_counted() {
    let gateway = Gateway::spawn(options()).await;
    let (status, _, body) = gateway.get("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));

    let (status, content_type, page) = gateway.get("/graphql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("/graphql/ws"), "GraphiQL knows the subscription endpoint");

    gateway.graphql(None, "{ __typename }").await;
    gateway.get("/no-such-route").await;

    let (status, content_type, text) = gateway.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, keel_telemetry::METRICS_CONTENT_TYPE);
    assert!(text.contains("keel_http_requests_total"), "{text}");
    assert!(text.contains(r#"path="/graphql",status="401""#), "{text}");
    assert!(text.contains(r#"path="/healthz",status="200""#), "{text}");
    assert!(text.contains(r#"path="unmatched",status="404""#), "{text}");
    assert!(!text.contains("no-such-route"), "raw paths never become labels");
}

#[tokio::test]
async fn a_websocket_without_a_valid_token_is_refused() {
    let gateway = Gateway::spawn(options()).await;
    for payload in [json!({}), json!({ "Authorization": "Bearer not-a-jwt" })] {
        let mut ws = WsClient::connect(gateway.addr, "/graphql/ws").await;
        ws.send(&json!({ "type": "connection_init", "payload": payload })).await;
        match ws.next(Duration::from_secs(5)).await {
            Frame::Close(code, reason) => {
                assert_eq!(code, 1002);
                assert!(reason.starts_with("unauthenticated"), "{reason}");
            }
            other => panic!("expected the connection closed, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn setup_updates_streams_a_setup_whose_updated_at_moved() {
    let gateway = Gateway::spawn(options()).await;
    let mut ws = WsClient::connect(gateway.addr, "/graphql/ws").await;
    let ops = token(&[Role::Operations]);
    ws.send(&json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {ops}") } }))
        .await;
    match ws.next(Duration::from_secs(5)).await {
        Frame::Text(message) => assert_eq!(message["type"], "connection_ack", "{message}"),
        other => panic!("expected connection_ack, got {other:?}"),
    }
    ws.send(&json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": "subscription { setupUpdates { opportunityName state step updatedAt } }" },
    }))
    .await;

    // Wait for the baseline poll, then move one setup on.
    let recorded = gateway.backends.recorded.clone();
    tokio::time::timeout(Duration::from_secs(5), async {
        while recorded.list_setups_calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the subscription polls at once");
    {
        let mut setups = recorded.setups.lock().unwrap();
        let stuck = &mut setups[1];
        stuck.state = keel_proto::projectsetup::SetupState::Running as i32;
        stuck.step = "select-template".into();
        stuck.updated_at = Some(prost_types::Timestamp {
            seconds: 1_750_001_000,
            nanos: 0,
        });
    }

    match ws.next(keel_experience_operations::SETUP_POLL_INTERVAL * 3).await {
        Frame::Text(message) => {
            assert_eq!(message["type"], "next", "{message}");
            assert_eq!(message["id"], "1");
            assert_eq!(
                message["payload"]["data"]["setupUpdates"],
                json!({
                    "opportunityName": "Globex finance transformation",
                    "state": "RUNNING",
                    "step": "select-template",
                    "updatedAt": "2025-06-15T15:23:20+00:00",
                })
            );
        }
        other => panic!("expected a setup update, got {other:?}"),
    }
    let seen = recorded.authorizations.lock().unwrap().clone();
    assert!(
        seen.iter().all(|a| *a == format!("Bearer {ops}")),
        "polls run as the subscriber"
    );
}

#[tokio::test]
async fn setup_updates_is_forbidden_to_other_roles() {
    let gateway = Gateway::spawn(options()).await;
    let mut ws = WsClient::connect(gateway.addr, "/graphql/ws").await;
    let consultant = token(&[Role::Consultant]);
    ws.send(&json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {consultant}") } }))
        .await;
    assert!(matches!(ws.next(Duration::from_secs(5)).await, Frame::Text(m) if m["type"] == "connection_ack"));
    ws.send(&json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { setupUpdates { id } }" } }))
        .await;
    match ws.next(Duration::from_secs(5)).await {
        Frame::Text(message) => {
            let errors = if message["type"] == "error" {
                &message["payload"]
            } else {
                &message["payload"]["errors"]
            };
            assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(gateway.backends.recorded.list_setups_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn the_exported_sdl_is_the_reviewed_contract() {
    insta::assert_snapshot!("schema", keel_gateway::export_sdl());
}
