//! CSV imports on the reference HRIS.
//!
//! The key is claimed in `employee_imports` first, so a replay returns the stored report and
//! a concurrent call with the same key is told to retry. Good rows are upserted by employee
//! number in batches of [`BATCH_ROWS`], each batch one transaction with its audit entries and
//! events; progress is reported after every batch. A run that stops halfway leaves its claim
//! to be taken over once its heartbeat is [`STALE_AFTER_SECONDS`] old; upserts make running
//! the file again safe.

use std::collections::HashMap;

use chrono::{SubsecRound, Utc};
use keel_core::Error;
use keel_proto::hris::ImportReport;
use keel_store::audit::{self, AuditEntry};
use prost::Message;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde_json::json;

use super::ReferenceHris;
use super::entities::{employee, employee_import};
use super::records;
use crate::adapter::ImportProgressSink;
use crate::domain::{EmployeeImport, ImportColumns, NewEmployee};
use crate::{EMPLOYEE_CREATED, EMPLOYEE_UPDATED};

/// Rows written per transaction.
pub const BATCH_ROWS: usize = 500;
/// A running import whose heartbeat is older than this may be taken over.
pub const STALE_AFTER_SECONDS: i64 = 120;
/// Attempts at a batch that met a concurrent change.
const BATCH_ATTEMPTS: usize = 3;

const RUNNING: &str = "running";
const COMPLETED: &str = "completed";

enum Claim {
    Done(ImportReport),
    Run(String),
}

#[derive(Debug, Default)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
}

pub(super) async fn run(
    hris: &ReferenceHris,
    actor: &str,
    key: &str,
    import: EmployeeImport,
    progress: ImportProgressSink,
) -> Result<ImportReport, Error> {
    let import_id = match claim(&hris.db, actor, key, &import).await? {
        Claim::Done(report) => return Ok(report),
        Claim::Run(id) => id,
    };
    match write_all(hris, actor, &import_id, &import, &progress).await {
        Ok(report) => Ok(report),
        Err(e) => {
            // Let a retry with the same key start again at once; what was written stays.
            let _ = employee_import::Entity::delete_by_id(import_id.clone())
                .filter(employee_import::Column::Status.eq(RUNNING))
                .exec(&hris.db)
                .await;
            Err(e)
        }
    }
}

async fn write_all(
    hris: &ReferenceHris,
    actor: &str,
    import_id: &str,
    import: &EmployeeImport,
    progress: &ImportProgressSink,
) -> Result<ImportReport, Error> {
    let rows_total = import.rows_total();
    let mut report = ImportReport {
        import_id: import_id.to_string(),
        source: import.source.clone(),
        rows_total,
        ..Default::default()
    };
    let mut processed = 0;
    for chunk in import.rows.chunks(BATCH_ROWS) {
        report.rejected.extend(chunk.iter().filter_map(|row| row.rejection()));
        let good: Vec<(u64, &NewEmployee)> = chunk
            .iter()
            .filter_map(|row| row.employee.as_ref().ok().map(|e| (row.line, e)))
            .collect();
        if !good.is_empty() {
            let counts = write_batch_with_retry(&hris.db, actor, import_id, &good, &import.columns).await?;
            report.created += counts.created;
            report.updated += counts.updated;
            report.unchanged += counts.unchanged;
            hris.relay_waker.notify_one();
        }
        processed += chunk.len() as u64;
        progress.report(processed, rows_total).await;
    }
    complete(&hris.db, actor, import_id, &report).await?;
    Ok(report)
}

async fn claim(db: &DatabaseConnection, actor: &str, key: &str, import: &EmployeeImport) -> Result<Claim, Error> {
    for _ in 0..3 {
        let now = Utc::now().trunc_subsecs(6);
        let existing = employee_import::Entity::find()
            .filter(employee_import::Column::IdempotencyKey.eq(key))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if let Some(existing) = existing {
            if existing.fingerprint != import.fingerprint {
                return Err(Error::key_mismatch(
                    "was already used for a different import; use a new key for a new file",
                ));
            }
            if existing.status == COMPLETED {
                return ImportReport::decode(existing.report.as_slice())
                    .map(Claim::Done)
                    .map_err(Error::internal);
            }
            if existing.heartbeat_at > now - chrono::Duration::seconds(STALE_AFTER_SECONDS) {
                return Err(Error::Unavailable(
                    "an import with this idempotency key is running; try again when it has finished".into(),
                ));
            }
            let taken = employee_import::Entity::update_many()
                .col_expr(employee_import::Column::HeartbeatAt, Expr::value(now))
                .col_expr(employee_import::Column::CreatedBy, Expr::value(actor.to_string()))
                .filter(employee_import::Column::Id.eq(existing.id.clone()))
                .filter(employee_import::Column::Status.eq(RUNNING))
                .filter(employee_import::Column::HeartbeatAt.eq(existing.heartbeat_at))
                .exec(db)
                .await
                .map_err(keel_store::db_error)?;
            if taken.rows_affected == 1 {
                return Ok(Claim::Run(existing.id));
            }
            continue;
        }
        let id = keel_core::ids::new_id().to_string();
        let claim = employee_import::ActiveModel {
            id: Set(id.clone()),
            idempotency_key: Set(key.to_string()),
            fingerprint: Set(import.fingerprint.clone()),
            source: Set(import.source.clone()),
            status: Set(RUNNING.into()),
            rows_total: Set(import.rows_total() as i64),
            report: Set(Vec::new()),
            created_at: Set(now),
            created_by: Set(actor.to_string()),
            heartbeat_at: Set(now),
            completed_at: Set(None),
        };
        match employee_import::Entity::insert(claim).exec(db).await {
            Ok(_) => return Ok(Claim::Run(id)),
            Err(e) if keel_store::is_unique_violation(&e) => continue,
            Err(e) => return Err(keel_store::db_error(e)),
        }
    }
    Err(Error::Unavailable(
        "an import with this idempotency key is starting; try again".into(),
    ))
}

