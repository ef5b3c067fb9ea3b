//! Client accounts.

use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::crm::{Account, CreateAccountRequest};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect};
use uuid::Uuid;

use super::ReferenceCrm;
use super::convert::{account_to_proto, find_account};
use super::entities::account;
use crate::domain::NewAccount;

pub(super) async fn create(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    new: NewAccount,
) -> Result<Account, Error> {
    let request = CreateAccountRequest {
        idempotency_key: idempotency_key.to_string(),
        name: new.name.clone(),
        tier: new.tier.clone(),
        region: new.region.clone(),
    };
    let actor = actor.to_string();
    run_once(&crm.db, "crm.create_account", idempotency_key, &request, move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let id = keel_core::ids::new_id().to_string();
            let row = account::Model {
                id: id.clone(),
                name: new.name,
                tier: new.tier,
                region: new.region,
                version: 1,
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

pub(super) async fn get(crm: &ReferenceCrm, id: Uuid) -> Result<Account, Error> {
    find_account(&crm.db, &id.to_string())
        .await?
        .map(|row| account_to_proto(&row))
        .ok_or_else(|| Error::not_found("account", id.to_string()))
}

pub(super) async fn list(crm: &ReferenceCrm, page: Page) -> Result<Vec<Account>, Error> {
    let mut query = account::Entity::find()
        .order_by_asc(account::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(account::Column::Id.gt(after.to_string()));
    }
    let rows = query.all(&crm.db).await.map_err(keel_store::db_error)?;
    Ok(rows.iter().map(account_to_proto).collect())
}
