//! The reference CRM: accounts and opportunities persisted with sea-orm, each change in one
//! transaction with its audit entry, its idempotency record and, when it emits one, its event.

mod entities;
mod migrations;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use keel_core::paging::Page;
use keel_core::{Currency, Error, Money};
use keel_events::{EventEnvelope, outbox};
use keel_proto::crm::{
    Account, CreateAccountRequest, CreateOpportunityRequest, MarkOpportunityWonRequest, Opportunity, OpportunityStage,
    OpportunityWon,
};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect};
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::CrmAdapter;
use crate::domain::{NewAccount, NewOpportunity};
use crate::{OPPORTUNITY_WON, SERVICE_NAME};
use entities::{account, opportunity};

/// The persisted CRM.
#[derive(Clone)]
pub struct ReferenceCrm {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceCrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceCrm").finish_non_exhaustive()
    }
}

impl ReferenceCrm {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceCrm {
        ReferenceCrm { db, relay_waker }
    }
}

fn account_to_proto(row: &account::Model) -> Account {
    Account {
        id: row.id.clone(),
        name: row.name.clone(),
        tier: row.tier.clone(),
        region: row.region.clone(),
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    }
}

fn opportunity_to_proto(row: &opportunity::Model) -> Result<Opportunity, Error> {
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
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

async fn find_opportunity<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<opportunity::Model, Error> {
    opportunity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("opportunity", id.to_string()))
}

#[async_trait]
impl CrmAdapter for ReferenceCrm {
    async fn create_account(&self, actor: &str, idempotency_key: &str, new: NewAccount) -> Result<Account, Error> {
        let request = CreateAccountRequest {
            idempotency_key: idempotency_key.to_string(),
            name: new.name.clone(),
            tier: new.tier.clone(),
            region: new.region.clone(),
        };
        let actor = actor.to_string();
        run_once(&self.db, "crm.create_account", idempotency_key, &request, move |txn| {
            Box::pin(async move {
                let now = Utc::now();
                let id = keel_core::ids::new_id().to_string();
                let row = account::Model {
                    id: id.clone(),
                    name: new.name,
                    tier: new.tier,
                    region: new.region,
                    created_at: now,
                    created_by: actor.clone(),
                    updated_at: now,
                    updated_by: actor.clone(),
                };
                account::Entity::insert(account::ActiveModel::from(row.clone()))
                    .exec(txn)
                    .await
                    .map_err(keel_store::db_error)?;
                audit::append(
                    txn,
                    AuditEntry {
                        actor: &actor,
                        record_type: "account",
                        record_id: &id,
                        action: "created",
                        detail: serde_json::json!({ "name": row.name, "tier": row.tier, "region": row.region }),
                    },
                )
                .await?;
                Ok(account_to_proto(&row))
            })
        })
        .await
    }

    async fn get_account(&self, id: Uuid) -> Result<Account, Error> {
        account::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(keel_store::db_error)?
            .map(|row| account_to_proto(&row))
            .ok_or_else(|| Error::not_found("account", id.to_string()))
    }

    async fn list_accounts(&self, page: Page) -> Result<Vec<Account>, Error> {
        let mut query = account::Entity::find()
            .order_by_asc(account::Column::Id)
            .limit(page.size);
        if let Some(after) = page.after {
            query = query.filter(account::Column::Id.gt(after.to_string()));
        }
        let rows = query.all(&self.db).await.map_err(keel_store::db_error)?;
        Ok(rows.iter().map(account_to_proto).collect())
    }

    async fn create_opportunity(
        &self,
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
            &self.db,
            "crm.create_opportunity",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let account = account::Entity::find_by_id(new.account_id.to_string())
                        .one(txn)
                        .await
                        .map_err(keel_store::db_error)?
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
                            detail: serde_json::json!({
                                "name": row.name,
                                "amount": new.amount.amount().to_string(),
                                "currency": row.currency,
                            }),
                        },
                    )
                    .await?;
                    opportunity_to_proto(&row)
                })
            },
        )
        .await
    }

    async fn get_opportunity(&self, id: Uuid) -> Result<Opportunity, Error> {
        opportunity_to_proto(&find_opportunity(&self.db, id).await?)
    }

    async fn list_opportunities(&self, page: Page, stage: Option<OpportunityStage>) -> Result<Vec<Opportunity>, Error> {
        let mut query = opportunity::Entity::find()
            .order_by_asc(opportunity::Column::Id)
            .limit(page.size);
        if let Some(after) = page.after {
            query = query.filter(opportunity::Column::Id.gt(after.to_string()));
        }
        if let Some(stage) = stage {
            query = query.filter(opportunity::Column::Stage.eq(stage as i32));
        }
        let rows = query.all(&self.db).await.map_err(keel_store::db_error)?;
        rows.iter().map(opportunity_to_proto).collect()
    }

    async fn mark_opportunity_won(&self, actor: &str, idempotency_key: &str, id: Uuid) -> Result<Opportunity, Error> {
        let request = MarkOpportunityWonRequest {
            idempotency_key: idempotency_key.to_string(),
            id: id.to_string(),
        };
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "crm.mark_opportunity_won",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let mut row = find_opportunity(txn, id).await?;
                    if row.stage == OpportunityStage::Won as i32 {
                        return opportunity_to_proto(&row);
                    }
                    if row.stage == OpportunityStage::Lost as i32 {
                        return Err(Error::FailedPrecondition(format!(
                            "opportunity {id} is lost and cannot be won"
                        )));
                    }
                    row.stage = OpportunityStage::Won as i32;
                    row.updated_at = Utc::now();
                    row.updated_by = actor.clone();
                    let update = opportunity::ActiveModel {
                        id: Set(row.id.clone()),
                        stage: Set(row.stage),
                        updated_at: Set(row.updated_at),
                        updated_by: Set(row.updated_by.clone()),
                        ..Default::default()
                    };
                    opportunity::Entity::update(update)
                        .exec(txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "opportunity",
                            record_id: &row.id,
                            action: "marked_won",
                            detail: serde_json::json!({ "stage": "won" }),
                        },
                    )
                    .await?;
                    let won = opportunity_to_proto(&row)?;
                    let mut event = EventEnvelope::new(
                        OPPORTUNITY_WON,
                        SERVICE_NAME,
                        &row.id,
                        &OpportunityWon {
                            opportunity: Some(won.clone()),
                        },
                    );
                    // The consumer's work joins this request's trace.
                    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
                    outbox::enqueue(txn, &event).await?;
                    Ok(won)
                })
            },
        )
        .await;
        if result.is_ok() {
            // Wake the relay now rather than at its next interval.
            self.relay_waker.notify_one();
        }
        result
    }
}
