//! Events between Keel services: the envelope, the transactional outbox, the relay that
//! publishes it, the bus (in-process or NATS JetStream), and the inbox consumers use to
//! apply each event once.
//!
//! Delivery is at least once; effects are exactly once because a consumer records the event
//! id in its inbox in the same transaction as its effect. The outbox is the record; the bus
//! is transport.

#![forbid(unsafe_code)]

pub mod admin;
pub mod bus;
pub mod envelope;
pub mod inbox;
pub mod memory;
pub mod migrations;
pub mod nats;
pub mod outbox;
pub mod relay;

pub use bus::{Bus, EventHandler, SubscriptionSpec};
pub use envelope::EventEnvelope;
pub use memory::InProcessBus;
pub use nats::{NatsBus, NatsOptions};
pub use relay::Relay;