async fn write_batch_with_retry(
    db: &DatabaseConnection,
    actor: &str,
    import_id: &str,
    rows: &[(u64, &NewEmployee)],
    columns: &ImportColumns,
) -> Result<Counts, Error> {
    let mut attempt = 1;
    loop {
        match write_batch(db, actor, import_id, rows, columns).await {
            Err(Error::Aborted(_) | Error::Unavailable(_)) if attempt < BATCH_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

async fn write_batch(
    db: &DatabaseConnection,
    actor: &str,
    import_id: &str,
    rows: &[(u64, &NewEmployee)],
    columns: &ImportColumns,
) -> Result<Counts, Error> {
    let txn = keel_store::begin_write(db).await?;
    let numbers: Vec<String> = rows.iter().map(|(_, e)| e.employee_number.clone()).collect();
    let existing: HashMap<String, employee::Model> = employee::Entity::find()
        .filter(employee::Column::EmployeeNumber.is_in(numbers))
        .all(&txn)
        .await
        .map_err(keel_store::db_error)?
        .into_iter()
        .map(|row| (row.employee_number.clone(), row))
        .collect();
    let now = Utc::now();
    let mut counts = Counts::default();
    for (line, new) in rows {
        match existing.get(&new.employee_number) {
            None => {
                let row = records::new_row(new, actor, now)?;
                employee::Entity::insert(employee::ActiveModel::from(row.clone()))
                    .exec(&txn)
                    .await
                    .map_err(|e| {
                        if keel_store::is_unique_violation(&e) {
                            Error::Aborted(format!("employee {} was created concurrently", new.employee_number))
                        } else {
                            keel_store::db_error(e)
                        }
                    })?;
                let detail = json!({
                    "version": 1,
                    "import_id": import_id,
                    "line": line,
                    "employee": records::snapshot(&row),
                });
                records::record(&txn, actor, &row, "created", detail, EMPLOYEE_CREATED).await?;
                counts.created += 1;
            }
            Some(old) => {
                let mut row = old.clone();
                records::apply_import(&mut row, new, columns)?;
                let changes = records::diff(&records::snapshot(old), &records::snapshot(&row));
                if changes.is_empty() {
                    counts.unchanged += 1;
                    continue;
                }
                row.version += 1;
                row.updated_at = now;
                row.updated_by = actor.to_string();
                records::save_versioned(&txn, &row, old.version).await?;
                let detail = json!({
                    "version": row.version,
                    "import_id": import_id,
                    "line": line,
                    "changes": changes,
                });
                records::record(&txn, actor, &row, "updated", detail, EMPLOYEE_UPDATED).await?;
                counts.updated += 1;
            }
        }
    }
    employee_import::Entity::update_many()
        .col_expr(
            employee_import::Column::HeartbeatAt,
            Expr::value(Utc::now().trunc_subsecs(6)),
        )
        .filter(employee_import::Column::Id.eq(import_id))
        .exec(&txn)
        .await
        .map_err(keel_store::db_error)?;
    txn.commit().await.map_err(keel_store::db_error)?;
    Ok(counts)
}

async fn complete(db: &DatabaseConnection, actor: &str, import_id: &str, report: &ImportReport) -> Result<(), Error> {
    let txn = keel_store::begin_write(db).await?;
    employee_import::Entity::update_many()
        .col_expr(employee_import::Column::Status, Expr::value(COMPLETED))
        .col_expr(employee_import::Column::Report, Expr::value(report.encode_to_vec()))
        .col_expr(employee_import::Column::CompletedAt, Expr::value(Some(Utc::now())))
        .filter(employee_import::Column::Id.eq(import_id))
        .exec(&txn)
        .await
        .map_err(keel_store::db_error)?;
    audit::append(
        &txn,
        AuditEntry {
            actor,
            record_type: "employee_import",
            record_id: import_id,
            action: "completed",
            detail: json!({
                "source": report.source,
                "rows_total": report.rows_total,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected.len(),
            }),
        },
    )
    .await?;
    txn.commit().await.map_err(keel_store::db_error)?;
    Ok(())
}
