//! The documents kit: documents, versions, retention and e-signature envelopes through
//! `keel.documents.v1.DocumentsService`.

use std::sync::Arc;

use keel_auth::Role;
use keel_documents::DocumentsAdapter;
use keel_proto::common::PageRequest;
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{
    AddVersionRequest, ApplyRetentionRequest, CreateDocumentRequest, DeleteDocumentRequest, Document, DocumentType,
    DocumentVersion, Envelope, EnvelopeStatus, GetDocumentRequest, GetEnvelopeRequest, GetVersionRequest,
    ListDocumentsRequest, ListVersionsRequest, RecordSignatureRequest, SendForSignatureRequest, SetLegalHoldRequest,
    SetRetentionRequest, SignatureDecision, SignerInput,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// SHA-256 of `abc` and of `hello world` (FIPS 180-2 and common test vectors).
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const HELLO_WORLD_SHA256: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
/// The most content one version may hold.
const MAX_CONTENT_BYTES: usize = 2 * 1024 * 1024;

/// What every documents check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn new_document(
    key: &str,
    document_type: DocumentType,
    title: &str,
    client_id: &str,
    project_id: &str,
) -> CreateDocumentRequest {
    CreateDocumentRequest {
        idempotency_key: key.to_string(),
        r#type: document_type as i32,
        title: title.to_string(),
        client_id: client_id.to_string(),
        project_id: project_id.to_string(),
    }
}

fn signer(name: &str, email: &str) -> SignerInput {
    SignerInput {
        name: name.into(),
        email: email.into(),
    }
}

fn signature(
    key: &str,
    envelope_id: &str,
    email: &str,
    decision: SignatureDecision,
    reason: &str,
) -> RecordSignatureRequest {
    let mut request = RecordSignatureRequest {
        idempotency_key: key.to_string(),
        envelope_id: envelope_id.to_string(),
        signer_email: email.to_string(),
        decision: decision as i32,
        at: Some(Default::default()),
        decline_reason: reason.to_string(),
    };
    // Now, to the microsecond.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    if let Some(at) = request.at.as_mut() {
        at.seconds = i64::try_from(now.as_secs()).expect("seconds fit");
        at.nanos = i32::try_from(now.subsec_micros() * 1000).expect("nanos fit");
    }
    request
}

