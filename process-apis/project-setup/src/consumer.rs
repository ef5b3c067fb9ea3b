//! The `crm.opportunity.won` consumer: records a setup for the won deal, once per event and
//! once per opportunity, in one transaction with the inbox entry.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::crm::OpportunityWon;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tracing::Instrument;

/// The event type this consumer takes.
pub const OPPORTUNITY_WON: &str = "crm.opportunity.won";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "project-setup.opportunity-won";

pub struct OpportunityWonConsumer {
    db: DatabaseConnection,
    worker_waker: Arc<Notify>,
    metrics: Option<keel_telemetry::Metrics>,
}

/// What became of one delivery, as counted in `keel_events_consumed_total`.
enum Outcome {
    Applied,
    Duplicate,
    Skipped,
}

impl OpportunityWonConsumer {
    pub fn new(db: DatabaseConnection, worker_waker: Arc<Notify>) -> OpportunityWonConsumer {
        OpportunityWonConsumer {
            db,
            worker_waker,
            metrics: None,
        }
    }

    /// Counts deliveries by outcome in these metrics.
    pub fn with_metrics(mut self, metrics: keel_telemetry::Metrics) -> OpportunityWonConsumer {
        self.metrics = Some(metrics);
        self
    }

    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![OPPORTUNITY_WON.into()],
        }
    }
}

#[async_trait]
impl EventHandler for OpportunityWonConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let parent = keel_telemetry::extract_headers(&event.headers);
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
        let result = self.apply(event).instrument(span).await;
        if let Some(metrics) = &self.metrics {
            let outcome = match &result {
                Ok(Outcome::Applied) => "applied",
                Ok(Outcome::Duplicate) => "duplicate",
                Ok(Outcome::Skipped) => "skipped",
                Err(_) => "failed",
            };
            metrics.record_event_consumed(&event.event_type, outcome);
        }
        result.map(|_| ())
    }
}

impl OpportunityWonConsumer {
    async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let won: OpportunityWon = event.decode()?;
        let Some(opportunity) = won.opportunity else {
            tracing::warn!(event.id = %event.id, "won event without an opportunity; skipped");
            return Ok(Outcome::Skipped);
        };
        let txn = keel_store::begin_write(&self.db).await?;
        if !inbox::first_delivery(&txn, SUBSCRIPTION, event).await? {
            tracing::info!(event.id = %event.id, "event already applied; skipped");
            return Ok(Outcome::Duplicate);
        }
        let (setup, created) = crate::setups::start(&txn, &opportunity, &format!("event:{}", event.id)).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        if created {
            tracing::info!(setup.id = %setup.id, opportunity.id = %opportunity.id, "setup started");
            self.worker_waker.notify_one();
        }
        Ok(Outcome::Applied)
    }
}
