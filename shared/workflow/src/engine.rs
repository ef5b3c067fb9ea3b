//! The engine: starts instances, claims due ones under a lease, runs their next step, journals
//! the result, retries transient failures, waits for people, and undoes abandoned work.
//!
//! Crash windows and what covers them:
//! - before or during a step's call: the instance's lease expires and another worker (or this
//!   one after a restart) runs the step again with the same idempotency key, so the system API
//!   answers the first result instead of acting twice;
//! - after the call, before its result is journaled: the same;
//! - after the journal commit: the step is done and is never run again.
//!
//! Every write is fenced by the lease (`WHERE lease_owner = <me>`), so a worker that lost its
//! lease cannot record anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use keel_core::Error;
use keel_store::audit::{self, AuditEntry};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, Statement,
};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::definition::{ApprovalRequest, StepContext, StepDef, StepOutcome, Workflow};
use crate::entities::{approval, incident, instance, step};
use crate::status::Status;

/// How a replica of the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// This replica's name in leases (unique per process).
    pub owner: String,
    /// How long a claimed instance stays this replica's without a word. Default 30 s.
    pub lease: Duration,
    /// Instances claimed per round. Default 32.
    pub batch: u64,
    /// How often an idle worker looks for due work. Default 500 ms.
    pub poll_interval: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            owner: format!("engine-{}", Uuid::new_v4().simple()),
            lease: Duration::from_secs(30),
            batch: 32,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// The actor recorded when the engine itself changes an instance.
pub const ENGINE_ACTOR: &str = "workflow-engine";
/// The audit record type of instances.
pub const RECORD_TYPE: &str = "workflow_instance";

/// Whether [`Engine::start`] made a new instance or found the open one for the business key;
/// from [`Engine::start_once`], also whether the key's work had already finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub id: Uuid,
    pub created: bool,
    /// The key's last instance had finished (`DONE`), so nothing was started and `id` names it.
    pub done: bool,
}

/// Steps one replica runs back to back on an instance it holds before the instance goes back
/// to the queue for the next round.
pub const MAX_CHAINED_STEPS: usize = 16;

