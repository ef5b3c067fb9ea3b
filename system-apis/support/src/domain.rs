//! Support requests parsed once into checked values, and the ticket rules (status
//! transitions, escalation) as pure functions.

use keel_core::{Error, Violations};
use keel_proto::support::{
    ChangeTicketStatusRequest, EscalateTicketRequest, ListTicketsRequest, OpenTicketRequest, Severity, TicketStatus,
};
use uuid::Uuid;

/// The longest ticket description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 10_000;
/// The longest escalation reason, in characters.
pub const MAX_REASON_LEN: usize = 2_000;

/// Whether a ticket may move from `from` to `to`:
///
/// | from        | to                          |
/// |-------------|-----------------------------|
/// | OPEN        | IN_PROGRESS, RESOLVED, CLOSED |
/// | IN_PROGRESS | OPEN, RESOLVED              |
/// | RESOLVED    | OPEN (reopened), CLOSED     |
/// | CLOSED      | nothing                     |
pub fn transition_allowed(from: TicketStatus, to: TicketStatus) -> bool {
    use TicketStatus::*;
    matches!(
        (from, to),
        (Open, InProgress | Resolved | Closed) | (InProgress, Open | Resolved) | (Resolved, Open | Closed)
    )
}

/// Whether a ticket in `status` counts as open (not yet resolved or closed).
pub fn is_open(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Open | TicketStatus::InProgress)
}

/// The severity one level up; CRITICAL stays CRITICAL.
pub fn raised(severity: Severity) -> Severity {
    match severity {
        Severity::Unspecified | Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// The lower-case name used in audit details (`in_progress`).
pub fn status_name(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Unspecified => "unspecified",
        TicketStatus::Open => "open",
        TicketStatus::InProgress => "in_progress",
        TicketStatus::Resolved => "resolved",
        TicketStatus::Closed => "closed",
    }
}

/// The lower-case name used in audit details (`critical`).
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Unspecified => "unspecified",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// A checked new ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub account_id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub severity: Severity,
}

impl NewTicket {
    pub fn parse(request: &OpenTicketRequest) -> Result<(String, NewTicket), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let account_id = v.uuid("account_id", &request.account_id);
        let project_id = v.uuid("project_id", &request.project_id);
        let title = v.required_text("title", &request.title);
        let description = long_text(&mut v, "description", &request.description, false, MAX_DESCRIPTION_LEN);
        let severity = required_severity(&mut v, "severity", request.severity);
        v.finish()?;
        let (Some(account_id), Some(project_id), Some(severity)) = (account_id, project_id, severity) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            NewTicket {
                account_id,
                project_id,
                title,
                description,
                severity,
            },
        ))
    }

    /// The request in canonical form (the idempotency fingerprint).
    pub fn to_request(&self, idempotency_key: &str) -> OpenTicketRequest {
        OpenTicketRequest {
            idempotency_key: idempotency_key.to_string(),
            account_id: self.account_id.to_string(),
            project_id: self.project_id.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            severity: self.severity as i32,
        }
    }
}

/// A checked status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub id: Uuid,
    pub status: TicketStatus,
    pub expected_version: i64,
}

impl StatusChange {
    pub fn parse(request: &ChangeTicketStatusRequest) -> Result<(String, StatusChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let status = match TicketStatus::try_from(request.status) {
            Ok(TicketStatus::Unspecified) => {
                v.add("status", "is required: OPEN, IN_PROGRESS, RESOLVED or CLOSED");
                None
            }
            Ok(status) => Some(status),
            Err(_) => {
                v.add("status", format!("{} is not a ticket status", request.status));
                None
            }
        };
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let (Some(id), Some(status)) = (id, status) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            StatusChange {
                id,
                status,
                expected_version,
            },
        ))
    }

    pub fn to_request(&self, idempotency_key: &str) -> ChangeTicketStatusRequest {
        ChangeTicketStatusRequest {
            idempotency_key: idempotency_key.to_string(),
            id: self.id.to_string(),
            status: self.status as i32,
            expected_version: self.expected_version,
        }
    }
}

/// A checked escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub id: Uuid,
    pub reason: String,
    pub expected_version: i64,
}

impl Escalation {
    pub fn parse(request: &EscalateTicketRequest) -> Result<(String, Escalation), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let reason = long_text(&mut v, "reason", &request.reason, true, MAX_REASON_LEN);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((
            key,
            Escalation {
                id,
                reason,
                expected_version,
            },
        ))
    }

    pub fn to_request(&self, idempotency_key: &str) -> EscalateTicketRequest {
        EscalateTicketRequest {
            idempotency_key: idempotency_key.to_string(),
            id: self.id.to_string(),
            reason: self.reason.clone(),
            expected_version: self.expected_version,
        }
    }
}

/// Checked list filters; `None` means any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub project_id: Option<Uuid>,
    pub status: Option<TicketStatus>,
    /// Tickets at this severity or above.
    pub minimum_severity: Option<Severity>,
}

