//! Opening a transaction that will write.
//!
//! On SQLite a deferred transaction that reads first and writes later fails at once with
//! "database is locked" when another writer got there between; an immediate transaction takes
//! the write lock at `BEGIN` and waits its turn (the busy timeout) instead. PostgreSQL ignores
//! the mode.

use keel_core::Error;
use sea_orm::{DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions, TransactionTrait};

/// Begins a transaction that will write.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, Error> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
    .map_err(crate::db_error)
}
