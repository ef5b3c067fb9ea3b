//! Documents, their content versions and their retention, in the reference store.

use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::documents::{ApplyRetentionResponse, Document, DocumentType, DocumentVersion};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, QueryOrder, QuerySelect};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entities::{document, document_content, document_version, envelope};
use super::now;
use crate::domain::retention::{self, deletion_blocked};
use crate::domain::{
    Deletion, DocumentFilter, LegalHoldChange, NewDocument, NewVersion, ProjectCloseOut, RetentionChange,
};

pub(super) fn to_proto(row: &document::Model) -> Result<Document, Error> {
    Ok(Document {
        id: row.id.clone(),
        r#type: row.document_type,
        title: row.title.clone(),
        client_id: row.client_id.clone(),
        project_id: row.project_id.clone().unwrap_or_default(),
        version: row.version,
        version_count: row.version_count,
        retain_until: row.retain_until.clone().unwrap_or_default(),
        legal_hold: row.legal_hold,
        legal_hold_reason: row.legal_hold_reason.clone(),
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

fn version_to_proto(row: &document_version::Model, content: Vec<u8>) -> DocumentVersion {
    DocumentVersion {
        id: row.id.clone(),
        document_id: row.document_id.clone(),
        number: row.number,
        file_name: row.file_name.clone(),
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        sha256: row.sha256.clone(),
        content,
        created_at: Some(keel_core::time::to_timestamp(row.created_at)),
        created_by: row.created_by.clone(),
    }
}

pub(super) async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<document::Model, Error> {
    document::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("document", id.to_string()))
}

/// The document as the caller read it, or stale.
async fn find_current(txn: &DatabaseTransaction, id: Uuid, expected_version: i64) -> Result<document::Model, Error> {
    let row = find(txn, id).await?;
    if row.version != expected_version {
        return Err(Error::stale("document", id.to_string(), expected_version, row.version));
    }
    Ok(row)
}

/// Writes `changed` (its version already advanced) only if the stored row is still at
/// `expected_version`: a conditional UPDATE, so two writers racing on PostgreSQL cannot both win.
pub(super) async fn update_if_current(
    txn: &DatabaseTransaction,
    changed: &document::Model,
    expected_version: i64,
) -> Result<(), Error> {
    let result = document::Entity::update_many()
        .set(document::ActiveModel::from(changed.clone()).reset_all())
        .filter(document::Column::Id.eq(changed.id.as_str()))
        .filter(document::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    Err(stale(txn, &changed.id, expected_version).await)
}

/// Locks the row for the rest of the transaction if it is still at `expected_version`.
async fn lock_if_current(txn: &DatabaseTransaction, id: &str, expected_version: i64) -> Result<(), Error> {
    let result = document::Entity::update_many()
        .col_expr(document::Column::Version, Expr::col(document::Column::Version))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(db_error)?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    Err(stale(txn, id, expected_version).await)
}

/// The error for a document that moved past `expected_version` (or vanished).
async fn stale(txn: &DatabaseTransaction, id: &str, expected_version: i64) -> Error {
    match document::Entity::find_by_id(id.to_string()).one(txn).await {
        Ok(Some(row)) => Error::stale("document", id, expected_version, row.version),
        Ok(None) => Error::not_found("document", id),
        Err(e) => db_error(e),
    }
}

/// `row` one version on, changed by `actor` now.
fn advanced(mut row: document::Model, actor: &str) -> document::Model {
    row.version += 1;
    row.updated_at = now();
    row.updated_by = actor.to_string();
    row
}

pub(super) async fn create(txn: &DatabaseTransaction, actor: &str, new: NewDocument) -> Result<Document, Error> {
    let at = now();
    let row = document::Model {
        id: keel_core::ids::new_id().to_string(),
        document_type: new.document_type as i32,
        title: new.title,
        client_id: new.client_id.to_string(),
        project_id: new.project_id.map(|id| id.to_string()),
        version: 1,
        version_count: 0,
        retain_until: None,
        legal_hold: false,
        legal_hold_reason: String::new(),
        signing_envelope_id: None,
        created_at: at,
        created_by: actor.to_string(),
        updated_at: at,
        updated_by: actor.to_string(),
    };
    document::Entity::insert(document::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "document",
            record_id: &row.id,
            action: "created",
            detail: json!({
                "type": new.document_type.as_str_name(),
                "title": row.title,
                "client_id": row.client_id,
                "project_id": row.project_id,
            }),
        },
    )
    .await?;
    to_proto(&row)
}

pub(super) async fn list(db: &DatabaseConnection, page: Page, filter: DocumentFilter) -> Result<Vec<Document>, Error> {
    let mut query = document::Entity::find()
        .order_by_asc(document::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(document::Column::Id.gt(after.to_string()));
    }
    if let Some(project_id) = filter.project_id {
        query = query.filter(document::Column::ProjectId.eq(project_id.to_string()));
    }
    if let Some(client_id) = filter.client_id {
        query = query.filter(document::Column::ClientId.eq(client_id.to_string()));
    }
    if let Some(document_type) = filter.document_type {
        query = query.filter(document::Column::DocumentType.eq(document_type as i32));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

fn stored_date(row: &document::Model) -> Result<Option<chrono::NaiveDate>, Error> {
    row.retain_until
        .as_deref()
        .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(Error::internal))
        .transpose()
}

pub(super) async fn delete(
    txn: &DatabaseTransaction,
    actor: &str,
    deletion: Deletion,
    today: chrono::NaiveDate,
) -> Result<(), Error> {
    let row = find_current(txn, deletion.id, deletion.expected_version).await?;
    if let Some(why) = deletion_blocked(
        stored_date(&row)?,
        row.legal_hold,
        row.signing_envelope_id.is_some(),
        today,
    ) {
        return Err(Error::FailedPrecondition(format!(
            "document {} cannot be deleted: {why}",
            row.id
        )));
    }
    // Take the row (a row lock on PostgreSQL) so no one adds a version or an envelope while
    // its children go.
    lock_if_current(txn, &row.id, deletion.expected_version).await?;
    let versions: Vec<String> = document_version::Entity::find()
        .filter(document_version::Column::DocumentId.eq(row.id.as_str()))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|v| v.id)
        .collect();
    if !versions.is_empty() {
        document_content::Entity::delete_many()
            .filter(document_content::Column::VersionId.is_in(versions.clone()))
            .exec(txn)
            .await
            .map_err(db_error)?;
        document_version::Entity::delete_many()
            .filter(document_version::Column::DocumentId.eq(row.id.as_str()))
            .exec(txn)
            .await
            .map_err(db_error)?;
    }
    envelope::Entity::delete_many()
        .filter(envelope::Column::DocumentId.eq(row.id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    document::Entity::delete_many()
        .filter(document::Column::Id.eq(row.id.as_str()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "document",
            record_id: &row.id,
            action: "deleted",
            detail: json!({
                "title": row.title,
                "type": DocumentType::try_from(row.document_type).map(|t| t.as_str_name()).unwrap_or("unknown"),
                "version": row.version,
                "versions_deleted": versions.len(),
                "retain_until": row.retain_until,
            }),
        },
    )
    .await
}

pub(super) async fn add_version(
    txn: &DatabaseTransaction,
    actor: &str,
    new: NewVersion,
) -> Result<DocumentVersion, Error> {
    let row = find_current(txn, new.document_id, new.expected_version).await?;
    let number = row.version_count + 1;
    let at = now();
    let version = document_version::Model {
        id: keel_core::ids::new_id().to_string(),
        document_id: row.id.clone(),
        number,
        file_name: new.file_name,
        content_type: new.content_type,
        size_bytes: i64::try_from(new.content.len()).map_err(Error::internal)?,
        sha256: hex::encode(Sha256::digest(&new.content)),
        created_at: at,
        created_by: actor.to_string(),
    };
    let mut changed = advanced(row, actor);
    changed.version_count = number;
    update_if_current(txn, &changed, new.expected_version).await?;
    document_version::Entity::insert(document_version::ActiveModel::from(version.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    document_content::Entity::insert(document_content::ActiveModel::from(document_content::Model {
        version_id: version.id.clone(),
        content: new.content,
    }))
    .exec(txn)
    .await
    .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "document",
            record_id: &changed.id,
            action: "version_added",
            detail: json!({
                "number": number,
                "file_name": version.file_name,
                "content_type": version.content_type,
                "size_bytes": version.size_bytes,
                "sha256": version.sha256,
                "version": { "before": new.expected_version, "after": changed.version },
            }),
        },
    )
    .await?;
    Ok(version_to_proto(&version, Vec::new()))
}

pub(super) async fn get_version(
    db: &DatabaseConnection,
    document_id: Uuid,
    number: i32,
) -> Result<DocumentVersion, Error> {
    let version = document_version::Entity::find()
        .filter(document_version::Column::DocumentId.eq(document_id.to_string()))
        .filter(document_version::Column::Number.eq(number))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("document version", format!("{number} of document {document_id}")))?;
    let content = document_content::Entity::find_by_id(version.id.clone())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::internal(format!("the content of document version {} is missing", version.id)))?;
    Ok(version_to_proto(&version, content.content))
}

pub(super) async fn list_versions(
    db: &DatabaseConnection,
    document_id: Uuid,
    page: Page,
) -> Result<Vec<DocumentVersion>, Error> {
    find(db, document_id).await?;
    let mut query = document_version::Entity::find()
        .filter(document_version::Column::DocumentId.eq(document_id.to_string()))
        .order_by_asc(document_version::Column::Id)
        .limit(page.size);
    if let Some(after) = page.after {
        query = query.filter(document_version::Column::Id.gt(after.to_string()));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    Ok(rows.iter().map(|row| version_to_proto(row, Vec::new())).collect())
}

pub(super) async fn set_retention(
    txn: &DatabaseTransaction,
    actor: &str,
    change: RetentionChange,
) -> Result<Document, Error> {
    let row = find_current(txn, change.id, change.expected_version).await?;
    let before = stored_date(&row)?;
    if let Some(before) = before {
        if change.retain_until < before {
            return Err(Error::FailedPrecondition(format!(
                "document {} is retained until {before}; retention can be extended but not shortened to {}",
                row.id, change.retain_until
            )));
        }
        if change.retain_until == before {
            return to_proto(&row);
        }
    }
    let mut changed = advanced(row, actor);
    changed.retain_until = Some(change.retain_until.to_string());
    update_if_current(txn, &changed, change.expected_version).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "document",
            record_id: &changed.id,
            action: "retention_set",
            detail: json!({
                "retain_until": { "before": before.map(|d| d.to_string()), "after": changed.retain_until },
                "version": { "before": change.expected_version, "after": changed.version },
            }),
        },
    )
    .await?;
    to_proto(&changed)
}

pub(super) async fn set_legal_hold(
    txn: &DatabaseTransaction,
    actor: &str,
    change: LegalHoldChange,
) -> Result<Document, Error> {
    let row = find_current(txn, change.id, change.expected_version).await?;
    if row.legal_hold == change.legal_hold && row.legal_hold_reason == change.reason {
        return to_proto(&row);
    }
    let (hold_before, reason_before) = (row.legal_hold, row.legal_hold_reason.clone());
    let mut changed = advanced(row, actor);
    changed.legal_hold = change.legal_hold;
    changed.legal_hold_reason = change.reason;
    update_if_current(txn, &changed, change.expected_version).await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "document",
            record_id: &changed.id,
            action: if changed.legal_hold {
                "legal_hold_placed"
            } else {
                "legal_hold_lifted"
            },
            detail: json!({
                "legal_hold": { "before": hold_before, "after": changed.legal_hold },
                "legal_hold_reason": { "before": reason_before, "after": changed.legal_hold_reason },
                "version": { "before": change.expected_version, "after": changed.version },
            }),
        },
    )
    .await?;
    to_proto(&changed)
}

