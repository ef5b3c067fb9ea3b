//! The shared store on a real database: SQLite by default, PostgreSQL under `.ci/run`.

use keel_core::Error;
use keel_proto::common::Money as MoneyMessage;
use keel_store::audit::{self, AuditEntry, ChainReport};
use keel_store::idempotency::run_once;
use keel_store::testing::TestStore;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.push(Box::new(counter::Migration));
        all
    }
}

mod counter {
    use sea_orm_migration::prelude::*;

    pub struct Migration;
    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20990101_000001_counter"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared("CREATE TABLE counter (n BIGINT NOT NULL)")
                .await?;
            manager
                .get_connection()
                .execute_unprepared("INSERT INTO counter (n) VALUES (0)")
                .await?;
            Ok(())
        }
    }
}

async fn store() -> (TestStore, DatabaseConnection) {
    let store = TestStore::new("store");
    let db = keel_store::connect(&store.options).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    (store, db)
}

async fn counter(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT n FROM counter",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn bump(db: &DatabaseConnection, key: &str, amount: &str) -> Result<MoneyMessage, Error> {
    let request = MoneyMessage {
        amount: amount.into(),
        currency: "USD".into(),
    };
    run_once(db, "bump", key, &request, |txn| {
        let amount = amount.to_string();
        Box::pin(async move {
            txn.execute_unprepared("UPDATE counter SET n = n + 1")
                .await
                .map_err(keel_store::db_error)?;
            Ok(MoneyMessage {
                amount,
                currency: "USD".into(),
            })
        })
    })
    .await
}

#[tokio::test]
async fn a_replayed_key_returns_the_first_result_and_changes_nothing() {
    let (_store, db) = store().await;
    let first = bump(&db, "key-1", "10.00").await.unwrap();
    let replay = bump(&db, "key-1", "10.00").await.unwrap();
    assert_eq!(first, replay);
    assert_eq!(counter(&db).await, 1);

    bump(&db, "key-2", "10.00").await.unwrap();
    assert_eq!(counter(&db).await, 2);
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_by_name() {
    let (_store, db) = store().await;
    bump(&db, "key-1", "10.00").await.unwrap();
    let err = bump(&db, "key-1", "99.00").await.unwrap_err();
    assert_eq!(err.field_violations()[0].field, "idempotency_key");
    assert_eq!(err.reason(), Some("key_mismatch"));
    assert_eq!(counter(&db).await, 1);
}

#[tokio::test]
async fn concurrent_calls_with_one_key_execute_once_and_all_get_the_first_answer() {
    let (_store, db) = store().await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { bump(&db, "same-key", "5.00").await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(answer) => answers.push(answer),
            // A caller that could not get the write lock in time is told to retry, never
            // given a second execution.
            Err(Error::Unavailable(_)) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|a| a.amount == "5.00"));
    assert_eq!(counter(&db).await, 1, "one execution for one key");
}