impl TicketFilter {
    pub fn parse(request: &ListTicketsRequest) -> Result<TicketFilter, Error> {
        let mut v = Violations::new();
        let project_id = if request.project_id.trim().is_empty() {
            None
        } else {
            v.uuid("project_id", &request.project_id)
        };
        let status = match TicketStatus::try_from(request.status) {
            Ok(TicketStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => {
                v.add("status", format!("{} is not a ticket status", request.status));
                None
            }
        };
        let minimum_severity = match Severity::try_from(request.minimum_severity) {
            Ok(Severity::Unspecified) => None,
            Ok(severity) => Some(severity),
            Err(_) => {
                v.add(
                    "minimum_severity",
                    format!("{} is not a severity", request.minimum_severity),
                );
                None
            }
        };
        v.finish()?;
        Ok(TicketFilter {
            project_id,
            status,
            minimum_severity,
        })
    }
}

fn required_severity(v: &mut Violations, field: &str, value: i32) -> Option<Severity> {
    match Severity::try_from(value) {
        Ok(Severity::Unspecified) => {
            v.add(field, "is required: LOW, MEDIUM, HIGH or CRITICAL");
            None
        }
        Ok(severity) => Some(severity),
        Err(_) => {
            v.add(field, format!("{value} is not a severity"));
            None
        }
    }
}

/// Versions start at 1, so 0 (unset) or less names no version anyone read.
fn expected_version(v: &mut Violations, value: i64) -> i64 {
    if value < 1 {
        v.add("expected_version", "is required: the version you read (1 or more)");
    }
    value
}

/// Free text longer than names allow (descriptions, reasons), trimmed.
fn long_text(v: &mut Violations, field: &str, value: &str, required: bool, max: usize) -> String {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        v.add(field, "must not be empty");
    } else if trimmed.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";

    fn good() -> OpenTicketRequest {
        OpenTicketRequest {
            idempotency_key: "k".into(),
            account_id: ID.into(),
            project_id: ID.into(),
            title: " Invoices fail to post ".into(),
            description: "Since the cut-over, posting returns an error.".into(),
            severity: Severity::High as i32,
        }
    }

    fn fields(err: &Error) -> Vec<&str> {
        err.field_violations().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn every_transition_follows_the_table() {
        use TicketStatus::*;
        let all = [Open, InProgress, Resolved, Closed];
        let allowed = [
            (Open, InProgress),
            (Open, Resolved),
            (Open, Closed),
            (InProgress, Open),
            (InProgress, Resolved),
            (Resolved, Open),
            (Resolved, Closed),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    transition_allowed(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
            assert!(!transition_allowed(from, Unspecified));
        }
    }

    #[test]
    fn escalation_raises_one_level_and_stops_at_critical() {
        let table = [
            (Severity::Low, Severity::Medium),
            (Severity::Medium, Severity::High),
            (Severity::High, Severity::Critical),
            (Severity::Critical, Severity::Critical),
        ];
        for (from, to) in table {
            assert_eq!(raised(from), to);
        }
    }

    #[test]
    fn a_good_ticket_parses_trimmed() {
        let (key, ticket) = NewTicket::parse(&good()).unwrap();
        assert_eq!(key, "k");
        assert_eq!(ticket.title, "Invoices fail to post");
        assert_eq!(ticket.severity, Severity::High);
    }

    #[test]
    fn each_bad_ticket_field_is_named() {
        type Edit = fn(&mut OpenTicketRequest);
        let table: &[(Edit, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.account_id = "acme".into(), "account_id"),
            (|r| r.project_id.clear(), "project_id"),
            (|r| r.title = " ".into(), "title"),
            (|r| r.title = "t".repeat(201), "title"),
            (|r| r.description = "d".repeat(MAX_DESCRIPTION_LEN + 1), "description"),
            (|r| r.severity = 0, "severity"),
            (|r| r.severity = 7, "severity"),
        ];
        for (edit, field) in table {
            let mut r = good();
            edit(&mut r);
            let err = NewTicket::parse(&r).unwrap_err();
            assert_eq!(fields(&err), [*field]);
        }
        let mut r = good();
        r.description.clear();
        assert!(NewTicket::parse(&r).is_ok(), "a description may be empty");
    }

    #[test]
    fn changes_need_a_version_and_a_target() {
        let request = ChangeTicketStatusRequest {
            idempotency_key: "k".into(),
            id: ID.into(),
            status: 0,
            expected_version: 0,
        };
        assert_eq!(
            fields(&StatusChange::parse(&request).unwrap_err()),
            ["status", "expected_version"]
        );
        let request = EscalateTicketRequest {
            idempotency_key: "k".into(),
            id: "x".into(),
            reason: " ".into(),
            expected_version: -1,
        };
        assert_eq!(
            fields(&Escalation::parse(&request).unwrap_err()),
            ["id", "reason", "expected_version"]
        );
    }

    #[test]
    fn list_filters_are_optional_but_checked() {
        assert_eq!(
            TicketFilter::parse(&ListTicketsRequest::default()).unwrap(),
            TicketFilter::default()
        );
        let request = ListTicketsRequest {
            project_id: "p".into(),
            status: 9,
            minimum_severity: 9,
            ..Default::default()
        };
        assert_eq!(
            fields(&TicketFilter::parse(&request).unwrap_err()),
            ["project_id", "status", "minimum_severity"]
        );
    }
}
