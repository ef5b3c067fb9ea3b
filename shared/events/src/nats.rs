//! The NATS JetStream bus of distributed mode.
//!
//! One stream per event family (`<STREAM_PREFIX>_CRM` holds `<subject_prefix>.crm.>`), the
//! event id as `Nats-Msg-Id` so the stream drops a duplicate publish, and one durable pull
//! consumer per subscription and event type. A handler error naks the message with a delay;
//! JetStream redelivers up to `max_deliver` times. A stream keeps a message for `max_age`,
//! the same time the outbox keeps a published event and a consumer's inbox remembers it, so
//! no message can come back after its consumers forgot they applied it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use futures::StreamExt;
use keel_core::Error;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, EventHandler, SubscriptionSpec, family};
use crate::envelope::EventEnvelope;

/// Where and how to reach JetStream.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub url: String,
    /// Stream names start with this (`KEEL` gives `KEEL_CRM`).
    pub stream_prefix: String,
    /// Subjects start with this (`keel` gives `keel.crm.opportunity.won`).
    pub subject_prefix: String,
    /// Deliveries of one message before it is given up and logged as an exception.
    pub max_deliver: i64,
    /// How long a delivered message may stay unacknowledged before redelivery.
    pub ack_wait: Duration,
    /// How long a stream keeps a message (`events.outbox_retention_days`); an existing
    /// stream is updated to it when the bus first uses the stream.
    pub max_age: Duration,
}

impl NatsOptions {
    pub fn new(url: impl Into<String>) -> NatsOptions {
        NatsOptions {
            url: url.into(),
            stream_prefix: "KEEL".into(),
            subject_prefix: "keel".into(),
            max_deliver: 10,
            ack_wait: Duration::from_secs(30),
            max_age: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Clone)]
pub struct NatsBus {
    context: jetstream::Context,
    options: NatsOptions,
    shutdown: CancellationToken,
    /// Streams created or brought to this bus's configuration, so a publish is one request.
    ensured: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("NATS {what}: {e}"))
}

impl NatsBus {
    /// Connects; fails with [`Error::Unavailable`] when the server cannot be reached.
    pub async fn connect(options: NatsOptions) -> Result<NatsBus, Error> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(options.url.as_str())
            .await
            .map_err(|e| unavailable("connect", e))?;
        Ok(NatsBus {
            context: jetstream::new(client),
            options,
            shutdown: CancellationToken::new(),
            ensured: Arc::default(),
        })
    }

    /// Stops every subscription of this bus.
    pub fn close(&self) {
        self.shutdown.cancel();
    }

    fn subject(&self, event_type: &str) -> String {
        format!("{}.{}", self.options.subject_prefix, event_type)
    }

    fn stream_name(&self, event_type: &str) -> String {
        format!(
            "{}_{}",
            self.options.stream_prefix,
            family(event_type).to_uppercase().replace('-', "_")
        )
    }

    async fn send(&self, event: &EventEnvelope, message_id: &str) -> Result<(), Error> {
        let stream = self.ensure_stream(&event.event_type).await?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id);
        for (name, value) in &event.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        let published = async {
            let ack = self
                .context
                .publish_with_headers(self.subject(&event.event_type), headers, event.to_bytes().into())
                .await
                .map_err(|e| unavailable("publish", e))?;
            ack.await.map_err(|e| unavailable("publish ack", e))?;
            Ok(())
        }
        .await;
        if published.is_err() {
            // The stream may be gone; the next publish creates it again.
            self.ensured().remove(&stream);
        }
        published
    }

    /// The streams ensured so far; a panic elsewhere cannot poison a set of names.
    fn ensured(&self) -> MutexGuard<'_, HashSet<String>> {
        self.ensured.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stream_config(&self, event_type: &str) -> stream::Config {
        stream::Config {
            name: self.stream_name(event_type),
            subjects: vec![format!("{}.{}.>", self.options.subject_prefix, family(event_type))],
            // Two minutes of publish dedupe by Nats-Msg-Id.
            duplicate_window: Duration::from_secs(120),
            max_age: self.options.max_age,
            ..Default::default()
        }
    }

    /// Creates the event type's stream, or brings an existing one to this bus's
    /// configuration, once per bus; returns the stream's name.
    async fn ensure_stream(&self, event_type: &str) -> Result<String, Error> {
        let name = self.stream_name(event_type);
        if self.ensured().contains(&name) {
            return Ok(name);
        }
        self.context
            .create_or_update_stream(self.stream_config(event_type))
            .await
            .map_err(|e| unavailable("stream", e))?;
        self.ensured().insert(name.clone());
        Ok(name)
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), Error> {
        self.send(event, &event.id.to_string()).await
    }

    async fn republish(&self, event: &EventEnvelope) -> Result<(), Error> {
        // A fresh message id, or the stream would drop the replay inside its duplicate window.
        self.send(event, &format!("{}-replay-{}", event.id, uuid::Uuid::new_v4().simple()))
            .await
    }

    async fn subscribe(&self, spec: SubscriptionSpec, handler: Arc<dyn EventHandler>) -> Result<(), Error> {
        for event_type in &spec.event_types {
            let name = self.ensure_stream(event_type).await?;
            let stream = self
                .context
                .get_stream(&name)
                .await
                .map_err(|e| unavailable("stream", e))?;
            let durable = format!("{}-{}", spec.name, event_type).replace(['.', ' ', '*', '>'], "_");
            let consumer: jetstream::consumer::Consumer<pull::Config> = stream
                .get_or_create_consumer(
                    &durable,
                    pull::Config {
                        durable_name: Some(durable.clone()),
                        filter_subject: self.subject(event_type),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: self.options.ack_wait,
                        max_deliver: self.options.max_deliver,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| unavailable("consumer", e))?;
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| unavailable("consumer messages", e))?;
            let handler = handler.clone();
            let shutdown = self.shutdown.clone();
            let max_deliver = self.options.max_deliver;
            tokio::spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        next = messages.next() => next,
                    };
                    let message = match next {
                        None => break,
                        Some(Err(e)) => {
                            tracing::warn!(consumer = %durable, error = %e, "JetStream delivery error");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                        Some(Ok(m)) => m,
                    };
                    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
                    let outcome = match EventEnvelope::from_bytes(&message.payload) {
                        Ok(event) => handler.handle(&event).await.map_err(|e| (Some(event.id), e)),
                        Err(e) => Err((None, e)),
                    };
                    let ack = match outcome {
                        Ok(()) => message.ack().await,
                        Err((event_id, e)) => {
                            if delivered >= max_deliver {
                                tracing::error!(consumer = %durable, event.id = ?event_id, error = %e, delivered, "event given up after max deliveries");
                                message.ack_with(AckKind::Term).await
                            } else {
                                tracing::warn!(consumer = %durable, event.id = ?event_id, error = %e, delivered, "event not applied; redelivering");
                                let delay = Duration::from_millis(200 * 2_u64.pow(delivered.clamp(1, 8) as u32));
                                message.ack_with(AckKind::Nak(Some(delay))).await
                            }
                        }
                    };
                    if let Err(e) = ack {
                        tracing::warn!(consumer = %durable, error = %e, "acknowledgement failed; the event will be redelivered");
                    }
                }
            });
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "nats"
    }
}
