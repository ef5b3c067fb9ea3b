//! `keel backup`: a copy of each embedded store, taken while Keel runs or while it is stopped,
//! that `keel up --data-dir` starts from as it is.
//!
//! Each SQLite store is copied with `VACUUM INTO`, which reads one consistent snapshot while
//! writers go on, then the copy is opened and checked (`PRAGMA integrity_check`). The process
//! APIs' stores are copied before the system APIs' ones: what a workflow recorded as done is
//! then also in the system it called, and whatever it did after its copy it does again on
//! restore, under the same idempotency keys. One point in time across every store needs Keel
//! stopped. PostgreSQL stores are the database's to back up (`pg_dump`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keel_config::{KeelConfig, ServiceName};
use keel_store::Backend;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::platform::{self, Target};

/// One store copied.
#[derive(Debug)]
pub struct Copied {
    pub service: ServiceName,
    pub from: PathBuf,
    pub to: PathBuf,
    pub bytes: u64,
}

/// What a backup did, in the order it did it.
#[derive(Debug, Default)]
pub struct Backup {
    pub copied: Vec<Copied>,
    /// Stores of the target with no file yet under the data directory.
    pub absent: Vec<(ServiceName, PathBuf)>,
    /// The local signing key, when the data directory holds one.
    pub key: Option<PathBuf>,
}

/// Copies the stores of `target` and the local signing key into `to`, which must not hold a
/// store of the same name already.
pub async fn run(config: &KeelConfig, target: Target, to: &Path) -> anyhow::Result<Backup> {
    if config.database.url.is_some() {
        let schemas: Vec<String> = target
            .stores()
            .into_iter()
            .filter_map(|service| match platform::store_options(config, service).backend {
                Backend::Postgres { schema, .. } => Some(schema),
                Backend::Sqlite { .. } => None,
            })
            .collect();
        bail!(
            "database.url is set: the stores are PostgreSQL schemas ({}), which keel backup does not copy; \
             back them up with PostgreSQL's tools, e.g. pg_dump --schema='{}*'",
            schemas.join(", "),
            config.database.schema_prefix
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("--to: cannot create {}", to.display()))?;
    let mut services = target.stores();
    // Callers before the systems they call (see the module's comment).
    services.sort_by_key(|service| ServiceName::SYSTEMS.contains(service));

    let mut backup = Backup::default();
    for service in services {
        let options = platform::store_options(config, service);
        let Backend::Sqlite { path } = &options.backend else {
            unreachable!("database.url is unset, so every store is SQLite");
        };
        if !path.exists() {
            backup.absent.push((service, path.clone()));
            continue;
        }
        let file_name = path.file_name().context("a store's path names a file")?;
        let copy = to.join(file_name);
        if copy.exists() {
            bail!(
                "--to: {} already exists; back up into an empty directory",
                copy.display()
            );
        }
        let db = keel_store::connect(&keel_store::StoreOptions {
            max_connections: 1,
            ..options.clone()
        })
        .await
        .with_context(|| format!("opening the {} store ({})", service.as_str(), options.describe()))?;
        let copied = vacuum_into(&db, &copy).await;
        db.close().await.ok();
        copied.with_context(|| format!("copying the {} store to {}", service.as_str(), copy.display()))?;
        check(&copy).await.with_context(|| {
            format!(
                "checking the copy of the {} store at {}",
                service.as_str(),
                copy.display()
            )
        })?;
        let bytes = std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0);
        backup.copied.push(Copied {
            service,
            from: path.clone(),
            to: copy,
            bytes,
        });
    }

    let key = config.server.data_dir.join(keel_auth::LOCAL_KEY_FILE);
    if key.exists() {
        let copy = to.join(keel_auth::LOCAL_KEY_FILE);
        if let Some(dir) = copy.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("--to: cannot create {}", dir.display()))?;
        }
        // `fs::copy` keeps the key's owner-only permissions.
        std::fs::copy(&key, &copy).with_context(|| format!("copying the signing key to {}", copy.display()))?;
        backup.key = Some(copy);
    }
    Ok(backup)
}

async fn vacuum_into(db: &DatabaseConnection, copy: &Path) -> anyhow::Result<()> {
    let Some(target) = copy.to_str() else {
        bail!("--to: {} is not valid UTF-8", copy.display());
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "VACUUM INTO ?",
        [target.into()],
    ))
    .await?;
    Ok(())
}

/// Opens the copy on its own and asks SQLite to check every page and index of it.
async fn check(copy: &Path) -> anyhow::Result<()> {
    let db = keel_store::connect(&keel_store::StoreOptions {
        backend: Backend::Sqlite {
            path: copy.to_path_buf(),
        },
        max_connections: 1,
    })
    .await?;
    let verdict = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
    db.close().await.ok();
    match verdict.as_deref() {
        Some("ok") => Ok(()),
        other => bail!("integrity check: {}", other.unwrap_or("no answer")),
    }
}
