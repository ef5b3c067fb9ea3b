//! Notifications leave Keel through the outbound webhook: a real axum receiver on loopback
//! gets Slack-compatible JSON with a valid HMAC-SHA256 signature, failing at first, retried
//! from the table (across a restart of the delivery worker) until delivered, and delivered
//! once. Approval requests other workflows report are notified once per request. Events about
//! a project re-evaluate it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use keel_config::Secret;
use keel_delivery_health::alerts::Recipient;
use keel_delivery_health::consumer::{Outcome, SUBSCRIPTION};
use keel_delivery_health::notifications::webhook::{NOTIFICATION_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use keel_delivery_health::{ApprovalRequest, HealthTrigger, WebhookDelivery, WebhookSettings};
use keel_events::EventEnvelope;
use keel_proto::support::{Severity, TicketOpened};
use sha2::Sha256;
use support::{Platform, policy};

const SECRET: &str = "a-webhook-secret-of-some-length";

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver answering 500 to its first `failures` requests, then 200.
#[derive(Clone)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    failures: usize,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mut received = receiver.received.lock().unwrap();
    received.push(Received { headers, body });
    if received.len() <= receiver.failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn serve_receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/hooks/keel", post(receive))
        .with_state(Receiver {
            received: received.clone(),
            failures,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks/keel"), received)
}

fn settings(url: &str) -> WebhookSettings {
    WebhookSettings {
        url: Some(url.to_string()),
        secret: Secret::new(SECRET.to_string()),
        timeout_ms: 2_000,
        initial_backoff_ms: 20,
        max_backoff_ms: 60,
        max_attempts: 100,
        poll_interval_ms: 10,
    }
}

/// Whether `received` carries a signature over its timestamp and body made with the secret.
fn signature_is_valid(received: &Received) -> bool {
    let header = |name: &str| {
        received
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let Some(hex_signature) = header(SIGNATURE_HEADER).strip_prefix("v1=") else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v1:{}:{}", header(TIMESTAMP_HEADER), received.body).as_bytes());
    mac.verify_slice(&signature).is_ok()
}

async fn deliver_until(worker: &WebhookDelivery, done: impl Fn() -> bool) {
    let began = Instant::now();
    while !done() {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the webhook was not delivered"
        );
        worker.deliver_due().await.expect("delivery round");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

#[tokio::test]
async fn an_alert_reaches_the_webhook_signed_retried_until_delivered_and_delivered_once() {
    let (url, received) = serve_receiver(2).await;
    let platform = Platform::start_with(policy(), true).await;
    platform.time(&["23", "23", "23", "23", "23"], true).await;
    platform
        .evaluator
        .evaluate(&platform.project_id(), "test")
        .await
        .unwrap();
    let stored = platform.notifications().await;
    assert_eq!((stored.len(), stored[0].delivery.as_str()), (1, "PENDING"));

    // The first attempt fails; the notification stays queued with the error.
    let first_worker = WebhookDelivery::new(platform.db.clone(), settings(&url))
        .unwrap()
        .unwrap();
    assert_eq!(first_worker.deliver_due().await.unwrap(), 0);
    let queued = &platform.notifications().await[0];
    assert_eq!((queued.delivery.as_str(), queued.delivery_attempts), ("PENDING", 1));
    assert_eq!(queued.last_error, "webhook answered 500 Internal Server Error");
    drop(first_worker);

    // A restarted worker picks the notification up from the table and retries until it lands.
    let worker = WebhookDelivery::new(platform.db.clone(), settings(&url))
        .unwrap()
        .unwrap();
    deliver_until(&worker, || received.lock().unwrap().len() >= 3).await;
    for _ in 0..5 {
        worker.deliver_due().await.unwrap();
        tokio::time::sleep(Duration::from_millis(70)).await;
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "two failures, then delivered once");
    let delivered = &platform.notifications().await[0];
    assert_eq!(
        (delivered.delivery.as_str(), delivered.delivery_attempts),
        ("DELIVERED", 3)
    );
    assert!(delivered.delivered_at.is_some());
    for attempt in &received {
        assert!(signature_is_valid(attempt), "every attempt is signed");
        assert_eq!(attempt.headers[NOTIFICATION_ID_HEADER], delivered.id.as_str());
        assert_eq!(attempt.headers["content-type"], "application/json");
    }
    let body: serde_json::Value = serde_json::from_str(&received[2].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("115 h against a baseline of 100 h"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[2]["fields"][0]["text"], "*Measured*\n15.00");
    // A tampered body does not verify.
    let mut tampered = received[2].clone();
    tampered.body = tampered.body.replace("15.00", "1.00");
    assert!(!signature_is_valid(&tampered));
}

#[tokio::test]
async fn an_approval_request_is_notified_once_and_sent() {
    let (url, received) = serve_receiver(0).await;
    let platform = Platform::start_with(policy(), true).await;
    let mut subscriber = platform.notifier.subscribe();
    let request = ApprovalRequest {
        id: "staffing-approval-42".into(),
        project_id: platform.project_id(),
        title: "Team labor cost 12% over the staffing threshold".into(),
        recipients: vec![Recipient {
            role: "project_manager".into(),
            employee_id: platform.project_manager_id.clone(),
        }],
        requested_by: "resource manager Ada".into(),
    };
    let first = platform
        .notifier
        .approval_requested(&platform.db, request.clone())
        .await
        .unwrap();
    let again = platform
        .notifier
        .approval_requested(&platform.db, request)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    // The background worker, as the platform runs it, sends it once and stops on cancel.
    let cancel = tokio_util::sync::CancellationToken::new();
    let tasks = keel_delivery_health::spawn_background(
        platform.evaluator.clone(),
        WebhookDelivery::new(platform.db.clone(), settings(&url)).unwrap(),
        Duration::from_secs(3600),
        cancel.clone(),
    );
    assert_eq!(first.kind, "APPROVAL_REQUEST");
    assert_eq!(subscriber.try_recv().unwrap().id, first.id);
    assert!(subscriber.try_recv().is_err(), "broadcast once");
    assert_eq!(platform.notifications().await.len(), 1);

    let began = Instant::now();
    while received.lock().unwrap().is_empty() {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the webhook was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(signature_is_valid(&received[0]));
    let body: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("Team labor cost 12% over the staffing threshold"),
        "{body}"
    );
    // No URL: the webhook is off.
    assert!(
        WebhookDelivery::new(platform.db.clone(), WebhookSettings::default())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_ticket_event_re_evaluates_its_project_once() {
    let platform = Platform::start().await;
    let ticket = platform.ticket(Severity::Critical).await;
    let trigger = HealthTrigger::new(platform.evaluator.clone());
    assert!(
        HealthTrigger::subscription()
            .event_types
            .contains(&"support.ticket.opened".to_string())
    );
    assert_eq!(HealthTrigger::subscription().name, SUBSCRIPTION);
    let event = EventEnvelope::new(
        "support.ticket.opened",
        "support",
        &ticket.id,
        &TicketOpened {
            ticket: Some(ticket.clone()),
        },
    );
    assert_eq!(
        trigger.apply(&event).await.unwrap(),
        Outcome::Evaluated {
            project_id: platform.project_id()
        }
    );
    assert_eq!(trigger.apply(&event).await.unwrap(), Outcome::Duplicate);
    let alerts = platform.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].kind.as_str(), alerts[0].measured.as_str()),
        ("HIGH_SEVERITY_TICKETS", "1")
    );
    assert_eq!(alerts[0].evaluations, 1, "the duplicate did not evaluate again");
    // The sweep evaluates every active project; the alert stays one.
    assert_eq!(platform.evaluator.sweep().await.unwrap(), 1);
    assert_eq!(platform.alerts().await[0].evaluations, 2);
}

/// The engine's store: the platform tables and the workflow tables.
struct WorkflowStore;

impl sea_orm_migration::MigratorTrait for WorkflowStore {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_workflow::migrations::workflow());
        all
    }
}

/// A staffing decision that waits for delivery leadership, as the staffing workflow's does.
struct LeadershipApproval;

#[async_trait::async_trait]
impl keel_workflow::Workflow for LeadershipApproval {
    fn kind(&self) -> &'static str {
        "staffing"
    }

    fn steps(&self) -> &[keel_workflow::StepDef] {
        const STEPS: &[keel_workflow::StepDef] = &[keel_workflow::StepDef::new("approve")];
        STEPS
    }

    async fn run_step(&self, cx: &keel_workflow::StepContext) -> Result<keel_workflow::StepOutcome, keel_core::Error> {
        Ok(keel_workflow::StepOutcome::AwaitApproval(
            keel_workflow::ApprovalRequest {
                role: "executive".into(),
                submitter: cx.input["submitter"].as_str().unwrap_or_default().to_string(),
                summary: "team labor cost 118000.00 EUR exceeds the 100000.00 EUR threshold".into(),
                timeout: Duration::from_secs(3600),
                escalate_to: None,
            },
        ))
    }
}

/// Every notification the store holds.
async fn notification_rows(platform: &Platform) -> Vec<keel_delivery_health::notifications::entity::Model> {
    use sea_orm::EntityTrait;
    keel_delivery_health::notifications::entity::Entity::find()
        .all(&platform.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_engine_approval_waiting_in_a_process_api_reaches_the_webhook_signed_and_once() {
    let (url, received) = serve_receiver(1).await;
    let platform = Platform::start_with(policy(), true).await;

    // A process API with one decision waiting, its admin service on loopback behind the
    // authentication layer.
    let (_workflow_store, workflow_db) = keel_conformance::migrated_store::<WorkflowStore>("staffing").await;
    let engine = keel_workflow::Engine::new(
        workflow_db,
        vec![Arc::new(LeadershipApproval)],
        keel_workflow::EngineOptions::default(),
    );
    let started = engine
        .start(
            "staffing",
            "rr-7",
            serde_json::json!({ "submitter": "rita" }),
            serde_json::json!({}),
            "rita",
        )
        .await
        .unwrap();
    while engine.tick().await.unwrap() > 0 {}
    let admin = keel_conformance::Harness::serve(keel_workflow::admin::server(engine.clone())).await;

    let feed = keel_delivery_health::ApprovalFeed::new(
        platform.db.clone(),
        platform.notifier.clone(),
        vec![keel_delivery_health::ApprovalSource {
            name: "staffing".into(),
            channel: admin.channel(),
        }],
        support::credentials(),
        Duration::from_secs(5),
    );
    assert_eq!(feed.poll().await.unwrap(), 1);
    assert_eq!(feed.poll().await.unwrap(), 1, "still waiting");
    let stored = notification_rows(&platform).await;
    assert_eq!(stored.len(), 1, "one notification however often the feed reads it");
    assert_eq!(stored[0].kind, "APPROVAL_REQUEST");
    assert_eq!(stored[0].subject_id, format!("staffing:{}:approve", started.id));
    assert!(stored[0].recipients.contains("executive"), "{}", stored[0].recipients);

    // Sent through the webhook: refused once, retried, delivered once, signed.
    let worker = WebhookDelivery::new(platform.db.clone(), settings(&url))
        .unwrap()
        .unwrap();
    deliver_until(&worker, || received.lock().unwrap().len() >= 2).await;
    for _ in 0..5 {
        worker.deliver_due().await.unwrap();
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one failure, then one delivery");
    assert!(received.iter().all(signature_is_valid));
    assert!(received[1].body.contains("118000.00 EUR"), "{}", received[1].body);
    assert!(received[1].body.contains("rita"), "{}", received[1].body);
}
