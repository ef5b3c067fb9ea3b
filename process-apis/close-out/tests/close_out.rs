//! The close-out over the real reference PSA, ERP, documents and collaboration on loopback
//! gRPC: a delivered project closes out with a review whose figures follow from what was set
//! up; work left blocks it until it is fixed and retried; only the last milestone's invoice
//! starts one, once; bad input is refused naming the field.

mod support;

use std::collections::BTreeMap;

use chrono::Months;
use keel_auth::Role;
use keel_close_out::InvoiceIssuedConsumer;
use keel_close_out::consumer::{INVOICE_ISSUED, Outcome};
use keel_close_out::workflow::KIND;
use keel_events::EventEnvelope;
use keel_proto::closeout::{GetCloseOutRequest, GetReviewRequest, ListCloseOutsRequest, Review, StartCloseOutRequest};
use keel_proto::collaboration::WorkspaceStatus;
use keel_proto::erp::InvoiceEvent;
use keel_proto::psa::ProjectStatus;
use keel_proto::workflow::RetryInstanceRequest;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_workflow::Status;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::json;
use support::{Delivered, Leave, Platform, amount, d, settle};
use tonic::Code;
use tonic_types::StatusExt;

fn money(review_money: &Option<keel_proto::common::Money>) -> Decimal {
    let money = review_money.as_ref().expect("money");
    assert_eq!(money.currency, "EUR");
    d(&money.amount)
}

fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

/// The review's figures computed here, independently, from what the harness set up.
fn assert_review_follows_from(review: &Review, delivered: &Delivered) {
    let revenue: Decimal = delivered.invoices.iter().map(|i| amount(&i.total)).sum();
    let time_cost: Decimal = delivered.time.iter().map(|(_, cost)| *cost).sum();
    let expense_cost: Decimal = delivered.expenses.iter().map(|(_, cost)| *cost).sum();
    let cost = time_cost + expense_cost;
    let margin = revenue - cost;
    assert_eq!(money(&review.revenue), revenue);
    assert_eq!(review.invoices as usize, delivered.invoices.len());
    assert_eq!(money(&review.time_cost), time_cost);
    assert_eq!(money(&review.expense_cost), expense_cost);
    assert_eq!(money(&review.other_cost), Decimal::ZERO);
    assert_eq!(money(&review.cost), cost);
    assert_eq!(money(&review.margin), margin, "margin = invoiced - posted cost");
    assert_eq!(
        d(&review.margin_percent),
        round2(margin * Decimal::ONE_HUNDRED / revenue)
    );

    // Effort: posted hours by role against the baseline (which the applied change order moved).
    let mut hours: BTreeMap<String, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    for line in &delivered.project.budget_baseline.as_ref().unwrap().lines {
        hours.entry(line.role.clone()).or_default().0 += d(&line.hours);
    }
    for (entry, cost) in &delivered.time {
        let role = hours.entry(entry.role.clone()).or_default();
        role.1 += d(&entry.hours);
        role.2 += *cost;
    }
    assert_eq!(review.effort.len(), hours.len());
    let mut baseline_cost = Decimal::ZERO;
    for effort in &review.effort {
        let (baseline, actual, role_cost) = hours[&effort.role];
        assert_eq!(d(&effort.baseline_hours), baseline, "{}", effort.role);
        assert_eq!(d(&effort.actual_hours), actual, "{}", effort.role);
        assert_eq!(d(&effort.hours_variance), actual - baseline, "{}", effort.role);
        assert_eq!(money(&effort.cost), role_cost, "{}", effort.role);
        assert_eq!(effort.cost_rate_source, "ROLE");
        baseline_cost += baseline * role_cost / actual;
    }
    let baseline_cost = round2(baseline_cost);
    let contract = amount(&delivered.project.contract_value);
    assert_eq!(money(&review.contract_value), contract);
    assert_eq!(money(&review.baseline_cost), baseline_cost);
    assert_eq!(money(&review.baseline_margin), contract - baseline_cost);
    assert_eq!(money(&review.margin_variance), margin - (contract - baseline_cost));
}

