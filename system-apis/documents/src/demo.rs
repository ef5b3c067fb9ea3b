//! A believable document set for `keel up --demo`: the signed-off paperwork of one demo
//! project (its SOW, a change order, invoice backup), each with a first version.
//!
//! Idempotency keys are fixed, so seeding twice changes nothing. The client and project ids
//! come from the demo CRM account and PSA project, which this crate does not know.

use keel_proto::documents::{
    AddVersionRequest, CreateDocumentRequest, DocumentType, SendForSignatureRequest, SignerInput,
};

/// A demo document and its first version (`document_id` filled in once the document exists;
/// `expected_version` is 1, a new document's version).
#[derive(Debug, Clone)]
pub struct DemoDocument {
    pub document: CreateDocumentRequest,
    pub first_version: AddVersionRequest,
}

/// The documents of the demo project `project_id` for client `client_id`.
pub fn project_documents(client_id: &str, project_id: &str) -> Vec<DemoDocument> {
    let document =
        |key: &str, document_type: DocumentType, title: &str, file_name: &str, content_type: &str, body: &str| {
            DemoDocument {
                document: CreateDocumentRequest {
                    idempotency_key: format!("demo-document-{key}"),
                    r#type: document_type as i32,
                    title: title.into(),
                    client_id: client_id.into(),
                    project_id: project_id.into(),
                },
                first_version: AddVersionRequest {
                    idempotency_key: format!("demo-document-{key}-v1"),
                    document_id: String::new(),
                    expected_version: 1,
                    file_name: file_name.into(),
                    content_type: content_type.into(),
                    content: body.as_bytes().to_vec(),
                },
            }
        };
    vec![
        document(
            "northwind-sow",
            DocumentType::Sow,
            "Northwind S/4 finance rollout — Statement of Work SOW-2026-118",
            "SOW-2026-118.txt",
            "text/plain",
            "STATEMENT OF WORK SOW-2026-118\n\
             Client: Northwind Logistics GmbH\n\
             Scope: S/4HANA finance rollout across 4 legal entities (DE, NL, PL, CZ).\n\
             Fees: fixed fee EUR 1,250,000.00, invoiced on 5 milestones.\n\
             Term: 2026-12-01 to 2027-09-30.\n",
        ),
        document(
            "northwind-co1",
            DocumentType::ChangeOrder,
            "Northwind change order CO-01 — add intercompany reconciliation",
            "SOW-2026-118-CO-01.txt",
            "text/plain",
            "CHANGE ORDER CO-01 to SOW-2026-118\n\
             Adds intercompany reconciliation for 2 further entities.\n\
             Fee change: + EUR 85,000.00 fixed. Milestone 4 moves to 2027-07-15.\n",
        ),
        document(
            "northwind-backup-m1",
            DocumentType::InvoiceBackup,
            "Northwind milestone 1 invoice backup — blueprint sign-off",
            "INV-2027-0007-backup.csv",
            "text/csv",
            "milestone,evidence,accepted_by,accepted_on\n\
             1,Blueprint workshop minutes,Ada Lindqvist,2027-01-29\n",
        ),
    ]
}

/// The SOW's signature round: the client's CFO and the firm's engagement partner.
pub fn sow_signature(document_id: &str) -> SendForSignatureRequest {
    SendForSignatureRequest {
        idempotency_key: "demo-document-northwind-sow-signature".into(),
        document_id: document_id.into(),
        signers: vec![
            SignerInput {
                name: "Ada Lindqvist (CFO, Northwind Logistics)".into(),
                email: "ada.lindqvist@northwind.example".into(),
            },
            SignerInput {
                name: "Marcus Hale (Engagement Partner)".into(),
                email: "marcus.hale@keel-consulting.example".into(),
            },
        ],
    }
}
