//! The bus: how events move from a service's relay to the services that consume them.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;

use crate::envelope::EventEnvelope;

/// Applies one event. Called at least once per event; implementations dedupe through the
/// inbox. An `Err` means "not applied, deliver again later".
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error>;
}

/// A durable subscription: `name` identifies the consumer (one per subscribing service and
/// purpose, e.g. `project-setup.opportunity-won`); `event_types` are exact event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub name: String,
    pub event_types: Vec<String>,
}

/// Carries events. `publish` returns once the bus has taken responsibility for the event:
/// for the in-process bus, once every subscriber has applied it; for JetStream, once the
/// stream acknowledged it.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), Error>;

    /// Publishes an event again on an operator's request. Unlike [`Bus::publish`], the bus
    /// must not drop it as a duplicate of the first publish; consumers still dedupe by event
    /// id, so a replay reaches a consumer that missed the event and changes nothing elsewhere.
    async fn republish(&self, event: &EventEnvelope) -> Result<(), Error> {
        self.publish(event).await
    }

    /// Starts delivering matching events to `handler` until the bus is dropped or shut down.
    async fn subscribe(&self, spec: SubscriptionSpec, handler: Arc<dyn EventHandler>) -> Result<(), Error>;

    /// A name for logs and readiness: `in-process` or `nats`.
    fn kind(&self) -> &'static str;
}

/// The family of an event type, its first segment: `crm` for `crm.opportunity.won`.
pub fn family(event_type: &str) -> &str {
    event_type.split('.').next().unwrap_or(event_type)
}
