//! What every layer of Keel shares: checked domain primitives (money, ids, dates, text),
//! the one error type, and its one mapping to gRPC statuses and GraphQL errors.
//!
//! Input is parsed once, at the edge, into these types; inner code takes only checked values.

#![forbid(unsafe_code)]

pub mod error;
pub mod grpc;
pub mod ids;
pub mod money;
pub mod paging;
pub mod time;
pub mod validate;

pub use error::{Error, ErrorCode, FieldViolation, Result};
pub use money::{Currency, Money};
pub use validate::Violations;
