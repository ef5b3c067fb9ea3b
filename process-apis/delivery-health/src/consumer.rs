//! The events that change a project's health start an evaluation of that project: time
//! entries submitted, approved, rejected or posted, change requests applied, and support
//! tickets opened, moved or escalated. Each event is applied once (the inbox, in delivery
//! health's own store); the evaluation itself is idempotent, so a redelivery after a crash
//! only evaluates again.

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::psa::{ChangeRequestChanged, TimeEntryChanged};
use keel_proto::support::{TicketEscalated, TicketOpened, TicketStatusChanged};
use sea_orm::EntityTrait;
use tracing::Instrument;

use crate::evaluator::Evaluator;

/// The event types that trigger an evaluation (as the system APIs name them).
pub const TRIGGERS: [&str; 8] = [
    "psa.time_entry.submitted",
    "psa.time_entry.approved",
    "psa.time_entry.rejected",
    "psa.time_entry.posted",
    "psa.change_request.applied",
    "support.ticket.opened",
    "support.ticket.status_changed",
    "support.ticket.escalated",
];
/// The durable subscription name.
pub const SUBSCRIPTION: &str = "delivery-health.project-changed";

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The project was evaluated.
    Evaluated { project_id: String },
    /// The event was applied before.
    Duplicate,
    /// Not about a project.
    Skipped,
}

/// Evaluates the project an event is about.
#[derive(Debug, Clone)]
pub struct HealthTrigger {
    evaluator: Evaluator,
}

/// The project an event is about, if any.
pub fn project_of(event: &EventEnvelope) -> Result<Option<String>, Error> {
    let project_id = match event.event_type.as_str() {
        t if t.starts_with("psa.time_entry.") => event.decode::<TimeEntryChanged>()?.entry.map(|e| e.project_id),
        "psa.change_request.applied" => event
            .decode::<ChangeRequestChanged>()?
            .change_request
            .map(|c| c.project_id),
        "support.ticket.opened" => event.decode::<TicketOpened>()?.ticket.map(|t| t.project_id),
        "support.ticket.status_changed" => event.decode::<TicketStatusChanged>()?.ticket.map(|t| t.project_id),
        "support.ticket.escalated" => event.decode::<TicketEscalated>()?.ticket.map(|t| t.project_id),
        _ => None,
    };
    Ok(project_id.filter(|id| !id.is_empty()))
}

impl HealthTrigger {
    pub fn new(evaluator: Evaluator) -> HealthTrigger {
        HealthTrigger { evaluator }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: TRIGGERS.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// Applies one delivery: evaluates, then records the event in the inbox.
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.evaluator.db();
        let seen = inbox::entity::Entity::find_by_id((SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            return Ok(Outcome::Duplicate);
        }
        let outcome = match project_of(event)? {
            Some(project_id) => {
                self.evaluator
                    .evaluate(&project_id, &format!("event:{}", event.id))
                    .await?;
                Outcome::Evaluated { project_id }
            }
            None => Outcome::Skipped,
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for HealthTrigger {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
