//! The consumer side of exactly-once effects: a consumer records each event id in the same
//! transaction as the effect; a second delivery finds it and does nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};

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

/// Entries removed per statement by [`prune_applied`], as for the outbox: short deletes that do
/// not hold up the consumers' writes.
pub const PRUNE_BATCH: u64 = crate::outbox::PRUNE_BATCH;

/// Forgets the events applied before `cutoff`, oldest first, in deletes of at most
/// [`PRUNE_BATCH`] entries; returns how many. Safe once `cutoff` is past the time the outbox
/// and the bus keep an event (`events.outbox_retention_days`): nothing can deliver it again.
/// Read through the `inbox_applied_at` index, so the entries kept do not slow it.
pub async fn prune_applied<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> Result<u64, Error> {
    let mut pruned = 0;
    loop {
        let oldest: Vec<(String, String)> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Consumer)
            .column(entity::Column::EventId)
            .filter(entity::Column::AppliedAt.lt(cutoff))
            .order_by_asc(entity::Column::AppliedAt)
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(db)
            .await
            .map_err(keel_store::db_error)?;
        let batch = oldest.len() as u64;
        let mut by_consumer: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (consumer, event_id) in oldest {
            by_consumer.entry(consumer).or_default().push(event_id);
        }
        for (consumer, event_ids) in by_consumer {
            let deleted = entity::Entity::delete_many()
                .filter(entity::Column::Consumer.eq(consumer))
                .filter(entity::Column::EventId.is_in(event_ids))
                .exec(db)
                .await
                .map_err(keel_store::db_error)?;
            pruned += deleted.rows_affected;
        }
        if batch < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}
