//! People at client accounts.

use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::crm::{Contact, ContactCreated, CreateContactRequest};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect};
use uuid::Uuid;

use super::ReferenceCrm;
use super::convert::{contact_to_proto, find_account};
use super::entities::contact;
use crate::domain::NewContact;
use crate::{CONTACT_CREATED, SERVICE_NAME};

pub(super) async fn create(
    crm: &ReferenceCrm,
    actor: &str,
    idempotency_key: &str,
    new: NewContact,
) -> Result<Contact, Error> {
    let request = CreateContactRequest {
        idempotency_key: idempotency_key.to_string(),
        account_id: new.account_id.to_string(),
        name: new.name.clone(),
        email: new.email.clone(),
        role: new.role.clone(),
    };
    let actor = actor.to_string();
    run_once(&crm.db, "crm.create_contact", idempotency_key, &request, move |txn| {
        Box::pin(async move {
            let account = find_account(txn, &new.account_id.to_string())
                .await?
                .ok_or_else(|| Error::invalid("account_id", format!("no account has id {}", new.account_id)))?;
            let now = Utc::now();
            let id = keel_core::ids::new_id().to_string();
            let row = contact::Model {
                id: id.clone(),
                account_id: account.id,
                name: new.name,
                email: new.email,
                role: new.role,
                version: 1,
                created_at: now,
                created_by: actor.clone(),
                updated_at: now,
                updated_by: actor.clone(),
            };
            contact::Entity::insert(contact::ActiveModel::from(row.clone()))
                .exec(txn)
                .await
                .map_err(keel_store::db_error)?;
            audit::append(
                txn,
                AuditEntry {
                    actor: &actor,
                    record_type: "contact",
                    record_id: &id,
                    action: "created",
                    detail: serde_json::json!({
                        "account_id": row.account_id,
                        "name": row.name,
                        "email": row.email,
                        "role": row.role,
                    }),
                },
            )
            .await?;
            let created = contact_to_proto(&row);
            let mut event = EventEnvelope::new(
                CONTACT_CREATED,
                SERVICE_NAME,
                &id,
                &ContactCreated {
                    contact: Some(created.clone()),
                },
            );
            keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
            outbox::enqueue(txn, &event).await?;
            Ok(created)
        })
    })
    .await
}

pub(super) async fn list(crm: &ReferenceCrm, account_id: Uuid, page: Page) -> Result<Vec<Contact>, Error> {
    if find_account(&crm.db, &account_id.to_string()).await?.is_none() {
        return Err(Error::not_found("account", account_id.to_string()));
    }
    let mut query = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id.to_string()))
        .order_by_asc(contact::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(contact::Column::Id.gt(after.to_string()));
    }
    let rows = query.all(&crm.db).await.map_err(keel_store::db_error)?;
    Ok(rows.iter().map(contact_to_proto).collect())
}
