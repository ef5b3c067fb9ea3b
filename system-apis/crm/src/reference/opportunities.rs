//! Opportunities: created open, updated and advanced while open under optimistic concurrency,
//! closed as won or lost. Each change commits with its audit entry and its event.

use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::crm::{
    AdvanceOpportunityStageRequest, CreateOpportunityRequest, ExternalId, MarkOpportunityLostRequest,
    MarkOpportunityWonRequest, Opportunity, OpportunityLost, OpportunityStage, OpportunityStageAdvanced,
    OpportunityUpdated, OpportunityWon, UpdateOpportunityRequest,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::ReferenceCrm;
use super::convert::{find_account, find_opportunity, one_opportunity_to_proto, opportunities_to_proto};
use super::entities::{external_id, opportunity};
use crate::domain::{LostOpportunity, NewOpportunity, OpportunityUpdate, StageAdvance, next_stage};
use crate::{OPPORTUNITY_LOST, OPPORTUNITY_STAGE_ADVANCED, OPPORTUNITY_UPDATED, OPPORTUNITY_WON, SERVICE_NAME};

fn stage_of(row: &opportunity::Model) -> OpportunityStage {
    OpportunityStage::try_from(row.stage).unwrap_or(OpportunityStage::Unspecified)
}

fn stage_name(stage: OpportunityStage) -> &'static str {
    stage.as_str_name()
}

fn is_open(stage: OpportunityStage) -> bool {
    matches!(
        stage,
        OpportunityStage::Qualifying | OpportunityStage::Proposing | OpportunityStage::Negotiating
    )
}

/// `Aborted` unless the row is at the version the caller read.
fn check_version(row: &opportunity::Model, expected: i64) -> Result<(), Error> {
    if row.version == expected {
        Ok(())
    } else {
        Err(Error::stale("opportunity", &row.id, expected, row.version))
    }
}

/// Writes `row` (whose version the caller already raised) only if the stored row is still at
/// `read_version`: a conditional UPDATE, so two writers racing on PostgreSQL or SQLite cannot
/// both win.
async fn save(txn: &DatabaseTransaction, read_version: i64, row: &opportunity::Model) -> Result<(), Error> {
    let result = opportunity::Entity::update_many()
        // `from` marks every field unchanged; `reset_all` makes each one part of the SET.
        .set(opportunity::ActiveModel::from(row.clone()).reset_all())
        .filter(opportunity::Column::Id.eq(row.id.clone()))
        .filter(opportunity::Column::Version.eq(read_version))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    let id: Uuid = row.id.parse().map_err(Error::internal)?;
    let current = find_opportunity(txn, id).await?;
    Err(Error::stale("opportunity", &row.id, read_version, current.version))
}

/// Enqueues `payload` as `event_type` about the opportunity, joined to the current trace.
async fn emit<M: prost::Message>(
    txn: &DatabaseTransaction,
    event_type: &str,
    id: &str,
    payload: &M,
) -> Result<(), Error> {
    let mut event = EventEnvelope::new(event_type, SERVICE_NAME, id, payload);
    // The consumer's work joins this request's trace.
    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
    outbox::enqueue(txn, &event).await
}

fn touch(row: &mut opportunity::Model, actor: &str) -> i64 {
    let read_version = row.version;
    row.version += 1;
    row.updated_at = Utc::now();
    row.updated_by = actor.to_string();
    read_version
}