#[tokio::test]
async fn keys_older_than_the_retention_are_pruned_and_newer_ones_kept() {
    let (_store, db) = store().await;
    bump(&db, "old", "1").await.unwrap();
    bump(&db, "new", "1").await.unwrap();
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE idempotency_keys SET created_at = '2020-01-01T00:00:00Z' WHERE key = 'old'",
    ))
    .await
    .unwrap();
    let pruned = keel_store::idempotency::prune(&db, std::time::Duration::from_secs(30 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    // The recent key still replays; the pruned one would run again.
    bump(&db, "new", "1").await.unwrap();
    assert_eq!(counter(&db).await, 2);
    bump(&db, "old", "1").await.unwrap();
    assert_eq!(counter(&db).await, 3);
    // A retention longer than the calendar reaches back keeps every key, and says so
    // rather than failing.
    let forever = std::time::Duration::from_secs(u64::from(u32::MAX) * 24 * 3600);
    assert_eq!(keel_store::idempotency::prune(&db, forever).await.unwrap(), 0);
    bump(&db, "new", "1").await.unwrap();
    assert_eq!(counter(&db).await, 3);
}

#[tokio::test]
async fn a_failed_change_stores_no_key_and_no_change() {
    let (_store, db) = store().await;
    let request = MoneyMessage {
        amount: "1".into(),
        currency: "USD".into(),
    };
    let err = run_once::<_, MoneyMessage, _>(&db, "bump", "k", &request, |txn| {
        Box::pin(async move {
            txn.execute_unprepared("UPDATE counter SET n = n + 1")
                .await
                .map_err(keel_store::db_error)?;
            Err(Error::invalid("amount", "rejected after the write"))
        })
    })
    .await
    .unwrap_err();
    assert_eq!(err.field_violations()[0].field, "amount");
    assert_eq!(counter(&db).await, 0);
    // The key is free for a corrected request.
    bump(&db, "k", "1").await.unwrap();
    assert_eq!(counter(&db).await, 1);
}

async fn append(db: &DatabaseConnection, record_id: &str, action: &str) {
    let txn = db.begin().await.unwrap();
    audit::append(
        &txn,
        AuditEntry {
            actor: "alice",
            record_type: "opportunity",
            record_id,
            action,
            detail: serde_json::json!({ "stage": action }),
        },
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn the_audit_chain_verifies_and_records_history_in_order() {
    let (_store, db) = store().await;
    append(&db, "opp-1", "created").await;
    append(&db, "opp-2", "created").await;
    append(&db, "opp-1", "marked_won").await;
    assert_eq!(audit::verify(&db).await.unwrap(), ChainReport::Intact { entries: 3 });
    let history: Vec<String> = audit::history(&db, "opportunity", "opp-1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(history, ["created", "marked_won"]);
}

#[tokio::test]
async fn the_audit_log_refuses_update_and_delete() {
    let (_store, db) = store().await;
    append(&db, "opp-1", "created").await;
    assert!(
        db.execute_unprepared("UPDATE audit_log SET actor = 'mallory'")
            .await
            .is_err()
    );
    assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
    assert_eq!(audit::verify(&db).await.unwrap(), ChainReport::Intact { entries: 1 });
}

#[tokio::test]
async fn tampering_breaks_the_chain() {
    let (_store, db) = store().await;
    append(&db, "opp-1", "created").await;
    append(&db, "opp-1", "marked_won").await;
    // Someone with database access drops the guard and edits history.
    let backend = db.get_database_backend();
    let drop_guard = match backend {
        sea_orm::DbBackend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
        _ => "DROP TRIGGER audit_log_no_update",
    };
    db.execute_unprepared(drop_guard).await.unwrap();
    db.execute_unprepared("UPDATE audit_log SET action = 'marked_lost' WHERE seq = 2")
        .await
        .unwrap();
    match audit::verify(&db).await.unwrap() {
        ChainReport::Broken { seq, .. } => assert_eq!(seq, 2),
        other => panic!("tampering went unnoticed: {other:?}"),
    }
}

/// Every connection of a SQLite store's pool keeps an even share of the store's page-cache
/// budget, so the store's cache stays within the budget however many connections it opens.
#[tokio::test]
async fn a_sqlite_store_shares_one_page_cache_budget_among_its_connections() {
    let dir = keel_store::testing::TempDir::new();
    for (connections, kib) in [(1, 8192), (4, 2048), (10, 819), (64, 256)] {
        let options = keel_store::StoreOptions {
            backend: keel_store::Backend::Sqlite {
                path: dir.path().join(format!("cache-{connections}.db")),
            },
            max_connections: connections,
        };
        assert_eq!(keel_store::sqlite_cache_kib_per_connection(connections), kib);
        let db = keel_store::connect(&options).await.expect("connect");
        // Hold up to four transactions at once, each on its own connection of the pool.
        let mut open = Vec::new();
        for _ in 0..connections.min(4) {
            let txn = db.begin().await.expect("begin");
            let row = txn
                .query_one_raw(Statement::from_string(db.get_database_backend(), "PRAGMA cache_size"))
                .await
                .unwrap()
                .unwrap();
            let size: i64 = row.try_get_by_index(0).unwrap();
            assert_eq!(size, -i64::from(kib), "{connections} connections");
            open.push(txn);
        }
        assert!(
            i64::from(kib) * i64::from(connections) <= i64::from(keel_store::SQLITE_CACHE_KIB_PER_STORE) || kib == 256
        );
    }
}
