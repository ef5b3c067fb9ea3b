//! The `keel.documents.v1.DocumentsService` gRPC service: authorize, parse, call the adapter.

use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::common::PageResponse;
use keel_proto::documents::documents_service_server::{DocumentsService, DocumentsServiceServer};
use keel_proto::documents::{
    AddVersionRequest, ApplyRetentionRequest, ApplyRetentionResponse, CreateDocumentRequest, DeleteDocumentRequest,
    DeleteDocumentResponse, Document, DocumentVersion, Envelope, GetDocumentRequest, GetEnvelopeRequest,
    GetVersionRequest, ListDocumentsRequest, ListDocumentsResponse, ListEnvelopesRequest, ListEnvelopesResponse,
    ListVersionsRequest, ListVersionsResponse, RecordSignatureRequest, SendForSignatureRequest, SetLegalHoldRequest,
    SetRetentionRequest,
};
use tonic::{Request, Response, Status};

use crate::adapter::DocumentsAdapter;
use crate::domain::{
    Deletion, DocumentFilter, LegalHoldChange, NewDocument, NewEnvelope, NewVersion, ProjectCloseOut, RetentionChange,
    SignatureRecord, parse_id,
};

/// Roles that may change documents: process APIs acting as `service`, and administrators.
const WRITERS: &[Role] = &[Role::Service, Role::Admin];
/// Every authenticated role may read.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Consultant,
    Role::Operations,
    Role::Service,
    Role::Admin,
];

pub struct DocumentsGrpcService {
    adapter: Arc<dyn DocumentsAdapter>,
}

impl DocumentsGrpcService {
    pub fn new(adapter: Arc<dyn DocumentsAdapter>) -> DocumentsGrpcService {
        DocumentsGrpcService { adapter }
    }
}

/// The tonic server for an adapter. The platform sets its receive limit (4 MiB, above the
/// 2 MiB a version may hold).
pub fn server(adapter: Arc<dyn DocumentsAdapter>) -> DocumentsServiceServer<DocumentsGrpcService> {
    DocumentsServiceServer::new(DocumentsGrpcService::new(adapter))
}

/// The response page for a page of records whose last id is `last`.
fn page_response(page: &Page, returned: usize, last: Option<&str>) -> Option<PageResponse> {
    let last = last.and_then(|id| id.parse().ok());
    Some(PageResponse {
        next_page_token: page.next_token(returned, last),
    })
}

#[tonic::async_trait]
impl DocumentsService for DocumentsGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "CreateDocument"))]
    async fn create_document(&self, request: Request<CreateDocumentRequest>) -> Result<Response<Document>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, document) = NewDocument::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_document(&caller.subject, &key, document).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetDocument"))]
    async fn get_document(&self, request: Request<GetDocumentRequest>) -> Result<Response<Document>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_document(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListDocuments"))]
    async fn list_documents(
        &self,
        request: Request<ListDocumentsRequest>,
    ) -> Result<Response<ListDocumentsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let filter = DocumentFilter::parse(req)?;
        let documents = self.adapter.list_documents(page, filter).await?;
        let page = page_response(&page, documents.len(), documents.last().map(|d| d.id.as_str()));
        Ok(Response::new(ListDocumentsResponse { documents, page }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "DeleteDocument"))]
    async fn delete_document(
        &self,
        request: Request<DeleteDocumentRequest>,
    ) -> Result<Response<DeleteDocumentResponse>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, deletion) = Deletion::parse(request.get_ref())?;
        let id = self.adapter.delete_document(&caller.subject, &key, deletion).await?;
        Ok(Response::new(DeleteDocumentResponse { id: id.to_string() }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "AddVersion"))]
    async fn add_version(&self, request: Request<AddVersionRequest>) -> Result<Response<DocumentVersion>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, version) = NewVersion::parse(request.into_inner())?;
        Ok(Response::new(
            self.adapter.add_version(&caller.subject, &key, version).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetVersion"))]
    async fn get_version(&self, request: Request<GetVersionRequest>) -> Result<Response<DocumentVersion>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let document_id = v.uuid("document_id", &req.document_id);
        if req.number < 1 {
            v.add("number", "must be a version number (1 or more)");
        }
        v.finish()?;
        let document_id = document_id.ok_or_else(|| Error::invalid("document_id", "is required"))?;
        Ok(Response::new(self.adapter.get_version(document_id, req.number).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListVersions"))]
    async fn list_versions(
        &self,
        request: Request<ListVersionsRequest>,
    ) -> Result<Response<ListVersionsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let document_id = parse_id("document_id", &req.document_id)?;
        let page = Page::from_proto(req.page.as_ref())?;
        let versions = self.adapter.list_versions(document_id, page).await?;
        let page = page_response(&page, versions.len(), versions.last().map(|v| v.id.as_str()));
        Ok(Response::new(ListVersionsResponse { versions, page }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetRetention"))]
    async fn set_retention(&self, request: Request<SetRetentionRequest>) -> Result<Response<Document>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = RetentionChange::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.set_retention(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetLegalHold"))]
    async fn set_legal_hold(&self, request: Request<SetLegalHoldRequest>) -> Result<Response<Document>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = LegalHoldChange::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.set_legal_hold(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ApplyRetention"))]
    async fn apply_retention(
        &self,
        request: Request<ApplyRetentionRequest>,
    ) -> Result<Response<ApplyRetentionResponse>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, close_out) = ProjectCloseOut::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.apply_retention(&caller.subject, &key, close_out).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SendForSignature"))]
    async fn send_for_signature(
        &self,
        request: Request<SendForSignatureRequest>,
    ) -> Result<Response<Envelope>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, envelope) = NewEnvelope::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.send_for_signature(&caller.subject, &key, envelope).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "RecordSignature"))]
    async fn record_signature(&self, request: Request<RecordSignatureRequest>) -> Result<Response<Envelope>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, signature) = SignatureRecord::parse(request.get_ref(), chrono::Utc::now())?;
        Ok(Response::new(
            self.adapter.record_signature(&caller.subject, &key, signature).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetEnvelope"))]
    async fn get_envelope(&self, request: Request<GetEnvelopeRequest>) -> Result<Response<Envelope>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_envelope(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListEnvelopes"))]
    async fn list_envelopes(
        &self,
        request: Request<ListEnvelopesRequest>,
    ) -> Result<Response<ListEnvelopesResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let document_id = parse_id("document_id", &req.document_id)?;
        let page = Page::from_proto(req.page.as_ref())?;
        let envelopes = self.adapter.list_envelopes(document_id, page).await?;
        let page = page_response(&page, envelopes.len(), envelopes.last().map(|e| e.id.as_str()));
        Ok(Response::new(ListEnvelopesResponse { envelopes, page }))
    }
}
