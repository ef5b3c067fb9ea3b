//! The envelope every event travels in.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SubsecRound, Utc};
use keel_core::Error;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event: what happened (`event_type`, e.g. `crm.opportunity.won`), where
/// (`source`, the service), to which record (`aggregate_id`), and the payload, a protobuf
/// message from the contracts. `headers` carry the W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: Uuid,
    pub event_type: String,
    pub source: String,
    pub aggregate_id: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    #[serde(with = "payload_base64")]
    pub payload: Vec<u8>,
}

impl EventEnvelope {
    /// A new event with a fresh id, carrying `payload` encoded.
    pub fn new<M: prost::Message>(event_type: &str, source: &str, aggregate_id: &str, payload: &M) -> EventEnvelope {
        EventEnvelope {
            id: keel_core::ids::new_id(),
            event_type: event_type.to_string(),
            source: source.to_string(),
            aggregate_id: aggregate_id.to_string(),
            occurred_at: Utc::now().trunc_subsecs(6),
            headers: HashMap::new(),
            payload: payload.encode_to_vec(),
        }
    }

    /// Decodes the payload as the contract message `M`.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, Error> {
        M::decode(self.payload.as_slice()).map_err(|e| {
            Error::internal(format!(
                "event {} ({}) has a payload that does not decode: {e}",
                self.id, self.event_type
            ))
        })
    }

    /// The wire form (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<EventEnvelope, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::internal(format!("an event envelope does not parse: {e}")))
    }
}

mod payload_base64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
