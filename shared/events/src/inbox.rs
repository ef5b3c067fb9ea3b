//! The consumer side of exactly-once effects: a consumer records each event id in the same
//! transaction as the effect; a second delivery finds it and does nothing.

use chrono::Utc;
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait};

use crate::envelope::EventEnvelope;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub event_type: String,
        pub applied_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records `event` as applied by `consumer` inside the caller's transaction. Returns `false`
/// when it was already applied: the caller then rolls back (or simply skips its effect).
pub async fn first_delivery<C: ConnectionTrait>(txn: &C, consumer: &str, event: &EventEnvelope) -> Result<bool, Error> {
    let existing = entity::Entity::find_by_id((consumer.to_string(), event.id.to_string()))
        .one(txn)
        .await
        .map_err(keel_store::db_error)?;
    if existing.is_some() {
        return Ok(false);
    }
    let row = entity::ActiveModel {
        consumer: Set(consumer.to_string()),
        event_id: Set(event.id.to_string()),
        event_type: Set(event.event_type.clone()),
        applied_at: Set(Utc::now()),
    };
    match entity::Entity::insert(row).exec(txn).await {
        Ok(_) => Ok(true),
        // A concurrent delivery of the same event won the race.
        Err(e) if keel_store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(keel_store::db_error(e)),
    }
}
