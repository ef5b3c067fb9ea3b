//! The close-out in `keel up`: the invoice of a project's last milestone, issued in ERP, starts
//! its close-out through the event bus; it closes the project in PSA and serves a review
//! whose exception history it read from this process's own workflow admin over gRPC: the
//! billing-readiness exception the milestone raised (its deliverable was never accepted).

mod common;

use std::time::Duration;

use common::{Keel, eventually};
use keel_auth::Role;
use keel_proto::closeout::close_out_service_client::CloseOutServiceClient;
use keel_proto::closeout::{GetCloseOutRequest, GetReviewRequest};
use keel_proto::common::Money;
use keel_proto::erp::create_draft_invoice_request::Source;
use keel_proto::erp::{
    CreateBillingMilestoneRequest, CreateDraftInvoiceRequest, CreateLegalEntityRequest, CreateProjectCodeRequest,
    IssueInvoiceRequest, MarkMilestoneReachedRequest,
};
use keel_proto::psa::{
    CreateProjectRequest, DeliveryTemplate, GetProjectRequest, ProjectStatus, TemplateMilestone, TemplatePhase,
    TemplateTask, UpdateProjectStatusRequest, UpsertDeliveryTemplateRequest,
};
use keel_proto::workflow::ListInstancesRequest;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;

const WAIT: Duration = Duration::from_secs(30);

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

