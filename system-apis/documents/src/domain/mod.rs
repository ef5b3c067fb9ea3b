//! Documents requests parsed once into checked values; every bad field is named as the proto
//! spells it (`signers[1].email`).
//!
//! Each checked value also rebuilds its canonical request ([`NewDocument::request`] and
//! friends), the fingerprint an adapter stores with the idempotency key.

pub mod retention;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
pub use keel_core::validate::parse_id;
use keel_core::{Error, Violations};
use keel_proto::documents::{
    AddVersionRequest, ApplyRetentionRequest, CreateDocumentRequest, DeleteDocumentRequest, DocumentType,
    ListDocumentsRequest, RecordSignatureRequest, SendForSignatureRequest, SetLegalHoldRequest, SetRetentionRequest,
    SignatureDecision, SignerInput,
};
use uuid::Uuid;

/// The largest content one version may hold (the gRPC receive limit is 4 MiB).
pub const MAX_CONTENT_BYTES: usize = 2 * 1024 * 1024;
/// The most signers one envelope may have.
pub const MAX_SIGNERS: usize = 10;
/// How far in the future a signature time may lie (clock skew with the signing provider).
pub const SIGNATURE_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// The longest media type accepted.
const MAX_CONTENT_TYPE_LEN: usize = 100;

/// A checked new document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    pub document_type: DocumentType,
    pub title: String,
    pub client_id: Uuid,
    pub project_id: Option<Uuid>,
}

impl NewDocument {
    pub fn parse(request: &CreateDocumentRequest) -> Result<(String, NewDocument), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let document_type = document_type(&mut v, "type", request.r#type, true);
        let title = v.required_text("title", &request.title);
        let client_id = v.uuid("client_id", &request.client_id);
        let project_id = optional_uuid(&mut v, "project_id", &request.project_id);
        v.finish()?;
        let (Some(document_type), Some(client_id)) = (document_type, client_id) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            NewDocument {
                document_type,
                title,
                client_id,
                project_id,
            },
        ))
    }

    /// The canonical request, for the idempotency fingerprint.
    pub fn request(&self, key: &str) -> CreateDocumentRequest {
        CreateDocumentRequest {
            idempotency_key: key.to_string(),
            r#type: self.document_type as i32,
            title: self.title.clone(),
            client_id: self.client_id.to_string(),
            project_id: self.project_id.map(|id| id.to_string()).unwrap_or_default(),
        }
    }
}

/// Which documents a list returns; every filter is optional and they combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub project_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub document_type: Option<DocumentType>,
}

impl DocumentFilter {
    pub fn parse(request: &ListDocumentsRequest) -> Result<DocumentFilter, Error> {
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", &request.project_id);
        let client_id = optional_uuid(&mut v, "client_id", &request.client_id);
        let document_type = document_type(&mut v, "type", request.r#type, false);
        v.finish()?;
        Ok(DocumentFilter {
            project_id,
            client_id,
            document_type,
        })
    }
}

/// A checked deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    pub id: Uuid,
    pub expected_version: i64,
}

impl Deletion {
    pub fn parse(request: &DeleteDocumentRequest) -> Result<(String, Deletion), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((key, Deletion { id, expected_version }))
    }

    pub fn request(&self, key: &str) -> DeleteDocumentRequest {
        DeleteDocumentRequest {
            idempotency_key: key.to_string(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
        }
    }
}

/// A checked new content version.
#[derive(Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub document_id: Uuid,
    pub expected_version: i64,
    pub file_name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for NewVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewVersion")
            .field("document_id", &self.document_id)
            .field("expected_version", &self.expected_version)
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("size_bytes", &self.content.len())
            .finish()
    }
}

impl NewVersion {
    pub fn parse(request: AddVersionRequest) -> Result<(String, NewVersion), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let document_id = v.uuid("document_id", &request.document_id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let file_name = v.required_text("file_name", &request.file_name);
        if file_name.contains(['/', '\\']) {
            v.add("file_name", "must be a file name without a path");
        }
        let content_type = content_type(&mut v, &request.content_type);
        if request.content.is_empty() {
            v.add("content", "must not be empty");
        } else if request.content.len() > MAX_CONTENT_BYTES {
            v.add(
                "content",
                format!(
                    "is {} bytes; a version holds at most {MAX_CONTENT_BYTES} bytes (2 MiB)",
                    request.content.len()
                ),
            );
        }
        v.finish()?;
        let document_id = document_id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((
            key,
            NewVersion {
                document_id,
                expected_version,
                file_name,
                content_type,
                content: request.content,
            },
        ))
    }

