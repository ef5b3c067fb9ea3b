//! The support kit: tickets, their lifecycle, escalations and the project summary through
//! `keel.support.v1.SupportService`.

use std::sync::Arc;

use keel_auth::Role;
use keel_proto::common::PageRequest;
use keel_proto::support::support_service_client::SupportServiceClient;
use keel_proto::support::{
    ChangeTicketStatusRequest, EscalateTicketRequest, GetProjectSupportSummaryRequest, GetTicketRequest,
    ListTicketsRequest, OpenTicketRequest, ProjectSupportSummary, Severity, Ticket, TicketStatus,
};
use keel_support::SupportAdapter;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// What every support check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

impl Context {
    pub async fn new(adapter: Arc<dyn SupportAdapter>) -> Context {
        let service = keel_support::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> SupportServiceClient<Channel> {
        SupportServiceClient::new(self.harness.channel())
    }

    async fn open(&self, request: OpenTicketRequest) -> Result<Ticket, Status> {
        self.client()
            .open_ticket(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    /// A ticket on `project_id` with a fresh key.
    async fn ticket(&self, project_id: &str, severity: Severity) -> Result<Ticket, String> {
        ok(
            self.open(new_ticket(&rules::key("ticket"), project_id, severity)).await,
            "OpenTicket",
        )
    }

    async fn get(&self, id: &str) -> Result<Ticket, Status> {
        self.client()
            .get_ticket(
                self.harness
                    .reader(Role::ProjectManager, GetTicketRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn move_to(&self, ticket: &Ticket, status: TicketStatus) -> Result<Ticket, Status> {
        self.change(&rules::key("status"), &ticket.id, status, ticket.version)
            .await
    }

    async fn change(&self, key: &str, id: &str, status: TicketStatus, expected_version: i64) -> Result<Ticket, Status> {
        self.client()
            .change_ticket_status(self.harness.service(ChangeTicketStatusRequest {
                idempotency_key: key.to_string(),
                id: id.to_string(),
                status: status as i32,
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn escalate(&self, key: &str, id: &str, expected_version: i64) -> Result<Ticket, Status> {
        self.client()
            .escalate_ticket(self.harness.service(EscalateTicketRequest {
                idempotency_key: key.to_string(),
                id: id.to_string(),
                reason: "The client's go-live is blocked".into(),
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn summary(&self, project_id: &str) -> Result<ProjectSupportSummary, String> {
        ok(
            self.client()
                .get_project_support_summary(self.harness.reader(
                    Role::Executive,
                    GetProjectSupportSummaryRequest {
                        project_id: project_id.to_string(),
                    },
                ))
                .await
                .map(|r| r.into_inner()),
            "GetProjectSupportSummary",
        )
    }

    /// Every ticket a filtered list returns, following page tokens.
    async fn list_all(&self, filter: ListTicketsRequest) -> Result<Vec<Ticket>, String> {
        let mut tickets = Vec::new();
        let mut token = String::new();
        loop {
            let request = ListTicketsRequest {
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: token.clone(),
                }),
                ..filter.clone()
            };
            let page = ok(
                self.client()
                    .list_tickets(self.harness.reader(Role::Operations, request))
                    .await,
                "ListTickets",
            )?
            .into_inner();
            tickets.extend(page.tickets);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(tickets);
            }
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn new_ticket(key: &str, project_id: &str, severity: Severity) -> OpenTicketRequest {
    OpenTicketRequest {
        idempotency_key: key.to_string(),
        account_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
        project_id: project_id.to_string(),
        title: "Invoices fail to post after cut-over".into(),
        description: "Posting returns an error for every invoice dated this month.".into(),
        severity: severity as i32,
    }
}

/// Every support check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("support")
        .check("a replayed open returns the first ticket", |c| Box::pin(replay(c)))
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent opens with one key make one ticket", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("a stale change is ABORTED and changes nothing", |c| Box::pin(stale(c)))
        .check("status moves only along the lifecycle", |c| Box::pin(transitions(c)))
        .check("escalation raises severity one level, at most CRITICAL", |c| {
            Box::pin(escalation(c))
        })
        .check("lists filter by project, status and minimum severity", |c| {
            Box::pin(filters(c))
        })
        .check("the project summary counts open tickets and escalations exactly", |c| {
            Box::pin(summary(c))
        })
        .check("tickets page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
}

/// Runs the support kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn SupportAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let key = rules::key("ticket");
    let project_id = new_id();
    let first =
        rules::replay_returns_first(|| c.open(new_ticket(&key, &project_id, Severity::High)), "OpenTicket").await?;
    ensure(
        first.status == TicketStatus::Open as i32
            && first.severity == Severity::High as i32
            && first.version == 1
            && !first.escalated,
        || format!("a new ticket should be OPEN, HIGH, unescalated, at version 1: {first:?}"),
    )?;
    let stored = ok(c.get(&first.id).await, "GetTicket")?;
    ensure(stored == first, || {
        format!("the stored ticket is {stored:?}, not {first:?}")
    })?;
    let listed = c
        .list_all(ListTicketsRequest {
            project_id: project_id.clone(),
            ..Default::default()
        })
        .await?;
    ensure(listed.len() == 1, || {
        format!("a replay made {} tickets for the project", listed.len())
    })
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("ticket");
    let project_id = new_id();
    ok(c.open(new_ticket(&key, &project_id, Severity::Low)).await, "OpenTicket")?;
    let status = refused(
        c.open(new_ticket(&key, &project_id, Severity::Critical)).await,
        "OpenTicket with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let key = rules::key("ticket");
    let project_id = new_id();
    let client = c.client();
    let requests: Vec<_> = (0..6)
        .map(|_| c.harness.service(new_ticket(&key, &project_id, Severity::Medium)))
        .collect();
    let requests = std::sync::Mutex::new(requests);
    rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.open_ticket(request).await.map(|r| r.into_inner().id) }
        },
        "OpenTicket",
    )
    .await?;
    let listed = c
        .list_all(ListTicketsRequest {
            project_id,
            ..Default::default()
        })
        .await?;
    ensure(listed.len() == 1, || {
        format!("concurrent opens with one key made {} tickets", listed.len())
    })
}

async fn bad_input(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    type Edit = fn(&mut OpenTicketRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.account_id = "acme".into(), "account_id"),
        (|r| r.title = " ".into(), "title"),
        (|r| r.description = "d".repeat(10_001), "description"),
        (|r| r.severity = Severity::Unspecified as i32, "severity"),
        (|r| r.severity = 17, "severity"),
    ];
    for (edit, field) in table {
        let mut request = new_ticket(&rules::key("bad"), &project_id, Severity::Low);
        edit(&mut request);
        let status = refused(c.open(request).await, &format!("OpenTicket with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    let listed = c
        .list_all(ListTicketsRequest {
            project_id: project_id.clone(),
            ..Default::default()
        })
        .await?;
    ensure(listed.is_empty(), || {
        format!("refused opens wrote {} tickets", listed.len())
    })?;

    let ticket = c.ticket(&project_id, Severity::Low).await?;
    let status = refused(
        c.change(&rules::key("status"), &ticket.id, TicketStatus::Unspecified, 1)
            .await,
        "ChangeTicketStatus without a status",
    )?;
    expect_field(&status, "status")?;
    let status = refused(
        c.change(&rules::key("status"), &ticket.id, TicketStatus::Resolved, 0)
            .await,
        "ChangeTicketStatus without expected_version",
    )?;
    expect_field(&status, "expected_version")?;
    let status = refused(
        c.client()
            .escalate_ticket(c.harness.service(EscalateTicketRequest {
                idempotency_key: rules::key("escalate"),
                id: ticket.id.clone(),
                reason: "  ".into(),
                expected_version: 1,
            }))
            .await,
        "EscalateTicket without a reason",
    )?;
    expect_field(&status, "reason")?;
    let status = refused(
        c.client()
            .list_tickets(c.harness.reader(
                Role::Finance,
                ListTicketsRequest {
                    minimum_severity: 12,
                    ..Default::default()
                },
            ))
            .await,
        "ListTickets with an unknown minimum severity",
    )?;
    expect_field(&status, "minimum_severity")?;
    let stored = ok(c.get(&ticket.id).await, "GetTicket")?;
    ensure(stored == ticket, || {
        format!("refused changes changed the ticket: {stored:?}")
    })
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = new_id();
    let status = refused(c.get(&missing).await, "GetTicket of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetTicket of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })?;
    let status = refused(
        c.change(&rules::key("status"), &missing, TicketStatus::InProgress, 1)
            .await,
        "ChangeTicketStatus of an unknown ticket",
    )?;
    expect_code(&status, Code::NotFound, "ChangeTicketStatus of an unknown ticket")?;
    let status = refused(
        c.escalate(&rules::key("escalate"), &missing, 1).await,
        "EscalateTicket of an unknown ticket",
    )?;
    expect_code(&status, Code::NotFound, "EscalateTicket of an unknown ticket")
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    let ticket = c.ticket(&project_id, Severity::Medium).await?;
    for role in [Role::Consultant, Role::ProjectManager, Role::Finance] {
        let what = format!("OpenTicket as {role}");
        let status = refused(
            c.client()
                .open_ticket(
                    c.harness
                        .reader(role, new_ticket(&rules::key("reader"), &project_id, Severity::Low)),
                )
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
        let what = format!("EscalateTicket as {role}");
        let status = refused(
            c.client()
                .escalate_ticket(c.harness.reader(
                    role,
                    EscalateTicketRequest {
                        idempotency_key: rules::key("reader"),
                        id: ticket.id.clone(),
                        reason: "Readers cannot escalate".into(),
                        expected_version: ticket.version,
                    },
                ))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
        let what = format!("ChangeTicketStatus as {role}");
        let status = refused(
            c.client()
                .change_ticket_status(c.harness.reader(
                    role,
                    ChangeTicketStatusRequest {
                        idempotency_key: rules::key("reader"),
                        id: ticket.id.clone(),
                        status: TicketStatus::Closed as i32,
                        expected_version: ticket.version,
                    },
                ))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
    }
    let stored = ok(c.get(&ticket.id).await, "GetTicket")?;
    ensure(stored == ticket, || {
        format!("refused writes changed the ticket: {stored:?}")
    })?;
    let listed = c
        .list_all(ListTicketsRequest {
            project_id,
            ..Default::default()
        })
        .await?;
    ensure(listed.len() == 1, || {
        format!("the project should hold its one ticket, not {}", listed.len())
    })
}

async fn stale(c: &Context) -> rules::Outcome {
    let ticket = c.ticket(&new_id(), Severity::Low).await?;
    let moved = ok(c.move_to(&ticket, TicketStatus::InProgress).await, "ChangeTicketStatus")?;
    let status = refused(
        c.change(
            &rules::key("status"),
            &ticket.id,
            TicketStatus::Resolved,
            ticket.version,
        )
        .await,
        "ChangeTicketStatus with a stale version",
    )?;
    rules::expect_stale(&status, "ticket")?;
    let status = refused(
        c.escalate(&rules::key("escalate"), &ticket.id, ticket.version).await,
        "EscalateTicket with a stale version",
    )?;
    rules::expect_stale(&status, "ticket")?;
    let stored = ok(c.get(&ticket.id).await, "GetTicket")?;
    ensure(stored == moved, || {
        format!("stale changes changed the ticket: {stored:?}")
    })
}

async fn transitions(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    // OPEN -> IN_PROGRESS -> RESOLVED -> OPEN (reopened) -> CLOSED, each a version.
    let ticket = c.ticket(&project_id, Severity::Medium).await?;
    let key = rules::key("status");
    let started = rules::replay_returns_first(
        || c.change(&key, &ticket.id, TicketStatus::InProgress, ticket.version),
        "ChangeTicketStatus",
    )
    .await?;
    ensure(
        started.status == TicketStatus::InProgress as i32 && started.version == 2,
        || format!("OPEN -> IN_PROGRESS should give version 2: {started:?}"),
    )?;
    let same = ok(
        c.move_to(&started, TicketStatus::InProgress).await,
        "ChangeTicketStatus to the status it has",
    )?;
    ensure(same == started, || {
        format!("asking for the status a ticket has should change nothing: {same:?}")
    })?;
    let status = refused(c.move_to(&started, TicketStatus::Closed).await, "IN_PROGRESS -> CLOSED")?;
    expect_code(&status, Code::FailedPrecondition, "IN_PROGRESS -> CLOSED")?;
    let resolved = ok(
        c.move_to(&started, TicketStatus::Resolved).await,
        "IN_PROGRESS -> RESOLVED",
    )?;
    let reopened = ok(c.move_to(&resolved, TicketStatus::Open).await, "RESOLVED -> OPEN")?;
    let closed = ok(c.move_to(&reopened, TicketStatus::Closed).await, "OPEN -> CLOSED")?;
    ensure(
        closed.status == TicketStatus::Closed as i32 && closed.version == 5,
        || format!("the closed ticket should be CLOSED at version 5: {closed:?}"),
    )?;
    for target in [TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Resolved] {
        let what = format!("CLOSED -> {target:?}");
        let status = refused(c.move_to(&closed, target).await, &what)?;
        expect_code(&status, Code::FailedPrecondition, &what)?;
    }
    let stored = ok(c.get(&ticket.id).await, "GetTicket")?;
    ensure(stored == closed, || {
        format!("refused moves changed the closed ticket: {stored:?}")
    })
}

async fn escalation(c: &Context) -> rules::Outcome {
    let ticket = c.ticket(&new_id(), Severity::Medium).await?;
    let key = rules::key("escalate");
    let first = rules::replay_returns_first(|| c.escalate(&key, &ticket.id, ticket.version), "EscalateTicket").await?;
    ensure(
        first.escalated
            && first.severity == Severity::High as i32
            && first.escalation_count == 1
            && first.version == 2
            && !first.escalation_reason.is_empty(),
        || format!("escalating MEDIUM should give an escalated HIGH ticket at version 2: {first:?}"),
    )?;
    let second = ok(
        c.escalate(&rules::key("escalate"), &ticket.id, 2).await,
        "EscalateTicket again",
    )?;
    ensure(
        second.severity == Severity::Critical as i32 && second.escalation_count == 2,
        || format!("escalating HIGH should give CRITICAL: {second:?}"),
    )?;
    let third = ok(
        c.escalate(&rules::key("escalate"), &ticket.id, 3).await,
        "EscalateTicket of a CRITICAL ticket",
    )?;
    ensure(
        third.severity == Severity::Critical as i32 && third.escalation_count == 3,
        || format!("CRITICAL should stay CRITICAL: {third:?}"),
    )?;
    let resolved = ok(
        c.move_to(&third, TicketStatus::Resolved).await,
        "ChangeTicketStatus to RESOLVED",
    )?;
    let status = refused(
        c.escalate(&rules::key("escalate"), &ticket.id, resolved.version).await,
        "EscalateTicket of a resolved ticket",
    )?;
    expect_code(&status, Code::FailedPrecondition, "EscalateTicket of a resolved ticket")?;
    let stored = ok(c.get(&ticket.id).await, "GetTicket")?;
    ensure(stored == resolved, || {
        format!("a refused escalation changed the ticket: {stored:?}")
    })
}

async fn filters(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    let low = c.ticket(&project_id, Severity::Low).await?;
    let high = c.ticket(&project_id, Severity::High).await?;
    let critical = c.ticket(&project_id, Severity::Critical).await?;
    let elsewhere = c.ticket(&new_id(), Severity::Critical).await?;
    ok(
        c.move_to(&critical, TicketStatus::InProgress).await,
        "ChangeTicketStatus",
    )?;
    let ids = |tickets: Vec<Ticket>| {
        let mut ids: Vec<String> = tickets.into_iter().map(|t| t.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = ids(c
        .list_all(ListTicketsRequest {
            project_id: project_id.clone(),
            ..Default::default()
        })
        .await?);
    ensure(
        all == sorted(vec![low.id.clone(), high.id.clone(), critical.id.clone()]),
        || {
            format!(
                "the project filter returned {all:?} (the other project's ticket is {})",
                elsewhere.id
            )
        },
    )?;
    let severe = ids(c
        .list_all(ListTicketsRequest {
            project_id: project_id.clone(),
            minimum_severity: Severity::High as i32,
            ..Default::default()
        })
        .await?);
    ensure(severe == sorted(vec![high.id.clone(), critical.id.clone()]), || {
        format!("minimum severity HIGH returned {severe:?}")
    })?;
    let open = ids(c
        .list_all(ListTicketsRequest {
            project_id: project_id.clone(),
            status: TicketStatus::Open as i32,
            minimum_severity: Severity::Medium as i32,
            ..Default::default()
        })
        .await?);
    ensure(open == vec![high.id.clone()], || {
        format!("OPEN at MEDIUM or above returned {open:?}, expected only {}", high.id)
    })
}

async fn summary(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    let empty = c.summary(&project_id).await?;
    ensure(
        empty
            == ProjectSupportSummary {
                project_id: project_id.clone(),
                ..Default::default()
            },
        || format!("a project without tickets should count zero everywhere: {empty:?}"),
    )?;
    // Open: one LOW, two MEDIUM (one in progress), one HIGH escalated to CRITICAL.
    // Not open: a resolved HIGH that was escalated once, a closed LOW.
    c.ticket(&project_id, Severity::Low).await?;
    c.ticket(&project_id, Severity::Medium).await?;
    let in_progress = c.ticket(&project_id, Severity::Medium).await?;
    ok(
        c.move_to(&in_progress, TicketStatus::InProgress).await,
        "ChangeTicketStatus",
    )?;
    let escalated = c.ticket(&project_id, Severity::High).await?;
    ok(
        c.escalate(&rules::key("escalate"), &escalated.id, 1).await,
        "EscalateTicket",
    )?;
    let resolved = c.ticket(&project_id, Severity::High).await?;
    let resolved = ok(
        c.escalate(&rules::key("escalate"), &resolved.id, 1).await,
        "EscalateTicket",
    )?;
    ok(c.move_to(&resolved, TicketStatus::Resolved).await, "ChangeTicketStatus")?;
    let closed = c.ticket(&project_id, Severity::Low).await?;
    ok(c.move_to(&closed, TicketStatus::Closed).await, "ChangeTicketStatus")?;
    // Another project's tickets never count.
    let other = c.ticket(&new_id(), Severity::Critical).await?;
    ok(
        c.escalate(&rules::key("escalate"), &other.id, 1).await,
        "EscalateTicket",
    )?;

    let summary = c.summary(&project_id).await?;
    let expected = ProjectSupportSummary {
        project_id: project_id.clone(),
        open_low: 1,
        open_medium: 2,
        open_high: 0,
        open_critical: 1,
        open_total: 4,
        open_escalated: 1,
        escalations: 2,
    };
    ensure(summary == expected, || {
        format!("the summary is {summary:?}, expected {expected:?}")
    })?;
    let status = refused(
        c.client()
            .get_project_support_summary(c.harness.reader(
                Role::Executive,
                GetProjectSupportSummaryRequest {
                    project_id: "project-9".into(),
                },
            ))
            .await,
        "GetProjectSupportSummary of a malformed project id",
    )?;
    expect_field(&status, "project_id")
}

async fn paging(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    let mut seeded = Vec::new();
    for _ in 0..(rules::MAX_PAGE_SIZE + 5) {
        seeded.push(c.ticket(&project_id, Severity::Low).await?.id);
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListTicketsRequest {
                    page: Some(PageRequest { page_size, page_token }),
                    project_id: project_id.clone(),
                    ..Default::default()
                },
            );
            async move {
                let page = client.list_tickets(request).await?.into_inner();
                Ok((
                    page.tickets.into_iter().map(|t| t.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}