pub(super) async fn create(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    new: NewOpportunity,
) -> Result<Opportunity, Error> {
    let request = CreateOpportunityRequest {
        idempotency_key: idempotency_key.to_string(),
        account_id: new.account_id.to_string(),
        name: new.name.clone(),
        service_line: new.service_line.clone(),
        contract_type: new.contract_type.clone(),
        region: new.region.clone(),
        client_tier: new.client_tier.clone(),
        amount: Some(new.amount.to_proto()),
        close_date: new.close_date.map(|d| d.to_string()).unwrap_or_default(),
        sow_reference: new.sow_reference.clone(),
    };
    let actor = actor.to_string();
    run_once(
        &crm.db,
        "crm.create_opportunity",
        idempotency_key,
        &request,
        move |txn| {
            Box::pin(async move {
                let account = find_account(txn, &new.account_id.to_string())
                    .await?
                    .ok_or_else(|| Error::invalid("account_id", format!("no account has id {}", new.account_id)))?;
                let now = Utc::now();
                let id = keel_core::ids::new_id().to_string();
                let row = opportunity::Model {
                    id: id.clone(),
                    account_id: account.id,
                    name: new.name,
                    stage: OpportunityStage::Qualifying as i32,
                    service_line: new.service_line,
                    contract_type: new.contract_type,
                    // Region and tier default to the account's.
                    region: if new.region.is_empty() {
                        account.region
                    } else {
                        new.region
                    },
                    client_tier: if new.client_tier.is_empty() {
                        account.tier
                    } else {
                        new.client_tier
                    },
                    amount_minor: new.amount.to_minor_units(),
                    currency: new.amount.currency().code().to_string(),
                    close_date: new.close_date.map(|d| d.to_string()),
                    sow_reference: new.sow_reference,
                    version: 1,
                    lost_reason: None,
                    created_at: now,
                    created_by: actor.clone(),
                    updated_at: now,
                    updated_by: actor.clone(),
                };
                opportunity::Entity::insert(opportunity::ActiveModel::from(row.clone()))
                    .exec(txn)
                    .await
                    .map_err(keel_store::db_error)?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "opportunity",
                        record_id: &id,
                        action: "created",
                        detail: json!({
                            "name": row.name,
                            "amount": new.amount.amount().to_string(),
                            "currency": row.currency,
                        }),
                    },
                )
                .await?;
                super::convert::opportunity_to_proto(&row, Vec::new())
            })
        },
    )
    .await
}

pub(super) async fn get(crm: &ReferenceCrm, id: Uuid) -> Result<Opportunity, Error> {
    let row = find_opportunity(&crm.db, id).await?;
    one_opportunity_to_proto(&crm.db, &row).await
}

pub(super) async fn list(
    crm: &ReferenceCrm,
    page: Page,
    stage: Option<OpportunityStage>,
) -> Result<Vec<Opportunity>, Error> {
    let mut query = opportunity::Entity::find()
        .order_by_asc(opportunity::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(opportunity::Column::Id.gt(after.to_string()));
    }
    if let Some(stage) = stage {
        query = query.filter(opportunity::Column::Stage.eq(stage as i32));
    }
    let rows = query.all(&crm.db).await.map_err(keel_store::db_error)?;
    opportunities_to_proto(&crm.db, &rows).await
}

pub(super) async fn by_external_id(crm: &ReferenceCrm, source: &str, external: &str) -> Result<Opportunity, Error> {
    let link = external_id::Entity::find_by_id((source.to_string(), external.to_string()))
        .one(&crm.db)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found(&format!("opportunity with {source} id"), external))?;
    let id: Uuid = link.opportunity_id.parse().map_err(Error::internal)?;
    get(crm, id).await
}

pub(super) async fn mark_won(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    id: Uuid,
) -> Result<Opportunity, Error> {
    let request = MarkOpportunityWonRequest {
        idempotency_key: idempotency_key.to_string(),
        id: id.to_string(),
    };
    let actor = actor.to_string();
    run_once(
        &crm.db,
        "crm.mark_opportunity_won",
        idempotency_key,
        &request,
        move |txn| {
            Box::pin(async move {
                let mut row = find_opportunity(txn, id).await?;
                let before = stage_of(&row);
                if before == OpportunityStage::Won {
                    return one_opportunity_to_proto(txn, &row).await;
                }
                if before == OpportunityStage::Lost {
                    return Err(Error::FailedPrecondition(format!(
                        "opportunity {id} is lost and cannot be won"
                    )));
                }
                row.stage = OpportunityStage::Won as i32;
                let read_version = touch(&mut row, &actor);
                save(txn, read_version, &row).await?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "opportunity",
                        record_id: &row.id,
                        action: "marked_won",
                        detail: json!({
                            "stage": { "before": stage_name(before), "after": stage_name(OpportunityStage::Won) },
                            "version": { "before": read_version, "after": row.version },
                        }),
                    },
                )
                .await?;
                let won = one_opportunity_to_proto(txn, &row).await?;
                emit(
                    txn,
                    OPPORTUNITY_WON,
                    &row.id,
                    &OpportunityWon {
                        opportunity: Some(won.clone()),
                    },
                )
                .await?;
                Ok(won)
            })
        },
    )
    .await
}

