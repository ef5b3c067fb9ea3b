//! The reference documents system: documents, their content versions (bytes in the store, with
//! SHA-256 and size), retention and legal holds, and e-signature envelopes, persisted with
//! sea-orm. Each change runs in one transaction with its audit entry, its idempotency record
//! and, when it emits one, its event.

mod documents;
mod entities;
mod envelopes;
mod migrations;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::documents::{
    ApplyRetentionResponse, DeleteDocumentResponse, Document, DocumentVersion, Envelope, EnvelopeStatus,
};
use keel_store::idempotency::run_once;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::DocumentsAdapter;
use crate::domain::{
    Deletion, DocumentFilter, LegalHoldChange, NewDocument, NewEnvelope, NewVersion, ProjectCloseOut, RetentionChange,
    SignatureRecord,
};

/// The persisted documents system.
#[derive(Clone)]
pub struct ReferenceDocuments {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceDocuments").finish_non_exhaustive()
    }
}

impl ReferenceDocuments {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceDocuments {
        ReferenceDocuments { db, relay_waker }
    }
}

/// Now, to the microsecond both databases keep, so an answer equals the record read back.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[async_trait]
impl DocumentsAdapter for ReferenceDocuments {
    async fn create_document(&self, actor: &str, key: &str, new: NewDocument) -> Result<Document, Error> {
        let request = new.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.create_document", key, &request, move |txn| {
            Box::pin(async move { documents::create(txn, &actor, new).await })
        })
        .await
    }

    async fn get_document(&self, id: Uuid) -> Result<Document, Error> {
        documents::to_proto(&documents::find(&self.db, id).await?)
    }

    async fn list_documents(&self, page: Page, filter: DocumentFilter) -> Result<Vec<Document>, Error> {
        documents::list(&self.db, page, filter).await
    }

    async fn delete_document(&self, actor: &str, key: &str, deletion: Deletion) -> Result<Uuid, Error> {
        let request = deletion.request(key);
        let actor = actor.to_string();
        let response = run_once(&self.db, "documents.delete_document", key, &request, move |txn| {
            Box::pin(async move {
                documents::delete(txn, &actor, deletion, now().date_naive()).await?;
                Ok(DeleteDocumentResponse {
                    id: deletion.id.to_string(),
                })
            })
        })
        .await?;
        response.id.parse().map_err(Error::internal)
    }

    async fn add_version(&self, actor: &str, key: &str, version: NewVersion) -> Result<DocumentVersion, Error> {
        let request = version.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.add_version", key, &request, move |txn| {
            Box::pin(async move { documents::add_version(txn, &actor, version).await })
        })
        .await
    }

    async fn get_version(&self, document_id: Uuid, number: i32) -> Result<DocumentVersion, Error> {
        documents::get_version(&self.db, document_id, number).await
    }

    async fn list_versions(&self, document_id: Uuid, page: Page) -> Result<Vec<DocumentVersion>, Error> {
        documents::list_versions(&self.db, document_id, page).await
    }

    async fn set_retention(&self, actor: &str, key: &str, change: RetentionChange) -> Result<Document, Error> {
        let request = change.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.set_retention", key, &request, move |txn| {
            Box::pin(async move { documents::set_retention(txn, &actor, change).await })
        })
        .await
    }

    async fn set_legal_hold(&self, actor: &str, key: &str, change: LegalHoldChange) -> Result<Document, Error> {
        let request = change.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.set_legal_hold", key, &request, move |txn| {
            Box::pin(async move { documents::set_legal_hold(txn, &actor, change).await })
        })
        .await
    }

    async fn apply_retention(
        &self,
        actor: &str,
        key: &str,
        close_out: ProjectCloseOut,
    ) -> Result<ApplyRetentionResponse, Error> {
        let request = close_out.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.apply_retention", key, &request, move |txn| {
            Box::pin(async move { documents::apply_retention(txn, &actor, close_out).await })
        })
        .await
    }

    async fn send_for_signature(&self, actor: &str, key: &str, envelope: NewEnvelope) -> Result<Envelope, Error> {
        let request = envelope.request(key);
        let actor = actor.to_string();
        run_once(&self.db, "documents.send_for_signature", key, &request, move |txn| {
            Box::pin(async move { envelopes::send(txn, &actor, envelope).await })
        })
        .await
    }

    async fn record_signature(&self, actor: &str, key: &str, signature: SignatureRecord) -> Result<Envelope, Error> {
        let request = signature.request(key);
        let actor = actor.to_string();
        let envelope = run_once(&self.db, "documents.record_signature", key, &request, move |txn| {
            Box::pin(async move { envelopes::record_signature(txn, &actor, signature).await })
        })
        .await?;
        if envelope.status != EnvelopeStatus::Sent as i32 {
            // The decision wrote an event: wake the relay now rather than at its next interval.
            self.relay_waker.notify_one();
        }
        Ok(envelope)
    }

    async fn get_envelope(&self, id: Uuid) -> Result<Envelope, Error> {
        envelopes::to_proto(&envelopes::find(&self.db, id).await?)
    }

    async fn list_envelopes(&self, document_id: Uuid, page: Page) -> Result<Vec<Envelope>, Error> {
        envelopes::list(&self.db, document_id, page).await
    }
}
