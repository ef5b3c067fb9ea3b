//! The workflow admin API over real gRPC on loopback: operations works the exception queue,
//! other roles are refused, and a submitter cannot decide their own request.

mod support;

use keel_auth::Role;
use keel_conformance::Harness;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_proto::workflow::{
    DecideApprovalRequest, GetCountsRequest, ListApprovalsRequest, ListExceptionHistoryRequest, ListInstancesRequest,
    ResolveInstanceRequest, RetryInstanceRequest,
};
use serde_json::json;
use support::{Ledger, engine, settle, store};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn operations_works_the_exception_queue_over_grpc_and_others_cannot() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    let bad = engine
        .start("posting", "te-7", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    let waiting = engine
        .start("approval", "rr-7", json!({ "submitter": "alice" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&engine).await;

    let harness = Harness::serve(keel_workflow::admin::server(engine.clone())).await;
    let mut client = WorkflowAdminServiceClient::new(harness.channel());

    let queue = client
        .list_instances(harness.reader(Role::Operations, ListInstancesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(queue.instances.len(), 1);
    assert_eq!(queue.instances[0].id, bad.id.to_string());
    assert_eq!(queue.instances[0].reason, "INVALID_INPUT");
    assert_eq!(queue.instances[0].step, "validate");

    let refused = client
        .retry_instance(harness.reader(Role::Consultant, RetryInstanceRequest { id: bad.id.to_string() }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let no_note = client
        .resolve_instance(harness.request_as(
            "olga",
            Role::Operations,
            ResolveInstanceRequest {
                id: bad.id.to_string(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(no_note.code(), Code::InvalidArgument);
    assert_eq!(
        no_note.get_details_bad_request().unwrap().field_violations[0].field,
        "note"
    );

    let resolved = client
        .resolve_instance(harness.request_as(
            "olga",
            Role::Operations,
            ResolveInstanceRequest {
                id: bad.id.to_string(),
                note: "posted by hand in the ERP".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status, "resolved");
    let history = keel_store::audit::history(&db, "workflow_instance", &bad.id.to_string())
        .await
        .unwrap();
    assert_eq!(history.last().unwrap().actor, "olga");

    let approvals = client
        .list_approvals(harness.request_as("fiona", Role::Finance, ListApprovalsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approvals.approvals.len(), 1);
    let self_approval = client
        .decide_approval(harness.request_as(
            "alice",
            Role::Finance,
            DecideApprovalRequest {
                instance_id: waiting.id.to_string(),
                approve: true,
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(self_approval.code(), Code::PermissionDenied);
    let approved = client
        .decide_approval(harness.request_as(
            "fiona",
            Role::Finance,
            DecideApprovalRequest {
                instance_id: waiting.id.to_string(),
                approve: true,
                note: "margin holds".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.status, "running");
    settle(&engine).await;

    let counts = client
        .get_counts(harness.reader(Role::Executive, GetCountsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts.by_status["done"], 1);
    assert_eq!(counts.by_status["resolved"], 1);
    assert_eq!(counts.by_status["exception"], 0);

    // "any" lists both, whatever their status.
    let every = client
        .list_instances(harness.reader(
            Role::Operations,
            ListInstancesRequest {
                status: keel_workflow::admin::ANY_STATUS.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .instances;
    let mut statuses: Vec<&str> = every.iter().map(|i| i.status.as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["done", "resolved"]);

    let bad_status = client
        .list_instances(harness.reader(
            Role::Operations,
            ListInstancesRequest {
                status: "stuck".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        bad_status.get_details_bad_request().unwrap().field_violations[0].field,
        "status"
    );
}

/// `keel up` runs several process APIs, each on its own store: one admin serves them all.
#[tokio::test]
async fn one_admin_over_several_engines_merges_their_queues_and_acts_on_the_right_one() {
    let (_first_store, first_db) = store().await;
    let (_second_store, second_db) = store().await;
    let first = engine(&first_db, &Ledger::new(first_db.clone()), "a");
    let second = engine(&second_db, &Ledger::new(second_db.clone()), "b");
    let early = first
        .start("posting", "te-1", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    let late = second
        .start("posting", "te-2", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&first).await;
    settle(&second).await;

    let harness = Harness::serve(keel_workflow::admin::server_over(vec![first.clone(), second.clone()])).await;
    let mut client = WorkflowAdminServiceClient::new(harness.channel());
    let queue = client
        .list_instances(harness.reader(Role::Operations, ListInstancesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = queue.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [early.id.to_string(), late.id.to_string()],
        "both queues, oldest first"
    );
    let counts = client
        .get_counts(harness.reader(Role::Operations, GetCountsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts.by_status.get("exception"), Some(&2));
    let by_kind: Vec<(&str, &str, u64)> = counts
        .by_kind
        .iter()
        .map(|k| (k.kind.as_str(), k.status.as_str(), k.count))
        .collect();
    assert_eq!(
        by_kind,
        [("posting", "exception", 1), ("posting", "exception", 1)],
        "one row per engine, kind and status"
    );

    // Resolving the second engine's instance reaches the second engine.
    client
        .resolve_instance(harness.request_as(
            "olga",
            Role::Operations,
            ResolveInstanceRequest {
                id: late.id.to_string(),
                note: "fixed by hand".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        second.instance(late.id).await.unwrap().status,
        keel_workflow::Status::Resolved
    );
    assert_eq!(
        first.instance(early.id).await.unwrap().status,
        keel_workflow::Status::Exception
    );
    let unknown = client
        .retry_instance(harness.reader(
            Role::Operations,
            RetryInstanceRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

/// The exception history is read back from the audit log: each stay in the queue with why it
/// was raised and when, how and by whom it was taken out, over every engine of the process.
#[tokio::test]
async fn the_exception_history_shows_each_stay_in_the_queue_and_how_long_it_lasted() {
    let (_first_store, first_db) = store().await;
    let (_second_store, second_db) = store().await;
    let first = engine(&first_db, &Ledger::new(first_db.clone()), "first");
    let second = engine(&second_db, &Ledger::new(second_db.clone()), "second");
    let before = chrono::Utc::now();
    // Refused twice: raised, retried (raised again), then resolved by hand.
    let twice = first
        .start("posting", "te-1", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    // Refused once and still in the queue.
    let open = second
        .start("posting", "te-2", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&first).await;
    settle(&second).await;

    let harness = Harness::serve(keel_workflow::admin::server_over(vec![first.clone(), second.clone()])).await;
    let mut client = WorkflowAdminServiceClient::new(harness.channel());
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    client
        .retry_instance(harness.request_as(
            "olga",
            Role::Operations,
            RetryInstanceRequest {
                id: twice.id.to_string(),
            },
        ))
        .await
        .unwrap();
    settle(&first).await;
    client
        .resolve_instance(harness.request_as(
            "oscar",
            Role::Operations,
            ResolveInstanceRequest {
                id: twice.id.to_string(),
                note: "entered by hand".into(),
            },
        ))
        .await
        .unwrap();

    let history = client
        .list_exception_history(harness.reader(
            Role::Finance,
            ListExceptionHistoryRequest {
                page: None,
                raised_since: Some(keel_core::time::to_timestamp(before)),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .episodes;
    assert_eq!(history.len(), 3, "{history:?}");
    let of = |id: uuid::Uuid| history.iter().filter(move |e| e.instance_id == id.to_string());
    let twice_episodes: Vec<_> = of(twice.id).collect();
    assert_eq!(twice_episodes.len(), 2);
    assert_eq!(twice_episodes[0].outcome, "retried");
    assert_eq!(twice_episodes[0].closed_by, "olga");
    assert_eq!(twice_episodes[1].outcome, "resolved");
    assert_eq!(twice_episodes[1].closed_by, "oscar");
    assert_eq!(twice_episodes[1].note, "entered by hand");
    let seconds = |t: &Option<prost_types::Timestamp>| {
        let t = t.as_ref().unwrap();
        t.seconds as f64 + f64::from(t.nanos) / 1e9
    };
    let first_stay = seconds(&twice_episodes[0].closed_at) - seconds(&twice_episodes[0].raised_at);
    assert!(
        first_stay >= 0.05,
        "it stayed in the queue the 60 ms before the retry: {first_stay}"
    );
    for episode in &twice_episodes {
        assert_eq!(episode.kind, "posting");
        assert_eq!(episode.business_key, "te-1");
        assert_eq!(episode.reason, "INVALID_INPUT");
        assert!(!episode.error.is_empty());
        assert_eq!(episode.owning_team, "finance-operations");
    }
    let still_open: Vec<_> = of(open.id).collect();
    assert_eq!(still_open.len(), 1);
    assert_eq!(still_open[0].outcome, "", "still in the queue");
    assert!(still_open[0].closed_at.is_none());

    // Paged one at a time, in the order raised, nothing lost or repeated.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = client
            .list_exception_history(harness.reader(
                Role::Operations,
                ListExceptionHistoryRequest {
                    page: Some(keel_proto::common::PageRequest {
                        page_size: 1,
                        page_token: token.clone(),
                    }),
                    raised_since: Some(keel_core::time::to_timestamp(before)),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.episodes.into_iter().map(|e| e.id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, history.iter().map(|e| e.id.clone()).collect::<Vec<_>>());

    let refused = client
        .list_exception_history(harness.reader(Role::Consultant, ListExceptionHistoryRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}
