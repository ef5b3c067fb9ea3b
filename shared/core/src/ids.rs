//! Record ids. Keel ids are UUIDv7: unique across services and ordered by creation time,
//! which keeps list paging stable.

use uuid::Uuid;

/// A new id for a record created now.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
