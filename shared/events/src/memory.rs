//! The in-process bus of embedded mode.
//!
//! `publish` hands the event to every matching subscriber and waits until each has applied
//! it, so the relay marks an outbox row published only once its effects are committed: a
//! crash in between leaves the row unpublished and it is delivered again.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use keel_core::Error;

use crate::bus::{Bus, EventHandler, SubscriptionSpec};
use crate::envelope::EventEnvelope;

/// A subscription and the handler it delivers to.
type Subscriber = (SubscriptionSpec, Arc<dyn EventHandler>);

#[derive(Clone, Default)]
pub struct InProcessBus {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus").finish_non_exhaustive()
    }
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), Error> {
        let matching: Vec<(String, Arc<dyn EventHandler>)> = {
            let subscribers = self
                .subscribers
                .read()
                .map_err(|_| Error::internal("bus registry poisoned"))?;
            subscribers
                .iter()
                .filter(|(spec, _)| spec.event_types.iter().any(|t| t == &event.event_type))
                .map(|(spec, handler)| (spec.name.clone(), handler.clone()))
                .collect()
        };
        for (name, handler) in matching {
            handler.handle(event).await.map_err(|e| {
                tracing::warn!(subscription = %name, event.id = %event.id, event.type = %event.event_type, error = %e, "subscriber did not apply event");
                Error::Unavailable(format!("subscriber {name} did not apply event {}: {e}", event.id))
            })?;
        }
        Ok(())
    }

    async fn subscribe(&self, spec: SubscriptionSpec, handler: Arc<dyn EventHandler>) -> Result<(), Error> {
        let mut subscribers = self
            .subscribers
            .write()
            .map_err(|_| Error::internal("bus registry poisoned"))?;
        subscribers.push((spec, handler));
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}
