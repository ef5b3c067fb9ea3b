//! Delivery health over the real PSA, ERP and support reference adapters on loopback gRPC:
//! effort over the baseline raises one alert with its numbers to the project manager and
//! finance, kept as one alert while the numbers change; below the threshold nothing is
//! raised; a late milestone and an open high-severity ticket each raise theirs; bad input and
//! a bad policy file are refused naming the field or key.

mod support;

use keel_auth::Role;
use keel_delivery_health::HealthPolicy;
use keel_proto::common::PageRequest;
use keel_proto::health::{AcknowledgeAlertRequest, EvaluateProjectRequest, GetProjectHealthRequest, ListAlertsRequest};
use keel_proto::support::support_service_client::SupportServiceClient;
use keel_proto::support::{ChangeTicketStatusRequest, Severity, TicketStatus};
use keel_store::audit::{self, ChainReport};
use support::Platform;
use tonic::Code;

async fn evaluate(platform: &Platform, key: &str) -> keel_proto::health::ProjectHealth {
    platform
        .health()
        .evaluate_project(platform.as_role(
            Role::Finance,
            EvaluateProjectRequest {
                idempotency_key: key.into(),
                project_id: platform.project_id(),
            },
        ))
        .await
        .expect("evaluate")
        .into_inner()
}