    pub fn request(&self, key: &str) -> AddVersionRequest {
        AddVersionRequest {
            idempotency_key: key.to_string(),
            document_id: self.document_id.to_string(),
            expected_version: self.expected_version,
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
            content: self.content.clone(),
        }
    }
}

/// A checked new retention date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionChange {
    pub id: Uuid,
    pub expected_version: i64,
    pub retain_until: NaiveDate,
}

impl RetentionChange {
    pub fn parse(request: &SetRetentionRequest) -> Result<(String, RetentionChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let retain_until = v.date("retain_until", &request.retain_until);
        v.finish()?;
        let (Some(id), Some(retain_until)) = (id, retain_until) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            RetentionChange {
                id,
                expected_version,
                retain_until,
            },
        ))
    }

    pub fn request(&self, key: &str) -> SetRetentionRequest {
        SetRetentionRequest {
            idempotency_key: key.to_string(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            retain_until: self.retain_until.to_string(),
        }
    }
}

/// A checked legal hold placed or lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHoldChange {
    pub id: Uuid,
    pub expected_version: i64,
    pub legal_hold: bool,
    /// Why the hold is placed; empty when lifting.
    pub reason: String,
}

impl LegalHoldChange {
    pub fn parse(request: &SetLegalHoldRequest) -> Result<(String, LegalHoldChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let reason = if request.legal_hold {
            v.required_text("reason", &request.reason)
        } else {
            v.optional_text("reason", &request.reason)
        };
        v.finish()?;
        let id = id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((
            key,
            LegalHoldChange {
                id,
                expected_version,
                legal_hold: request.legal_hold,
                reason,
            },
        ))
    }

    pub fn request(&self, key: &str) -> SetLegalHoldRequest {
        SetLegalHoldRequest {
            idempotency_key: key.to_string(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            legal_hold: self.legal_hold,
            reason: self.reason.clone(),
        }
    }
}

/// A checked project close-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectCloseOut {
    pub project_id: Uuid,
    pub close_date: NaiveDate,
}

impl ProjectCloseOut {
    pub fn parse(request: &ApplyRetentionRequest) -> Result<(String, ProjectCloseOut), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let close_date = v.date("close_date", &request.close_date);
        v.finish()?;
        let (Some(project_id), Some(close_date)) = (project_id, close_date) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((key, ProjectCloseOut { project_id, close_date }))
    }

    pub fn request(&self, key: &str) -> ApplyRetentionRequest {
        ApplyRetentionRequest {
            idempotency_key: key.to_string(),
            project_id: self.project_id.to_string(),
            close_date: self.close_date.to_string(),
        }
    }
}

/// One checked signer: a name and a lower-cased e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigner {
    pub name: String,
    pub email: String,
}

/// A checked envelope to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnvelope {
    pub document_id: Uuid,
    pub signers: Vec<NewSigner>,
}

impl NewEnvelope {
    pub fn parse(request: &SendForSignatureRequest) -> Result<(String, NewEnvelope), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let document_id = v.uuid("document_id", &request.document_id);
        if request.signers.is_empty() {
            v.add("signers", "must name at least one signer");
        } else if request.signers.len() > MAX_SIGNERS {
            v.add("signers", format!("must name at most {MAX_SIGNERS} signers"));
        }
        let mut signers: Vec<NewSigner> = Vec::with_capacity(request.signers.len());
        for (i, signer) in request.signers.iter().enumerate() {
            let name = v.required_text(&format!("signers[{i}].name"), &signer.name);
            let email = email(&mut v, &format!("signers[{i}].email"), &signer.email);
            if !email.is_empty() && signers.iter().any(|s| s.email == email) {
                v.add(format!("signers[{i}].email"), format!("{email} is already a signer"));
            }
            signers.push(NewSigner { name, email });
        }
        v.finish()?;
        let document_id = document_id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((key, NewEnvelope { document_id, signers }))
    }

    pub fn request(&self, key: &str) -> SendForSignatureRequest {
        SendForSignatureRequest {
            idempotency_key: key.to_string(),
            document_id: self.document_id.to_string(),
            signers: self
                .signers
                .iter()
                .map(|s| SignerInput {
                    name: s.name.clone(),
                    email: s.email.clone(),
                })
                .collect(),
        }
    }
}