pub(super) async fn mark_lost(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    lost: LostOpportunity,
) -> Result<Opportunity, Error> {
    let request = MarkOpportunityLostRequest {
        idempotency_key: idempotency_key.to_string(),
        id: lost.id.to_string(),
        reason: lost.reason.clone(),
        expected_version: lost.expected_version.unwrap_or_default(),
    };
    let actor = actor.to_string();
    run_once(
        &crm.db,
        "crm.mark_opportunity_lost",
        idempotency_key,
        &request,
        move |txn| {
            Box::pin(async move {
                let mut row = find_opportunity(txn, lost.id).await?;
                let before = stage_of(&row);
                if before == OpportunityStage::Won {
                    return Err(Error::FailedPrecondition(format!(
                        "opportunity {} is won and cannot be lost",
                        lost.id
                    )));
                }
                if let Some(expected) = lost.expected_version {
                    check_version(&row, expected)?;
                }
                if before == OpportunityStage::Lost {
                    return one_opportunity_to_proto(txn, &row).await;
                }
                row.stage = OpportunityStage::Lost as i32;
                row.lost_reason = Some(lost.reason.clone());
                let read_version = touch(&mut row, &actor);
                save(txn, read_version, &row).await?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "opportunity",
                        record_id: &row.id,
                        action: "marked_lost",
                        detail: json!({
                            "stage": { "before": stage_name(before), "after": stage_name(OpportunityStage::Lost) },
                            "lost_reason": { "before": null, "after": lost.reason },
                            "version": { "before": read_version, "after": row.version },
                        }),
                    },
                )
                .await?;
                let opportunity = one_opportunity_to_proto(txn, &row).await?;
                emit(
                    txn,
                    OPPORTUNITY_LOST,
                    &row.id,
                    &OpportunityLost {
                        opportunity: Some(opportunity.clone()),
                        reason: lost.reason,
                    },
                )
                .await?;
                Ok(opportunity)
            })
        },
    )
    .await
}

pub(super) async fn advance(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    advance: StageAdvance,
) -> Result<Opportunity, Error> {
    let request = AdvanceOpportunityStageRequest {
        idempotency_key: idempotency_key.to_string(),
        id: advance.id.to_string(),
        expected_version: advance.expected_version,
        stage: advance.stage as i32,
    };
    let actor = actor.to_string();
    run_once(
        &crm.db,
        "crm.advance_opportunity_stage",
        idempotency_key,
        &request,
        move |txn| {
            Box::pin(async move {
                let mut row = find_opportunity(txn, advance.id).await?;
                check_version(&row, advance.expected_version)?;
                let before = stage_of(&row);
                if !is_open(before) {
                    return Err(Error::FailedPrecondition(format!(
                        "opportunity {} is closed ({}) and its stage cannot change",
                        advance.id,
                        stage_name(before)
                    )));
                }
                if next_stage(before) != Some(advance.stage) {
                    let allowed = next_stage(before).map(stage_name).unwrap_or("nothing but won or lost");
                    return Err(Error::FailedPrecondition(format!(
                        "opportunity {} is at {}; it can advance only to {allowed}, not {}",
                        advance.id,
                        stage_name(before),
                        stage_name(advance.stage)
                    )));
                }
                row.stage = advance.stage as i32;
                let read_version = touch(&mut row, &actor);
                save(txn, read_version, &row).await?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "opportunity",
                        record_id: &row.id,
                        action: "stage_advanced",
                        detail: json!({
                            "stage": { "before": stage_name(before), "after": stage_name(advance.stage) },
                            "version": { "before": read_version, "after": row.version },
                        }),
                    },
                )
                .await?;
                let opportunity = one_opportunity_to_proto(txn, &row).await?;
                emit(
                    txn,
                    OPPORTUNITY_STAGE_ADVANCED,
                    &row.id,
                    &OpportunityStageAdvanced {
                        opportunity: Some(opportunity.clone()),
                        previous_stage: before as i32,
                    },
                )
                .await?;
                Ok(opportunity)
            })
        },
    )
    .await
}

