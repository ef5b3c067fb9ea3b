//! E-signature envelopes in the reference store: sent, signed by each signer, decided once.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::documents::{Envelope, EnvelopeDeclined, EnvelopeSigned, EnvelopeStatus, Signer};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::entities::{document, envelope};
use super::{documents, now};
use crate::domain::{Decision, NewEnvelope, SignatureRecord};
use crate::{ENVELOPE_DECLINED, ENVELOPE_SIGNED, SERVICE_NAME};

/// One signer as stored in `envelopes.signers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSigner {
    name: String,
    email: String,
    signed_at: Option<DateTime<Utc>>,
}

fn signers(row: &envelope::Model) -> Result<Vec<StoredSigner>, Error> {
    serde_json::from_str(&row.signers).map_err(Error::internal)
}

fn status_name(status: i32) -> &'static str {
    match EnvelopeStatus::try_from(status) {
        Ok(EnvelopeStatus::Sent) => "sent",
        Ok(EnvelopeStatus::Signed) => "signed",
        Ok(EnvelopeStatus::Declined) => "declined",
        _ => "unknown",
    }
}

pub(super) fn to_proto(row: &envelope::Model) -> Result<Envelope, Error> {
    Ok(Envelope {
        id: row.id.clone(),
        document_id: row.document_id.clone(),
        document_version: row.document_version,
        status: row.status,
        signers: signers(row)?
            .into_iter()
            .map(|s| Signer {
                name: s.name,
                email: s.email,
                signed_at: s.signed_at.map(keel_core::time::to_timestamp),
            })
            .collect(),
        declined_by: row.declined_by.clone(),
        decline_reason: row.decline_reason.clone(),
        completed_at: row.completed_at.map(keel_core::time::to_timestamp),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

pub(super) async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<envelope::Model, Error> {
    envelope::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("envelope", id.to_string()))
}

pub(super) async fn list(db: &DatabaseConnection, document_id: Uuid, page: Page) -> Result<Vec<Envelope>, Error> {
    documents::find(db, document_id).await?;
    let mut query = envelope::Entity::find()
        .filter(envelope::Column::DocumentId.eq(document_id.to_string()))
        .order_by_asc(envelope::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(envelope::Column::Id.gt(after.to_string()));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

pub(super) async fn send(txn: &DatabaseTransaction, actor: &str, new: NewEnvelope) -> Result<Envelope, Error> {
    let document = documents::find(txn, new.document_id).await?;
    if document.version_count == 0 {
        return Err(Error::FailedPrecondition(format!(
            "document {} has no version to sign; add one first",
            document.id
        )));
    }
    let id = keel_core::ids::new_id().to_string();
    // Claim the document: at most one envelope is out for signature at a time.
    let claimed = document::Entity::update_many()
        .col_expr(document::Column::SigningEnvelopeId, Expr::value(id.clone()))
        .filter(document::Column::Id.eq(document.id.as_str()))
        .filter(document::Column::SigningEnvelopeId.is_null())
        .exec(txn)
        .await
        .map_err(db_error)?;
    if claimed.rows_affected != 1 {
        let open = documents::find(txn, new.document_id).await?.signing_envelope_id;
        return Err(Error::FailedPrecondition(format!(
            "document {} already has envelope {} out for signature",
            document.id,
            open.unwrap_or_default()
        )));
    }
    let at = now();
    let stored: Vec<StoredSigner> = new
        .signers
        .into_iter()
        .map(|s| StoredSigner {
            name: s.name,
            email: s.email,
            signed_at: None,
        })
        .collect();
    let row = envelope::Model {
        id: id.clone(),
        document_id: document.id.clone(),
        document_version: document.version_count,
        status: EnvelopeStatus::Sent as i32,
        signers: serde_json::to_string(&stored).map_err(Error::internal)?,
        declined_by: String::new(),
        decline_reason: String::new(),
        completed_at: None,
        version: 1,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    envelope::Entity::insert(envelope::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "envelope",
            record_id: &id,
            action: "sent",
            detail: json!({
                "document_id": document.id,
                "document_version": document.version_count,
                "signers": stored.iter().map(|s| &s.email).collect::<Vec<_>>(),
                "status": "sent",
            }),
        },
    )
    .await?;
    to_proto(&row)
}

pub(super) async fn record_signature(
    txn: &DatabaseTransaction,
    actor: &str,
    signature: SignatureRecord,
) -> Result<Envelope, Error> {
    let row = find(txn, signature.envelope_id).await?;
    if row.status != EnvelopeStatus::Sent as i32 {
        return Err(Error::FailedPrecondition(format!(
            "envelope {} is {} and cannot change",
            row.id,
            status_name(row.status)
        )));
    }
    let mut stored = signers(&row)?;
    let Some(signer) = stored.iter_mut().find(|s| s.email == signature.signer_email) else {
        return Err(Error::invalid(
            "signer_email",
            format!("{} is not a signer of envelope {}", signature.signer_email, row.id),
        ));
    };
    if signer.signed_at.is_some() {
        return Err(Error::FailedPrecondition(format!(
            "{} already signed envelope {}",
            signature.signer_email, row.id
        )));
    }
    let expected_version = row.version;
    let mut changed = row.clone();
    match &signature.decision {
        Decision::Signed => {
            signer.signed_at = Some(signature.at);
            if stored.iter().all(|s| s.signed_at.is_some()) {
                changed.status = EnvelopeStatus::Signed as i32;
                changed.completed_at = Some(signature.at);
            }
        }
        Decision::Declined { reason } => {
            changed.status = EnvelopeStatus::Declined as i32;
            changed.declined_by = signature.signer_email.clone();
            changed.decline_reason = reason.clone();
            changed.completed_at = Some(signature.at);
        }
    }
    changed.signers = serde_json::to_string(&stored).map_err(Error::internal)?;
    changed.version += 1;
    changed.updated_at = now();
    changed.updated_by = actor.to_string();
    let updated = envelope::Entity::update_many()
        .set(envelope::ActiveModel::from(changed.clone()).reset_all())
        .filter(envelope::Column::Id.eq(changed.id.as_str()))
        .filter(envelope::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if updated.rows_affected != 1 {
        // Another signature landed first; the caller retries with the same key.
        let actual = find(txn, signature.envelope_id).await?.version;
        return Err(Error::stale("envelope", changed.id.clone(), expected_version, actual));
    }
    let action = match EnvelopeStatus::try_from(changed.status) {
        Ok(EnvelopeStatus::Signed) => "signed",
        Ok(EnvelopeStatus::Declined) => "declined",
        _ => "signature_recorded",
    };
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "envelope",
            record_id: &changed.id,
            action,
            detail: json!({
                "signer": signature.signer_email,
                "decision": match &signature.decision { Decision::Signed => "signed", Decision::Declined { .. } => "declined" },
                "at": signature.at.to_rfc3339(),
                "status": { "before": status_name(row.status), "after": status_name(changed.status) },
                "decline_reason": changed.decline_reason,
                "version": { "before": expected_version, "after": changed.version },
            }),
        },
    )
    .await?;
    let envelope = to_proto(&changed)?;
    if changed.status != EnvelopeStatus::Sent as i32 {
        complete(txn, &changed, &envelope).await?;
    }
    Ok(envelope)
}

/// Releases the document for another envelope and announces the decision.
async fn complete(txn: &DatabaseTransaction, row: &envelope::Model, envelope: &Envelope) -> Result<(), Error> {
    document::Entity::update_many()
        .col_expr(document::Column::SigningEnvelopeId, Expr::value(Option::<String>::None))
        .filter(document::Column::Id.eq(row.document_id.as_str()))
        .filter(document::Column::SigningEnvelopeId.eq(row.id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    let document_id: Uuid = row.document_id.parse().map_err(Error::internal)?;
    let document = Some(documents::to_proto(&documents::find(txn, document_id).await?)?);
    let mut event = if row.status == EnvelopeStatus::Signed as i32 {
        EventEnvelope::new(
            ENVELOPE_SIGNED,
            SERVICE_NAME,
            &row.id,
            &EnvelopeSigned {
                document,
                envelope: Some(envelope.clone()),
            },
        )
    } else {
        EventEnvelope::new(
            ENVELOPE_DECLINED,
            SERVICE_NAME,
            &row.id,
            &EnvelopeDeclined {
                document,
                envelope: Some(envelope.clone()),
            },
        )
    };
    // The consumer's work joins this request's trace.
    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
    outbox::enqueue(txn, &event).await
}
