//! Keel's error type and its one mapping to each edge.
//!
//! Every crate returns [`Error`]. The gRPC edge turns it into a `tonic::Status` (with
//! `google.rpc.BadRequest` field violations for bad input); the GraphQL edge turns it into an
//! error whose `extensions.code` is the stable [`ErrorCode`]. A `tonic::Status` coming back
//! from a downstream service converts to the same [`Error`], field violations included, so a
//! GraphQL caller sees the field that a system API rejected.
//!
//! Internal causes are logged with their chain and never sent to a client.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One rejected input field: the field path as the caller spelled it (`amount.currency`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// Stable, documented error codes (docs/errors.md). They are the GraphQL `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    BadUserInput,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Conflict,
    Unauthenticated,
    Forbidden,
    Unavailable,
    NotSupported,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::NotSupported => "NOT_SUPPORTED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error every Keel crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that breaks a rule; names every field at fault.
    #[error("invalid input: {}", join(.0))]
    InvalidInput(Vec<FieldViolation>),
    /// The record does not exist; the message names it (see [`Error::not_found`]).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The record is not in a state that allows the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's copy of a record is stale: someone changed it since it was read (see
    /// [`Error::stale`]). Read it again and retry.
    #[error("{0}")]
    Aborted(String),
    /// An idempotency key already used for a different request. gRPC `INVALID_ARGUMENT` with
    /// reason `key_mismatch` and a field violation on `idempotency_key`.
    /// Build it with [`Error::key_mismatch`].
    #[error("{0}")]
    KeyMismatch(FieldViolation),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A dependency is down or timed out; the call may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// The adapter behind a system API cannot do this operation (see
    /// [`Error::not_supported`]).
    #[error("{0}")]
    NotSupported(String),
    /// A fault inside Keel. The cause is logged, never shown to a caller.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The field every mutating request carries its idempotency key in.