pub(super) async fn update(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    update: OpportunityUpdate,
) -> Result<Opportunity, Error> {
    let request = UpdateOpportunityRequest {
        idempotency_key: idempotency_key.to_string(),
        id: update.id.to_string(),
        expected_version: update.expected_version,
        name: update.name.clone(),
        service_line: update.service_line.clone(),
        contract_type: update.contract_type.clone(),
        region: update.region.clone(),
        client_tier: update.client_tier.clone(),
        amount: Some(update.amount.to_proto()),
        close_date: update.close_date.map(|d| d.to_string()).unwrap_or_default(),
        sow_reference: update.sow_reference.clone(),
        external_ids: update
            .external_ids
            .iter()
            .map(|(source, id)| ExternalId {
                source: source.clone(),
                id: id.clone(),
            })
            .collect(),
    };
    let actor = actor.to_string();
    run_once(
        &crm.db,
        "crm.update_opportunity",
        idempotency_key,
        &request,
        move |txn| {
            Box::pin(async move {
                let mut row = find_opportunity(txn, update.id).await?;
                check_version(&row, update.expected_version)?;
                let stage = stage_of(&row);
                if !is_open(stage) {
                    return Err(Error::FailedPrecondition(format!(
                        "opportunity {} is closed ({}) and cannot be updated",
                        update.id,
                        stage_name(stage)
                    )));
                }
                let before = one_opportunity_to_proto(txn, &row).await?;
                let account = find_account(txn, &row.account_id)
                    .await?
                    .ok_or_else(|| Error::internal("an opportunity's account is missing"))?;
                row.name = update.name;
                row.service_line = update.service_line;
                row.contract_type = update.contract_type;
                // Region and tier default to the account's, as on create.
                row.region = if update.region.is_empty() {
                    account.region
                } else {
                    update.region
                };
                row.client_tier = if update.client_tier.is_empty() {
                    account.tier
                } else {
                    update.client_tier
                };
                row.amount_minor = update.amount.to_minor_units();
                row.currency = update.amount.currency().code().to_string();
                row.close_date = update.close_date.map(|d| d.to_string());
                row.sow_reference = update.sow_reference;
                let read_version = touch(&mut row, &actor);
                save(txn, read_version, &row).await?;
                replace_external_ids(txn, &row.id, &update.external_ids).await?;
                let after = one_opportunity_to_proto(txn, &row).await?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "opportunity",
                        record_id: &row.id,
                        action: "updated",
                        detail: changes(&before, &after),
                    },
                )
                .await?;
                emit(
                    txn,
                    OPPORTUNITY_UPDATED,
                    &row.id,
                    &OpportunityUpdated {
                        opportunity: Some(after.clone()),
                    },
                )
                .await?;
                Ok(after)
            })
        },
    )
    .await
}

/// Sets the opportunity's external ids to `ids`; an id another opportunity holds is refused.
async fn replace_external_ids<C: ConnectionTrait>(
    txn: &C,
    opportunity_id: &str,
    ids: &[(String, String)],
) -> Result<(), Error> {
    for (index, (source, external)) in ids.iter().enumerate() {
        let holder = external_id::Entity::find_by_id((source.clone(), external.clone()))
            .one(txn)
            .await
            .map_err(keel_store::db_error)?;
        if let Some(holder) = holder.filter(|h| h.opportunity_id != opportunity_id) {
            return Err(Error::invalid(
                format!("external_ids[{index}].id"),
                format!(
                    "{source} id {external:?} already belongs to opportunity {}",
                    holder.opportunity_id
                ),
            ));
        }
    }
    external_id::Entity::delete_many()
        .filter(external_id::Column::OpportunityId.eq(opportunity_id))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    let now = Utc::now();
    for (source, external) in ids {
        external_id::Entity::insert(external_id::ActiveModel {
            source: Set(source.clone()),
            external_id: Set(external.clone()),
            opportunity_id: Set(opportunity_id.to_string()),
            created_at: Set(now),
        })
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    }
    Ok(())
}

/// `{field: {before, after}}` for every field the update changed, and the version.
fn changes(before: &Opportunity, after: &Opportunity) -> serde_json::Value {
    let money = |o: &Opportunity| {
        o.amount
            .as_ref()
            .map(|m| format!("{} {}", m.amount, m.currency))
            .unwrap_or_default()
    };
    let external = |o: &Opportunity| {
        o.external_ids
            .iter()
            .map(|e| format!("{}:{}", e.source, e.id))
            .collect::<Vec<_>>()
            .join(",")
    };
    let pairs = [
        ("name", before.name.clone(), after.name.clone()),
        ("service_line", before.service_line.clone(), after.service_line.clone()),
        (
            "contract_type",
            before.contract_type.clone(),
            after.contract_type.clone(),
        ),
        ("region", before.region.clone(), after.region.clone()),
        ("client_tier", before.client_tier.clone(), after.client_tier.clone()),
        ("amount", money(before), money(after)),
        ("close_date", before.close_date.clone(), after.close_date.clone()),
        (
            "sow_reference",
            before.sow_reference.clone(),
            after.sow_reference.clone(),
        ),
        ("external_ids", external(before), external(after)),
    ];
    let mut detail = serde_json::Map::new();
    for (field, old, new) in pairs {
        if old != new {
            detail.insert(field.to_string(), json!({ "before": old, "after": new }));
        }
    }
    detail.insert(
        "version".to_string(),
        json!({ "before": before.version, "after": after.version }),
    );
    serde_json::Value::Object(detail)
}
