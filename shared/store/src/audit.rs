//! The audit log: every state change of a governed record, appended in the same transaction
//! as the change, never updated or deleted (triggers refuse it), and hash-chained: each
//! entry's hash covers its content and the previous entry's hash, so an edited or removed
//! entry breaks the chain that [`verify`] walks.

use chrono::{DateTime, SubsecRound, Utc};
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, QueryOrder, QuerySelect, Statement};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One row of the audit log.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub id: String,
        pub at: DateTimeUtc,
        pub actor: String,
        pub record_type: String,
        pub record_id: String,
        pub action: String,
        pub detail: String,
        pub prev_hash: String,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What changed, by whom.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub record_type: &'a str,
    pub record_id: &'a str,
    /// A verb in snake case: `created`, `marked_won`, `budget_posted`.
    pub action: &'a str,
    /// The change, as JSON.
    pub detail: serde_json::Value,
}

fn entry_hash(prev_hash: &str, seq: i64, at: &DateTime<Utc>, entry: &entity::Model) -> String {
    let mut hasher = Sha256::new();
    for part in [
        prev_hash,
        &seq.to_string(),
        &at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        &entry.actor,
        &entry.record_type,
        &entry.record_id,
        &entry.action,
        &entry.detail,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hex::encode(hasher.finalize())
}

/// Appends an entry inside the caller's transaction.
///
/// Appends are serialized per service (a table lock on PostgreSQL; SQLite has one writer),
/// so the chain never forks.
pub async fn append<C: ConnectionTrait>(txn: &C, entry: AuditEntry<'_>) -> Result<(), Error> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "LOCK TABLE audit_log IN EXCLUSIVE MODE",
        ))
        .await
        .map_err(crate::db_error)?;
    }
    let last = entity::Entity::find()
        .order_by_desc(entity::Column::Seq)
        .limit(1)
        .one(txn)
        .await
        .map_err(crate::db_error)?;
    let (seq, prev_hash) = match last {
        Some(row) => (row.seq + 1, row.hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    // Stored timestamps keep microseconds on both databases.
    let at = Utc::now().trunc_subsecs(6);
    let mut model = entity::Model {
        seq,
        id: keel_core::ids::new_id().to_string(),
        at,
        actor: entry.actor.to_string(),
        record_type: entry.record_type.to_string(),
        record_id: entry.record_id.to_string(),
        action: entry.action.to_string(),
        detail: entry.detail.to_string(),
        prev_hash: prev_hash.clone(),
        hash: String::new(),
    };
    model.hash = entry_hash(&prev_hash, seq, &at, &model);
    let active = entity::ActiveModel {
        seq: Set(model.seq),
        id: Set(model.id),
        at: Set(model.at),
        actor: Set(model.actor),
        record_type: Set(model.record_type),
        record_id: Set(model.record_id),
        action: Set(model.action),
        detail: Set(model.detail),
        prev_hash: Set(model.prev_hash),
        hash: Set(model.hash),
    };
    entity::Entity::insert(active)
        .exec(txn)
        .await
        .map_err(crate::db_error)?;
    Ok(())
}

/// The entries about one record, oldest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    record_type: &str,
    record_id: &str,
) -> Result<Vec<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::RecordType.eq(record_type))
        .filter(entity::Column::RecordId.eq(record_id))
        .order_by_asc(entity::Column::Seq)
        .all(db)
        .await
        .map_err(crate::db_error)
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    /// Every entry's hash matches its content and its predecessor.
    Intact { entries: u64 },
    /// The first entry whose hash or link does not match.
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain.
pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<ChainReport, Error> {
    let rows = entity::Entity::find()
        .order_by_asc(entity::Column::Seq)
        .all(db)
        .await
        .map_err(crate::db_error)?;
    let mut prev_hash = GENESIS_HASH.to_string();
    for (expected_seq, row) in (1_i64..).zip(rows.iter()) {
        if row.seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                reason: format!("entry {expected_seq} is missing"),
            });
        }
        if row.prev_hash != prev_hash {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                reason: "does not link to the entry before it".into(),
            });
        }
        if entry_hash(&prev_hash, row.seq, &row.at, row) != row.hash {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                reason: "content does not match its hash".into(),
            });
        }
        prev_hash = row.hash.clone();
    }
    Ok(ChainReport::Intact {
        entries: rows.len() as u64,
    })
}
