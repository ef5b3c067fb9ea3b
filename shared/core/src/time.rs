//! Timestamps at the contract edge.

use chrono::{DateTime, Utc};

/// A UTC instant as a protobuf `Timestamp`.
pub fn to_timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Builds the contract's audit block.
pub fn audit_info(
    created_at: DateTime<Utc>,
    created_by: &str,
    updated_at: DateTime<Utc>,
    updated_by: &str,
) -> keel_proto::common::AuditInfo {
    keel_proto::common::AuditInfo {
        created_at: Some(to_timestamp(created_at)),
        created_by: created_by.to_string(),
        updated_at: Some(to_timestamp(updated_at)),
        updated_by: updated_by.to_string(),
    }
}
