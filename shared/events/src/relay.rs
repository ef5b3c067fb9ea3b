//! The relay: publishes a service's outbox to the bus, oldest first, and marks each event
//! published once the bus has taken it. A failed publish stops the pass (so order holds) and
//! is tried again on the next one; what was not relayed when the process stops stays in the
//! outbox for the next start.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::outbox::{self, entity};

/// Events published per pass before the relay checks for shutdown.
const BATCH: u64 = 100;

#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    service: String,
    interval: Duration,
    wake: Arc<Notify>,
    metrics: Option<keel_telemetry::Metrics>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(service: &str, db: DatabaseConnection, bus: Arc<dyn Bus>, interval: Duration) -> Relay {
        Relay {
            db,
            bus,
            service: service.to_string(),
            interval,
            wake: Arc::new(Notify::new()),
            metrics: None,
        }
    }

    /// Counts published events in these metrics.
    pub fn with_metrics(mut self, metrics: keel_telemetry::Metrics) -> Relay {
        self.metrics = Some(metrics);
        self
    }

    /// A handle that wakes the relay at once; services call `notify_one()` after a commit
    /// that wrote to the outbox, so events do not wait for the next interval.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The bus this relay publishes to (operators replay events through it).
    pub fn bus(&self) -> Arc<dyn Bus> {
        self.bus.clone()
    }

    /// Publishes everything waiting, in order. Returns how many were published; stops at
    /// the first failure and returns it.
    pub async fn relay_pending(&self) -> Result<usize, Error> {
        let mut published = 0;
        loop {
            let batch = outbox::pending(&self.db, BATCH).await?;
            if batch.is_empty() {
                return Ok(published);
            }
            for row in batch {
                let event = outbox::to_envelope(&row)?;
                match self.bus.publish(&event).await {
                    Ok(()) => {
                        let update = entity::ActiveModel {
                            id: Set(row.id.clone()),
                            published_at: Set(Some(Utc::now())),
                            attempts: Set(row.attempts + 1),
                            last_error: Set(None),
                            ..Default::default()
                        };
                        entity::Entity::update(update)
                            .exec(&self.db)
                            .await
                            .map_err(keel_store::db_error)?;
                        published += 1;
                        if let Some(metrics) = &self.metrics {
                            metrics.record_event_published(&event.event_type);
                        }
                        tracing::debug!(service = %self.service, event.id = %event.id, event.type = %event.event_type, "event relayed");
                    }
                    Err(e) => {
                        let update = entity::ActiveModel {
                            id: Set(row.id.clone()),
                            attempts: Set(row.attempts + 1),
                            last_error: Set(Some(e.to_string())),
                            ..Default::default()
                        };
                        entity::Entity::update(update)
                            .exec(&self.db)
                            .await
                            .map_err(keel_store::db_error)?;
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Relays until `shutdown` is cancelled: at once when woken, else every interval. A
    /// failure backs off, doubling up to 30 s.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = self.interval;
        loop {
            let wait = match self.relay_pending().await {
                Ok(_) => {
                    backoff = self.interval;
                    self.interval
                }
                Err(e) => {
                    tracing::warn!(service = %self.service, error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed; events stay in the outbox");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!(service = %self.service, "outbox relay stopped");
    }
}