/// What a signer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Signed,
    Declined { reason: String },
}

/// A checked signature (or refusal to sign).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    pub envelope_id: Uuid,
    pub signer_email: String,
    pub decision: Decision,
    /// When the signer acted, to the microsecond.
    pub at: DateTime<Utc>,
}

impl SignatureRecord {
    /// `now` bounds `at`: a signature may not lie more than [`SIGNATURE_CLOCK_SKEW`] ahead.
    pub fn parse(request: &RecordSignatureRequest, now: DateTime<Utc>) -> Result<(String, SignatureRecord), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let envelope_id = v.uuid("envelope_id", &request.envelope_id);
        let signer_email = email(&mut v, "signer_email", &request.signer_email);
        let decision = match SignatureDecision::try_from(request.decision) {
            Ok(SignatureDecision::Signed) => {
                v.optional_text("decline_reason", &request.decline_reason);
                Some(Decision::Signed)
            }
            Ok(SignatureDecision::Declined) => Some(Decision::Declined {
                reason: v.required_text("decline_reason", &request.decline_reason),
            }),
            _ => {
                v.add(
                    "decision",
                    "must be SIGNATURE_DECISION_SIGNED or SIGNATURE_DECISION_DECLINED",
                );
                None
            }
        };
        let at = match request.at.as_ref().map(|t| (t.seconds, t.nanos)) {
            None => {
                v.add("at", "is required: when the signer signed or declined");
                None
            }
            Some((seconds, nanos)) => match u32::try_from(nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(seconds, nanos))
            {
                None => {
                    v.add("at", "is not a valid timestamp");
                    None
                }
                Some(at) if at > now + SIGNATURE_CLOCK_SKEW => {
                    v.add("at", "must not be in the future");
                    None
                }
                Some(at) => Some(at.trunc_subsecs(6)),
            },
        };
        v.finish()?;
        let (Some(envelope_id), Some(decision), Some(at)) = (envelope_id, decision, at) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            SignatureRecord {
                envelope_id,
                signer_email,
                decision,
                at,
            },
        ))
    }

    pub fn request(&self, key: &str) -> RecordSignatureRequest {
        let (decision, decline_reason) = match &self.decision {
            Decision::Signed => (SignatureDecision::Signed, String::new()),
            Decision::Declined { reason } => (SignatureDecision::Declined, reason.clone()),
        };
        RecordSignatureRequest {
            idempotency_key: key.to_string(),
            envelope_id: self.envelope_id.to_string(),
            signer_email: self.signer_email.clone(),
            decision: decision as i32,
            at: Some(keel_core::time::to_timestamp(self.at)),
            decline_reason,
        }
    }
}

fn optional_uuid(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    if value.trim().is_empty() {
        None
    } else {
        v.uuid(field, value)
    }
}

fn expected_version(v: &mut Violations, value: i64) -> i64 {
    if value < 1 {
        v.add("expected_version", "must be the version you read (1 or more)");
    }
    value
}

fn document_type(v: &mut Violations, field: &str, value: i32, required: bool) -> Option<DocumentType> {
    match DocumentType::try_from(value) {
        Ok(DocumentType::Unspecified) if !required => None,
        Ok(DocumentType::Unspecified) => {
            v.add(field, "is required: SOW, CHANGE_ORDER, INVOICE_BACKUP or OTHER");
            None
        }
        Ok(t) => Some(t),
        Err(_) => {
            v.add(field, format!("{value} is not a document type"));
            None
        }
    }
}

fn content_type(v: &mut Violations, value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    let valid = value.len() <= MAX_CONTENT_TYPE_LEN
        && value.split_once('/').is_some_and(|(kind, sub)| {
            let token =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
            token(kind) && token(sub)
        });
    if !valid {
        v.add("content_type", "must be a media type such as application/pdf");
    }
    value
}

/// A lower-cased address of the form `local@domain.tld`.
fn email(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim().to_lowercase();
    let valid = value.chars().count() <= keel_core::validate::MAX_TEXT_LEN
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !valid {
        v.add(field, "must be an e-mail address");
    }
    value
}

#[cfg(test)]
mod tests;