impl Context {
    pub async fn new(adapter: Arc<dyn DocumentsAdapter>) -> Context {
        let service = keel_documents::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> DocumentsServiceClient<Channel> {
        DocumentsServiceClient::new(self.harness.channel())
    }

    async fn create(&self, request: CreateDocumentRequest) -> Result<Document, Status> {
        self.client()
            .create_document(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn document(
        &self,
        document_type: DocumentType,
        client_id: &str,
        project_id: &str,
    ) -> Result<Document, String> {
        ok(
            self.create(new_document(
                &rules::key("doc"),
                document_type,
                "Statement of work",
                client_id,
                project_id,
            ))
            .await,
            "CreateDocument",
        )
    }

    async fn get(&self, id: &str) -> Result<Document, Status> {
        self.client()
            .get_document(
                self.harness
                    .reader(Role::ProjectManager, GetDocumentRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn add_version(
        &self,
        document: &Document,
        expected_version: i64,
        content: &[u8],
    ) -> Result<DocumentVersion, Status> {
        self.client()
            .add_version(self.harness.service(AddVersionRequest {
                idempotency_key: rules::key("version"),
                document_id: document.id.clone(),
                expected_version,
                file_name: "sow.pdf".into(),
                content_type: "application/pdf".into(),
                content: content.to_vec(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn set_retention(&self, id: &str, expected_version: i64, retain_until: &str) -> Result<Document, Status> {
        self.client()
            .set_retention(self.harness.service(SetRetentionRequest {
                idempotency_key: rules::key("retention"),
                id: id.to_string(),
                expected_version,
                retain_until: retain_until.to_string(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn set_hold(&self, id: &str, expected_version: i64, hold: bool) -> Result<Document, Status> {
        self.client()
            .set_legal_hold(self.harness.service(SetLegalHoldRequest {
                idempotency_key: rules::key("hold"),
                id: id.to_string(),
                expected_version,
                legal_hold: hold,
                reason: if hold {
                    "Litigation hold LH-2026-04".into()
                } else {
                    String::new()
                },
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn delete(&self, id: &str, expected_version: i64) -> Result<String, Status> {
        self.client()
            .delete_document(self.harness.service(DeleteDocumentRequest {
                idempotency_key: rules::key("delete"),
                id: id.to_string(),
                expected_version,
            }))
            .await
            .map(|r| r.into_inner().id)
    }

    async fn send(&self, document_id: &str, signers: Vec<SignerInput>) -> Result<Envelope, Status> {
        self.client()
            .send_for_signature(self.harness.service(SendForSignatureRequest {
                idempotency_key: rules::key("send"),
                document_id: document_id.to_string(),
                signers,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn record(&self, request: RecordSignatureRequest) -> Result<Envelope, Status> {
        self.client()
            .record_signature(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    /// A document with one version, ready to be signed.
    async fn signable(&self) -> Result<Document, String> {
        let document = self.document(DocumentType::Sow, &new_id(), "").await?;
        ok(self.add_version(&document, 1, b"abc").await, "AddVersion")?;
        ok(self.get(&document.id).await, "GetDocument")
    }
}

/// Every documents check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("documents")
        .check("a replayed create returns the first record", |c| Box::pin(replay(c)))
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent creates with one key make one record", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("a stale expected_version is ABORTED and changes nothing", |c| {
            Box::pin(stale(c))
        })
        .check("versions keep their content, size and SHA-256", |c| {
            Box::pin(versions(c))
        })
        .check("content over 2 MiB is refused", |c| Box::pin(content_cap(c)))
        .check("deletion is refused under retention and legal hold", |c| {
            Box::pin(retention_blocks_delete(c))
        })
        .check("retention can be extended, never shortened", |c| {
            Box::pin(retention_only_extends(c))
        })
        .check("close-out applies the retention table per type", |c| {
            Box::pin(apply_retention(c))
        })
        .check("an envelope is SIGNED once every signer signed", |c| {
            Box::pin(signing(c))
        })
        .check("a declined envelope is final", |c| Box::pin(declining(c)))
        .check("one envelope out at a time, and only for a versioned document", |c| {
            Box::pin(one_envelope(c))
        })
        .check("documents list by project, client and type", |c| Box::pin(filters(c)))
        .check("documents page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
}

/// Runs the documents kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn DocumentsAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let key = rules::key("doc");
    let client_id = new_id();
    let request = new_document(&key, DocumentType::Sow, "Replay SOW", &client_id, "");
    let first = rules::replay_returns_first(|| c.create(request.clone()), "CreateDocument").await?;
    let stored = ok(c.get(&first.id).await, "GetDocument")?;
    ensure(
        stored.title == "Replay SOW" && stored.version == 1 && stored.client_id == client_id,
        || format!("the stored document is {stored:?}"),
    )?;
    let listed = list(
        c,
        ListDocumentsRequest {
            client_id,
            ..Default::default()
        },
    )
    .await?;
    ensure(listed.len() == 1, || {
        format!("a replayed create stored {} documents", listed.len())
    })
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("doc");
    let client_id = new_id();
    ok(
        c.create(new_document(&key, DocumentType::Sow, "First", &client_id, ""))
            .await,
        "CreateDocument",
    )?;
    let status = refused(
        c.create(new_document(&key, DocumentType::Sow, "Second", &client_id, ""))
            .await,
        "CreateDocument with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let key = rules::key("doc");
    let client_id = new_id();
    let client = c.client();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            c.harness
                .service(new_document(&key, DocumentType::Other, "Concurrent", &client_id, ""))
        })
        .collect();
    let requests = std::sync::Mutex::new(requests);
    rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.create_document(request).await.map(|r| r.into_inner().id) }
        },
        "CreateDocument",
    )
    .await?;
    let listed = list(
        c,
        ListDocumentsRequest {
            client_id,
            ..Default::default()
        },
    )
    .await?;
    ensure(listed.len() == 1, || {
        format!("concurrent creates with one key stored {} documents", listed.len())
    })
}

async fn bad_input(c: &Context) -> rules::Outcome {
    let client_id = new_id();
    let table: Vec<(CreateDocumentRequest, &str)> = vec![
        (
            new_document(&rules::key("bad"), DocumentType::Sow, " ", &client_id, ""),
            "title",
        ),
        (
            new_document(&rules::key("bad"), DocumentType::Unspecified, "T", &client_id, ""),
            "type",
        ),
        (
            new_document(&rules::key("bad"), DocumentType::Sow, "T", "acme", ""),
            "client_id",
        ),
        (
            new_document(&rules::key("bad"), DocumentType::Sow, "T", &client_id, "p-1"),
            "project_id",
        ),
        (
            new_document("", DocumentType::Sow, "T", &client_id, ""),
            "idempotency_key",
        ),
    ];
    for (request, field) in table {
        let status = refused(c.create(request).await, &format!("CreateDocument with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    let listed = list(
        c,
        ListDocumentsRequest {
            client_id,
            ..Default::default()
        },
    )
    .await?;
    ensure(listed.is_empty(), || {
        format!("refused creates stored {} documents", listed.len())
    })?;

    let document = c.document(DocumentType::Sow, &new_id(), "").await?;
    let status = refused(c.add_version(&document, 1, b"").await, "AddVersion without content")?;
    expect_field(&status, "content")?;
    let status = refused(
        c.set_retention(&document.id, 1, "2033-02-30").await,
        "SetRetention on 30 February",
    )?;
    expect_field(&status, "retain_until")?;
    let status = refused(
        c.send(
            &document.id,
            vec![
                signer("Ada", "ada@northwind.example"),
                signer("Bob", "bob-at-northwind"),
            ],
        )
        .await,
        "SendForSignature with a bad e-mail",
    )?;
    expect_field(&status, "signers[1].email")?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &new_id(),
            "ada@northwind.example",
            SignatureDecision::Unspecified,
            "",
        ))
        .await,
        "RecordSignature without a decision",
    )?;
    expect_field(&status, "decision")?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &new_id(),
            "ada@northwind.example",
            SignatureDecision::Declined,
            "",
        ))
        .await,
        "RecordSignature declining without a reason",
    )?;
    expect_field(&status, "decline_reason")?;
    let after = ok(c.get(&document.id).await, "GetDocument")?;
    ensure(after == document, || {
        format!("refused changes altered the document: {after:?}")
    })
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = new_id();
    let status = refused(c.get(&missing).await, "GetDocument of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetDocument of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })?;
    let status = refused(
        c.client()
            .get_envelope(
                c.harness
                    .reader(Role::Finance, GetEnvelopeRequest { id: missing.clone() }),
            )
            .await,
        "GetEnvelope of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "GetEnvelope of an unknown id")?;
    let status = refused(
        c.set_retention(&missing, 1, "2033-01-01").await,
        "SetRetention of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "SetRetention of an unknown id")?;
    let document = c.document(DocumentType::Sow, &new_id(), "").await?;
    let status = refused(
        c.client()
            .get_version(c.harness.reader(
                Role::Consultant,
                GetVersionRequest {
                    document_id: document.id.clone(),
                    number: 1,
                },
            ))
            .await,
        "GetVersion of a document without versions",
    )?;
    expect_code(&status, Code::NotFound, "GetVersion of a version that does not exist")
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    let document = c.document(DocumentType::Sow, &new_id(), "").await?;
    for role in [Role::Consultant, Role::ProjectManager, Role::Finance, Role::Executive] {
        let status = refused(
            c.client()
                .create_document(c.harness.reader(
                    role,
                    new_document(&rules::key("reader"), DocumentType::Sow, "Reader", &new_id(), ""),
                ))
                .await,
            &format!("CreateDocument as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("CreateDocument as {role}"))?;
        let status = refused(
            c.client()
                .set_legal_hold(c.harness.reader(
                    role,
                    SetLegalHoldRequest {
                        idempotency_key: rules::key("reader"),
                        id: document.id.clone(),
                        expected_version: 1,
                        legal_hold: true,
                        reason: "reader".into(),
                    },
                ))
                .await,
            &format!("SetLegalHold as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("SetLegalHold as {role}"))?;
        ok(
            c.client()
                .get_document(c.harness.reader(
                    role,
                    GetDocumentRequest {
                        id: document.id.clone(),
                    },
                ))
                .await,
            &format!("GetDocument as {role}"),
        )?;
    }
    Ok(())
}

async fn stale(c: &Context) -> rules::Outcome {
    let document = c.document(DocumentType::Sow, &new_id(), "").await?;
    let held = ok(c.set_hold(&document.id, 1, true).await, "SetLegalHold")?;
    ensure(held.version == 2 && held.legal_hold, || {
        format!("a placed hold left {held:?}")
    })?;
    let status = refused(
        c.set_retention(&document.id, 1, "2033-01-01").await,
        "SetRetention at version 1 of 2",
    )?;
    rules::expect_stale(&status, "document")?;
    let status = refused(
        c.add_version(&document, 1, b"abc").await,
        "AddVersion at version 1 of 2",
    )?;
    rules::expect_stale(&status, "document")?;
    let status = refused(c.delete(&document.id, 1).await, "DeleteDocument at version 1 of 2")?;
    rules::expect_stale(&status, "document")?;
    let after = ok(c.get(&document.id).await, "GetDocument")?;
    ensure(after == held, || {
        format!("stale updates changed the document to {after:?}")
    })
}

async fn versions(c: &Context) -> rules::Outcome {
    let document = c.document(DocumentType::ChangeOrder, &new_id(), "").await?;
    let first = ok(c.add_version(&document, 1, b"abc").await, "AddVersion")?;
    let second = ok(c.add_version(&document, 2, b"hello world").await, "AddVersion")?;
    ensure(first.number == 1 && second.number == 2, || {
        format!("versions were numbered {} and {}", first.number, second.number)
    })?;
    ensure(first.sha256 == ABC_SHA256 && first.size_bytes == 3, || {
        format!(
            "version 1 of \"abc\" has sha256 {} and size {}",
            first.sha256, first.size_bytes
        )
    })?;
    ensure(second.sha256 == HELLO_WORLD_SHA256 && second.size_bytes == 11, || {
        format!("version 2 has sha256 {} and size {}", second.sha256, second.size_bytes)
    })?;
    let stored = ok(
        c.client()
            .get_version(c.harness.reader(
                Role::Finance,
                GetVersionRequest {
                    document_id: document.id.clone(),
                    number: 1,
                },
            ))
            .await,
        "GetVersion",
    )?
    .into_inner();
    ensure(stored.content == b"abc" && stored.sha256 == ABC_SHA256, || {
        format!(
            "version 1 came back as {:?} with sha256 {}",
            stored.content, stored.sha256
        )
    })?;
    let listed = ok(
        c.client()
            .list_versions(c.harness.reader(
                Role::Consultant,
                ListVersionsRequest {
                    document_id: document.id.clone(),
                    page: None,
                },
            ))
            .await,
        "ListVersions",
    )?
    .into_inner()
    .versions;
    let digests: Vec<(i32, &str)> = listed.iter().map(|v| (v.number, v.sha256.as_str())).collect();
    ensure(digests == [(1, ABC_SHA256), (2, HELLO_WORLD_SHA256)], || {
        format!("ListVersions returned {digests:?}")
    })?;
    let after = ok(c.get(&document.id).await, "GetDocument")?;
    ensure(after.version_count == 2 && after.version == 3, || {
        format!(
            "after two versions the document has version_count {} and version {}",
            after.version_count, after.version
        )
    })
}

async fn content_cap(c: &Context) -> rules::Outcome {
    let document = c.document(DocumentType::InvoiceBackup, &new_id(), "").await?;
    let status = refused(
        c.add_version(&document, 1, &vec![b'x'; MAX_CONTENT_BYTES + 1]).await,
        "AddVersion of 2 MiB + 1 byte",
    )?;
    expect_field(&status, "content")?;
    let version = ok(
        c.add_version(&document, 1, &vec![b'x'; MAX_CONTENT_BYTES]).await,
        "AddVersion of 2 MiB",
    )?;
    ensure(version.size_bytes == MAX_CONTENT_BYTES as i64, || {
        format!("a 2 MiB version has size {}", version.size_bytes)
    })
}

async fn retention_blocks_delete(c: &Context) -> rules::Outcome {
    let retained = c.document(DocumentType::Sow, &new_id(), "").await?;
    let retained = ok(c.set_retention(&retained.id, 1, "2099-12-31").await, "SetRetention")?;
    let status = refused(
        c.delete(&retained.id, retained.version).await,
        "DeleteDocument while retained",
    )?;
    expect_code(&status, Code::FailedPrecondition, "DeleteDocument while retained")?;
    ensure(status.message().contains("retained"), || {
        format!("the refusal should name the retention: {:?}", status.message())
    })?;
    ensure(ok(c.get(&retained.id).await, "GetDocument")? == retained, || {
        "a refused delete changed the retained document".to_string()
    })?;

    let held = c.document(DocumentType::Sow, &new_id(), "").await?;
    let held = ok(c.set_hold(&held.id, 1, true).await, "SetLegalHold")?;
    let status = refused(
        c.delete(&held.id, held.version).await,
        "DeleteDocument under legal hold",
    )?;
    expect_code(&status, Code::FailedPrecondition, "DeleteDocument under legal hold")?;
    ensure(status.message().contains("legal hold"), || {
        format!("the refusal should name the legal hold: {:?}", status.message())
    })?;
    ensure(ok(c.get(&held.id).await, "GetDocument")? == held, || {
        "a refused delete changed the held document".to_string()
    })?;

    let lifted = ok(
        c.set_hold(&held.id, held.version, false).await,
        "SetLegalHold lifting the hold",
    )?;
    let expired = ok(
        c.set_retention(&held.id, lifted.version, "2020-01-31").await,
        "SetRetention in the past",
    )?;
    let deleted = ok(
        c.delete(&held.id, expired.version).await,
        "DeleteDocument after the hold",
    )?;
    ensure(deleted == held.id, || format!("DeleteDocument answered {deleted}"))?;
    let status = refused(c.get(&held.id).await, "GetDocument of a deleted document")?;
    expect_code(&status, Code::NotFound, "GetDocument of a deleted document")
}

async fn retention_only_extends(c: &Context) -> rules::Outcome {
    let document = c.document(DocumentType::Sow, &new_id(), "").await?;
    let set = ok(c.set_retention(&document.id, 1, "2033-11-30").await, "SetRetention")?;
    ensure(set.retain_until == "2033-11-30" && set.version == 2, || {
        format!("SetRetention left {set:?}")
    })?;
    let status = refused(
        c.set_retention(&document.id, 2, "2030-01-01").await,
        "SetRetention shortening",
    )?;
    expect_code(&status, Code::FailedPrecondition, "SetRetention shortening")?;
    let extended = ok(
        c.set_retention(&document.id, 2, "2036-11-30").await,
        "SetRetention extending",
    )?;
    ensure(extended.retain_until == "2036-11-30", || {
        format!("extending left {extended:?}")
    })
}

async fn apply_retention(c: &Context) -> rules::Outcome {
    let client_id = new_id();
    let project_id = new_id();
    let mut expected = Vec::new();
    for (document_type, until) in [
        (DocumentType::Sow, "2033-11-30"),
        (DocumentType::ChangeOrder, "2033-11-30"),
        (DocumentType::InvoiceBackup, "2036-11-30"),
    ] {
        let document = c.document(document_type, &client_id, &project_id).await?;
        expected.push((document.id, until.to_string()));
    }
    // A longer retention already set is kept.
    let long = c.document(DocumentType::Sow, &client_id, &project_id).await?;
    ok(c.set_retention(&long.id, 1, "2040-01-01").await, "SetRetention")?;
    expected.push((long.id, "2040-01-01".to_string()));
    let other_project = c.document(DocumentType::Sow, &client_id, &new_id()).await?;

    let key = rules::key("close-out");
    let answer = rules::replay_returns_first(
        || {
            let mut client = c.client();
            let request = c.harness.service(ApplyRetentionRequest {
                idempotency_key: key.clone(),
                project_id: project_id.clone(),
                close_date: "2026-11-30".into(),
            });
            async move { client.apply_retention(request).await.map(|r| r.into_inner()) }
        },
        "ApplyRetention",
    )
    .await?;
    ensure(answer.changed == 3 && answer.documents.len() == 4, || {
        format!(
            "ApplyRetention changed {} of {} documents; expected 3 of 4",
            answer.changed,
            answer.documents.len()
        )
    })?;
    for (id, until) in &expected {
        let stored = ok(c.get(id).await, "GetDocument")?;
        ensure(&stored.retain_until == until, || {
            format!(
                "document {id} of type {} is retained until {:?}, not {until}",
                stored.r#type, stored.retain_until
            )
        })?;
    }
    let untouched = ok(c.get(&other_project.id).await, "GetDocument")?;
    ensure(untouched == other_project, || {
        "ApplyRetention changed another project's document".to_string()
    })
}

async fn signing(c: &Context) -> rules::Outcome {
    let document = c.signable().await?;
    let envelope = ok(
        c.send(
            &document.id,
            vec![
                signer("Ada Lindqvist", "ada@northwind.example"),
                signer("Marcus Hale", "marcus@keel.example"),
            ],
        )
        .await,
        "SendForSignature",
    )?;
    ensure(
        envelope.status == EnvelopeStatus::Sent as i32 && envelope.document_version == 1 && envelope.signers.len() == 2,
        || format!("a sent envelope is {envelope:?}"),
    )?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "eve@elsewhere.example",
            SignatureDecision::Signed,
            "",
        ))
        .await,
        "RecordSignature by someone not on the envelope",
    )?;
    expect_field(&status, "signer_email")?;

    let first = ok(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "ada@northwind.example",
            SignatureDecision::Signed,
            "",
        ))
        .await,
        "RecordSignature by the first signer",
    )?;
    ensure(first.status == EnvelopeStatus::Sent as i32, || {
        format!("one of two signatures left the envelope at status {}", first.status)
    })?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "ada@northwind.example",
            SignatureDecision::Signed,
            "",
        ))
        .await,
        "RecordSignature by a signer who already signed",
    )?;
    expect_code(&status, Code::FailedPrecondition, "a second signature by one signer")?;

    let last = signature(
        &rules::key("sig"),
        &envelope.id,
        "marcus@keel.example",
        SignatureDecision::Signed,
        "",
    );
    let signed = rules::replay_returns_first(|| c.record(last.clone()), "RecordSignature by the last signer").await?;
    ensure(signed.status == EnvelopeStatus::Signed as i32, || {
        format!("every signer signed but the envelope is at status {}", signed.status)
    })?;
    ensure(
        signed.signers.iter().all(|s| s.signed_at.is_some()) && signed.completed_at.is_some(),
        || format!("a signed envelope lacks signing times: {signed:?}"),
    )?;
    let stored = ok(
        c.client()
            .get_envelope(c.harness.reader(
                Role::ProjectManager,
                GetEnvelopeRequest {
                    id: envelope.id.clone(),
                },
            ))
            .await,
        "GetEnvelope",
    )?
    .into_inner();
    ensure(stored == signed, || {
        format!("GetEnvelope answered {stored:?}, not the signed envelope")
    })?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "marcus@keel.example",
            SignatureDecision::Declined,
            "late",
        ))
        .await,
        "RecordSignature on a signed envelope",
    )?;
    expect_code(&status, Code::FailedPrecondition, "changing a signed envelope")
}

async fn declining(c: &Context) -> rules::Outcome {
    let document = c.signable().await?;
    let envelope = ok(
        c.send(
            &document.id,
            vec![
                signer("Ada", "ada@northwind.example"),
                signer("Bob", "bob@northwind.example"),
            ],
        )
        .await,
        "SendForSignature",
    )?;
    let declined = ok(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "bob@northwind.example",
            SignatureDecision::Declined,
            "Payment terms differ from the MSA",
        ))
        .await,
        "RecordSignature declining",
    )?;
    ensure(
        declined.status == EnvelopeStatus::Declined as i32
            && declined.declined_by == "bob@northwind.example"
            && declined.decline_reason == "Payment terms differ from the MSA",
        || format!("a declined envelope is {declined:?}"),
    )?;
    let status = refused(
        c.record(signature(
            &rules::key("sig"),
            &envelope.id,
            "ada@northwind.example",
            SignatureDecision::Signed,
            "",
        ))
        .await,
        "RecordSignature on a declined envelope",
    )?;
    expect_code(&status, Code::FailedPrecondition, "changing a declined envelope")?;
    // The document may go out again.
    let again = ok(
        c.send(&document.id, vec![signer("Ada", "ada@northwind.example")]).await,
        "SendForSignature again",
    )?;
    ensure(
        again.id != envelope.id && again.status == EnvelopeStatus::Sent as i32,
        || format!("sending again after a decline gave {again:?}"),
    )
}

async fn one_envelope(c: &Context) -> rules::Outcome {
    let empty = c.document(DocumentType::Sow, &new_id(), "").await?;
    let status = refused(
        c.send(&empty.id, vec![signer("Ada", "ada@northwind.example")]).await,
        "SendForSignature of a document without versions",
    )?;
    expect_code(&status, Code::FailedPrecondition, "signing a document without versions")?;

    let document = c.signable().await?;
    let open = ok(
        c.send(&document.id, vec![signer("Ada", "ada@northwind.example")]).await,
        "SendForSignature",
    )?;
    let status = refused(
        c.send(&document.id, vec![signer("Bob", "bob@northwind.example")]).await,
        "a second SendForSignature while one is out",
    )?;
    expect_code(&status, Code::FailedPrecondition, "a second envelope while one is out")?;
    let status = refused(
        c.delete(&document.id, document.version).await,
        "DeleteDocument while out for signature",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "DeleteDocument while out for signature",
    )?;
    ensure(ok(c.get(&document.id).await, "GetDocument")? == document, || {
        "a refused delete changed the document out for signature".to_string()
    })?;
    ensure(!open.id.is_empty(), || {
        "SendForSignature returned no envelope id".to_string()
    })
}

async fn filters(c: &Context) -> rules::Outcome {
    let client_id = new_id();
    let project_a = new_id();
    let project_b = new_id();
    let sow_a = c.document(DocumentType::Sow, &client_id, &project_a).await?;
    let backup_a = c.document(DocumentType::InvoiceBackup, &client_id, &project_a).await?;
    let sow_b = c.document(DocumentType::Sow, &client_id, &project_b).await?;
    let ids = |documents: Vec<Document>| documents.into_iter().map(|d| d.id).collect::<Vec<_>>();

    let by_project = ids(list(
        c,
        ListDocumentsRequest {
            project_id: project_a.clone(),
            ..Default::default()
        },
    )
    .await?);
    ensure(by_project == [sow_a.id.clone(), backup_a.id.clone()], || {
        format!("by project: {by_project:?}")
    })?;
    let by_client = ids(list(
        c,
        ListDocumentsRequest {
            client_id: client_id.clone(),
            ..Default::default()
        },
    )
    .await?);
    ensure(
        by_client == [sow_a.id.clone(), backup_a.id.clone(), sow_b.id.clone()],
        || format!("by client: {by_client:?}"),
    )?;
    let sows = ids(list(
        c,
        ListDocumentsRequest {
            client_id: client_id.clone(),
            r#type: DocumentType::Sow as i32,
            ..Default::default()
        },
    )
    .await?);
    ensure(sows == [sow_a.id.clone(), sow_b.id.clone()], || {
        format!("SOWs of the client: {sows:?}")
    })?;
    let status = refused(
        c.client()
            .list_documents(c.harness.reader(
                Role::Executive,
                ListDocumentsRequest {
                    project_id: "not-a-project".into(),
                    ..Default::default()
                },
            ))
            .await,
        "ListDocuments with a malformed project id",
    )?;
    expect_field(&status, "project_id")
}

async fn list(c: &Context, request: ListDocumentsRequest) -> Result<Vec<Document>, String> {
    Ok(ok(
        c.client()
            .list_documents(c.harness.reader(Role::Executive, request))
            .await,
        "ListDocuments",
    )?
    .into_inner()
    .documents)
}

async fn paging(c: &Context) -> rules::Outcome {
    let client_id = new_id();
    let mut seeded = Vec::new();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        seeded.push(
            ok(
                c.create(new_document(
                    &rules::key("page"),
                    DocumentType::Other,
                    &format!("Paged {i}"),
                    &client_id,
                    "",
                ))
                .await,
                "CreateDocument",
            )?
            .id,
        );
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListDocumentsRequest {
                    page: Some(PageRequest { page_size, page_token }),
                    client_id: client_id.clone(),
                    ..Default::default()
                },
            );
            async move {
                let page = client.list_documents(request).await?.into_inner();
                Ok((
                    page.documents.into_iter().map(|d| d.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}