const KEY_FIELD: &str = "idempotency_key";
/// `google.rpc.ErrorInfo.reason` of [`Error::KeyMismatch`].
pub const KEY_MISMATCH: &str = "key_mismatch";
/// `google.rpc.ErrorInfo.domain` of Keel's reasons.
pub const ERROR_DOMAIN: &str = "keel";

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidInput(vec![FieldViolation::new(field, description)])
    }

    /// `<what> <id> was not found`.
    pub fn not_found(what: &str, id: impl Into<String>) -> Self {
        Error::NotFound(format!("{what} {} was not found", id.into()))
    }

    /// `<operation> is not supported by this adapter`.
    pub fn not_supported(operation: &str) -> Self {
        Error::NotSupported(format!("{operation} is not supported by this adapter"))
    }

    /// The idempotency key was already used for a different request.
    pub fn key_mismatch(description: impl Into<String>) -> Self {
        Error::KeyMismatch(FieldViolation::new(KEY_FIELD, description))
    }

    /// `<what> <id> was changed since version <expected> was read (now <actual>)`.
    pub fn stale(what: &str, id: impl Into<String>, expected: i64, actual: i64) -> Self {
        Error::Aborted(format!(
            "{what} {} was changed since version {expected} was read (it is now at version {actual}); read it again and retry",
            id.into()
        ))
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(cause.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidInput(_) => ErrorCode::BadUserInput,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Error::Aborted(_) => ErrorCode::Conflict,
            Error::KeyMismatch(_) => ErrorCode::BadUserInput,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::NotSupported(_) => ErrorCode::NotSupported,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field violations of an [`Error::InvalidInput`] (or the key of an
    /// [`Error::KeyMismatch`]); empty otherwise.
    pub fn field_violations(&self) -> &[FieldViolation] {
        match self {
            Error::InvalidInput(v) => v,
            Error::KeyMismatch(v) => std::slice::from_ref(v),
            _ => &[],
        }
    }

    /// The machine-readable reason a caller can branch on, where there is one
    /// (`key_mismatch`).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::KeyMismatch(_) => Some(KEY_MISMATCH),
            _ => None,
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// The message a caller may see. Internal causes are replaced by a fixed text.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    fn log_if_internal(&self) {
        if let Error::Internal(cause) = self {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(error.chain = %chain, "internal error");
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        error.log_if_internal();
        let message = error.public_message();
        match &error {
            Error::InvalidInput(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound(_) => Status::not_found(message),
            Error::AlreadyExists(_) => Status::already_exists(message),
            Error::KeyMismatch(violation) => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
                details.set_error_info(KEY_MISMATCH, ERROR_DOMAIN, std::collections::HashMap::new());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::FailedPrecondition(_) => Status::failed_precondition(message),
            Error::Aborted(_) => Status::aborted(message),
            Error::Unauthenticated(_) => Status::unauthenticated(message),
            Error::Forbidden(_) => Status::permission_denied(message),
            Error::Unavailable(_) => Status::unavailable(message),
            Error::NotSupported(_) => Status::unimplemented(message),
            Error::Internal(_) => Status::internal(message),
        }
    }
}

impl From<Status> for Error {
    /// A downstream service's answer, read back into Keel's error (field violations kept).
    fn from(status: Status) -> Error {
        let message = status.message().to_string();
        match status.code() {
            Code::InvalidArgument
                if status
                    .get_details_error_info()
                    .is_some_and(|info| info.reason == KEY_MISMATCH) =>
            {
                let description = status
                    .get_details_bad_request()
                    .and_then(|br| br.field_violations.into_iter().next())
                    .map(|v| v.description)
                    .unwrap_or(message);
                Error::key_mismatch(description)
            }
            Code::InvalidArgument | Code::OutOfRange => {
                let violations: Vec<FieldViolation> = status
                    .get_details_bad_request()
                    .map(|br| {
                        br.field_violations
                            .into_iter()
                            .map(|v| FieldViolation::new(v.field, v.description))
                            .collect()
                    })
                    .unwrap_or_default();
                if violations.is_empty() {
                    Error::InvalidInput(vec![FieldViolation::new("request", message)])
                } else {
                    Error::InvalidInput(violations)
                }
            }
            Code::NotFound => Error::NotFound(message),
            Code::AlreadyExists => Error::AlreadyExists(message),
            Code::FailedPrecondition => Error::FailedPrecondition(message),
            Code::Aborted => Error::Aborted(message),
            Code::Unauthenticated => Error::Unauthenticated(message),
            Code::PermissionDenied => Error::Forbidden(message),
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Cancelled => {
                Error::Unavailable(format!("{}: {message}", status.code().description()))
            }
            Code::Unimplemented => Error::NotSupported(message),
            // Made on this side from a transport error (the status carries its source): the
            // connection broke mid-call, say because the service was killed, so the call's
            // outcome is unknown and it may be retried under its idempotency key. A service's
            // own INTERNAL or UNKNOWN answer arrives without a source and stays internal.
            Code::Internal | Code::Unknown if std::error::Error::source(&status).is_some() => {
                Error::Unavailable(format!("the call was cut off: {message}"))
            }
            _ => Error::internal(format!("downstream {:?}: {message}", status.code())),
        }
    }
}

impl async_graphql::ErrorExtensions for Error {
    /// The GraphQL error: the public message, `extensions.code`, and for bad input
    /// `extensions.fieldViolations`. Resolvers return `Err(error.extend())`.
    fn extend(&self) -> async_graphql::Error {
        let error = self;
        error.log_if_internal();
        let code = error.code();
        let message = error.public_message();
        let violations = error.field_violations().to_vec();
        let reason = error.reason();
        async_graphql::ErrorExtensions::extend_with(async_graphql::Error::new(message), |_, ext| {
            ext.set("code", code.as_str());
            if let Some(reason) = reason {
                ext.set("reason", reason);
            }
            if !violations.is_empty() {
                let fields: Vec<async_graphql::Value> = violations
                    .iter()
                    .map(|v| {
                        let mut obj = async_graphql::indexmap::IndexMap::new();
                        obj.insert(
                            async_graphql::Name::new("field"),
                            async_graphql::Value::from(v.field.clone()),
                        );
                        obj.insert(
                            async_graphql::Name::new("description"),
                            async_graphql::Value::from(v.description.clone()),
                        );
                        async_graphql::Value::Object(obj)
                    })
                    .collect();
                ext.set("fieldViolations", async_graphql::Value::List(fields));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_round_trips_through_grpc_with_its_fields() {
        let error = Error::InvalidInput(vec![
            FieldViolation::new("name", "must not be empty"),
            FieldViolation::new("amount.currency", "\"XYZ\" is not an ISO 4217 currency"),
        ]);
        let status = Status::from(error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("name: must not be empty"));

        let back = Error::from(status);
        assert_eq!(back.code(), ErrorCode::BadUserInput);
        let fields: Vec<_> = back.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["name", "amount.currency"]);
    }

    #[test]
    fn each_error_maps_to_its_grpc_code_and_graphql_code() {
        let table = [
            (Error::not_found("project", "p1"), Code::NotFound, "NOT_FOUND"),
            (
                Error::AlreadyExists("dup".into()),
                Code::AlreadyExists,
                "ALREADY_EXISTS",
            ),
            (
                Error::FailedPrecondition("state".into()),
                Code::FailedPrecondition,
                "FAILED_PRECONDITION",
            ),
            (
                Error::Unauthenticated("no token".into()),
                Code::Unauthenticated,
                "UNAUTHENTICATED",
            ),
            (Error::stale("project", "p1", 2, 3), Code::Aborted, "CONFLICT"),
            (Error::key_mismatch("reused"), Code::InvalidArgument, "BAD_USER_INPUT"),
            (Error::Forbidden("role".into()), Code::PermissionDenied, "FORBIDDEN"),
            (Error::Unavailable("erp down".into()), Code::Unavailable, "UNAVAILABLE"),
            (
                Error::NotSupported("invoices".into()),
                Code::Unimplemented,
                "NOT_SUPPORTED",
            ),
            (Error::internal("disk full"), Code::Internal, "INTERNAL"),
        ];
        for (error, grpc, graphql) in table {
            assert_eq!(error.code().as_str(), graphql);
            assert_eq!(Status::from(error).code(), grpc);
        }
    }

    #[test]
    fn internal_causes_never_reach_the_caller() {
        let status = Status::from(Error::internal("password=hunter2 in connection string"));
        assert!(!status.message().contains("hunter2"));
        let gql = async_graphql::ErrorExtensions::extend(&Error::internal("password=hunter2"));
        assert!(!gql.message.contains("hunter2"));
    }

    #[test]
    fn graphql_error_carries_code_and_field_violations() {
        let gql = async_graphql::ErrorExtensions::extend(&Error::invalid("amount", "must not be negative"));
        let ext = gql.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("BAD_USER_INPUT")));
        let json = serde_json::to_value(ext.get("fieldViolations").unwrap()).unwrap();
        assert_eq!(json[0]["field"], "amount");
    }

    #[test]
    fn a_downstream_message_is_passed_on_once() {
        let status = Status::from(Error::not_found("project", "p1"));
        let back = Error::from(status);
        assert_eq!(back.to_string(), "project p1 was not found");
        let back = Error::from(Status::from(Error::not_supported("invoices")));
        assert_eq!(back.to_string(), "invoices is not supported by this adapter");
    }

    #[test]
    fn a_key_mismatch_keeps_its_reason_across_grpc() {
        let status = Status::from(Error::key_mismatch("was used for another request"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.get_details_error_info().unwrap().reason, "key_mismatch");
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "idempotency_key"
        );
        let back = Error::from(status);
        assert_eq!(back.reason(), Some("key_mismatch"));
        assert_eq!(back.field_violations()[0].field, "idempotency_key");
    }

    #[test]
    fn a_stale_update_names_the_record_and_stays_aborted() {
        let back = Error::from(Status::from(Error::stale("project", "p1", 2, 3)));
        assert!(matches!(back, Error::Aborted(_)));
        assert!(back.to_string().contains("project p1"), "{back}");
    }

    #[test]
    fn deadline_and_unavailable_are_transient() {
        assert!(Error::from(Status::deadline_exceeded("slow")).is_transient());
        assert!(Error::from(Status::unavailable("down")).is_transient());
        assert!(!Error::from(Status::invalid_argument("bad")).is_transient());
    }

    #[test]
    fn a_call_cut_off_by_a_broken_connection_is_transient_and_a_served_internal_error_is_not() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let cut = Status::from_error(Box::new(reset));
        assert!(matches!(cut.code(), Code::Unknown | Code::Internal), "{cut:?}");
        let error = Error::from(cut);
        assert!(error.is_transient(), "{error:?}");
        assert!(error.to_string().contains("connection reset"), "{error}");

        let served = Error::from(Status::internal("the service failed"));
        assert!(!served.is_transient(), "{served:?}");
        let unknown = Error::from(Status::unknown("the service failed"));
        assert!(!unknown.is_transient(), "{unknown:?}");
    }
}
