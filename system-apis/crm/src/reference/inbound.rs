//! Inbound webhook deliveries already handled, so a replayed delivery changes nothing.

use chrono::Utc;
use keel_core::Error;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

use super::ReferenceCrm;
use super::entities::inbound_delivery;

pub(super) async fn seen(crm: &ReferenceCrm, source: &str, delivery_id: &str) -> Result<bool, Error> {
    let found = inbound_delivery::Entity::find_by_id((source.to_string(), delivery_id.to_string()))
        .one(&crm.db)
        .await
        .map_err(keel_store::db_error)?;
    Ok(found.is_some())
}

pub(super) async fn record(crm: &ReferenceCrm, source: &str, delivery_id: &str, outcome: &str) -> Result<bool, Error> {
    let row = inbound_delivery::ActiveModel {
        source: Set(source.to_string()),
        delivery_id: Set(delivery_id.to_string()),
        outcome: Set(outcome.chars().take(64).collect()),
        received_at: Set(Utc::now()),
    };
    match inbound_delivery::Entity::insert(row).exec(&crm.db).await {
        Ok(_) => Ok(true),
        Err(e) if keel_store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(keel_store::db_error(e)),
    }
}
