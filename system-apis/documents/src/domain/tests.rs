//! Each rule of parsing, table-driven.

use super::*;

const ID: &str = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";

fn fields(err: &Error) -> Vec<&str> {
    err.field_violations().iter().map(|f| f.field.as_str()).collect()
}

fn good_document() -> CreateDocumentRequest {
    CreateDocumentRequest {
        idempotency_key: "k1".into(),
        r#type: DocumentType::Sow as i32,
        title: "Northwind S/4 finance rollout — statement of work".into(),
        client_id: ID.into(),
        project_id: String::new(),
    }
}

#[test]
fn a_document_parses_with_or_without_a_project() {
    let (key, document) = NewDocument::parse(&good_document()).unwrap();
    assert_eq!(key, "k1");
    assert_eq!(document.project_id, None);
    let mut r = good_document();
    r.project_id = ID.into();
    assert!(NewDocument::parse(&r).unwrap().1.project_id.is_some());
}

#[test]
fn each_bad_document_field_is_named() {
    type Edit = fn(&mut CreateDocumentRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.r#type = 0, "type"),
        (|r| r.r#type = 42, "type"),
        (|r| r.title = " ".into(), "title"),
        (|r| r.client_id = "acme".into(), "client_id"),
        (|r| r.client_id.clear(), "client_id"),
        (|r| r.project_id = "p-1".into(), "project_id"),
    ];
    for (edit, field) in table {
        let mut r = good_document();
        edit(&mut r);
        assert_eq!(fields(&NewDocument::parse(&r).unwrap_err()), [*field]);
    }
}

fn good_version() -> AddVersionRequest {
    AddVersionRequest {
        idempotency_key: "k".into(),
        document_id: ID.into(),
        expected_version: 1,
        file_name: "sow-v1.pdf".into(),
        content_type: "application/pdf".into(),
        content: b"%PDF-1.7".to_vec(),
    }
}

#[test]
fn each_bad_version_field_is_named() {
    type Edit = fn(&mut AddVersionRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.document_id = "x".into(), "document_id"),
        (|r| r.expected_version = 0, "expected_version"),
        (|r| r.file_name.clear(), "file_name"),
        (|r| r.file_name = "../etc/passwd".into(), "file_name"),
        (|r| r.content_type = "pdf".into(), "content_type"),
        (|r| r.content_type = "application/pdf; x".into(), "content_type"),
        (|r| r.content.clear(), "content"),
        (|r| r.content = vec![0; MAX_CONTENT_BYTES + 1], "content"),
    ];
    for (edit, field) in table {
        let mut r = good_version();
        edit(&mut r);
        assert_eq!(fields(&NewVersion::parse(r).unwrap_err()), [*field]);
    }
    let mut r = good_version();
    r.content = vec![7; MAX_CONTENT_BYTES];
    assert!(NewVersion::parse(r).is_ok(), "exactly 2 MiB is allowed");
}

#[test]
fn signers_are_named_by_position() {
    let signer = |name: &str, email: &str| SignerInput {
        name: name.into(),
        email: email.into(),
    };
    let request = SendForSignatureRequest {
        idempotency_key: "k".into(),
        document_id: ID.into(),
        signers: vec![
            signer("Ada Client", "Ada@Northwind.example"),
            signer("", "bob@northwind.example"),
            signer("Carol", "carol@"),
            signer("Ada Again", "ada@northwind.example"),
        ],
    };
    let err = NewEnvelope::parse(&request).unwrap_err();
    assert_eq!(
        fields(&err),
        ["signers[1].name", "signers[2].email", "signers[3].email"]
    );

    let none = SendForSignatureRequest {
        signers: vec![],
        ..request.clone()
    };
    assert_eq!(fields(&NewEnvelope::parse(&none).unwrap_err()), ["signers"]);

    let good = SendForSignatureRequest {
        signers: vec![signer("Ada Client", " Ada@Northwind.example ")],
        ..request
    };
    let (_, envelope) = NewEnvelope::parse(&good).unwrap();
    assert_eq!(envelope.signers[0].email, "ada@northwind.example");
}

#[test]
fn a_signature_needs_a_decision_a_time_and_a_reason_to_decline() {
    let now = Utc::now();
    let good = RecordSignatureRequest {
        idempotency_key: "k".into(),
        envelope_id: ID.into(),
        signer_email: "ada@northwind.example".into(),
        decision: SignatureDecision::Signed as i32,
        at: Some(keel_core::time::to_timestamp(now)),
        decline_reason: String::new(),
    };
    let (_, record) = SignatureRecord::parse(&good, now).unwrap();
    assert_eq!(record.decision, Decision::Signed);
    assert_eq!(record.request("k").at, Some(keel_core::time::to_timestamp(record.at)));

    type Edit = fn(&mut RecordSignatureRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.decision = 0, "decision"),
        (|r| r.decision = SignatureDecision::Declined as i32, "decline_reason"),
        (|r| r.at = None, "at"),
        (
            |r| r.at = Some(keel_core::time::to_timestamp(Utc::now() + chrono::Duration::hours(1))),
            "at",
        ),
        (|r| r.signer_email = "nobody".into(), "signer_email"),
        (|r| r.envelope_id.clear(), "envelope_id"),
    ];
    for (edit, field) in table {
        let mut r = good.clone();
        edit(&mut r);
        assert_eq!(fields(&SignatureRecord::parse(&r, now).unwrap_err()), [*field]);
    }
}

#[test]
fn retention_and_hold_changes_check_their_fields() {
    let err = RetentionChange::parse(&SetRetentionRequest {
        idempotency_key: "k".into(),
        id: ID.into(),
        expected_version: 0,
        retain_until: "2033-13-01".into(),
    })
    .unwrap_err();
    assert_eq!(fields(&err), ["expected_version", "retain_until"]);

    let err = LegalHoldChange::parse(&SetLegalHoldRequest {
        idempotency_key: "k".into(),
        id: ID.into(),
        expected_version: 3,
        legal_hold: true,
        reason: String::new(),
    })
    .unwrap_err();
    assert_eq!(fields(&err), ["reason"]);

    let (_, lift) = LegalHoldChange::parse(&SetLegalHoldRequest {
        idempotency_key: "k".into(),
        id: ID.into(),
        expected_version: 3,
        legal_hold: false,
        reason: String::new(),
    })
    .unwrap();
    assert!(!lift.legal_hold);
}
