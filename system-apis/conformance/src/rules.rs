//! The rules every system API follows, as reusable assertions over gRPC answers.
//!
//! Each returns `Err` with a sentence an integrator can act on.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::harness::describe;
use crate::kit::CheckResult;
pub use crate::kit::Outcome;

/// The default page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The most records one page may hold.
pub const MAX_PAGE_SIZE: usize = 100;

/// The value of a call that should have succeeded.
pub fn ok<T>(result: Result<T, Status>, what: &str) -> Result<T, String> {
    result.map_err(|status| format!("{what} failed: {}", describe(&status)))
}

/// The status of a call that should have failed.
pub fn refused<T: Debug>(result: Result<T, Status>, what: &str) -> Result<Status, String> {
    match result {
        Ok(value) => Err(format!("{what} succeeded but should have been refused: {value:?}")),
        Err(status) => Ok(status),
    }
}

/// `Err` unless `condition` holds.
pub fn ensure(condition: bool, why: impl FnOnce() -> String) -> CheckResult {
    if condition { Ok(()) } else { Err(why()) }
}

/// `status` has `code`.
pub fn expect_code(status: &Status, code: Code, what: &str) -> CheckResult {
    ensure(status.code() == code, || {
        format!("{what}: expected {code:?}, got {}", describe(status))
    })
}

/// `INVALID_ARGUMENT` whose field violations name `field`.
pub fn expect_field(status: &Status, field: &str) -> CheckResult {
    expect_code(status, Code::InvalidArgument, &format!("bad {field}"))?;
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|br| br.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    ensure(fields.iter().any(|f| f == field), || {
        format!("bad {field}: the field violations name {fields:?}, not {field}")
    })
}

/// `INVALID_ARGUMENT` with reason `key_mismatch`.
pub fn expect_key_mismatch(status: &Status) -> CheckResult {
    expect_code(status, Code::InvalidArgument, "a reused idempotency key")?;
    let reason = status.get_details_error_info().map(|i| i.reason).unwrap_or_default();
    ensure(reason == keel_core::error::KEY_MISMATCH, || {
        format!("a reused idempotency key: expected reason key_mismatch, got {reason:?}")
    })
}

/// `ABORTED` naming the record.
pub fn expect_stale(status: &Status, record: &str) -> CheckResult {
    expect_code(status, Code::Aborted, "a stale update")?;
    ensure(status.message().contains(record), || {
        format!(
            "a stale update: the message {:?} does not name {record}",
            status.message()
        )
    })
}

/// `UNIMPLEMENTED` with a message, the answer for an operation an adapter cannot do.
pub fn expect_not_supported(status: &Status) -> CheckResult {
    expect_code(status, Code::Unimplemented, "an unsupported operation")?;
    ensure(!status.message().is_empty(), || {
        "an unsupported operation: UNIMPLEMENTED without a message".to_string()
    })
}

/// The same call twice returns the same answer.
pub async fn replay_returns_first<T, F, Fut>(call: F, what: &str) -> Result<T, String>
where
    T: PartialEq + Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let first = ok(call().await, what)?;
    let again = ok(call().await, &format!("{what} replayed with the same key"))?;
    ensure(first == again, || {
        format!("{what} replayed with the same key returned {again:?}, not the first answer {first:?}")
    })?;
    Ok(first)
}

/// `n` concurrent calls with one key all get one answer (a call told to retry with
/// `UNAVAILABLE` or `ABORTED` is allowed; a different answer is not).
pub async fn concurrent_calls_agree<T, F, Fut>(n: usize, call: F, what: &str) -> Result<T, String>
where
    T: PartialEq + Debug + Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(call())).collect();
    let mut answers = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(answer)) => answers.push(answer),
            Ok(Err(status)) if matches!(status.code(), Code::Unavailable | Code::Aborted) => {}
            Ok(Err(status)) => return Err(format!("{what} (concurrent, one key) failed: {}", describe(&status))),
            Err(join) => return Err(format!("{what} (concurrent, one key) panicked: {join}")),
        }
    }
    let mut answers = answers.into_iter();
    let first = answers
        .next()
        .ok_or_else(|| format!("{what}: none of {n} concurrent calls with one key succeeded"))?;
    for other in answers {
        ensure(other == first, || {
            format!("{what}: concurrent calls with one key answered {first:?} and {other:?}")
        })?;
    }
    Ok(first)
}

/// Paging over a list that holds at least `seeded` (more than [`MAX_PAGE_SIZE`] ids):
/// no size means [`DEFAULT_PAGE_SIZE`], a larger size is capped at [`MAX_PAGE_SIZE`], and
/// following tokens visits every record once.
///
/// `list(page_size, page_token)` returns the ids on the page and the next token.
pub async fn paging<F, Fut>(list: F, seeded: &[String]) -> CheckResult
where
    F: Fn(u32, String) -> Fut,
    Fut: Future<Output = Result<(Vec<String>, String), Status>>,
{
    ensure(seeded.len() > MAX_PAGE_SIZE, || {
        format!(
            "the paging check needs more than {MAX_PAGE_SIZE} records, got {}",
            seeded.len()
        )
    })?;
    let (first, token) = ok(list(0, String::new()).await, "a list without a page size")?;
    ensure(first.len() == DEFAULT_PAGE_SIZE && !token.is_empty(), || {
        format!(
            "a list without a page size returned {} records (token {:?}); expected {DEFAULT_PAGE_SIZE} and a token",
            first.len(),
            token
        )
    })?;
    let (capped, token) = ok(list(1000, String::new()).await, "a list asking for 1000")?;
    ensure(capped.len() == MAX_PAGE_SIZE && !token.is_empty(), || {
        format!(
            "a list asking for 1000 returned {} records; expected the cap of {MAX_PAGE_SIZE} and a token",
            capped.len()
        )
    })?;

    let mut seen = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (ids, next) = ok(list(37, token.clone()).await, "a list following its page token")?;
        ensure(ids.len() <= 37, || format!("a page of 37 returned {}", ids.len()))?;
        for id in ids {
            ensure(seen.insert(id.clone()), || format!("record {id} appeared on two pages"))?;
        }
        pages += 1;
        ensure(pages < 10_000, || "page tokens never ran out".to_string())?;
        if next.is_empty() {
            break;
        }
        token = next;
    }
    let missing: Vec<&String> = seeded.iter().filter(|id| !seen.contains(*id)).collect();
    ensure(missing.is_empty(), || {
        format!(
            "following page tokens missed {} records, e.g. {:?}",
            missing.len(),
            missing.first()
        )
    })?;
    match list(10, "not-a-token!".to_string()).await {
        Ok(_) => Err("a malformed page token was accepted".to_string()),
        Err(status) => expect_field(&status, "page.page_token"),
    }
}

/// A fresh idempotency key.
pub fn key(label: &str) -> String {
    format!("conformance-{label}-{}", uuid::Uuid::new_v4())
}
