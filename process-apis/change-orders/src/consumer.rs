//! The `psa.change_request.approved` consumer: starts a `change-order` instance for the
//! approved change request, once per event (the inbox, in the change-order store) and once per
//! change request (the engine keeps one open instance per business key, and a change request
//! whose change order is done is not started again).

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::psa::{ChangeRequestChanged, ChangeRequestState};
use keel_workflow::Engine;
use sea_orm::EntityTrait;
use tracing::Instrument;

use crate::workflow::{ChangeOrder, KIND};

/// The event type this consumer takes (PSA's change request approval).
pub const CHANGE_REQUEST_APPROVED: &str = "psa.change_request.approved";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "change-orders.change-request-approved";

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A change order was started (or the open one found).
    Started,
    /// The event was applied before.
    Duplicate,
    /// The change request's change order is done already.
    AlreadyApplied,
    /// Not an approved change request.
    Skipped,
}

/// Starts change orders from approval events. The engine must be the one the platform runs.
#[derive(Debug, Clone)]
pub struct ChangeRequestApprovedConsumer {
    engine: Engine,
}

impl ChangeRequestApprovedConsumer {
    /// A consumer starting change orders on `engine`.
    pub fn new(engine: Engine) -> ChangeRequestApprovedConsumer {
        ChangeRequestApprovedConsumer { engine }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![CHANGE_REQUEST_APPROVED.into()],
        }
    }

    /// Applies one delivery. The instance is started before the inbox entry commits (the
    /// engine writes in its own transaction): a crash between the two redelivers the event,
    /// which then finds the open (or done) instance and starts nothing new.
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.engine.db();
        let seen = inbox::entity::Entity::find_by_id((SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            tracing::info!(event.id = %event.id, "event already applied; skipped");
            return Ok(Outcome::Duplicate);
        }
        let changed: ChangeRequestChanged = event.decode()?;
        let outcome = match changed.change_request {
            Some(request) if request.state == ChangeRequestState::Approved as i32 => {
                let key = format!("event:{}", event.id);
                let started = self
                    .engine
                    .start_once(
                        KIND,
                        &request.id,
                        ChangeOrder::input(&request.id, &key),
                        serde_json::json!({}),
                        &key,
                    )
                    .await?;
                if started.done {
                    Outcome::AlreadyApplied
                } else {
                    tracing::info!(workflow.id = %started.id, change_request.id = %request.id, created = started.created, "change order started");
                    Outcome::Started
                }
            }
            _ => {
                tracing::warn!(event.id = %event.id, "approval event without an approved change request; skipped");
                Outcome::Skipped
            }
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for ChangeRequestApprovedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
