//! Replay-safe mutating calls.
//!
//! Every mutating RPC carries an idempotency key. [`run_once`] runs the change in one
//! transaction and stores its response under `(scope, key)` in the same transaction; a replay
//! with the same key and the same request returns the stored response and changes nothing; the
//! same key with a different request is refused, naming `idempotency_key`.

use std::future::Future;
use std::pin::Pin;

use chrono::Utc;
use keel_core::Error;
use prost::Message;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DatabaseTransaction};
use sha2::{Digest, Sha256};

/// The stored result of one mutating call.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub fingerprint: String,
        pub response: Vec<u8>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A boxed future borrowing the transaction, as the change closure returns.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 't>>;

/// A fingerprint of the request, so a key reused for another request is caught.
pub fn fingerprint<M: Message>(request: &M) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

/// Runs `change` once per `(scope, key)`.
///
/// The key is claimed first, inside the write transaction: a concurrent call with the same
/// key waits on the claim (the row lock on PostgreSQL, the write lock on SQLite) and then
/// reads the winner's response, so the change runs once. `change` gets the open transaction
/// and returns the response; the response is stored with the key and everything commits
/// together. A change that fails stores nothing, so the caller may retry with the same key.
pub async fn run_once<Req, Resp, F>(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    request: &Req,
    change: F,
) -> Result<Resp, Error>
where
    Req: Message,
    Resp: Message + Default,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> TxFuture<'t, Resp>,
{
    let fingerprint = fingerprint(request);
    if let Some(stored) = lookup(db, scope, key, &fingerprint).await? {
        return Ok(stored);
    }
    let txn = crate::begin_write(db).await?;
    let claim = entity::ActiveModel {
        scope: Set(scope.to_string()),
        key: Set(key.to_string()),
        fingerprint: Set(fingerprint.clone()),
        response: Set(Vec::new()),
        created_at: Set(Utc::now()),
    };
    match entity::Entity::insert(claim).exec(&txn).await {
        Ok(_) => {}
        Err(e) if crate::is_unique_violation(&e) => {
            drop(txn);
            return lookup(db, scope, key, &fingerprint).await?.ok_or_else(|| {
                Error::Unavailable("a concurrent request with the same idempotency key is running".into())
            });
        }
        Err(e) => return Err(crate::db_error(e)),
    }
    let response = change(&txn).await?;
    entity::Entity::update_many()
        .col_expr(entity::Column::Response, Expr::value(response.encode_to_vec()))
        .filter(entity::Column::Scope.eq(scope))
        .filter(entity::Column::Key.eq(key))
        .exec(&txn)
        .await
        .map_err(crate::db_error)?;
    txn.commit().await.map_err(crate::db_error)?;
    Ok(response)
}

/// The moment `retention` reaches back to from now: what is older goes. `None` when it reaches
/// back beyond the calendar, so everything is kept.
pub fn retention_cutoff(retention: std::time::Duration) -> Option<chrono::DateTime<Utc>> {
    chrono::Duration::from_std(retention)
        .ok()
        .and_then(|kept| Utc::now().checked_sub_signed(kept))
}

/// Forgets keys older than `retention`; returns how many. Services run it periodically
/// (`limits.idempotency_retention_days`, 30 by default).
pub async fn prune(db: &DatabaseConnection, retention: std::time::Duration) -> Result<u64, Error> {
    let Some(cutoff) = retention_cutoff(retention) else {
        return Ok(0);
    };
    let result = entity::Entity::delete_many()
        .filter(entity::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await
        .map_err(crate::db_error)?;
    Ok(result.rows_affected)
}

async fn lookup<Resp: Message + Default>(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Resp>, Error> {
    let found = entity::Entity::find_by_id((scope.to_string(), key.to_string()))
        .one(db)
        .await
        .map_err(crate::db_error)?;
    match found {
        None => Ok(None),
        Some(row) if row.fingerprint != fingerprint => Err(Error::key_mismatch(
            "was already used for a different request; use a new key for a new change",
        )),
        Some(row) => Resp::decode(row.response.as_slice()).map(Some).map_err(Error::internal),
    }
}
