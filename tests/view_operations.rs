//! The operations view through the real HTTP endpoint of `keel up`, after the whole delivery
//! scenario: the workflows' counts and exception queue, each system's health and the ERP
//! posting queue, with the figures the scenario left, and an instance taken out of the
//! exception queue with a note. Each query makes at most one call per service and kind.

mod common;

use common::Keel;
use keel_auth::Role;
use keel_proto::common::PageRequest;
use keel_proto::psa::{ListTimeEntriesRequest, TimeEntryState};
use keel_proto::timecapture::PostApprovedTimeRequest;
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use serde_json::{Value, json};

const VIEW: &str = "{ operations {
    processApis { name counts { kind status count } exceptions(first: 10) { nodes { id kind status reason } nextCursor } }
    integrationHealth { system state latestIncident { firstError } }
    postingQueue { waiting exceptions posted erp erpDownSince }
} }";

/// Every backend call of the response, asserting none was made twice.
fn assert_one_call_each(body: &Value) {
    let calls = body["extensions"]["backendCalls"]
        .as_object()
        .expect("backend calls reported");
    assert!(!calls.is_empty(), "{body}");
    for (what, count) in calls {
        assert_eq!(count, 1, "{what} was called {count} times: {body}");
    }
}

async fn posted_entries(keel: &Keel, project_id: &str) -> u64 {
    let request = ListTimeEntriesRequest {
        project_id: project_id.into(),
        employee_id: String::new(),
        state: TimeEntryState::Posted as i32,
        page: Some(PageRequest {
            page_size: 500,
            page_token: String::new(),
        }),
        ..Default::default()
    };
    let entries = keel
        .psa()
        .list_time_entries(keel.request(Role::Admin, request))
        .await
        .unwrap()
        .into_inner()
        .entries;
    entries.len() as u64
}

#[tokio::test]
async fn operations_reads_the_workflows_the_scenario_ran_and_clears_an_exception() {
    let keel = Keel::start().await;
    let delivered = common::scenario::deliver(&keel).await;
    let posted = posted_entries(&keel, &delivered.initial.id).await;
    assert!(posted > 0, "the scenario posts time");

    let (status, body) = keel.graphql(Some(Role::Operations), VIEW).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let view = &body["data"]["operations"];
    let apis = view["processApis"].as_array().unwrap();
    assert_eq!(apis.len(), 1, "embedded, one admin serves every engine: {view}");
    assert_eq!(apis[0]["name"], "keel");
    let count = |kind: &str, status: &str| {
        apis[0]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind && c["status"] == status)
            .map_or(0, |c| c["count"].as_u64().unwrap())
    };
    assert_eq!(
        count("time-posting", "done"),
        posted,
        "one posting per posted entry: {view}"
    );
    assert_eq!(count("staffing", "done"), 1, "{view}");
    assert_eq!(apis[0]["exceptions"]["nodes"], json!([]), "{view}");
    let health = view["integrationHealth"].as_array().unwrap();
    let systems: Vec<&str> = health.iter().map(|h| h["system"].as_str().unwrap()).collect();
    assert_eq!(
        systems,
        ["crm", "psa", "erp", "hris", "documents", "collaboration", "support"]
    );
    assert!(health.iter().all(|h| h["state"] == "UP"), "{view}");
    assert_eq!(
        view["postingQueue"],
        json!({ "waiting": 0, "exceptions": 0, "posted": posted, "erp": "UP", "erpDownSince": null })
    );
    assert_one_call_each(&body);

    // A posting of an entry PSA does not have stops in the exception queue, and operations
    // resolves it with a note.
    let missing = "0190f2a0-0000-7000-8000-00000000beef";
    TimeCaptureServiceClient::new(keel.channel())
        .post_approved_time(keel.request(
            Role::Finance,
            PostApprovedTimeRequest {
                time_entry_ids: vec![missing.into()],
            },
        ))
        .await
        .unwrap();
    let exception = common::eventually(common::scenario::WAIT, || async {
        let (_, body) = keel.graphql(Some(Role::Operations), VIEW).await;
        let nodes = body["data"]["operations"]["processApis"][0]["exceptions"]["nodes"].clone();
        nodes.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(exception["kind"], "time-posting", "{exception}");
    assert_eq!(exception["status"], "exception");
    let (_, body) = keel.graphql(Some(Role::Operations), VIEW).await;
    assert_eq!(body["data"]["operations"]["postingQueue"]["exceptions"], 1, "{body}");

    let resolve = "mutation($id: ID!) { resolveInstance(id: $id, note: \"entry was deleted in PSA; nothing to post\") { id status note } }";
    let (_, refused) = keel
        .graphql_with(
            Some(keel.token(Role::Consultant)),
            resolve,
            json!({ "id": exception["id"] }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let (_, body) = keel
        .graphql_with(
            Some(keel.token(Role::Operations)),
            resolve,
            json!({ "id": exception["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["resolveInstance"]["status"], "resolved", "{body}");
    assert_eq!(
        body["data"]["resolveInstance"]["note"],
        "entry was deleted in PSA; nothing to post"
    );
    let (_, body) = keel.graphql(Some(Role::Operations), VIEW).await;
    assert_eq!(
        body["data"]["operations"]["processApis"][0]["exceptions"]["nodes"],
        json!([])
    );

    // An id that is not one the view gave names `id`.
    let (_, body) = keel
        .graphql_with(
            Some(keel.token(Role::Operations)),
            resolve,
            json!({ "id": "not-an-instance" }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["fieldViolations"][0]["field"], "id",
        "{body}"
    );
}
