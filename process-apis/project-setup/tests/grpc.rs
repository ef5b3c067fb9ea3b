//! Project setup's gRPC service (`keel.projectsetup.v1`) served for real behind the
//! authentication layer: starting a setup by hand, who may, and the exception list.

mod support;

use keel_auth::Role;
use keel_proto::projectsetup::{GetSetupRequest, ListExceptionsRequest, SetupState, StartSetupRequest};
use support::{Harness, fast_options};
use tonic::Code;

fn start(opportunity_id: &str) -> StartSetupRequest {
    StartSetupRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        opportunity_id: opportunity_id.to_string(),
    }
}

/// The fields a refusal names.
fn fields(status: &tonic::Status) -> Vec<String> {
    keel_core::Error::from(status.clone())
        .field_violations()
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

#[tokio::test]
async fn start_setup_refuses_what_it_cannot_set_up_and_records_nothing() {
    let h = Harness::start().await;
    let service = h.serve_project_setup().await;
    let open = h.open_deal(|_| {}).await;

    let status = service
        .clone()
        .start_setup(h.as_role(Role::Operations, start(&open.id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("not won"), "{}", status.message());

    let status = service
        .clone()
        .start_setup(h.as_role(Role::Operations, start("42")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), ["opportunity_id"]);

    // A well-formed id CRM does not know is the caller's mistake too.
    let status = service
        .clone()
        .start_setup(h.as_role(Role::Operations, start(&uuid::Uuid::now_v7().to_string())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), ["opportunity_id"]);

    // A consultant may not start one, even for a won deal; nobody may without a token.
    h.win(&open.id).await;
    let status = service
        .clone()
        .start_setup(h.as_role(Role::Consultant, start(&open.id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = service
        .clone()
        .start_setup(tonic::Request::new(start(&open.id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    assert_eq!(h.setup_count().await, 0);
    assert_eq!(h.worker(fast_options()).run_due().await.unwrap(), 0);
    assert!(h.projects().await.is_empty());
}

#[tokio::test]
async fn start_setup_of_a_won_deal_sets_it_up_once() {
    let h = Harness::start().await;
    let service = h.serve_project_setup().await;
    let (deal, _) = h.won_deal(|_| {}).await;

    let first = service
        .clone()
        .start_setup(h.as_role(Role::Operations, start(&deal.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.state(), SetupState::Running);
    assert_eq!(first.opportunity_id, deal.id);
    // Again, by another caller and key: the same setup.
    let again = service
        .clone()
        .start_setup(h.as_role(Role::Service, start(&deal.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, first.id);
    assert_eq!(h.setup_count().await, 1);

    h.settle(&h.worker(fast_options()), &deal.id, 5).await;
    let done = service
        .clone()
        .get_setup(h.as_role(
            Role::ProjectManager,
            GetSetupRequest {
                id: first.id.clone(),
                opportunity_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state(), SetupState::Completed, "{done:?}");
    let projects = h.projects().await;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].id, done.project_id);
    assert_eq!(h.project_codes().await.len(), 1);
}

#[tokio::test]
async fn list_exceptions_pages_through_stopped_setups_only() {
    let h = Harness::start().await;
    let service = h.serve_project_setup().await;
    let worker = h.worker(fast_options());

    let mut stopped = Vec::new();
    for _ in 0..3 {
        let (deal, event) = h.won_deal(|o| o.sow_reference.clear()).await;
        h.deliver(&event).await;
        h.settle(&worker, &deal.id, 3).await;
        stopped.push(deal.id);
    }
    let (fine, event) = h.won_deal(|_| {}).await;
    h.deliver(&event).await;
    assert_eq!(h.settle(&worker, &fine.id, 5).await.state(), SetupState::Completed);

    let page = |token: String| ListExceptionsRequest {
        page_size: 2,
        page_token: token,
    };
    let first = service
        .clone()
        .list_exceptions(h.as_role(Role::Operations, page(String::new())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.setups.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = service
        .clone()
        .list_exceptions(h.as_role(Role::Finance, page(first.next_page_token.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.setups.len(), 1);
    assert_eq!(second.next_page_token, "", "the last page says so");

    let listed: Vec<String> = first
        .setups
        .iter()
        .chain(&second.setups)
        .map(|s| s.opportunity_id.clone())
        .collect();
    assert_eq!(listed, stopped, "each stopped setup once, oldest first");
    for setup in first.setups.iter().chain(&second.setups) {
        assert_eq!(setup.state(), SetupState::Exception);
        assert_eq!(setup.exception_code, "MISSING_FIELD");
        assert_eq!(setup.exception_fields, ["sow_reference"]);
    }

    let status = service
        .clone()
        .list_exceptions(h.as_role(Role::Operations, page("not-a-token".into())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), ["page_token"]);

    let status = service
        .clone()
        .list_exceptions(h.as_role(Role::Consultant, page(String::new())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}