#[tokio::test]
async fn a_fully_invoiced_project_closes_out_with_a_review_computed_from_its_records() {
    let platform = Platform::start().await;
    let delivered = platform.delivered(Leave::default()).await;
    let project_id = delivered.project.id.clone();
    // An exception about another project's entry: not this project's.
    let stranger = uuid::Uuid::now_v7().to_string();
    platform
        .delivery_posting
        .refusing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    platform
        .delivery
        .start("time-posting", &stranger, json!({}), json!({}), "test")
        .await
        .unwrap();
    settle(&platform.delivery).await;

    let mut client = platform.close_outs();
    let started = client
        .start_close_out(platform.as_role(
            Role::Finance,
            StartCloseOutRequest {
                project_id: project_id.clone(),
                idempotency_key: "close-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(started.created);
    assert_eq!(started.status, "RUNNING");
    settle(&platform.engine("worker-a")).await;

    let close_out = platform.get(&project_id).await;
    assert_eq!(close_out.status, "DONE", "{close_out:?}");
    assert_eq!(close_out.close_out_id, started.close_out_id);
    assert!(
        close_out.steps.iter().all(|s| s.outcome == "DONE"),
        "{:?}",
        close_out.steps
    );
    assert_eq!(
        close_out.steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(),
        [
            "check",
            "archive-workspace",
            "apply-retention",
            "close-project",
            "review"
        ]
    );
    assert_eq!(close_out.owning_team, "finance");
    assert!(
        close_out.versions_json.contains("test-policy-7"),
        "{}",
        close_out.versions_json
    );
    let close_date = chrono::NaiveDate::parse_from_str(&close_out.close_date, "%Y-%m-%d").unwrap();
    assert_eq!(close_date, chrono::Utc::now().date_naive());

    // The effects, as the systems hold them.
    let workspace = platform.workspace(&project_id).await;
    assert_eq!(workspace.status, WorkspaceStatus::Archived as i32);
    assert_eq!(close_out.workspace_id, delivered.workspace.id);
    let sow = platform.document(&delivered.sow.id).await;
    assert_eq!(
        sow.retain_until,
        (close_date + Months::new(7 * 12)).to_string(),
        "the SOW is kept seven years from the close"
    );
    assert_eq!((close_out.documents, close_out.documents_changed), (1, 1));
    let project = platform.project(&project_id).await;
    assert_eq!(project.status, ProjectStatus::Closed as i32);

    // Asking again answers the same close-out.
    let again = client
        .start_close_out(platform.as_role(
            Role::ProjectManager,
            StartCloseOutRequest {
                project_id: project_id.clone(),
                idempotency_key: "close-2".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(
        (again.close_out_id, again.status.as_str()),
        (started.close_out_id, "DONE")
    );

    let review = platform.review(&project_id).await;
    assert_eq!(review.project_id, project_id);
    assert_eq!(review.project_code, delivered.project_code);
    assert_eq!(review.close_date, close_out.close_date);
    assert_review_follows_from(&review, &delivered);
    // The same figures by hand: 7.5 h and 4 h at 90.00, 10 h at 60.00, 245.50 of travel
    // against 30000.00 + 70000.00 invoiced; baseline 100 h architect and 300 + 20 h consultant
    // at those rates against 100000.00 + 2000.00.
    assert_eq!(money(&review.cost), d("1880.50"));
    assert_eq!(money(&review.margin), d("98119.50"));
    assert_eq!(review.margin_percent, "98.12");
    assert_eq!(money(&review.baseline_cost), d("28200.00"));
    assert_eq!(money(&review.baseline_margin), d("73800.00"));
    assert_eq!(review.baseline_margin_percent, "72.35");
    assert_eq!(money(&review.original_contract_value), d("100000.00"));
    assert_eq!(
        (review.baseline_hours.as_str(), review.actual_hours.as_str()),
        ("420", "21.5")
    );

    let changes = review.change_orders.as_ref().unwrap();
    assert_eq!((changes.count, changes.applied), (2, 1));
    assert_eq!(money(&changes.applied_budget_delta), d("2000.00"));
    assert_eq!(changes.applied_hours_delta, "20");
    let mut states: Vec<&str> = changes.change_requests.iter().map(|c| c.state.as_str()).collect();
    states.sort();
    assert_eq!(states, ["APPLIED", "REJECTED"]);

    // The exception raised about the first time entry, and how long it took to resolve.
    assert_eq!(review.exceptions.len(), 1, "{:?}", review.exceptions);
    let exception = &review.exceptions[0];
    assert_eq!(exception.kind, "time-posting");
    assert_eq!(exception.business_key, delivered.time[0].0.id);
    assert_eq!(exception.instance_id, delivered.exception_instance.unwrap().to_string());
    assert_eq!(exception.reason, "FAILED_PRECONDITION");
    assert!(exception.error.contains("period"), "{}", exception.error);
    assert_eq!(
        (exception.outcome.as_str(), exception.closed_by.as_str()),
        ("retried", "olga")
    );
    let took = exception.time_to_resolve.unwrap();
    assert!(
        took.seconds > 0 || took.nanos >= 60_000_000,
        "it waited 60 ms for operations: {took:?}"
    );
    assert_eq!(review.exceptions_open, 0);
    assert_eq!(review.longest_resolution, exception.time_to_resolve);
    assert!(!review.exceptions_truncated);
}

#[tokio::test]
async fn work_left_blocks_the_close_out_until_finance_fixes_it_and_operations_retries() {
    let platform = Platform::start().await;
    let delivered = platform
        .delivered(Leave {
            unposted_entry: true,
            uninvoiced_milestone: true,
            no_exception: true,
        })
        .await;
    let project_id = delivered.project.id.clone();
    let unposted = delivered.time.last().unwrap().0.clone();
    let uninvoiced = delivered.milestones[1].clone();
    let engine = platform.engine("worker-a");
    let id = platform.start_close_out(&engine, &project_id).await;
    settle(&engine).await;

    let blocked = platform.get(&project_id).await;
    assert_eq!(blocked.status, "EXCEPTION");
    assert_eq!(blocked.step, "check");
    assert_eq!(blocked.reason, "FAILED_PRECONDITION");
    assert_eq!(blocked.owning_team, "finance");
    for item in [
        format!("time_entry {} (approved, not posted)", unposted.id),
        format!("billing_milestone {} (reached, not invoiced)", uninvoiced.id),
    ] {
        assert!(blocked.last_error.contains(&item), "{item} in {}", blocked.last_error);
    }
    assert!(blocked.last_error.contains("2 item(s)"), "{}", blocked.last_error);
    // Nothing was done meanwhile.
    assert_eq!(
        platform.workspace(&project_id).await.status,
        WorkspaceStatus::Active as i32
    );
    assert_eq!(platform.project(&project_id).await.status, ProjectStatus::Active as i32);
    assert_eq!(
        platform.document(&delivered.sow.id).await.version,
        delivered.sow.version
    );
    let not_yet = platform
        .close_outs()
        .get_review(platform.as_role(
            Role::Finance,
            GetReviewRequest {
                project_id: project_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(not_yet.code(), Code::NotFound);

    // Finance posts the entry and invoices the milestone; operations retries.
    let mut delivered = delivered;
    let fixed = platform
        .post_entry(&delivered.project_code, unposted, support::ARCHITECT_COST)
        .await;
    *delivered.time.last_mut().unwrap() = fixed;
    delivered
        .invoices
        .push(platform.invoice(&delivered.project_code, &uninvoiced.id).await);
    let mut admin = WorkflowAdminServiceClient::new(platform.admin.channel());
    admin
        .retry_instance(platform.admin.request_as(
            "olga",
            Role::Operations,
            RetryInstanceRequest { id: id.to_string() },
        ))
        .await
        .unwrap();
    settle(&engine).await;

    let done = platform.get(&project_id).await;
    assert_eq!(done.status, "DONE", "{done:?}");
    assert_eq!(platform.project(&project_id).await.status, ProjectStatus::Closed as i32);
    let review = platform.review(&project_id).await;
    assert_review_follows_from(&review, &delivered);
    // The block itself is on the record: the close-out's own exception, retried.
    assert_eq!(review.exceptions.len(), 1, "{:?}", review.exceptions);
    let own = &review.exceptions[0];
    assert_eq!(
        (own.kind.as_str(), own.business_key.as_str()),
        (KIND, project_id.as_str())
    );
    assert_eq!(own.reason, "FAILED_PRECONDITION");
    assert_eq!((own.outcome.as_str(), own.closed_by.as_str()), ("retried", "olga"));
    assert!(own.error.contains(&uninvoiced.id));
}

#[tokio::test]
async fn only_the_last_milestones_invoice_starts_a_close_out_and_a_redelivery_starts_nothing() {
    let platform = Platform::start().await;
    let delivered = platform
        .delivered(Leave {
            uninvoiced_milestone: true,
            no_exception: true,
            ..Leave::default()
        })
        .await;
    let project_id = delivered.project.id.clone();
    let engine = platform.engine("worker-a");
    let consumer = InvoiceIssuedConsumer::new(engine.clone(), platform.downstream.clone(), platform.policy.clone());
    let event = |invoice: &keel_proto::erp::Invoice| {
        EventEnvelope::new(
            INVOICE_ISSUED,
            "erp",
            &invoice.id,
            &InvoiceEvent {
                invoice: Some(invoice.clone()),
            },
        )
    };

    // The kickoff's invoice: the go-live is still to invoice.
    let first = event(&delivered.invoices[0]);
    assert_eq!(
        consumer.apply(&first).await.unwrap(),
        Outcome::MilestonesLeft {
            project_id: project_id.clone(),
            left: 1
        }
    );
    assert!(engine.find(KIND, &project_id).await.unwrap().is_none());

    // An invoice that bills no milestone starts nothing either.
    let mut time_and_materials = delivered.invoices[0].clone();
    time_and_materials
        .lines
        .iter_mut()
        .for_each(|l| l.source = "time:x".into());
    assert_eq!(
        consumer.apply(&event(&time_and_materials)).await.unwrap(),
        Outcome::NotAMilestoneInvoice
    );

    // The go-live's invoice is the last: the close-out starts, once.
    let last_invoice = platform
        .invoice(&delivered.project_code, &delivered.milestones[1].id)
        .await;
    let last = event(&last_invoice);
    assert_eq!(
        consumer.apply(&last).await.unwrap(),
        Outcome::Started {
            project_id: project_id.clone()
        }
    );
    assert_eq!(consumer.apply(&last).await.unwrap(), Outcome::Duplicate);
    let view = engine.find(KIND, &project_id).await.unwrap().unwrap();
    assert_eq!(view.versions, json!({ "close_out_policy": "test-policy-7" }));
    settle(&engine).await;
    assert_eq!(platform.get(&project_id).await.status, "DONE");
    // Issued again under a new event id (a replayed outbox), after the close-out is done.
    assert_eq!(
        consumer.apply(&event(&last_invoice)).await.unwrap(),
        Outcome::AlreadyClosedOut
    );

    let listed = platform
        .close_outs()
        .list_close_outs(platform.as_role(Role::Operations, ListCloseOutsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .close_outs;
    assert_eq!(listed.len(), 1, "one close-out for the project");
    let done = platform
        .close_outs()
        .list_close_outs(platform.as_role(
            Role::Operations,
            ListCloseOutsRequest {
                page: None,
                status: "DONE".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .close_outs;
    assert_eq!(done.len(), 1);
    let running = engine
        .list(
            Some(Status::Running),
            Some(KIND),
            keel_core::paging::Page::parse(0, "").unwrap(),
        )
        .await;
    assert!(running.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_and_the_wrong_role_are_refused_naming_the_field_and_start_nothing() {
    let platform = Platform::start().await;
    let mut client = platform.close_outs();
    let field = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status.get_details_bad_request().unwrap().field_violations[0]
            .field
            .clone()
    };
    for (project_id, key, expected) in [
        ("", "k", "project_id"),
        ("not-a-uuid", "k", "project_id"),
        ("0192f0c1-0000-7000-8000-00000000000", "k", "project_id"),
        (&uuid::Uuid::now_v7().to_string()[..], "", "idempotency_key"),
    ] {
        let refused = client
            .start_close_out(platform.as_role(
                Role::Finance,
                StartCloseOutRequest {
                    project_id: project_id.into(),
                    idempotency_key: key.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(field(refused), expected, "{project_id:?} {key:?}");
    }
    let refused = client
        .get_close_out(platform.as_role(Role::Finance, GetCloseOutRequest { project_id: " ".into() }))
        .await
        .unwrap_err();
    assert_eq!(field(refused), "project_id");
    let refused = client
        .get_review(platform.as_role(Role::Finance, GetReviewRequest { project_id: "x".into() }))
        .await
        .unwrap_err();
    assert_eq!(field(refused), "project_id");
    let refused = client
        .list_close_outs(platform.as_role(
            Role::Finance,
            ListCloseOutsRequest {
                page: None,
                status: "STUCK".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(field(refused), "status");

    // A project PSA does not know, and a consultant, are refused too.
    let unknown = client
        .start_close_out(platform.as_role(
            Role::Finance,
            StartCloseOutRequest {
                project_id: uuid::Uuid::now_v7().to_string(),
                idempotency_key: "k".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let staffed = platform.psa.staffed().await.unwrap();
    let forbidden = client
        .start_close_out(platform.as_role(
            Role::Consultant,
            StartCloseOutRequest {
                project_id: staffed.project.id.clone(),
                idempotency_key: "k".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), Code::PermissionDenied);

    let listed = client
        .list_close_outs(platform.as_role(Role::Operations, ListCloseOutsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .close_outs;
    assert!(listed.is_empty(), "nothing started: {listed:?}");
}