/// How many claimed instances one replica advances at once, unless
/// [`Engine::with_concurrency`] says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// A workflow engine over one store.
#[derive(Clone)]
pub struct Engine {
    db: DatabaseConnection,
    workflows: Arc<HashMap<&'static str, Arc<dyn Workflow>>>,
    options: EngineOptions,
    waker: Arc<Notify>,
    concurrency: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.options.owner)
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn db_error(e: sea_orm::DbErr) -> Error {
    keel_store::db_error(e)
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Engine {
    pub fn new(db: DatabaseConnection, workflows: Vec<Arc<dyn Workflow>>, options: EngineOptions) -> Engine {
        let workflows = workflows.into_iter().map(|w| (w.kind(), w)).collect();
        Engine {
            db,
            workflows: Arc::new(workflows),
            options,
            waker: Arc::new(Notify::new()),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Advances at most `concurrency` of the instances claimed in a round at once (at least
    /// one). A step mostly waits on a system API, so running a round's instances one after
    /// the other would make a batch take the sum of its steps' latencies, and the last
    /// instances of a batch would sit on their lease while the first ones run.
    pub fn with_concurrency(mut self, concurrency: usize) -> Engine {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Wakes the worker now rather than at its next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.waker.clone()
    }

    /// The step names of a registered kind, in order.
    pub fn step_names(&self, kind: &str) -> Option<Vec<&'static str>> {
        self.workflows
            .get(kind)
            .map(|w| w.steps().iter().map(|s| s.name).collect())
    }

    fn workflow(&self, kind: &str) -> Result<&Arc<dyn Workflow>, Error> {
        self.workflows
            .get(kind)
            .ok_or_else(|| Error::invalid("kind", format!("no workflow of kind {kind:?} is registered")))
    }

    /// Accepts an instance and queues it: the answer comes back at once, the work follows.
    /// At most one instance per `(kind, business_key)` is open: starting another answers the
    /// open one.
    pub async fn start(
        &self,
        kind: &str,
        business_key: &str,
        input: Value,
        versions: Value,
        actor: &str,
    ) -> Result<Started, Error> {
        self.start_with(kind, business_key, input, versions, actor, false).await
    }

    /// Like [`Engine::start`], for work that is done once per business key (a milestone
    /// invoiced, a request staffed): when the key's last instance finished, it answers that
    /// instance (`done`) instead of starting another. The checks run in the start's own write
    /// transaction, so an instance finishing while a start is asked for is found, not doubled.
    pub async fn start_once(
        &self,
        kind: &str,
        business_key: &str,
        input: Value,
        versions: Value,
        actor: &str,
    ) -> Result<Started, Error> {
        self.start_with(kind, business_key, input, versions, actor, true).await
    }

    async fn start_with(
        &self,
        kind: &str,
        business_key: &str,
        input: Value,
        versions: Value,
        actor: &str,
        once: bool,
    ) -> Result<Started, Error> {
        let workflow = self.workflow(kind)?;
        if business_key.trim().is_empty() {
            return Err(Error::invalid("business_key", "is required"));
        }
        if business_key.len() > 200 {
            return Err(Error::invalid("business_key", "must be at most 200 characters"));
        }
        let open_key = format!("{kind}/{business_key}");
        let existing = |row: instance::Model, done: bool| -> Result<Started, Error> {
            Ok(Started {
                id: parse_id(&row.id)?,
                created: false,
                done,
            })
        };
        if let Some(open) = open_instance(&self.db, &open_key).await? {
            return existing(open, false);
        }
        let txn = keel_store::begin_write(&self.db).await?;
        // Read again inside the write transaction: the open instance may have finished (its
        // open key cleared and its status set to DONE in one update) since the read above.
        if let Some(open) = open_instance(&txn, &open_key).await? {
            return existing(open, false);
        }
        if once && let Some(done) = finished_instance(&txn, kind, business_key).await? {
            return existing(done, true);
        }
        let id = keel_core::ids::new_id();
        let now = Utc::now();
        let row = instance::ActiveModel {
            id: Set(id.to_string()),
            kind: Set(workflow.kind().to_string()),
            business_key: Set(business_key.to_string()),
            open_key: Set(Some(open_key.clone())),
            status: Set(Status::Running.as_str().to_string()),
            input: Set(input.to_string()),
            versions: Set(versions.to_string()),
            step_index: Set(0),
            attempts: Set(0),
            next_run_at: Set(now),
            lease_owner: Set(None),
            lease_until: Set(None),
            reason: Set(None),
            last_error: Set(None),
            owning_team: Set(workflow.owning_team().to_string()),
            note: Set(None),
            created_by: Set(actor.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match instance::Entity::insert(row).exec(&txn).await {
            Ok(_) => {}
            Err(e) if keel_store::is_unique_violation(&e) => {
                drop(txn);
                let open = open_instance(&self.db, &open_key)
                    .await?
                    .ok_or_else(|| Error::Unavailable("a concurrent start of the same instance is running".into()))?;
                return existing(open, false);
            }
            Err(e) => return Err(db_error(e)),
        }
        audit::append(
            &txn,
            AuditEntry {
                actor,
                record_type: RECORD_TYPE,
                record_id: &id.to_string(),
                action: "started",
                detail: json!({ "kind": kind, "business_key": business_key }),
            },
        )
        .await?;
        txn.commit().await.map_err(db_error)?;
        self.waker.notify_one();
        Ok(Started {
            id,
            created: true,
            done: false,
        })
    }

    /// Runs until `shutdown`: claims due instances and runs them, then waits for a wake-up or
    /// the poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let worked = match self.tick().await {
                Ok(n) => n,
                Err(error) => {
                    tracing::warn!(%error, "workflow round failed; trying again shortly");
                    0
                }
            };
            if worked == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.waker.notified() => {}
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// One round: times out overdue approvals, then claims due instances and runs one step (or
    /// one undo) of each, up to the engine's concurrency at once. Returns how many instances
    /// it ran.
    pub async fn tick(&self) -> Result<usize, Error> {
        self.expire_approvals().await?;
        let claimed = self.claim().await?;
        let claimed_at = std::time::Instant::now();
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.concurrency, |id| async move {
                if let Err(error) = self.advance(&id, claimed_at).await {
                    tracing::warn!(instance = %id, %error, "workflow step could not be recorded");
                }
            })
            .await;
        Ok(count)
    }

    /// Runs rounds until nothing is due (tests and one-shot tools).
    pub async fn drain(&self) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let n = self.tick().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Claims up to `batch` due instances for this replica. On PostgreSQL rows other replicas
    /// are claiming are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite the write lock serialises
    /// claims.
    async fn claim(&self) -> Result<Vec<String>, Error> {
        let now = Utc::now();
        let until = now + chrono_duration(self.options.lease);
        let backend = self.db.get_database_backend();
        let lock = if backend == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let (p1, p2, p3, p4) = if backend == DbBackend::Postgres {
            ("$1", "$2", "$3", "$4")
        } else {
            ("?", "?", "?", "?")
        };
        let sql = format!(
            "UPDATE workflow_instances SET lease_owner = {p1}, lease_until = {p2} WHERE id IN (\
             SELECT id FROM workflow_instances WHERE status IN ('running', 'compensating') \
             AND next_run_at <= {p3} AND (lease_until IS NULL OR lease_until < {p3b}) \
             ORDER BY next_run_at LIMIT {p4}{lock}) RETURNING id",
            p3b = if backend == DbBackend::Postgres { "$3" } else { "?" },
        );
        let mut values: Vec<sea_orm::Value> = vec![self.options.owner.clone().into(), until.into(), now.into()];
        if backend != DbBackend::Postgres {
            values.push(now.into());
        }
        values.push((self.options.batch as i64).into());
        let txn = keel_store::begin_write(&self.db).await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0).map_err(db_error))
            .collect()
    }

    async fn load(&self, id: &str) -> Result<instance::Model, Error> {
        instance::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("workflow instance", id))
    }

    async fn journal(&self, id: &str) -> Result<Vec<step::Model>, Error> {
        step::Entity::find()
            .filter(step::Column::InstanceId.eq(id))
            .order_by_asc(step::Column::CompletedAt)
            .all(&self.db)
            .await
            .map_err(db_error)
    }

    fn context(&self, row: &instance::Model, def: &StepDef, journal: &[step::Model]) -> Result<StepContext, Error> {
        let results: BTreeMap<String, Value> = journal
            .iter()
            .map(|s| {
                Ok((
                    s.step.clone(),
                    serde_json::from_str(&s.result).map_err(Error::internal)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(StepContext {
            instance_id: parse_id(&row.id)?,
            kind: row.kind.clone(),
            business_key: row.business_key.clone(),
            step: def.name,
            attempt: u32::try_from(row.attempts).unwrap_or(0) + 1,
            input: serde_json::from_str(&row.input).map_err(Error::internal)?,
            results,
            versions: serde_json::from_str(&row.versions).map_err(Error::internal)?,
        })
    }

    /// Runs the next steps (or undos) of a claimed instance.
    async fn advance(&self, id: &str, claimed_at: std::time::Instant) -> Result<(), Error> {
        // Claimed in a batch, the instance may have waited its turn: past a tenth of its lease,
        // the lease is renewed before the step runs. Sooner, the claim's own lease still has
        // nine tenths of its time for the step, and each step's journal commit renews it.
        if claimed_at.elapsed() >= self.options.lease / 10 {
            let txn = keel_store::begin_write(&self.db).await?;
            let renew = self.fenced(id).col_expr(
                instance::Column::LeaseUntil,
                Expr::value(Utc::now() + chrono_duration(self.options.lease)),
            );
            if !self.commit_fenced(txn, renew).await? {
                return Ok(());
            }
        }
        let row = self.load(id).await?;
        if row.lease_owner.as_deref() != Some(self.options.owner.as_str()) {
            return Ok(());
        }
        let Some(workflow) = self.workflows.get(row.kind.as_str()).cloned() else {
            tracing::warn!(instance = id, kind = %row.kind, "no workflow of this kind is registered here");
            return self.release(id).await;
        };
        // A step done and journaled keeps the lease, and the next step runs at once under it:
        // a claim and a lease renewal fewer per step, and an instance's steps follow each other
        // without waiting for the next round. After `MAX_CHAINED_STEPS` the instance goes back
        // to the queue, so one long workflow does not hold a round.
        let mut row = row;
        for _ in 0..MAX_CHAINED_STEPS {
            let held = match Status::parse(&row.status) {
                Some(Status::Running) => self.run_next_step(&row, workflow.as_ref()).await?,
                Some(Status::Compensating) => {
                    self.compensate_next(&row, workflow.as_ref()).await?;
                    false
                }
                _ => {
                    self.release(id).await?;
                    false
                }
            };
            if !held {
                return Ok(());
            }
            row = self.load(id).await?;
            if row.lease_owner.as_deref() != Some(self.options.owner.as_str()) {
                return Ok(());
            }
        }
        self.release(id).await
    }

    /// Runs the instance's next step; answers whether this replica still holds the instance
    /// with a further step due (the step was done and journaled, and was not the last).
    async fn run_next_step(&self, row: &instance::Model, workflow: &dyn Workflow) -> Result<bool, Error> {
        let steps = workflow.steps();
        let index = usize::try_from(row.step_index).unwrap_or(usize::MAX);
        let journal = self.journal(&row.id).await?;
        let Some(def) = steps.get(index) else {
            self.finish(row).await?;
            return Ok(false);
        };
        if journal.iter().any(|s| s.step == def.name) {
            // Journaled by an earlier run whose advance did not commit: move on, never re-run.
            return self.record(row, def, None, steps.len()).await;
        }
        let cx = self.context(row, def, &journal)?;
        fail::fail_point!("workflow::before-step");
        let outcome = workflow.run_step(&cx).await;
        fail::fail_point!("workflow::after-step-call");
        match outcome {
            Ok(StepOutcome::Done(result)) => {
                let held = self.record(row, def, Some((result, cx.attempt)), steps.len()).await?;
                if let Some(system) = def.system {
                    self.close_incident(system).await?;
                }
                Ok(held)
            }
            Ok(StepOutcome::AwaitApproval(request)) => {
                self.await_approval(row, def, request).await?;
                Ok(false)
            }
            Err(error) if error.is_transient() => {
                if let Some(system) = def.system {
                    self.open_incident(system, &error).await?;
                }
                if cx.attempt >= def.retry.max_attempts {
                    self.raise(row, "RETRIES_EXHAUSTED", &error, cx.attempt).await?;
                } else {
                    let delay = def.retry.delay_after(cx.attempt);
                    self.retry_later(row, cx.attempt, delay, &error).await?;
                }
                Ok(false)
            }
            Err(error) => {
                let reason = match &error {
                    Error::InvalidInput(_) | Error::KeyMismatch(_) => "INVALID_INPUT",
                    Error::FailedPrecondition(_) => "FAILED_PRECONDITION",
                    Error::NotFound(_) => "NOT_FOUND",
                    Error::AlreadyExists(_) => "ALREADY_EXISTS",
                    Error::Aborted(_) => "CONFLICT",
                    Error::NotSupported(_) => "NOT_SUPPORTED",
                    Error::Forbidden(_) | Error::Unauthenticated(_) => "NOT_AUTHORIZED",
                    _ => "INTERNAL",
                };
                if workflow.compensate_on_failure() {
                    self.compensate_after_refusal(row, def, reason, &error, cx.attempt)
                        .await?;
                } else {
                    self.raise(row, reason, &error, cx.attempt).await?;
                }
                Ok(false)
            }
        }
    }

    /// A saga's step was refused: journal the refusal as the step's result (so the record keeps
    /// it, and the step's undo runs if it has one: it may have acted in part), and move the instance to compensating with the
    /// refusal as its reason and last error. The undos then run as for an abandoned instance.
    async fn compensate_after_refusal(
        &self,
        row: &instance::Model,
        def: &StepDef,
        reason: &str,
        error: &Error,
        attempts: u32,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let journaled = step::ActiveModel {
            instance_id: Set(row.id.clone()),
            step: Set(def.name.to_string()),
            result: Set(crate::definition::failed_step_result(reason, error).to_string()),
            attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
            completed_at: Set(now),
            compensated_at: Set(None),
        };
        match step::Entity::insert(journaled).exec(&txn).await {
            Ok(_) => {}
            Err(e) if keel_store::is_unique_violation(&e) => {}
            Err(e) => return Err(db_error(e)),
        }
        audit::append(
            &txn,
            AuditEntry {
                actor: ENGINE_ACTOR,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action: "compensation_started",
                detail: json!({ "step": def.name, "reason": reason, "error": error.to_string(), "attempts": attempts }),
            },
        )
        .await?;
        let update = self
            .fenced(&row.id)
            .col_expr(instance::Column::Status, Expr::value(Status::Compensating.as_str()))
            .col_expr(instance::Column::Reason, Expr::value(reason))
            .col_expr(instance::Column::Attempts, Expr::value(0))
            .col_expr(instance::Column::LastError, Expr::value(error.to_string()))
            .col_expr(instance::Column::NextRunAt, Expr::value(now))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        if self.commit_fenced(txn, update).await? {
            tracing::warn!(instance = %row.id, kind = %row.kind, step = def.name, reason, error = %error, "workflow step refused; compensating");
            self.waker.notify_one();
        }
        Ok(())
    }

    /// An update of the instance fenced by this replica's lease.
    fn fenced(&self, id: &str) -> sea_orm::UpdateMany<instance::Entity> {
        instance::Entity::update_many()
            .filter(instance::Column::Id.eq(id))
            .filter(instance::Column::LeaseOwner.eq(self.options.owner.clone()))
    }

    async fn commit_fenced(
        &self,
        txn: DatabaseTransaction,
        update: sea_orm::UpdateMany<instance::Entity>,
    ) -> Result<bool, Error> {
        let updated = update.exec(&txn).await.map_err(db_error)?;
        if updated.rows_affected != 1 {
            // The lease passed to another replica; it will do the work.
            drop(txn);
            return Ok(false);
        }
        fail::fail_point!("workflow::before-commit");
        txn.commit().await.map_err(db_error)?;
        fail::fail_point!("workflow::after-commit");
        Ok(true)
    }

    /// Journals a done step (unless `result` is `None`: already journaled) and moves on.
    /// Before the last step this replica keeps the instance, its lease renewed, and answers
    /// `true`: the next step is its to run now. The journal commit is what makes a step done,
    /// so a crash after it loses nothing: the lease runs out and any replica runs the next step.
    async fn record(
        &self,
        row: &instance::Model,
        def: &StepDef,
        result: Option<(Value, u32)>,
        step_count: usize,
    ) -> Result<bool, Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        if let Some((result, attempts)) = result {
            let journaled = step::ActiveModel {
                instance_id: Set(row.id.clone()),
                step: Set(def.name.to_string()),
                result: Set(result.to_string()),
                attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
                completed_at: Set(now),
                compensated_at: Set(None),
            };
            match step::Entity::insert(journaled).exec(&txn).await {
                Ok(_) => {}
                // Another run journaled it first: keep the first result.
                Err(e) if keel_store::is_unique_violation(&e) => return Ok(false),
                Err(e) => return Err(db_error(e)),
            }
        }
        fail::fail_point!("workflow::after-journal");
        let next = row.step_index + 1;
        let last = usize::try_from(next).unwrap_or(usize::MAX) >= step_count;
        // The next step is due now. This replica keeps the lease, renewed, to run it at once;
        // the last step lets the instance go.
        let mut update = self
            .fenced(&row.id)
            .col_expr(instance::Column::StepIndex, Expr::value(next))
            .col_expr(instance::Column::Attempts, Expr::value(0))
            .col_expr(instance::Column::NextRunAt, Expr::value(now))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        if !last {
            update = update.col_expr(
                instance::Column::LeaseUntil,
                Expr::value(Some(now + chrono_duration(self.options.lease))),
            );
        } else {
            update = update
                .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
                .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(instance::Column::Status, Expr::value(Status::Done.as_str()))
                .col_expr(instance::Column::OpenKey, Expr::value(Option::<String>::None));
            audit::append(
                &txn,
                AuditEntry {
                    actor: ENGINE_ACTOR,
                    record_type: RECORD_TYPE,
                    record_id: &row.id,
                    action: "done",
                    detail: json!({ "kind": row.kind, "business_key": row.business_key }),
                },
            )
            .await?;
        }
        let committed = self.commit_fenced(txn, update).await?;
        Ok(committed && !last)
    }

    async fn finish(&self, row: &instance::Model) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let update = self
            .fenced(&row.id)
            .col_expr(instance::Column::Status, Expr::value(Status::Done.as_str()))
            .col_expr(instance::Column::OpenKey, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        self.commit_fenced(txn, update).await?;
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), Error> {
        let txn = keel_store::begin_write(&self.db).await?;
        let update = self
            .fenced(id)
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None));
        self.commit_fenced(txn, update).await?;
        Ok(())
    }

    async fn retry_later(
        &self,
        row: &instance::Model,
        attempt: u32,
        delay: Duration,
        error: &Error,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let update = self
            .fenced(&row.id)
            .col_expr(
                instance::Column::Attempts,
                Expr::value(i32::try_from(attempt).unwrap_or(i32::MAX)),
            )
            .col_expr(instance::Column::NextRunAt, Expr::value(now + chrono_duration(delay)))
            .col_expr(instance::Column::LastError, Expr::value(error.to_string()))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        self.commit_fenced(txn, update).await?;
        Ok(())
    }

    /// Sends the instance to the exception queue.
    async fn raise(&self, row: &instance::Model, reason: &str, error: &Error, attempts: u32) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        audit::append(
            &txn,
            AuditEntry {
                actor: ENGINE_ACTOR,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action: "exception_raised",
                detail: json!({ "reason": reason, "error": error.to_string(), "attempts": attempts, "status_before": row.status }),
            },
        )
        .await?;
        let update = self
            .fenced(&row.id)
            .col_expr(instance::Column::Status, Expr::value(Status::Exception.as_str()))
            .col_expr(instance::Column::Reason, Expr::value(reason))
            .col_expr(
                instance::Column::Attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(instance::Column::LastError, Expr::value(error.to_string()))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        if self.commit_fenced(txn, update).await? {
            tracing::warn!(instance = %row.id, kind = %row.kind, reason, error = %error, "workflow exception raised");
        }
        Ok(())
    }

    async fn await_approval(
        &self,
        row: &instance::Model,
        def: &StepDef,
        request: ApprovalRequest,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let pending = approval::ActiveModel {
            instance_id: Set(row.id.clone()),
            step: Set(def.name.to_string()),
            role: Set(request.role.clone()),
            submitter: Set(request.submitter.clone()),
            summary: Set(request.summary.clone()),
            requested_at: Set(now),
            due_at: Set(now + chrono_duration(request.timeout)),
            escalate_to: Set(request.escalate_to.clone()),
            escalated: Set(false),
            decision: Set(None),
            decided_by: Set(None),
            decided_at: Set(None),
            note: Set(None),
        };
        match approval::Entity::insert(pending).exec(&txn).await {
            Ok(_) => {}
            Err(e) if keel_store::is_unique_violation(&e) => {}
            Err(e) => return Err(db_error(e)),
        }
        audit::append(
            &txn,
            AuditEntry {
                actor: ENGINE_ACTOR,
                record_type: RECORD_TYPE,
                record_id: &row.id,
                action: "approval_requested",
                detail: json!({ "step": def.name, "role": request.role, "submitter": request.submitter, "summary": request.summary }),
            },
        )
        .await?;
        let update = self
            .fenced(&row.id)
            .col_expr(instance::Column::Status, Expr::value(Status::AwaitingApproval.as_str()))
            .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(instance::Column::UpdatedAt, Expr::value(now));
        self.commit_fenced(txn, update).await?;
        Ok(())
    }

    /// Escalates approvals past their due time once, then sends the instance to the exception
    /// queue (`APPROVAL_TIMED_OUT`).
    async fn expire_approvals(&self) -> Result<(), Error> {
        let now = Utc::now();
        let overdue = approval::Entity::find()
            .filter(approval::Column::Decision.is_null())
            .filter(approval::Column::DueAt.lt(now))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        for pending in overdue {
            let txn = keel_store::begin_write(&self.db).await?;
            let waiting = instance::Entity::update_many()
                .filter(instance::Column::Id.eq(pending.instance_id.clone()))
                .filter(instance::Column::Status.eq(Status::AwaitingApproval.as_str()));
            match (&pending.escalate_to, pending.escalated) {
                (Some(to), false) => {
                    let timeout = pending.due_at - pending.requested_at;
                    approval::Entity::update_many()
                        .filter(approval::Column::InstanceId.eq(pending.instance_id.clone()))
                        .filter(approval::Column::Step.eq(pending.step.clone()))
                        .filter(approval::Column::Escalated.eq(false))
                        .col_expr(approval::Column::Role, Expr::value(to.clone()))
                        .col_expr(approval::Column::Escalated, Expr::value(true))
                        .col_expr(approval::Column::DueAt, Expr::value(now + timeout))
                        .exec(&txn)
                        .await
                        .map_err(db_error)?;
                    audit::append(
                        &txn,
                        AuditEntry {
                            actor: ENGINE_ACTOR,
                            record_type: RECORD_TYPE,
                            record_id: &pending.instance_id,
                            action: "approval_escalated",
                            detail: json!({ "step": pending.step, "from": pending.role, "to": to }),
                        },
                    )
                    .await?;
                }
                _ => {
                    let moved = waiting
                        .col_expr(instance::Column::Status, Expr::value(Status::Exception.as_str()))
                        .col_expr(instance::Column::Reason, Expr::value("APPROVAL_TIMED_OUT"))
                        .col_expr(
                            instance::Column::LastError,
                            Expr::value(format!("no decision from {} in time", pending.role)),
                        )
                        .col_expr(instance::Column::UpdatedAt, Expr::value(now))
                        .exec(&txn)
                        .await
                        .map_err(db_error)?;
                    // Mark the request expired so it is not timed out again.
                    approval::Entity::update_many()
                        .filter(approval::Column::InstanceId.eq(pending.instance_id.clone()))
                        .filter(approval::Column::Step.eq(pending.step.clone()))
                        .col_expr(approval::Column::Decision, Expr::value("expired"))
                        .col_expr(approval::Column::DecidedAt, Expr::value(now))
                        .exec(&txn)
                        .await
                        .map_err(db_error)?;
                    if moved.rows_affected == 1 {
                        audit::append(
                            &txn,
                            AuditEntry {
                                actor: ENGINE_ACTOR,
                                record_type: RECORD_TYPE,
                                record_id: &pending.instance_id,
                                action: "exception_raised",
                                detail: json!({ "reason": "APPROVAL_TIMED_OUT", "step": pending.step, "role": pending.role }),
                            },
                        )
                        .await?;
                    }
                }
            }
            txn.commit().await.map_err(db_error)?;
        }
        Ok(())
    }

    /// Undoes the latest done, compensable, not yet undone step; when none is left the
    /// instance is abandoned.
    async fn compensate_next(&self, row: &instance::Model, workflow: &dyn Workflow) -> Result<(), Error> {
        let journal = self.journal(&row.id).await?;
        let steps = workflow.steps();
        let pending = steps.iter().rev().filter(|def| def.compensable).find_map(|def| {
            journal
                .iter()
                .find(|s| s.step == def.name && s.compensated_at.is_none())
                .map(|s| (def, s))
        });
        let Some((def, done)) = pending else {
            let now = Utc::now();
            let txn = keel_store::begin_write(&self.db).await?;
            audit::append(
                &txn,
                AuditEntry {
                    actor: ENGINE_ACTOR,
                    record_type: RECORD_TYPE,
                    record_id: &row.id,
                    action: "abandoned",
                    detail: json!({ "compensated": journal.iter().filter(|s| s.compensated_at.is_some()).map(|s| s.step.clone()).collect::<Vec<_>>() }),
                },
            )
            .await?;
            let update = self
                .fenced(&row.id)
                .col_expr(instance::Column::Status, Expr::value(Status::Abandoned.as_str()))
                .col_expr(instance::Column::OpenKey, Expr::value(Option::<String>::None))
                .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
                .col_expr(instance::Column::UpdatedAt, Expr::value(now));
            self.commit_fenced(txn, update).await?;
            return Ok(());
        };
        let cx = self.context(row, def, &journal)?;
        let result: Value = serde_json::from_str(&done.result).map_err(Error::internal)?;
        match workflow.compensate(&cx, &result).await {
            Ok(()) => {
                let now = Utc::now();
                let txn = keel_store::begin_write(&self.db).await?;
                step::Entity::update_many()
                    .filter(step::Column::InstanceId.eq(row.id.clone()))
                    .filter(step::Column::Step.eq(def.name))
                    .col_expr(step::Column::CompensatedAt, Expr::value(now))
                    .exec(&txn)
                    .await
                    .map_err(db_error)?;
                audit::append(
                    &txn,
                    AuditEntry {
                        actor: ENGINE_ACTOR,
                        record_type: RECORD_TYPE,
                        record_id: &row.id,
                        action: "step_compensated",
                        detail: json!({ "step": def.name }),
                    },
                )
                .await?;
                let update = self
                    .fenced(&row.id)
                    .col_expr(instance::Column::Attempts, Expr::value(0))
                    .col_expr(instance::Column::NextRunAt, Expr::value(now))
                    .col_expr(instance::Column::LeaseOwner, Expr::value(Option::<String>::None))
                    .col_expr(instance::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .col_expr(instance::Column::UpdatedAt, Expr::value(now));
                self.commit_fenced(txn, update).await?;
                Ok(())
            }
            Err(error) if error.is_transient() && cx.attempt < def.retry.max_attempts => {
                self.retry_later(row, cx.attempt, def.retry.delay_after(cx.attempt), &error)
                    .await
            }
            Err(error) => self.raise(row, "COMPENSATION_FAILED", &error, cx.attempt).await,
        }
    }

    /// Counts one failure against the system's open incident, opening it on the first.
    /// Two rounds failing at once may both try to open it; the one that loses the race
    /// starts over and counts its failure against the incident the other opened.
    async fn open_incident(&self, system: &str, error: &Error) -> Result<(), Error> {
        for _ in 0..3 {
            if self.count_incident_failure(system, error).await? {
                return Ok(());
            }
        }
        Err(Error::Unavailable(format!(
            "could not record the failure of {system} against its incident"
        )))
    }

    /// `Ok(false)` when another round opened the incident between our look and our insert.
    async fn count_incident_failure(&self, system: &str, error: &Error) -> Result<bool, Error> {
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let bumped = incident::Entity::update_many()
            .filter(incident::Column::OpenSystem.eq(system))
            .col_expr(incident::Column::Failures, Expr::col(incident::Column::Failures).add(1))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if bumped.rows_affected == 0 {
            let id = keel_core::ids::new_id().to_string();
            let opened = incident::ActiveModel {
                id: Set(id.clone()),
                system: Set(system.to_string()),
                open_system: Set(Some(system.to_string())),
                opened_at: Set(now),
                closed_at: Set(None),
                first_error: Set(error.to_string()),
                failures: Set(1),
            };
            match incident::Entity::insert(opened).exec(&txn).await {
                Ok(_) => {
                    audit::append(
                        &txn,
                        AuditEntry {
                            actor: ENGINE_ACTOR,
                            record_type: "workflow_incident",
                            record_id: &id,
                            action: "opened",
                            detail: json!({ "system": system, "error": error.to_string() }),
                        },
                    )
                    .await?;
                    tracing::error!(system, error = %error, "system API unavailable: incident opened; work waits in the journal");
                }
                Err(e) if keel_store::is_unique_violation(&e) => {
                    txn.rollback().await.map_err(db_error)?;
                    return Ok(false);
                }
                Err(e) => return Err(db_error(e)),
            }
        }
        txn.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn close_incident(&self, system: &str) -> Result<(), Error> {
        let open = incident::Entity::find()
            .filter(incident::Column::OpenSystem.eq(system))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        let Some(open) = open else { return Ok(()) };
        let now = Utc::now();
        let txn = keel_store::begin_write(&self.db).await?;
        let closed = incident::Entity::update_many()
            .filter(incident::Column::Id.eq(open.id.clone()))
            .filter(incident::Column::OpenSystem.eq(system))
            .col_expr(incident::Column::OpenSystem, Expr::value(Option::<String>::None))
            .col_expr(incident::Column::ClosedAt, Expr::value(now))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if closed.rows_affected == 1 {
            audit::append(
                &txn,
                AuditEntry {
                    actor: ENGINE_ACTOR,
                    record_type: "workflow_incident",
                    record_id: &open.id,
                    action: "closed",
                    detail: json!({ "system": system, "failures": open.failures }),
                },
            )
            .await?;
            tracing::info!(system, failures = open.failures, "system API back: incident closed");
        }
        txn.commit().await.map_err(db_error)?;
        Ok(())
    }
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(Error::internal)
}

async fn open_instance<C: ConnectionTrait>(db: &C, open_key: &str) -> Result<Option<instance::Model>, Error> {
    instance::Entity::find()
        .filter(instance::Column::OpenKey.eq(open_key))
        .one(db)
        .await
        .map_err(db_error)
}

/// The key's latest finished instance, if its work is done.
async fn finished_instance<C: ConnectionTrait>(
    db: &C,
    kind: &str,
    business_key: &str,
) -> Result<Option<instance::Model>, Error> {
    instance::Entity::find()
        .filter(instance::Column::Kind.eq(kind))
        .filter(instance::Column::BusinessKey.eq(business_key))
        .filter(instance::Column::Status.eq(Status::Done.as_str()))
        .order_by_desc(instance::Column::CreatedAt)
        .one(db)
        .await
        .map_err(db_error)
}
