//! The `psa.time_entry.approved` consumer: starts a `time-posting` instance for the approved
//! entry, once per event (the inbox, in time capture's own store) and once per entry (the
//! engine keeps one open instance per business key, and an entry already posted is not
//! started again).

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::psa::{ExpenseChanged, ExpenseState, TimeEntryChanged, TimeEntryState};
use keel_workflow::Engine;
use sea_orm::EntityTrait;
use serde_json::json;
use tracing::Instrument;

use crate::expenses;
use crate::workflow::{KIND, TimePosting};

/// The event type this consumer takes (PSA's `TIME_ENTRY_APPROVED`).
pub const TIME_ENTRY_APPROVED: &str = "psa.time_entry.approved";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "time-capture.time-entry-approved";

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An instance was started (or the open one found).
    Started,
    /// The event was applied before.
    Duplicate,
    /// The entry was posted already by an earlier instance.
    AlreadyPosted,
    /// Not an approved entry.
    Skipped,
}

/// Starts postings from approval events. The engine must be the one the platform runs.
#[derive(Debug, Clone)]
pub struct TimeEntryApprovedConsumer {
    engine: Engine,
}

impl TimeEntryApprovedConsumer {
    pub fn new(engine: Engine) -> TimeEntryApprovedConsumer {
        TimeEntryApprovedConsumer { engine }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![TIME_ENTRY_APPROVED.into()],
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
        let changed: TimeEntryChanged = event.decode()?;
        let outcome = match changed.entry {
            Some(entry) if entry.state == TimeEntryState::Approved as i32 => {
                let started = self
                    .engine
                    .start_once(
                        KIND,
                        &entry.id,
                        TimePosting::input(&entry.id),
                        json!({}),
                        &format!("event:{}", event.id),
                    )
                    .await?;
                if started.done {
                    Outcome::AlreadyPosted
                } else {
                    tracing::info!(workflow.id = %started.id, time_entry.id = %entry.id, created = started.created, "posting started");
                    Outcome::Started
                }
            }
            _ => {
                tracing::warn!(event.id = %event.id, "approval event without an approved entry; skipped");
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
impl EventHandler for TimeEntryApprovedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}

/// The event type of an approved expense (PSA's `EXPENSE_APPROVED`).
pub const EXPENSE_APPROVED: &str = "psa.expense.approved";
/// Its durable subscription name.
pub const EXPENSE_SUBSCRIPTION: &str = "time-capture.expense-approved";

/// Starts an `expense-posting` instance per `psa.expense.approved` event, once per event (the
/// inbox) and once per expense (one open instance per business key; a posted one is not
/// started again).
#[derive(Debug, Clone)]
pub struct ExpenseApprovedConsumer {
    engine: Engine,
}

impl ExpenseApprovedConsumer {
    pub fn new(engine: Engine) -> ExpenseApprovedConsumer {
        ExpenseApprovedConsumer { engine }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: EXPENSE_SUBSCRIPTION.into(),
            event_types: vec![EXPENSE_APPROVED.into()],
        }
    }

    /// Applies one delivery (see [`TimeEntryApprovedConsumer::apply`] for the order of writes).
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.engine.db();
        let seen = inbox::entity::Entity::find_by_id((EXPENSE_SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            return Ok(Outcome::Duplicate);
        }
        let changed: ExpenseChanged = event.decode()?;
        let outcome = match changed.expense {
            Some(expense) if expense.state == ExpenseState::Approved as i32 => {
                let started = self
                    .engine
                    .start_once(
                        expenses::KIND,
                        &expense.id,
                        expenses::ExpensePostingWorkflow::input(&expense.id),
                        json!({}),
                        &format!("event:{}", event.id),
                    )
                    .await?;
                if started.done {
                    Outcome::AlreadyPosted
                } else {
                    Outcome::Started
                }
            }
            _ => Outcome::Skipped,
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, EXPENSE_SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for ExpenseApprovedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
