//! The seam between the documents contract and a document-management / e-signature product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::documents::{ApplyRetentionResponse, Document, DocumentVersion, Envelope};
use uuid::Uuid;

use crate::domain::{
    Deletion, DocumentFilter, LegalHoldChange, NewDocument, NewEnvelope, NewVersion, ProjectCloseOut, RetentionChange,
    SignatureRecord,
};

/// What a document system must do for Keel. Changes take the caller (`actor`, for the audit
/// log) and the idempotency key; a replay returns the first result. Updates carry the
/// version the caller read and are refused as stale (ABORTED) when the record moved on.
#[async_trait]
pub trait DocumentsAdapter: Send + Sync + 'static {
    async fn create_document(
        &self,
        actor: &str,
        idempotency_key: &str,
        document: NewDocument,
    ) -> Result<Document, Error>;
    async fn get_document(&self, id: Uuid) -> Result<Document, Error>;
    async fn list_documents(&self, page: Page, filter: DocumentFilter) -> Result<Vec<Document>, Error>;
    /// Refused (FAILED_PRECONDITION naming the reason) while the document is retained, under
    /// legal hold or out for signature; nothing changes then.
    async fn delete_document(&self, actor: &str, idempotency_key: &str, deletion: Deletion) -> Result<Uuid, Error>;

    /// Stores the content as the next version with its SHA-256 and size. Returns the version
    /// without its content.
    async fn add_version(
        &self,
        actor: &str,
        idempotency_key: &str,
        version: NewVersion,
    ) -> Result<DocumentVersion, Error>;
    /// One version with its content.
    async fn get_version(&self, document_id: Uuid, number: i32) -> Result<DocumentVersion, Error>;
    /// Versions without content, oldest first.
    async fn list_versions(&self, document_id: Uuid, page: Page) -> Result<Vec<DocumentVersion>, Error>;

    /// Extends retention; shortening it is FAILED_PRECONDITION.
    async fn set_retention(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: RetentionChange,
    ) -> Result<Document, Error>;
    async fn set_legal_hold(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: LegalHoldChange,
    ) -> Result<Document, Error>;
    /// Applies [`crate::domain::retention::RETENTION_YEARS`] to every document of the project.
    async fn apply_retention(
        &self,
        actor: &str,
        idempotency_key: &str,
        close_out: ProjectCloseOut,
    ) -> Result<ApplyRetentionResponse, Error>;

    /// Sends the latest version to the signers. The document needs a version and no other
    /// envelope out for signature.
    async fn send_for_signature(
        &self,
        actor: &str,
        idempotency_key: &str,
        envelope: NewEnvelope,
    ) -> Result<Envelope, Error>;
    /// Records one signer's signature or refusal; completes the envelope (emitting
    /// `documents.envelope.signed` or `documents.envelope.declined`) when it is decided.
    async fn record_signature(
        &self,
        actor: &str,
        idempotency_key: &str,
        signature: SignatureRecord,
    ) -> Result<Envelope, Error>;
    async fn get_envelope(&self, id: Uuid) -> Result<Envelope, Error>;
    /// A document's envelopes, oldest first.
    async fn list_envelopes(&self, document_id: Uuid, page: Page) -> Result<Vec<Envelope>, Error>;
}
