//! The seam between the support contract and a support (ticketing) product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::support::{ProjectSupportSummary, Ticket};
use uuid::Uuid;

use crate::domain::{Escalation, NewTicket, StatusChange, TicketFilter};

/// What a support product must do for Keel. Changes take the caller (`actor`, for the audit
/// log) and the idempotency key; a replay returns the first result.
#[async_trait]
pub trait SupportAdapter: Send + Sync + 'static {
    /// Opens a ticket (OPEN, version 1) and emits `support.ticket.opened`.
    async fn open_ticket(&self, actor: &str, idempotency_key: &str, ticket: NewTicket) -> Result<Ticket, Error>;
    async fn get_ticket(&self, id: Uuid) -> Result<Ticket, Error>;
    async fn list_tickets(&self, page: Page, filter: TicketFilter) -> Result<Vec<Ticket>, Error>;

    /// Moves the ticket to `change.status` when [`crate::domain::transition_allowed`] says it
    /// may (else `Error::FailedPrecondition`) and emits `support.ticket.status_changed`; the
    /// status it already has changes nothing. A stale version is `Error::Aborted`.
    async fn change_ticket_status(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: StatusChange,
    ) -> Result<Ticket, Error>;

    /// Escalates an open ticket (OPEN or IN_PROGRESS; else `Error::FailedPrecondition`):
    /// escalated, severity raised by [`crate::domain::raised`], `support.ticket.escalated`
    /// emitted. A stale version is `Error::Aborted`.
    async fn escalate_ticket(
        &self,
        actor: &str,
        idempotency_key: &str,
        escalation: Escalation,
    ) -> Result<Ticket, Error>;

    /// Exact counts for one project as of one instant.
    async fn project_support_summary(&self, project_id: Uuid) -> Result<ProjectSupportSummary, Error>;
}