#[tokio::test]
async fn the_last_milestones_invoice_closes_the_project_out_in_keel_up() {
    let keel = Keel::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(keel.channel());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "keel.closeout.v1.CloseOutService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // A one-milestone project in PSA, its project code and milestone in ERP.
    let mut psa = keel.psa();
    psa.upsert_delivery_template(keel.request(
        Role::Admin,
        UpsertDeliveryTemplateRequest {
            idempotency_key: "close-out-e2e-template".into(),
            template: Some(DeliveryTemplate {
                id: "close-out-e2e".into(),
                name: "Health check".into(),
                version: 0,
                service_line: String::new(),
                contract_type: String::new(),
                region: String::new(),
                client_tier: String::new(),
                phases: vec![TemplatePhase {
                    name: "Assess".into(),
                    tasks: vec![TemplateTask {
                        name: "Review".into(),
                        role: "consultant".into(),
                        hours: "40".into(),
                    }],
                }],
                milestones: vec![TemplateMilestone {
                    name: "Report".into(),
                    percent_of_fee: "100".into(),
                    due_after_days: 30,
                }],
            }),
        },
    ))
    .await
    .unwrap();
    let project = psa
        .create_project(keel.request(
            Role::Admin,
            CreateProjectRequest {
                idempotency_key: "close-out-e2e-project".into(),
                opportunity_id: uuid::Uuid::now_v7().to_string(),
                account_id: uuid::Uuid::now_v7().to_string(),
                name: "ERP health check".into(),
                template_id: "close-out-e2e".into(),
                service_line: "erp-deployment".into(),
                contract_type: "fixed-fee".into(),
                region: "emea".into(),
                client_tier: "enterprise".into(),
                contract_value: eur("12000.00"),
                start_date: "2026-12-01".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    psa.update_project_status(keel.request(
        Role::Admin,
        UpdateProjectStatusRequest {
            idempotency_key: "close-out-e2e-activate".into(),
            project_id: project.id.clone(),
            status: ProjectStatus::Active as i32,
            expected_version: project.version,
        },
    ))
    .await
    .unwrap();
    let mut erp = keel.erp();
    erp.create_legal_entity(keel.request(
        Role::Admin,
        CreateLegalEntityRequest {
            idempotency_key: "close-out-e2e-entity".into(),
            code: "KEEL-E2E".into(),
            name: "Keel Consulting Ltd".into(),
            functional_currency: "EUR".into(),
            country: "GB".into(),
        },
    ))
    .await
    .unwrap();
    let code = erp
        .create_project_code(keel.request(
            Role::Admin,
            CreateProjectCodeRequest {
                idempotency_key: "close-out-e2e-code".into(),
                project_id: project.id.clone(),
                name: project.name.clone(),
                legal_entity: "KEEL-E2E".into(),
                currency: "EUR".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .code;
    let milestone = erp
        .create_billing_milestone(keel.request(
            Role::Admin,
            CreateBillingMilestoneRequest {
                idempotency_key: "close-out-e2e-milestone".into(),
                project_code: code.clone(),
                name: "Report".into(),
                amount: eur("12000.00"),
                due_date: "2026-12-31".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    // The milestone reached: billing readiness finds its deliverable not accepted and raises
    // an exception (left open). Then invoiced by hand and issued: ERP emits erp.invoice.issued.
    let reached = erp
        .mark_milestone_reached(keel.request(
            Role::Admin,
            MarkMilestoneReachedRequest {
                idempotency_key: "close-out-e2e-reached".into(),
                milestone_id: milestone.id.clone(),
                expected_version: milestone.version,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let admin = WorkflowAdminServiceClient::new(keel.channel());
    let readiness = eventually(WAIT, || {
        let mut admin = admin.clone();
        let request = keel.request(Role::Operations, ListInstancesRequest::default());
        let project_id = project.id.clone();
        async move {
            let queue = admin.list_instances(request).await.ok()?.into_inner().instances;
            queue
                .into_iter()
                .find(|i| i.kind == "billing-readiness" && i.business_key.starts_with(&project_id))
        }
    })
    .await;
    let draft = erp
        .create_draft_invoice(keel.request(
            Role::Admin,
            CreateDraftInvoiceRequest {
                idempotency_key: "close-out-e2e-draft".into(),
                project_code: code.clone(),
                source: Some(Source::MilestoneId(reached.id.clone())),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    erp.issue_invoice(keel.request(
        Role::Admin,
        IssueInvoiceRequest {
            idempotency_key: "close-out-e2e-issue".into(),
            invoice_id: draft.id.clone(),
            expected_version: draft.version,
            issue_date: "2026-12-31".into(),
        },
    ))
    .await
    .unwrap();

    let mut close_outs = CloseOutServiceClient::new(keel.channel());
    let done = eventually(WAIT, || {
        let mut close_outs = close_outs.clone();
        let request = keel.request(
            Role::Finance,
            GetCloseOutRequest {
                project_id: project.id.clone(),
            },
        );
        async move {
            let close_out = close_outs.get_close_out(request).await.ok()?.into_inner();
            (close_out.status == "DONE").then_some(close_out)
        }
    })
    .await;
    assert_eq!(done.owning_team, "finance");
    let closed = psa
        .get_project(keel.request(
            Role::Admin,
            GetProjectRequest {
                id: project.id.clone(),
                opportunity_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.status, ProjectStatus::Closed as i32);
    let review = close_outs
        .get_review(keel.request(
            Role::Executive,
            GetReviewRequest {
                project_id: project.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(review.revenue.unwrap().amount, "12000.00");
    assert_eq!(review.cost.unwrap().amount, "0.00");
    assert_eq!(review.margin.unwrap().amount, "12000.00");
    assert_eq!(review.margin_percent, "100.00");
    assert_eq!(review.exceptions.len(), 1, "{:?}", review.exceptions);
    let exception = &review.exceptions[0];
    assert_eq!(exception.instance_id, readiness.id);
    assert_eq!(exception.kind, "billing-readiness");
    assert_eq!(exception.reason, "FAILED_PRECONDITION");
    assert!(
        exception.error.contains("DELIVERABLE_NOT_ACCEPTED"),
        "{}",
        exception.error
    );
    assert_eq!(exception.outcome, "", "still in the queue");
    assert_eq!(review.exceptions_open, 1);
    assert!(!review.exceptions_truncated);
}
