//! The transactional outbox: a service writes its event in the same transaction as the
//! change that caused it, so an event is never lost nor published for a change that rolled
//! back. The [`crate::relay::Relay`] publishes what is waiting.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};

use crate::envelope::EventEnvelope;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub event_type: String,
        pub source: String,
        pub aggregate_id: String,
        pub occurred_at: DateTimeUtc,
        pub headers: String,
        pub payload: Vec<u8>,
        pub published_at: Option<DateTimeUtc>,
        pub attempts: i32,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes `event` to the outbox inside the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(txn: &C, event: &EventEnvelope) -> Result<(), Error> {
    let row = entity::ActiveModel {
        id: Set(event.id.to_string()),
        event_type: Set(event.event_type.clone()),
        source: Set(event.source.clone()),
        aggregate_id: Set(event.aggregate_id.clone()),
        occurred_at: Set(event.occurred_at),
        headers: Set(serde_json::to_string(&event.headers).unwrap_or_else(|_| "{}".into())),
        payload: Set(event.payload.clone()),
        published_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
    };
    entity::Entity::insert(row)
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    Ok(())
}

/// Reads a stored row back into an envelope.
pub fn to_envelope(row: &entity::Model) -> Result<EventEnvelope, Error> {
    let headers: HashMap<String, String> = serde_json::from_str(&row.headers).unwrap_or_default();
    Ok(EventEnvelope {
        id: row.id.parse().map_err(Error::internal)?,
        event_type: row.event_type.clone(),
        source: row.source.clone(),
        aggregate_id: row.aggregate_id.clone(),
        occurred_at: row.occurred_at,
        headers,
        payload: row.payload.clone(),
    })
}

/// Unpublished events, oldest first (ids are time-ordered).
pub async fn pending<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::PublishedAt.is_null())
        .order_by_asc(entity::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// How many events wait for the relay.
pub async fn pending_count<C: ConnectionTrait>(db: &C) -> Result<u64, Error> {
    entity::Entity::find()
        .filter(entity::Column::PublishedAt.is_null())
        .count(db)
        .await
        .map_err(keel_store::db_error)
}

/// One event by id.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// The most recent events, newest first, optionally of one type.
pub async fn recent<C: ConnectionTrait>(
    db: &C,
    event_type: Option<&str>,
    limit: u64,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find();
    if let Some(t) = event_type {
        query = query.filter(entity::Column::EventType.eq(t));
    }
    query
        .order_by_desc(entity::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// Published events removed per statement by [`prune_published`]: each delete is short, so
/// the relay and the service's writers are not held up behind a long one.
pub const PRUNE_BATCH: u64 = 1000;

/// Removes the events the relay published before `cutoff`, oldest first, in deletes of at
/// most [`PRUNE_BATCH`] rows; returns how many. An event still waiting for the relay is never
/// removed, however old. Read through the `(published_at, id)` index, so the events kept do
/// not slow it.
pub async fn prune_published<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> Result<u64, Error> {
    let mut pruned = 0;
    loop {
        let ids: Vec<String> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(entity::Column::PublishedAt.is_not_null())
            .filter(entity::Column::PublishedAt.lt(cutoff))
            .order_by_asc(entity::Column::PublishedAt)
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(db)
            .await
            .map_err(keel_store::db_error)?;
        if ids.is_empty() {
            return Ok(pruned);
        }
        let batch = ids.len() as u64;
        let deleted = entity::Entity::delete_many()
            .filter(entity::Column::Id.is_in(ids))
            .filter(entity::Column::PublishedAt.is_not_null())
            .exec(db)
            .await
            .map_err(keel_store::db_error)?;
        pruned += deleted.rows_affected;
        if batch < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}
