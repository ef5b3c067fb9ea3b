//! What the reference support adapter writes beyond the contract: one outbox event per
//! change, a verifiable audit chain, nothing at all when it refuses, and a project summary
//! that always equals a recount of the tickets
//! (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_conformance::Harness;
use keel_events::outbox;
use keel_proto::common::PageRequest;
use keel_proto::support::support_service_client::SupportServiceClient;
use keel_proto::support::{
    ChangeTicketStatusRequest, EscalateTicketRequest, GetProjectSupportSummaryRequest, ListTicketsRequest,
    OpenTicketRequest, ProjectSupportSummary, Severity, Ticket, TicketEscalated, TicketOpened, TicketStatus,
    TicketStatusChanged,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use keel_support::reference::Migrator;
use keel_support::{ReferenceSupport, TICKET_ESCALATED, TICKET_OPENED, TICKET_STATUS_CHANGED};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::transport::Channel;
use tonic::{Code, Status};

struct Support {
    _store: TestStore,
    db: DatabaseConnection,
    harness: Harness,
}

impl Support {
    async fn start() -> Support {
        let (store, db) = keel_conformance::migrated_store::<Migrator>("support").await;
        let adapter = Arc::new(ReferenceSupport::new(db.clone(), Arc::new(Notify::new())));
        let harness = Harness::serve(keel_support::service::server(adapter)).await;
        Support {
            _store: store,
            db,
            harness,
        }
    }

    fn client(&self) -> SupportServiceClient<Channel> {
        SupportServiceClient::new(self.harness.channel())
    }

    async fn open(&self, key: &str, project_id: &str, severity: Severity) -> Result<Ticket, Status> {
        self.client()
            .open_ticket(self.harness.service(OpenTicketRequest {
                idempotency_key: key.into(),
                account_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
                project_id: project_id.into(),
                title: "Payroll export is empty".into(),
                description: String::new(),
                severity: severity as i32,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn change(&self, key: &str, id: &str, status: TicketStatus, expected_version: i64) -> Result<Ticket, Status> {
        self.client()
            .change_ticket_status(self.harness.service(ChangeTicketStatusRequest {
                idempotency_key: key.into(),
                id: id.into(),
                status: status as i32,
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn escalate(&self, key: &str, id: &str, expected_version: i64) -> Result<Ticket, Status> {
        self.client()
            .escalate_ticket(self.harness.service(EscalateTicketRequest {
                idempotency_key: key.into(),
                id: id.into(),
                reason: "Month-end close is at risk".into(),
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn summary(&self, project_id: &str) -> ProjectSupportSummary {
        self.client()
            .get_project_support_summary(self.harness.service(GetProjectSupportSummaryRequest {
                project_id: project_id.into(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn tickets(&self, project_id: &str) -> Vec<Ticket> {
        let mut tickets = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .client()
                .list_tickets(self.harness.service(ListTicketsRequest {
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: token,
                    }),
                    project_id: project_id.into(),
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner();
            tickets.extend(page.tickets);
            token = page.page.unwrap().next_page_token;
            if token.is_empty() {
                return tickets;
            }
        }
    }

    /// (events in the outbox, entries in the audit chain), after checking the chain.
    async fn written(&self) -> (usize, u64) {
        let events = outbox::recent(&self.db, None, 10_000).await.unwrap().len();
        match audit::verify(&self.db).await.unwrap() {
            ChainReport::Intact { entries } => (events, entries),
            broken => panic!("the audit chain is broken: {broken:?}"),
        }
    }
}

fn project() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn each_change_emits_one_event_and_one_audit_entry() {
    let support = Support::start().await;
    let project_id = project();
    let opened = support.open("o1", &project_id, Severity::High).await.unwrap();
    assert_eq!(support.open("o1", &project_id, Severity::High).await.unwrap(), opened);
    let escalated = support.escalate("e1", &opened.id, 1).await.unwrap();
    assert_eq!(support.escalate("e1", &opened.id, 1).await.unwrap(), escalated);
    let started = support
        .change("s1", &opened.id, TicketStatus::InProgress, 2)
        .await
        .unwrap();
    assert_eq!(
        support
            .change("s1", &opened.id, TicketStatus::InProgress, 2)
            .await
            .unwrap(),
        started
    );
    // The status it already has: no change, no event.
    support
        .change("s2", &opened.id, TicketStatus::InProgress, 3)
        .await
        .unwrap();

    let events = outbox::recent(&support.db, Some(TICKET_OPENED), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let payload: TicketOpened = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.ticket.unwrap(), opened);
    let events = outbox::recent(&support.db, Some(TICKET_ESCALATED), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let payload: TicketEscalated = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.previous_severity, Severity::High as i32);
    assert_eq!(payload.ticket.unwrap().severity, Severity::Critical as i32);
    assert_eq!(payload.reason, "Month-end close is at risk");
    let events = outbox::recent(&support.db, Some(TICKET_STATUS_CHANGED), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let payload: TicketStatusChanged = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.previous_status, TicketStatus::Open as i32);
    assert_eq!(payload.ticket.unwrap(), started);

    let history = audit::history(&support.db, "ticket", &opened.id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["opened", "escalated", "status_changed"]);
    let detail: serde_json::Value = serde_json::from_str(&history[1].detail).unwrap();
    assert_eq!(
        (&detail["before"]["severity"], &detail["after"]["severity"]),
        (&serde_json::json!("high"), &serde_json::json!("critical"))
    );
    assert_eq!(support.written().await, (3, 3));
}

#[tokio::test]
async fn refused_transitions_and_stale_changes_write_nothing() {
    let support = Support::start().await;
    let project_id = project();
    let ticket = support.open("o1", &project_id, Severity::Low).await.unwrap();
    let closed = support.change("c1", &ticket.id, TicketStatus::Closed, 1).await.unwrap();
    let before = support.written().await;

    for (i, target) in [TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Resolved]
        .into_iter()
        .enumerate()
    {
        let status = support
            .change(&format!("r{i}"), &ticket.id, target, closed.version)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "CLOSED -> {target:?}");
    }
    let status = support.escalate("e1", &ticket.id, closed.version).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = support.escalate("e2", &ticket.id, 1).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(status.message().contains("ticket"), "{status:?}");
    let status = support.open("o2", "not-a-project", Severity::Low).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert_eq!(support.written().await, before);
    assert_eq!(support.tickets(&project_id).await, vec![closed]);
}

#[tokio::test]
async fn concurrent_escalations_of_one_version_let_exactly_one_win() {
    let support = Arc::new(Support::start().await);
    let ticket = support.open("o1", &project(), Severity::Low).await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let support = support.clone();
            let id = ticket.id.clone();
            tokio::spawn(async move { support.escalate(&format!("race-{i}"), &id, 1).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(ticket) => {
                winners += 1;
                assert_eq!((ticket.version, ticket.escalation_count), (2, 1));
            }
            Err(status) => assert!(matches!(status.code(), Code::Aborted | Code::Unavailable), "{status:?}"),
        }
    }
    assert_eq!(winners, 1);
    let events = outbox::recent(&support.db, Some(TICKET_ESCALATED), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let stored = support.tickets(&ticket.project_id).await;
    assert_eq!(
        (stored[0].severity, stored[0].escalation_count),
        (Severity::Medium as i32, 1)
    );
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[tokio::test]
async fn the_summary_always_equals_a_recount_of_the_tickets() {
    let support = Support::start().await;
    let project_id = project();
    let mut random = Lcg(20_261_126);
    let severities = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
    let statuses = [
        TicketStatus::Open,
        TicketStatus::InProgress,
        TicketStatus::Resolved,
        TicketStatus::Closed,
    ];
    let mut ids = Vec::new();
    for step in 0..80 {
        let key = format!("step-{step}");
        match random.next(3) {
            0 => {
                let severity = severities[random.next(4) as usize];
                ids.push(support.open(&key, &project_id, severity).await.unwrap().id);
            }
            _ if ids.is_empty() => {}
            choice => {
                let id = &ids[random.next(ids.len() as u64) as usize];
                let current = support
                    .tickets(&project_id)
                    .await
                    .into_iter()
                    .find(|t| &t.id == id)
                    .unwrap();
                // Refusals (closed tickets, disallowed moves) are part of the sequence.
                let _ = if choice == 1 {
                    support.escalate(&key, id, current.version).await
                } else {
                    let target = statuses[random.next(4) as usize];
                    support.change(&key, id, target, current.version).await
                };
            }
        }
        if step % 10 == 9 {
            let tickets = support.tickets(&project_id).await;
            let open: Vec<&Ticket> = tickets
                .iter()
                .filter(|t| t.status == TicketStatus::Open as i32 || t.status == TicketStatus::InProgress as i32)
                .collect();
            let at = |severity: Severity| open.iter().filter(|t| t.severity == severity as i32).count() as i64;
            let expected = ProjectSupportSummary {
                project_id: project_id.clone(),
                open_low: at(Severity::Low),
                open_medium: at(Severity::Medium),
                open_high: at(Severity::High),
                open_critical: at(Severity::Critical),
                open_total: open.len() as i64,
                open_escalated: open.iter().filter(|t| t.escalated).count() as i64,
                escalations: tickets.iter().map(|t| t.escalation_count).sum(),
            };
            assert_eq!(support.summary(&project_id).await, expected, "after step {step}");
        }
    }
    let (_, entries) = support.written().await;
    assert!(entries > 0);
}