fn field_of(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

async fn close(platform: &Platform, ticket: &keel_proto::support::Ticket) {
    SupportServiceClient::new(platform.support.harness.channel())
        .change_ticket_status(platform.support.harness.service(ChangeTicketStatusRequest {
            idempotency_key: "close".into(),
            id: ticket.id.clone(),
            status: TicketStatus::Closed as i32,
            expected_version: ticket.version,
        }))
        .await
        .expect("close ticket");
}

#[tokio::test]
async fn effort_over_the_baseline_raises_one_alert_to_the_pm_and_finance_kept_up_to_date() {
    let platform = Platform::start().await;
    let mut notifications = platform.notifier.subscribe();
    // 5 x 23 h = 115 h approved on a 100 h architect baseline: 15% over, the policy allows 10%.
    platform.time(&["23", "23", "23", "23", "23"], true).await;

    let health = evaluate(&platform, "eval-1").await;
    assert_eq!(health.status, "RED");
    assert_eq!(health.policy_version, HealthPolicy::shipped().unwrap().version);
    let architect = health.roles.iter().find(|r| r.role == "solution-architect").unwrap();
    let effort = architect.effort.as_ref().unwrap();
    assert_eq!(
        (effort.baseline.as_str(), effort.burn_percent.as_str()),
        ("100", "115.00")
    );
    assert_eq!(health.breaches.len(), 1, "{:?}", health.breaches);
    assert_eq!(health.breaches[0].kind, "EFFORT_OVER_BASELINE");
    assert!(health.not_measured[0].starts_with("overdue tasks"));

    let alerts = platform.alerts().await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(
        (
            alert.kind.as_str(),
            alert.state.as_str(),
            alert.measured.as_str(),
            alert.threshold.as_str()
        ),
        ("EFFORT_OVER_BASELINE", "OPEN", "15.00", "10")
    );
    assert!(
        alert
            .summary
            .contains("solution-architect: 115 h against a baseline of 100 h (115.00% of baseline, 15.00% over)"),
        "{}",
        alert.summary
    );
    let recipients: Vec<(&str, &str)> = alert
        .recipients
        .iter()
        .map(|r| (r.role.as_str(), r.employee_id.as_str()))
        .collect();
    assert_eq!(
        recipients,
        vec![
            ("project_manager", platform.project_manager_id.as_str()),
            ("finance", "")
        ]
    );
    let stored = platform.notifications().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].kind.as_str(), stored[0].subject_id.as_str()),
        ("ALERT", alert.id.as_str())
    );
    assert_eq!(stored[0].delivery, "NOT_SENT", "no webhook configured");
    assert!(stored[0].text.contains("15.00% over"), "{}", stored[0].text);
    let broadcast = notifications.try_recv().expect("broadcast to subscribers");
    assert_eq!(broadcast.id, stored[0].id);

    // A replay of the same request answers the first evaluation and changes nothing.
    let replay = evaluate(&platform, "eval-1").await;
    assert_eq!(replay, health);

    // More time: still one alert, its numbers updated in place, no second notification.
    platform.time(&["10"], true).await;
    let again = evaluate(&platform, "eval-2").await;
    assert_eq!(again.breaches[0].measured, "25.00");
    let alerts = platform.alerts().await;
    assert_eq!(alerts.len(), 1, "deduplicated per project and kind");
    assert_eq!(
        (alerts[0].id.as_str(), alerts[0].measured.as_str()),
        (alert.id.as_str(), "25.00")
    );
    assert_eq!(alerts[0].evaluations, 2);
    assert_eq!(platform.notifications().await.len(), 1);
    assert!(notifications.try_recv().is_err(), "an update is not a new notification");

    // The project manager acknowledges; it stays the one alert and keeps updating.
    let refused = platform
        .health()
        .acknowledge_alert(platform.as_role(
            Role::Consultant,
            AcknowledgeAlertRequest {
                idempotency_key: "ack-0".into(),
                alert_id: alert.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // A project manager the alert does not go to (not managing this project) is refused too.
    let other_manager = uuid::Uuid::new_v4().to_string();
    let refused = platform
        .health()
        .acknowledge_alert(platform.service.request_as(
            &other_manager,
            Role::ProjectManager,
            AcknowledgeAlertRequest {
                idempotency_key: "ack-other".into(),
                alert_id: alert.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("not among the recipients"),
        "{}",
        refused.message()
    );
    assert_eq!(
        platform.alerts().await[0].state,
        "OPEN",
        "a refused acknowledgement changes nothing"
    );
    let acknowledged = platform
        .health()
        .acknowledge_alert(platform.service.request_as(
            &platform.project_manager_id,
            Role::ProjectManager,
            AcknowledgeAlertRequest {
                idempotency_key: "ack-1".into(),
                alert_id: alert.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acknowledged.state, "ACKNOWLEDGED");
    assert_eq!(acknowledged.acknowledged_by, platform.project_manager_id);
    platform.time(&["5"], true).await;
    evaluate(&platform, "eval-3").await;
    let alerts = platform.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].state.as_str(), alerts[0].measured.as_str()),
        ("ACKNOWLEDGED", "30.00")
    );

    // Every alert change and the acknowledgement are in the audit chain, which is intact.
    let history = audit::history(&platform.db, "health_alert", &alert.id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["opened", "updated", "acknowledged", "updated"]);
    assert_eq!(history[0].actor, "alice");
    assert!(
        history[0].detail.contains("\"measured\":\"15.00\""),
        "{}",
        history[0].detail
    );
    assert!(matches!(
        audit::verify(&platform.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));

    // The stored evaluation is what GetProjectHealth answers.
    let latest = platform
        .health()
        .get_project_health(platform.as_role(
            Role::Executive,
            GetProjectHealthRequest {
                project_id: platform.project_id(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.breaches[0].measured, "30.00");
}

#[tokio::test]
async fn effort_at_or_below_the_threshold_raises_nothing() {
    let platform = Platform::start().await;
    // 110 h on a 100 h baseline: exactly the 10% the policy allows.
    platform.time(&["22", "22", "22", "22", "22"], true).await;
    let health = evaluate(&platform, "eval-1").await;
    assert_eq!(health.status, "GREEN");
    let architect = health.roles.iter().find(|r| r.role == "solution-architect").unwrap();
    assert_eq!(architect.effort.as_ref().unwrap().over_baseline_percent, "10.00");
    assert_eq!(health.effort.as_ref().unwrap().burn_percent, "27.50");
    assert!(health.breaches.is_empty());
    assert!(platform.alerts().await.is_empty());
    assert!(platform.notifications().await.is_empty());
}

#[tokio::test]
async fn a_late_milestone_an_open_high_ticket_and_unapproved_time_each_alert_and_resolve() {
    let platform = Platform::start().await;
    platform.milestone("Design sign-off", "2026-12-08").await;
    platform.milestone("Go-live", "2027-03-01").await;
    let ticket = platform.ticket(Severity::High).await;
    platform.ticket(Severity::Low).await;
    // 2 x 21 h submitted, not approved: 42 h against the 40 h the policy allows.
    platform.time(&["21", "21"], false).await;

    let health = evaluate(&platform, "eval-1").await;
    assert_eq!(health.schedule_variance_days, 12);
    assert_eq!(health.open_high_severity_tickets, 1);
    assert_eq!(
        health.unapproved_hours.parse::<rust_decimal::Decimal>().unwrap(),
        42.into()
    );
    let kinds: Vec<(&str, &str)> = health
        .breaches
        .iter()
        .map(|b| (b.kind.as_str(), b.measured.as_str()))
        .collect();
    assert_eq!(kinds[0], ("MILESTONE_LATE", "12"));
    assert_eq!(kinds[2], ("HIGH_SEVERITY_TICKETS", "1"));
    assert_eq!(kinds[1].0, "UNAPPROVED_EFFORT");
    let late = health.breaches[0].summary.clone();
    assert_eq!(
        late,
        "Design sign-off (due 2026-12-08) is 12 days late; the policy allows 0 days"
    );
    assert_eq!(platform.alerts().await.len(), 3);
    assert_eq!(platform.notifications().await.len(), 3);
    // Paged two at a time, newest first: two, then the last one.
    let page = |token: String| ListAlertsRequest {
        project_id: platform.project_id(),
        state: String::new(),
        page: Some(PageRequest {
            page_size: 2,
            page_token: token,
        }),
    };
    let first = platform
        .health()
        .list_alerts(platform.as_role(Role::Finance, page(String::new())))
        .await
        .unwrap()
        .into_inner();
    let token = first.page.unwrap().next_page_token;
    assert_eq!((first.alerts.len(), token.is_empty()), (2, false));
    assert_eq!(first.alerts[0].kind, "HIGH_SEVERITY_TICKETS");
    let second = platform
        .health()
        .list_alerts(platform.as_role(Role::Finance, page(token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.alerts.len(), 1);
    assert_eq!(second.alerts[0].kind, "MILESTONE_LATE");
    assert!(second.page.unwrap().next_page_token.is_empty());

    // The ticket is closed: its alert resolves, the others stay open.
    close(&platform, &ticket).await;
    let health = evaluate(&platform, "eval-2").await;
    assert_eq!(health.open_high_severity_tickets, 0);
    let alerts = platform.alerts().await;
    let state_of = |kind: &str| {
        alerts
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.state.clone())
            .unwrap_or_default()
    };
    assert_eq!(state_of("HIGH_SEVERITY_TICKETS"), "RESOLVED");
    assert_eq!(state_of("MILESTONE_LATE"), "OPEN");

    // A resolved alert cannot be acknowledged; the state filter reads it back.
    let resolved = alerts.iter().find(|a| a.state == "RESOLVED").unwrap();
    let refused = platform
        .health()
        .acknowledge_alert(platform.as_role(
            Role::Finance,
            AcknowledgeAlertRequest {
                idempotency_key: "ack-resolved".into(),
                alert_id: resolved.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let only_resolved = platform
        .health()
        .list_alerts(platform.as_role(
            Role::Operations,
            ListAlertsRequest {
                project_id: platform.project_id(),
                state: "RESOLVED".into(),
                page: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(only_resolved.len(), 1);
    // A high ticket opened again raises a new alert, not the resolved one.
    platform.ticket(Severity::Critical).await;
    evaluate(&platform, "eval-3").await;
    assert_eq!(platform.alerts().await.len(), 4);
}

/// An event and the sweep evaluate at once: the slow one read while a high ticket was open,
/// the other after it closed and recorded first. The slow one changes nothing when it records.
#[tokio::test]
async fn an_evaluation_that_read_before_a_later_recorded_one_changes_nothing() {
    let platform = Platform::start().await;
    let ticket = platform.ticket(Severity::High).await;
    let first = evaluate(&platform, "eval-1").await;
    assert_eq!(first.open_high_severity_tickets, 1);
    assert_eq!(platform.alerts().await.len(), 1);

    // The slow evaluation reads now, with the ticket open...
    let slow = platform.evaluator.read(&platform.project_id()).await.expect("read");
    assert_eq!(slow.status(), "RED");
    // ...then the ticket closes, and a later evaluation reads and records: the alert resolves.
    close(&platform, &ticket).await;
    let fresh = evaluate(&platform, "eval-2").await;
    assert_eq!((fresh.status.as_str(), fresh.open_high_severity_tickets), ("GREEN", 0));

    // The slow one records last: it would raise the alert again; it changes nothing.
    let late = platform.evaluator.record(&slow, "slow-reader").await.expect("answered");
    assert!(late.superseded);
    assert_eq!(late.health.status, "GREEN");
    let alerts = platform.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].state, "RESOLVED");
    assert_eq!(platform.notifications().await.len(), 1);
    let stored = platform
        .evaluator
        .latest(&platform.project_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.open_high_severity_tickets),
        ("GREEN", 0)
    );

    // An evaluation that reads after them all is recorded as usual.
    let later = platform.evaluator.read(&platform.project_id()).await.expect("read");
    let recorded = platform
        .evaluator
        .record(&later, "later-reader")
        .await
        .expect("recorded");
    assert!(!recorded.superseded);
    let at = |h: &keel_proto::health::ProjectHealth| h.evaluated_at.map(|t| (t.seconds, t.nanos));
    assert!(at(&recorded.health) > at(&stored), "a new evaluation is stored");
}

#[tokio::test]
async fn bad_requests_name_the_field_and_change_nothing() {
    let platform = Platform::start().await;
    let mut client = platform.health();
    let no_key = client
        .evaluate_project(platform.as_role(
            Role::Finance,
            EvaluateProjectRequest {
                idempotency_key: String::new(),
                project_id: platform.project_id(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (no_key.code(), field_of(&no_key).as_str()),
        (Code::InvalidArgument, "idempotency_key")
    );
    let bad_state = client
        .list_alerts(platform.as_role(
            Role::Finance,
            ListAlertsRequest {
                project_id: String::new(),
                state: "BOGUS".into(),
                page: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad_state.code(), field_of(&bad_state).as_str()),
        (Code::InvalidArgument, "state")
    );
    let bad_id = client
        .acknowledge_alert(platform.as_role(
            Role::Finance,
            AcknowledgeAlertRequest {
                idempotency_key: "k".into(),
                alert_id: "not-an-id".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad_id.code(), field_of(&bad_id).as_str()),
        (Code::InvalidArgument, "alert_id")
    );
    let never = client
        .get_project_health(platform.as_role(
            Role::Finance,
            GetProjectHealthRequest {
                project_id: platform.project_id(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(never.code(), Code::NotFound);
    let bad_project = client
        .evaluate_project(platform.as_role(
            Role::Finance,
            EvaluateProjectRequest {
                idempotency_key: "k-bad".into(),
                project_id: "PRJ-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad_project.code(), field_of(&bad_project).as_str()),
        (Code::InvalidArgument, "project_id")
    );
    let consultant = client
        .evaluate_project(platform.as_role(
            Role::Consultant,
            EvaluateProjectRequest {
                idempotency_key: "k".into(),
                project_id: platform.project_id(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(consultant.code(), Code::PermissionDenied);
    assert!(platform.alerts().await.is_empty());
}

#[test]
fn a_bad_policy_file_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("delivery-health.toml");
    let shipped = keel_delivery_health::policy::SHIPPED_POLICY;
    std::fs::write(
        &path,
        shipped.replace("unapproved_hours = \"40\"", "unapproved_hours = \"-4\""),
    )
    .unwrap();
    let error = HealthPolicy::load(&path).unwrap_err();
    assert_eq!(error.key(), Some("thresholds.unapproved_hours"));
    assert!(error.to_string().starts_with(&path.display().to_string()), "{error}");
    std::fs::write(
        &path,
        shipped.replace("open_high_severity_tickets", "open_high_tickets"),
    )
    .unwrap();
    let error = HealthPolicy::load(&path).unwrap_err().to_string();
    assert!(error.contains("open_high_tickets"), "{error}");
    // The file Keel ships loads.
    let repository =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/delivery-health.toml");
    assert_eq!(
        HealthPolicy::load(&repository).unwrap(),
        HealthPolicy::shipped().unwrap()
    );
}

#[tokio::test]
async fn the_health_and_alerts_of_many_projects_come_in_one_call_each() {
    use keel_proto::health::{ListAlertsOfProjectsRequest, ListProjectHealthRequest};

    let platform = Platform::start().await;
    let never_evaluated = "0190f2a0-0000-7000-8000-0000000000ff".to_string();
    let ids = vec![never_evaluated.clone(), platform.project_id()];
    let mut client = platform.health();
    let health = |ids: Vec<String>| {
        let request = platform.as_role(Role::ProjectManager, ListProjectHealthRequest { project_ids: ids });
        let mut client = platform.health();
        async move { client.list_project_health(request).await.map(|r| r.into_inner().health) }
    };
    assert!(health(ids.clone()).await.unwrap().is_empty(), "nothing evaluated yet");

    platform.time(&["23", "23", "23", "23", "23"], true).await;
    let evaluated = evaluate(&platform, "eval-1").await;
    assert_eq!(
        health(ids.clone()).await.unwrap(),
        [evaluated],
        "the latest, the unevaluated left out"
    );

    let alerts = |state: &str| {
        let request = platform.as_role(
            Role::ProjectManager,
            ListAlertsOfProjectsRequest {
                project_ids: ids.clone(),
                state: state.into(),
            },
        );
        let mut client = platform.health();
        async move {
            client
                .list_alerts_of_projects(request)
                .await
                .map(|r| r.into_inner().alerts)
        }
    };
    let open = alerts("open").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "EFFORT_OVER_BASELINE");
    assert_eq!(open, platform.alerts().await, "as ListAlerts answers");
    assert!(alerts("RESOLVED").await.unwrap().is_empty());
    let bad_state = alerts("BOGUS").await.unwrap_err();
    assert_eq!(field_of(&bad_state), "state");

    let empty = health(vec![]).await.unwrap_err();
    assert_eq!(
        (empty.code(), field_of(&empty).as_str()),
        (Code::InvalidArgument, "project_ids")
    );
    let bad = client
        .list_alerts_of_projects(platform.as_role(
            Role::ProjectManager,
            ListAlertsOfProjectsRequest {
                project_ids: vec![platform.project_id(), "p-1".into()],
                state: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(field_of(&bad), "project_ids[1]");
    let consultant = client
        .list_project_health(platform.as_role(
            Role::Consultant,
            ListProjectHealthRequest {
                project_ids: vec![platform.project_id()],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(consultant.code(), Code::PermissionDenied);
}
