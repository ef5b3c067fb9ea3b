//! The `erp.invoice.issued` consumer: starts a project's close-out when the invoice of its
//! last billing milestone is issued. Once per event (the inbox, in the close-out's store) and
//! once per project (the engine keeps one open instance per business key, and a project whose
//! close-out is done is not started again).
//!
//! The invoice is mapped to its project through its project code (whose `project_id` is the
//! PSA project). An invoice that bills no milestone, or leaves a milestone of the project
//! uninvoiced, starts nothing.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::erp::{InvoiceEvent, InvoiceStatus, MilestoneStatus};
use keel_workflow::Engine;
use sea_orm::EntityTrait;
use tracing::Instrument;

use crate::clients::Downstream;
use crate::policy::CloseOutPolicy;
use crate::workflow::{CloseOut, KIND};

/// The event type this consumer takes (ERP's invoice issued).
pub const INVOICE_ISSUED: &str = "erp.invoice.issued";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "close-out.invoice-issued";

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The project's close-out was started (or its open one found).
    Started { project_id: String },
    /// The event was applied before.
    Duplicate,
    /// The project's close-out is done already.
    AlreadyClosedOut,
    /// Milestones of the project are still to invoice: this was not the last.
    MilestonesLeft { project_id: String, left: usize },
    /// The invoice bills no milestone (time and materials), or is not issued.
    NotAMilestoneInvoice,
    /// ERP knows no project code of the invoice's.
    Unmapped,
}

/// Starts close-outs from ERP's invoice events. The engine must be the one the platform runs.
#[derive(Debug, Clone)]
pub struct InvoiceIssuedConsumer {
    engine: Engine,
    downstream: Downstream,
    policy: Arc<CloseOutPolicy>,
}

impl InvoiceIssuedConsumer {
    pub fn new(engine: Engine, downstream: Downstream, policy: Arc<CloseOutPolicy>) -> InvoiceIssuedConsumer {
        InvoiceIssuedConsumer {
            engine,
            downstream,
            policy,
        }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![INVOICE_ISSUED.into()],
        }
    }

    async fn decide(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let InvoiceEvent { invoice } = event.decode()?;
        let Some(invoice) = invoice else {
            return Ok(Outcome::NotAMilestoneInvoice);
        };
        let bills_a_milestone = invoice.lines.iter().any(|l| l.source.starts_with("milestone:"));
        if invoice.status != InvoiceStatus::Issued as i32 || !bills_a_milestone {
            return Ok(Outcome::NotAMilestoneInvoice);
        }
        let Some(code) = self.downstream.project_code(&invoice.project_code).await? else {
            return Ok(Outcome::Unmapped);
        };
        let milestones = self.downstream.billing_milestones(&code.code).await?;
        let left = milestones
            .iter()
            .filter(|m| m.status != MilestoneStatus::Invoiced as i32)
            .count();
        if left > 0 {
            return Ok(Outcome::MilestonesLeft {
                project_id: code.project_id,
                left,
            });
        }
        let key = format!("event:{}", event.id);
        let started = self
            .engine
            .start_once(
                KIND,
                &code.project_id,
                CloseOut::input(&code.project_id, &key),
                self.policy.versions(),
                &key,
            )
            .await?;
        if started.done {
            return Ok(Outcome::AlreadyClosedOut);
        }
        tracing::info!(workflow.id = %started.id, project.id = %code.project_id, created = started.created, "close-out started");
        Ok(Outcome::Started {
            project_id: code.project_id,
        })
    }

    /// Applies one delivery. The instance is started before the inbox entry commits (the
    /// engine writes in its own transaction): a crash between the two redelivers the event,
    /// which then finds the open (or done) close-out and starts nothing new.
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
        let outcome = self.decide(event).await?;
        if !matches!(outcome, Outcome::Started { .. }) {
            tracing::info!(event.id = %event.id, ?outcome, "invoice issued; no close-out to start");
        }
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for InvoiceIssuedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
