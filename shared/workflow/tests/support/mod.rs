//! A workflow over a small persisted ledger standing in for a system API: it posts once per
//! idempotency key, can be taken down (answering `UNAVAILABLE`) and can be made to refuse.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keel_core::Error;
use keel_store::testing::TestStore;
use keel_workflow::{ApprovalRequest, Engine, EngineOptions, RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::{Value, json};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_workflow::migrations::workflow());
        all.push(Box::new(ledger::Migration));
        all
    }
}

mod ledger {
    use sea_orm_migration::prelude::*;

    pub struct Migration;
    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m20991231_000001_test_ledger"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE TABLE test_postings (key VARCHAR(200) PRIMARY KEY, business_key VARCHAR(200) NOT NULL, \
                     amount VARCHAR(40) NOT NULL, reversed BOOLEAN NOT NULL)",
                )
                .await?;
            Ok(())
        }
    }
}

pub async fn store() -> (TestStore, DatabaseConnection) {
    let store = TestStore::new("workflow");
    let db = keel_store::connect(&store.options).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    (store, db)
}

/// The stand-in system API.
pub struct Ledger {
    pub db: DatabaseConnection,
    pub down: AtomicBool,
    /// Calls received, answered or not.
    pub calls: AtomicUsize,
}

impl Ledger {
    pub fn new(db: DatabaseConnection) -> Arc<Ledger> {
        Arc::new(Ledger {
            db,
            down: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        })
    }

    async fn exec(&self, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64, Error> {
        let backend = self.db.get_database_backend();
        let sql = if backend == sea_orm::DbBackend::Postgres {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            sql.to_string()
        };
        self.db
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map(|r| r.rows_affected())
            .map_err(keel_store::db_error)
    }

    /// Posts once per key; a replay is answered as a success and changes nothing.
    pub async fn post(&self, key: &str, business_key: &str, amount: &str) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("ledger: connection refused".into()));
        }
        self.exec(
            "INSERT INTO test_postings (key, business_key, amount, reversed) VALUES (?, ?, ?, false) \
             ON CONFLICT (key) DO NOTHING",
            vec![key.into(), business_key.into(), amount.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn reverse(&self, key: &str) -> Result<(), Error> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("ledger: connection refused".into()));
        }
        self.exec(
            "UPDATE test_postings SET reversed = true WHERE key = ?",
            vec![key.into()],
        )
        .await?;
        Ok(())
    }

    /// Postings not reversed, per business key.
    pub async fn live_postings(&self, business_key: &str) -> i64 {
        self.count(&format!(
            "SELECT COUNT(*) FROM test_postings WHERE business_key = '{business_key}' AND reversed = false"
        ))
        .await
    }

    pub async fn total_live(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM test_postings WHERE reversed = false")
            .await
    }

    pub async fn total(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM test_postings").await
    }

    async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql.to_string()))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// Fast retries, so tests do not wait seconds.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(20),
    max_attempts: 1000,
};

/// `validate` → `post` (to the ledger, with an undo) → `confirm`. The input may ask a step to
/// fail: `{"fail_at": "confirm"}` refuses there with a business error.
pub struct Posting {
    pub ledger: Arc<Ledger>,
    pub steps: Vec<StepDef>,
}

impl Posting {
    pub fn new(ledger: Arc<Ledger>) -> Arc<Posting> {
        Arc::new(Posting {
            ledger,
            steps: vec![
                StepDef::new("validate").with_retry(FAST),
                StepDef::new("post").calls("ledger").with_undo().with_retry(FAST),
                StepDef::new("second-post").calls("ledger").with_undo().with_retry(FAST),
                StepDef::new("confirm").with_retry(FAST),
            ],
        })
    }
}

#[async_trait]
impl Workflow for Posting {
    fn kind(&self) -> &'static str {
        "posting"
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        if cx.input.get("fail_at").and_then(Value::as_str) == Some(cx.step) {
            return Err(Error::invalid("amount", format!("refused at {}", cx.step)));
        }
        match cx.step {
            "validate" => {
                let amount = cx.input["amount"].as_str().unwrap_or_default();
                if amount.is_empty() {
                    return Err(Error::invalid("amount", "is required"));
                }
                Ok(StepOutcome::Done(json!({ "amount": amount })))
            }
            "post" | "second-post" => {
                let key = cx.idempotency_key("");
                let amount = cx.result("validate").unwrap()["amount"].as_str().unwrap().to_string();
                self.ledger.post(&key, &cx.business_key, &amount).await?;
                Ok(StepOutcome::Done(json!({ "posting": key })))
            }
            "confirm" => Ok(StepOutcome::Done(json!({ "confirmed": true }))),
            other => Err(Error::internal(format!("unknown step {other}"))),
        }
    }

    async fn compensate(&self, cx: &StepContext, result: &Value) -> Result<(), Error> {
        let key = result["posting"].as_str().unwrap_or_default();
        let _ = cx;
        self.ledger.reverse(key).await
    }
}

