//! Turning database errors into Keel errors: lost connections are transient, the rest is
//! internal and logged.

use keel_core::Error;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Maps a database error: a lost or unavailable connection is [`Error::Unavailable`] (the
/// caller may retry), anything else is [`Error::Internal`].
pub fn db_error(error: DbErr) -> Error {
    match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Error::Unavailable("the database is unavailable".into()),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
            if e.as_database_error().is_none() && !matches!(e.as_ref(), sea_orm::sqlx::Error::RowNotFound) =>
        {
            Error::Unavailable("the database is unavailable".into())
        }
        _ if is_busy(&error) => Error::Unavailable("the database is busy; try again".into()),
        _ => Error::internal(error),
    }
}

/// Whether the error is a unique-constraint violation (a concurrent duplicate insert).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// SQLite's "database is locked" / "busy": another writer holds the lock past the timeout.
fn is_busy(error: &DbErr) -> bool {
    let text = error.to_string();
    text.contains("database is locked") || text.contains("SQLITE_BUSY")
}