pub(super) async fn apply_retention(
    txn: &DatabaseTransaction,
    actor: &str,
    close_out: ProjectCloseOut,
) -> Result<ApplyRetentionResponse, Error> {
    let rows = document::Entity::find()
        .filter(document::Column::ProjectId.eq(close_out.project_id.to_string()))
        .order_by_asc(document::Column::Id)
        .all(txn)
        .await
        .map_err(db_error)?;
    let mut documents = Vec::with_capacity(rows.len());
    let mut changed_count = 0;
    for row in rows {
        let document_type = DocumentType::try_from(row.document_type).map_err(Error::internal)?;
        let until = retention::retain_until(document_type, close_out.close_date)
            .ok_or_else(|| Error::internal(format!("no retention rule for {}", document_type.as_str_name())))?;
        let before = stored_date(&row)?;
        if before.is_some_and(|before| before >= until) {
            documents.push(to_proto(&row)?);
            continue;
        }
        let expected_version = row.version;
        let mut changed = advanced(row, actor);
        changed.retain_until = Some(until.to_string());
        update_if_current(txn, &changed, expected_version).await?;
        audit::append(
            txn,
            AuditEntry {
                actor,
                record_type: "document",
                record_id: &changed.id,
                action: "retention_applied",
                detail: json!({
                    "project_id": close_out.project_id.to_string(),
                    "close_date": close_out.close_date.to_string(),
                    "rule_years": retention::retention_years(document_type),
                    "retain_until": { "before": before.map(|d| d.to_string()), "after": changed.retain_until },
                    "version": { "before": expected_version, "after": changed.version },
                }),
            },
        )
        .await?;
        changed_count += 1;
        documents.push(to_proto(&changed)?);
    }
    Ok(ApplyRetentionResponse {
        documents,
        changed: changed_count,
    })
}
