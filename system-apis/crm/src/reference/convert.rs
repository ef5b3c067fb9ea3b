//! Rows to `keel.crm.v1` messages, and the reads every operation shares.

use std::collections::HashMap;

use keel_core::{Currency, Error, Money};
use keel_proto::crm::{Account, Contact, ExternalId, Opportunity};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, QueryOrder};
use uuid::Uuid;

use super::entities::{account, contact, external_id, opportunity};

pub(super) fn account_to_proto(row: &account::Model) -> Account {
    Account {
        id: row.id.clone(),
        name: row.name.clone(),
        tier: row.tier.clone(),
        region: row.region.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

pub(super) fn contact_to_proto(row: &contact::Model) -> Contact {
    Contact {
        id: row.id.clone(),
        account_id: row.account_id.clone(),
        name: row.name.clone(),
        email: row.email.clone(),
        role: row.role.clone(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

pub(super) fn opportunity_to_proto(
    row: &opportunity::Model,
    external_ids: Vec<ExternalId>,
) -> Result<Opportunity, Error> {
    let currency = Currency::parse(&row.currency).map_err(Error::internal)?;
    Ok(Opportunity {
        id: row.id.clone(),
        account_id: row.account_id.clone(),
        name: row.name.clone(),
        stage: row.stage,
        service_line: row.service_line.clone(),
        contract_type: row.contract_type.clone(),
        region: row.region.clone(),
        client_tier: row.client_tier.clone(),
        amount: Some(Money::from_minor_units(row.amount_minor, currency).to_proto()),
        close_date: row.close_date.clone().unwrap_or_default(),
        sow_reference: row.sow_reference.clone(),
        version: row.version,
        external_ids,
        lost_reason: row.lost_reason.clone().unwrap_or_default(),
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

/// The external ids of each of `opportunity_ids`, by opportunity id, sorted by source.
pub(super) async fn external_ids_of<C: ConnectionTrait>(
    db: &C,
    opportunity_ids: &[String],
) -> Result<HashMap<String, Vec<ExternalId>>, Error> {
    let mut by_opportunity: HashMap<String, Vec<ExternalId>> = HashMap::new();
    if opportunity_ids.is_empty() {
        return Ok(by_opportunity);
    }
    let rows = external_id::Entity::find()
        .filter(external_id::Column::OpportunityId.is_in(opportunity_ids.iter().cloned()))
        .order_by_asc(external_id::Column::Source)
        .all(db)
        .await
        .map_err(keel_store::db_error)?;
    for row in rows {
        by_opportunity.entry(row.opportunity_id).or_default().push(ExternalId {
            source: row.source,
            id: row.external_id,
        });
    }
    Ok(by_opportunity)
}

/// Rows as messages, each with its external ids.
pub(super) async fn opportunities_to_proto<C: ConnectionTrait>(
    db: &C,
    rows: &[opportunity::Model],
) -> Result<Vec<Opportunity>, Error> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut external = external_ids_of(db, &ids).await?;
    rows.iter()
        .map(|row| opportunity_to_proto(row, external.remove(&row.id).unwrap_or_default()))
        .collect()
}

pub(super) async fn one_opportunity_to_proto<C: ConnectionTrait>(
    db: &C,
    row: &opportunity::Model,
) -> Result<Opportunity, Error> {
    let mut all = opportunities_to_proto(db, std::slice::from_ref(row)).await?;
    all.pop()
        .ok_or_else(|| Error::internal("an opportunity went missing while converting it"))
}

pub(super) async fn find_opportunity<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<opportunity::Model, Error> {
    opportunity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("opportunity", id.to_string()))
}

pub(super) async fn find_account<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<account::Model>, Error> {
    account::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)
}