/// The `posting` steps as a saga (kind `saga`): a refused step undoes the instance at once.
/// Its `second-post` may act before it is refused (`{"fail_at": "second-post", "partial":
/// true}`), so its undo reverses by the step's own key, whatever the journaled result.
pub struct Saga {
    pub posting: Arc<Posting>,
}

#[async_trait]
impl Workflow for Saga {
    fn kind(&self) -> &'static str {
        "saga"
    }

    fn steps(&self) -> &[StepDef] {
        &self.posting.steps
    }

    fn compensate_on_failure(&self) -> bool {
        true
    }

    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        if cx.step == "second-post" && cx.input.get("partial").and_then(Value::as_bool) == Some(true) {
            let amount = cx.input["amount"].as_str().unwrap_or_default();
            self.posting
                .ledger
                .post(&cx.idempotency_key(""), &cx.business_key, amount)
                .await?;
        }
        self.posting.run_step(cx).await
    }

    async fn compensate(&self, cx: &StepContext, _result: &Value) -> Result<(), Error> {
        self.posting.ledger.reverse(&cx.idempotency_key("")).await
    }
}

/// `request` → `approve` (waits for a person) → `apply`.
pub struct Approval {
    pub timeout: Duration,
}

#[async_trait]
impl Workflow for Approval {
    fn kind(&self) -> &'static str {
        "approval"
    }

    fn steps(&self) -> &[StepDef] {
        const STEPS: &[StepDef] = &[StepDef::new("request"), StepDef::new("approve"), StepDef::new("apply")];
        STEPS
    }

    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        match cx.step {
            "request" => Ok(StepOutcome::Done(cx.input.clone())),
            "approve" => Ok(StepOutcome::AwaitApproval(ApprovalRequest {
                role: "finance".into(),
                submitter: cx.input["submitter"].as_str().unwrap_or_default().to_string(),
                summary: "labor cost 120000.00 EUR exceeds the 100000.00 EUR threshold".into(),
                timeout: self.timeout,
                escalate_to: Some("delivery-leadership".into()),
            })),
            "apply" => Ok(StepOutcome::Done(json!({ "applied_after": cx.result("approve") }))),
            other => Err(Error::internal(format!("unknown step {other}"))),
        }
    }
}

pub fn options(owner: &str) -> EngineOptions {
    EngineOptions {
        owner: owner.to_string(),
        lease: Duration::from_millis(300),
        batch: 64,
        poll_interval: Duration::from_millis(10),
    }
}

pub fn engine(db: &DatabaseConnection, ledger: &Arc<Ledger>, owner: &str) -> Engine {
    engine_with_lease(db, ledger, owner, Duration::from_millis(300))
}

pub fn engine_with_lease(db: &DatabaseConnection, ledger: &Arc<Ledger>, owner: &str, lease: Duration) -> Engine {
    Engine::new(
        db.clone(),
        vec![
            Posting::new(ledger.clone()),
            Arc::new(Saga {
                posting: Posting::new(ledger.clone()),
            }),
            Arc::new(Approval {
                timeout: Duration::from_secs(3600),
            }),
        ],
        EngineOptions {
            lease,
            ..options(owner)
        },
    )
}

/// Runs rounds until nothing is due and nothing is leased, across lease expiries.
pub async fn settle(engine: &Engine) {
    for _ in 0..2000 {
        let worked = engine.tick().await.unwrap_or(1);
        if worked == 0 {
            let running = engine
                .counts()
                .await
                .unwrap()
                .into_iter()
                .filter(|(s, _)| matches!(s, keel_workflow::Status::Running | keel_workflow::Status::Compensating))
                .map(|(_, n)| n)
                .sum::<u64>();
            if running == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the engine did not settle");
}
