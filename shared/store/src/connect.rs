//! Opening a service's database.
//!
//! Embedded mode gives each service its own SQLite file under the data directory
//! (`<data_dir>/crm.db`); distributed mode gives each service its own schema in PostgreSQL
//! (`keel_crm`), created on first connect.

use std::path::PathBuf;
use std::time::Duration;

use keel_core::Error;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Where a service keeps its records.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite { path: PathBuf },
    Postgres { url: String, schema: String },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            // The URL may carry a password.
            Backend::Postgres { schema, .. } => f.debug_struct("Postgres").field("schema", schema).finish(),
        }
    }
}

/// How to open one service's database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub backend: Backend,
    pub max_connections: u32,
}

impl StoreOptions {
    /// The store of `service`: a PostgreSQL schema `<schema_prefix><service>` when a URL is
    /// given, else `<data_dir>/<service>.db`.
    pub fn for_service(
        service: &str,
        data_dir: &std::path::Path,
        postgres_url: Option<&str>,
        schema_prefix: &str,
        max_connections: u32,
    ) -> StoreOptions {
        let backend = match postgres_url {
            Some(url) => Backend::Postgres {
                url: url.to_string(),
                schema: format!("{schema_prefix}{}", service.replace('-', "_")),
            },
            None => Backend::Sqlite {
                path: data_dir.join(format!("{service}.db")),
            },
        };
        StoreOptions {
            backend,
            max_connections,
        }
    }

    /// A short description for start-up messages, without credentials.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite { path } => format!("sqlite {}", path.display()),
            Backend::Postgres { schema, .. } => format!("postgres schema {schema}"),
        }
    }
}

/// The most page cache one SQLite store keeps, KiB, shared among its pool's connections.
///
/// SQLite gives each connection its own cache (2,000 KiB by default), which fills as the file
/// outgrows it: a store of 10 connections would come to hold 20 MiB, and the dozen stores of
/// `keel up` 240 MiB, growing with the data rather than with the work. A store's connections
/// share this budget instead; pages it cannot hold are read again from the operating system's
/// file cache.
pub const SQLITE_CACHE_KIB_PER_STORE: u32 = 8 * 1024;

/// The page cache each of a SQLite store's `connections` keeps, KiB: an even share of
/// [`SQLITE_CACHE_KIB_PER_STORE`], and never under 256 KiB.
pub fn sqlite_cache_kib_per_connection(connections: u32) -> u32 {
    (SQLITE_CACHE_KIB_PER_STORE / connections.max(1)).max(256)
}

/// Opens the database, creating the SQLite file or the PostgreSQL schema if needed.
pub async fn connect(options: &StoreOptions) -> Result<DatabaseConnection, Error> {
    let unavailable = |what: String| Error::Unavailable(what);
    match &options.backend {
        Backend::Sqlite { path } => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| unavailable(format!("cannot create data directory {}: {e}", dir.display())))?;
            }
            let url = format!("sqlite://{}?mode=rwc", path.display());
            // Negative: KiB rather than pages.
            let cache_size = format!("-{}", sqlite_cache_kib_per_connection(options.max_connections));
            let mut opts = ConnectOptions::new(url);
            opts.max_connections(options.max_connections.max(1))
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .sqlx_logging(false)
                // Set on every connection the pool opens, not on the first one only. WAL lets
                // readers proceed while one writer commits; the busy timeout queues writers
                // instead of failing them. In WAL mode `synchronous = NORMAL` syncs the log at
                // checkpoints rather than at every commit: a killed process loses nothing it
                // committed; a power cut may lose the last commits, as a whole and in order.
                // The connections share one page-cache budget (SQLITE_CACHE_KIB_PER_STORE).
                .map_sqlx_sqlite_opts(move |sqlite| {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        .pragma("cache_size", cache_size.clone())
                });
            let db = Database::connect(opts)
                .await
                .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
            Ok(db)
        }
        Backend::Postgres { url, schema } => {
            if !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::invalid(
                    "database.schema_prefix",
                    "may hold only letters, digits and _",
                ));
            }
            {
                let mut opts = ConnectOptions::new(url.clone());
                opts.max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .sqlx_logging(false);
                let admin = Database::connect(opts)
                    .await
                    .map_err(|e| unavailable(format!("cannot reach PostgreSQL: {}", redact(&e.to_string(), url))))?;
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                    .await
                    .map_err(crate::db_error)?;
                admin.close().await.ok();
            }
            let mut opts = ConnectOptions::new(url.clone());
            opts.max_connections(options.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .set_schema_search_path(schema.clone())
                .sqlx_logging(false);
            Database::connect(opts)
                .await
                .map_err(|e| unavailable(format!("cannot reach PostgreSQL: {}", redact(&e.to_string(), url))))
        }
    }
}

fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<database url>")
}
