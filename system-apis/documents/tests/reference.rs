//! The documents system API through a real gRPC server on loopback, on the reference adapter,
//! asserting what only the reference store shows: outbox events, audit entries, and rows left
//! unchanged by a refusal (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_auth::Role;
use keel_conformance::Harness;
use keel_documents::reference::Migrator;
use keel_documents::{ENVELOPE_DECLINED, ENVELOPE_SIGNED, ReferenceDocuments};
use keel_events::{EventEnvelope, outbox};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{
    AddVersionRequest, CreateDocumentRequest, DeleteDocumentRequest, Document, DocumentType, Envelope,
    EnvelopeDeclined, EnvelopeSigned, EnvelopeStatus, GetDocumentRequest, GetVersionRequest, ListVersionsRequest,
    RecordSignatureRequest, SendForSignatureRequest, SetLegalHoldRequest, SetRetentionRequest, SignatureDecision,
    SignerInput,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tonic::transport::Channel;
use tonic::{Code, Status};

struct Documents {
    _store: TestStore,
    db: DatabaseConnection,
    harness: Harness,
    relay_waker: Arc<Notify>,
}

impl Documents {
    async fn start() -> Documents {
        let (store, db) = keel_conformance::migrated_store::<Migrator>("documents").await;
        let relay_waker = Arc::new(Notify::new());
        let adapter = Arc::new(ReferenceDocuments::new(db.clone(), relay_waker.clone()));
        let harness =
            Harness::serve(keel_documents::service::server(adapter).max_decoding_message_size(4 * 1024 * 1024)).await;
        Documents {
            _store: store,
            db,
            harness,
            relay_waker,
        }
    }

    fn client(&self) -> DocumentsServiceClient<Channel> {
        DocumentsServiceClient::new(self.harness.channel())
    }

    async fn create(&self, key: &str, document_type: DocumentType, project_id: &str) -> Document {
        self.client()
            .create_document(self.harness.service(CreateDocumentRequest {
                idempotency_key: key.into(),
                r#type: document_type as i32,
                title: "Northwind S/4 finance rollout — SOW-2026-118".into(),
                client_id: uuid::Uuid::now_v7().to_string(),
                project_id: project_id.into(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn add_version(&self, document_id: &str, expected_version: i64, content: &[u8]) -> Result<i32, Status> {
        self.client()
            .add_version(self.harness.service(AddVersionRequest {
                idempotency_key: format!("v-{}", uuid::Uuid::now_v7()),
                document_id: document_id.into(),
                expected_version,
                file_name: "SOW-2026-118.pdf".into(),
                content_type: "application/pdf".into(),
                content: content.to_vec(),
            }))
            .await
            .map(|r| r.into_inner().number)
    }

    async fn get(&self, id: &str) -> Result<Document, Status> {
        self.client()
            .get_document(self.harness.reader(Role::Finance, GetDocumentRequest { id: id.into() }))
            .await
            .map(|r| r.into_inner())
    }

    async fn send(&self, document_id: &str, emails: &[&str]) -> Envelope {
        self.client()
            .send_for_signature(
                self.harness.service(SendForSignatureRequest {
                    idempotency_key: format!("send-{}", uuid::Uuid::now_v7()),
                    document_id: document_id.into(),
                    signers: emails
                        .iter()
                        .map(|email| SignerInput {
                            name: format!("Signer {email}"),
                            email: (*email).into(),
                        })
                        .collect(),
                }),
            )
            .await
            .unwrap()
            .into_inner()
    }

    async fn record(&self, request: RecordSignatureRequest) -> Result<Envelope, Status> {
        self.client()
            .record_signature(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::recent(&self.db, Some(event_type), 100)
            .await
            .unwrap()
            .iter()
            .map(|row| outbox::to_envelope(row).unwrap())
            .collect()
    }
}

fn signature(
    key: &str,
    envelope_id: &str,
    email: &str,
    decision: SignatureDecision,
    reason: &str,
) -> RecordSignatureRequest {
    RecordSignatureRequest {
        idempotency_key: key.into(),
        envelope_id: envelope_id.into(),
        signer_email: email.into(),
        decision: decision as i32,
        at: Some(keel_core::time::to_timestamp(chrono::Utc::now())),
        decline_reason: reason.into(),
    }
}

#[tokio::test]
async fn signing_emits_the_event_exactly_once() {
    let app = Documents::start().await;
    let document = app.create("doc-1", DocumentType::Sow, "").await;
    app.add_version(&document.id, 1, b"%PDF-1.7 statement of work")
        .await
        .unwrap();
    let envelope = app
        .send(&document.id, &["ada@northwind.example", "marcus@keel.example"])
        .await;

    app.record(signature(
        "sig-ada",
        &envelope.id,
        "ada@northwind.example",
        SignatureDecision::Signed,
        "",
    ))
    .await
    .unwrap();
    assert!(
        app.events(ENVELOPE_SIGNED).await.is_empty(),
        "one of two signatures emitted an event"
    );

    let last = signature(
        "sig-marcus",
        &envelope.id,
        "marcus@keel.example",
        SignatureDecision::Signed,
        "",
    );
    let waker = app.relay_waker.clone();
    let woken = tokio::spawn(async move { waker.notified().await });
    let signed = app.record(last.clone()).await.unwrap();
    assert_eq!(signed.status, EnvelopeStatus::Signed as i32);
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("the relay is woken after the event commits")
        .unwrap();
    let replayed = app.record(last).await.unwrap();
    assert_eq!(replayed, signed, "a replay returns the first answer");

    let events = app.events(ENVELOPE_SIGNED).await;
    assert_eq!(events.len(), 1, "a replayed signature emitted a second event");
    assert_eq!(events[0].aggregate_id, envelope.id);
    assert_eq!(events[0].source, "documents");
    let payload: EnvelopeSigned = events[0].decode().unwrap();
    assert_eq!(payload.envelope.unwrap(), signed);
    assert_eq!(payload.document.unwrap().id, document.id);
    assert!(app.events(ENVELOPE_DECLINED).await.is_empty());
}

#[tokio::test]
async fn declining_emits_the_declined_event_once_and_the_envelope_stays_declined() {
    let app = Documents::start().await;
    let document = app.create("doc-1", DocumentType::ChangeOrder, "").await;
    app.add_version(&document.id, 1, b"change order CO-01").await.unwrap();
    let envelope = app
        .send(&document.id, &["ada@northwind.example", "marcus@keel.example"])
        .await;
    let decline = signature(
        "decline",
        &envelope.id,
        "ada@northwind.example",
        SignatureDecision::Declined,
        "Fee change not approved by procurement",
    );
    let declined = app.record(decline.clone()).await.unwrap();
    assert_eq!(declined.status, EnvelopeStatus::Declined as i32);
    assert_eq!(app.record(decline).await.unwrap(), declined);

    let refused = app
        .record(signature(
            "late",
            &envelope.id,
            "marcus@keel.example",
            SignatureDecision::Signed,
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("declined"), "{}", refused.message());

    let events = app.events(ENVELOPE_DECLINED).await;
    assert_eq!(events.len(), 1);
    let payload: EnvelopeDeclined = events[0].decode().unwrap();
    assert_eq!(
        payload.envelope.unwrap().decline_reason,
        "Fee change not approved by procurement"
    );
    assert!(app.events(ENVELOPE_SIGNED).await.is_empty());
}

#[tokio::test]
async fn deletion_is_refused_under_retention_and_legal_hold_and_nothing_changes() {
    let app = Documents::start().await;
    let document = app.create("doc-1", DocumentType::InvoiceBackup, "").await;
    app.add_version(&document.id, 1, b"milestone,evidence\n1,minutes\n")
        .await
        .unwrap();
    let retained = app
        .client()
        .set_retention(app.harness.service(SetRetentionRequest {
            idempotency_key: "retain".into(),
            id: document.id.clone(),
            expected_version: 2,
            retain_until: "2036-11-30".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let held = app
        .client()
        .set_legal_hold(app.harness.service(SetLegalHoldRequest {
            idempotency_key: "hold".into(),
            id: document.id.clone(),
            expected_version: retained.version,
            legal_hold: true,
            reason: "Dispute over milestone 1 acceptance".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let audit_before = audit::history(&app.db, "document", &document.id).await.unwrap();
    let outbox_before = outbox::recent(&app.db, None, 100).await.unwrap();

    for key in ["delete-1", "delete-2"] {
        let refused = app
            .client()
            .delete_document(app.harness.service(DeleteDocumentRequest {
                idempotency_key: key.into(),
                id: document.id.clone(),
                expected_version: held.version,
            }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(refused.message().contains("legal hold"), "{}", refused.message());
    }
    assert_eq!(app.get(&document.id).await.unwrap(), held);
    assert_eq!(
        audit::history(&app.db, "document", &document.id).await.unwrap(),
        audit_before
    );
    assert_eq!(outbox::recent(&app.db, None, 100).await.unwrap(), outbox_before);

    // Lifting the hold still leaves the retention in force.
    let lifted = app
        .client()
        .set_legal_hold(app.harness.service(SetLegalHoldRequest {
            idempotency_key: "lift".into(),
            id: document.id.clone(),
            expected_version: held.version,
            legal_hold: false,
            reason: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let refused = app
        .client()
        .delete_document(app.harness.service(DeleteDocumentRequest {
            idempotency_key: "delete-3".into(),
            id: document.id.clone(),
            expected_version: lifted.version,
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("retained until 2036-11-30"),
        "{}",
        refused.message()
    );
    assert_eq!(app.get(&document.id).await.unwrap(), lifted);
    let versions = app
        .client()
        .list_versions(app.harness.reader(
            Role::Finance,
            ListVersionsRequest {
                document_id: document.id.clone(),
                page: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 1, "a refused delete removed versions");
}

#[tokio::test]
async fn versions_keep_their_digest_and_never_change() {
    let app = Documents::start().await;
    let document = app.create("doc-1", DocumentType::Sow, "").await;
    let first: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let second = b"%PDF-1.7 signed copy".to_vec();
    assert_eq!(app.add_version(&document.id, 1, &first).await.unwrap(), 1);
    assert_eq!(app.add_version(&document.id, 2, &second).await.unwrap(), 2);

    for (number, content) in [(1, &first), (2, &second)] {
        let version = app
            .client()
            .get_version(app.harness.reader(
                Role::Consultant,
                GetVersionRequest {
                    document_id: document.id.clone(),
                    number,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&version.content, content);
        assert_eq!(version.sha256, hex::encode(Sha256::digest(content)));
        assert_eq!(version.size_bytes, content.len() as i64);
    }
    let history = audit::history(&app.db, "document", &document.id).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "version_added", "version_added"]);
    let detail: serde_json::Value = serde_json::from_str(&history[1].detail).unwrap();
    assert_eq!(detail["sha256"], hex::encode(Sha256::digest(&first)));
}

#[tokio::test]
async fn the_audit_chain_verifies_after_every_kind_of_change() {
    let app = Documents::start().await;
    let project_id = uuid::Uuid::now_v7().to_string();
    let sow = app.create("sow", DocumentType::Sow, &project_id).await;
    let scratch = app.create("scratch", DocumentType::Other, "").await;
    app.add_version(&sow.id, 1, b"statement of work").await.unwrap();
    let envelope = app.send(&sow.id, &["ada@northwind.example"]).await;
    app.record(signature(
        "sign",
        &envelope.id,
        "ada@northwind.example",
        SignatureDecision::Signed,
        "",
    ))
    .await
    .unwrap();
    app.client()
        .apply_retention(app.harness.service(keel_proto::documents::ApplyRetentionRequest {
            idempotency_key: "close-out".into(),
            project_id: project_id.clone(),
            close_date: "2026-11-30".into(),
        }))
        .await
        .unwrap();
    app.client()
        .delete_document(app.harness.service(DeleteDocumentRequest {
            idempotency_key: "delete-scratch".into(),
            id: scratch.id.clone(),
            expected_version: 1,
        }))
        .await
        .unwrap();

    assert_eq!(app.get(&sow.id).await.unwrap().retain_until, "2033-11-30");
    let sow_actions: Vec<String> = audit::history(&app.db, "document", &sow.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(sow_actions, ["created", "version_added", "retention_applied"]);
    let envelope_actions: Vec<String> = audit::history(&app.db, "envelope", &envelope.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(envelope_actions, ["sent", "signed"]);
    let deleted = audit::history(&app.db, "document", &scratch.id).await.unwrap();
    assert_eq!(deleted.last().unwrap().action, "deleted");
    // created ×2, version_added, sent, signed, retention_applied, deleted.
    assert_eq!(
        audit::verify(&app.db).await.unwrap(),
        ChainReport::Intact { entries: 7 }
    );
}

#[tokio::test]
async fn concurrent_signatures_complete_the_envelope_once() {
    let app = Documents::start().await;
    let document = app.create("doc-1", DocumentType::Sow, "").await;
    app.add_version(&document.id, 1, b"statement of work").await.unwrap();
    let emails: Vec<String> = (0..5).map(|i| format!("signer{i}@northwind.example")).collect();
    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    let envelope = app.send(&document.id, &refs).await;

    let mut tasks = Vec::new();
    for email in &emails {
        let mut client = app.client();
        let request = signature(
            &format!("sig-{email}"),
            &envelope.id,
            email,
            SignatureDecision::Signed,
            "",
        );
        let harness_request = || app.harness.service(request.clone());
        let requests: Vec<_> = (0..20).map(|_| harness_request()).collect();
        tasks.push(tokio::spawn(async move {
            // A signature that lost the race is ABORTED (or UNAVAILABLE while the key is
            // claimed); the provider retries with the same key.
            for request in requests {
                match client.record_signature(request).await {
                    Ok(answer) => return answer.into_inner(),
                    Err(status) if matches!(status.code(), Code::Aborted | Code::Unavailable) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(status) => panic!("a signature failed: {status:?}"),
                }
            }
            panic!("a signature never got through");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = app
        .client()
        .get_envelope(app.harness.reader(
            Role::ProjectManager,
            keel_proto::documents::GetEnvelopeRequest {
                id: envelope.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.status, EnvelopeStatus::Signed as i32);
    assert!(stored.signers.iter().all(|s| s.signed_at.is_some()));
    assert_eq!(stored.version, 6);
    assert_eq!(app.events(ENVELOPE_SIGNED).await.len(), 1);
    assert_eq!(
        audit::verify(&app.db).await.unwrap(),
        ChainReport::Intact { entries: 8 }
    );
}
