//! Evaluating a project: gather its facts, compute its health under the policy, and in one
//! transaction store the evaluation (with the policy version), open, update or resolve its
//! alerts, and store a notification per alert opened; then broadcast those notifications.
//! Events about a project and a periodic sweep of active projects both come here.
//!
//! Two evaluations of one project may overlap (an event and the sweep, two events): the one
//! that read later wins. Each evaluation's row keeps when it began reading (`read_at`), and an
//! evaluation records only over an older reading; one that read before the recorded one
//! changes nothing (no alert opened, updated or resolved, no notification) and answers the
//! recorded evaluation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use keel_core::Error;
use keel_proto::health as pb;
use keel_proto::health::EvaluateProjectRequest;
use keel_proto::psa::ProjectStatus;
use prost::Message;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use tokio_util::sync::CancellationToken;

use crate::alerts::{self, Recipient};
use crate::clients::Downstream;
use crate::health::{self, ProjectHealth};
use crate::insight::{self, InsightOutcome, InsightSettings};
use crate::notifications::{self, Notifier};
use crate::policy::HealthPolicy;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "health_evaluations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        pub status: String,
        /// The evaluation as `keel.health.v1.ProjectHealth`.
        pub health: Vec<u8>,
        pub policy_version: String,
        pub evaluated_at: DateTimeUtc,
        /// When the recorded evaluation began reading the project's facts (none before it was
        /// kept).
        pub read_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Times an evaluation is retried when a concurrent one opened the same alert first.
const CONFLICT_RETRIES: usize = 3;

/// Evaluates projects. Clones share the policy, the clients and the notifier.
#[derive(Clone)]
pub struct Evaluator {
    db: DatabaseConnection,
    downstream: Downstream,
    policy: Arc<HealthPolicy>,
    notifier: Notifier,
    insight: Arc<InsightSettings>,
    today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
}

/// One evaluation computed, not yet stored.
struct Computed {
    health: ProjectHealth,
    recipients: Vec<Recipient>,
    insight: InsightOutcome,
}

/// One evaluation read and computed, not yet recorded ([`Evaluator::read`]).
pub struct Reading {
    /// When it began reading: of two evaluations, the one that read later is recorded.
    read_at: DateTime<Utc>,
    computed: Computed,
}

impl Reading {
    pub fn read_at(&self) -> DateTime<Utc> {
        self.read_at
    }

    /// The health it computed.
    pub fn status(&self) -> &'static str {
        self.computed.health.status()
    }
}

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reading")
            .field("project_id", &self.computed.health.project_id)
            .field("read_at", &self.read_at)
            .finish_non_exhaustive()
    }
}

/// What recording a reading did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The project's recorded evaluation: this one, or the later one that superseded it.
    pub health: pb::ProjectHealth,
    /// An evaluation that read later was recorded first: this one changed nothing.
    pub superseded: bool,
}

/// What storing a reading inside a transaction did.
enum Stored {
    /// Stored, with the notifications to broadcast once committed.
    Recorded(pb::ProjectHealth, Vec<notifications::entity::Model>),
    /// A later reading is recorded: nothing to commit.
    Superseded(pb::ProjectHealth),
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("policy", &self.policy.version)
            .finish_non_exhaustive()
    }
}

fn decimal_text(value: Option<rust_decimal::Decimal>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn burn_proto(burn: &health::Burn, currency: &str) -> pb::Burn {
    pb::Burn {
        baseline: burn.baseline.to_string(),
        actual: burn.actual.to_string(),
        burn_percent: decimal_text(burn.burn_percent),
        over_baseline_percent: decimal_text(burn.over_baseline_percent),
        currency: currency.to_string(),
    }
}

/// The gRPC view of an evaluation.
pub fn to_proto(health: &ProjectHealth, evaluated_at: chrono::DateTime<Utc>) -> pb::ProjectHealth {
    pb::ProjectHealth {
        project_id: health.project_id.clone(),
        project_name: health.project_name.clone(),
        status: health.status().to_string(),
        effort: Some(burn_proto(&health.effort, "")),
        money: Some(burn_proto(&health.money, &health.currency)),
        roles: health
            .roles
            .iter()
            .map(|r| pb::RoleBurn {
                role: r.role.clone(),
                effort: Some(burn_proto(&r.effort, "")),
                money: Some(burn_proto(&r.money, &health.currency)),
            })
            .collect(),
        milestones: health
            .milestones
            .iter()
            .map(|m| pb::MilestoneVariance {
                milestone_id: m.id.clone(),
                name: m.name.clone(),
                due_date: m.due_date.to_string(),
                status: m.status.clone(),
                days_late: m.days_late,
            })
            .collect(),
        schedule_variance_days: health.schedule_variance_days,
        unapproved_hours: health.unapproved_hours.to_string(),
        open_high_severity_tickets: health.open_high_severity_tickets,
        open_escalated_tickets: health.open_escalated_tickets,
        breaches: health
            .breaches
            .iter()
            .map(|b| pb::Breach {
                kind: b.kind.clone(),
                measured: b.measured.to_string(),
                threshold: b.threshold.to_string(),
                summary: b.summary.clone(),
            })
            .collect(),
        not_measured: health.not_measured.clone(),
        policy_version: health.policy_version.clone(),
        evaluated_at: Some(keel_core::time::to_timestamp(evaluated_at)),
        margin_forecast: None,
    }
}

impl Evaluator {
    /// Evaluates against today's UTC date.
    pub fn new(db: DatabaseConnection, downstream: Downstream, policy: HealthPolicy, notifier: Notifier) -> Evaluator {
        Evaluator {
            db,
            downstream,
            policy: Arc::new(policy),
            notifier,
            insight: Arc::new(InsightSettings::default()),
            today: Arc::new(|| Utc::now().date_naive()),
        }
    }

    /// The firm's `[insight]` switches (`insight.toml`): the margin forecast and the
    /// time-entry anomalies run on each evaluation only when theirs is on.
    pub fn with_insight(mut self, settings: InsightSettings) -> Evaluator {
        self.insight = Arc::new(settings);
        self
    }

    pub fn insight(&self) -> &InsightSettings {
        &self.insight
    }

    /// The same with a fixed idea of today (tests).
    pub fn with_today(mut self, today: impl Fn() -> NaiveDate + Send + Sync + 'static) -> Evaluator {
        self.today = Arc::new(today);
        self
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Who the project's alerts go to: the policy's roles, the project manager resolved to the
    /// person PSA has assigned in a project-manager role when there is one.
    async fn recipients(&self, project_id: &str) -> Result<Vec<Recipient>, Error> {
        let pm_roles = &self.policy.recipients.project_manager_assignment_roles;
        let mut recipients = Vec::new();
        for role in &self.policy.recipients.roles {
            if role == "project_manager" && !pm_roles.is_empty() {
                let assignments = self.downstream.assignments(project_id).await?;
                let mut managers: Vec<String> = assignments
                    .into_iter()
                    .filter(|a| pm_roles.iter().any(|r| r.eq_ignore_ascii_case(a.role.trim())))
                    .map(|a| a.employee_id)
                    .collect();
                managers.sort();
                managers.dedup();
                if !managers.is_empty() {
                    recipients.extend(managers.into_iter().map(|employee_id| Recipient {
                        role: role.clone(),
                        employee_id,
                    }));
                    continue;
                }
            }
            recipients.push(Recipient {
                role: role.clone(),
                employee_id: String::new(),
            });
        }
        Ok(recipients)
    }

    /// Gathers and computes, without storing anything: the health, and the margin forecast
    /// and anomaly flags the switches allow (a forecast below the floor is a breach).
    async fn compute(&self, project_id: &str) -> Result<Computed, Error> {
        let today = (self.today)();
        let facts = self.downstream.facts(project_id, today).await?;
        let mut health = health::evaluate(&facts, &self.policy);
        let recipients = self.recipients(project_id).await?;
        let switches = &self.insight.switches;
        let reads = if switches.margin_forecast || switches.anomalies {
            Some(self.downstream.insight_reads(project_id).await?)
        } else {
            None
        };
        let outcome = insight::assess(&facts, reads.as_ref(), &self.policy, &self.insight, today);
        if let Some(breach) = outcome.forecast.as_ref().and_then(|f| f.breach.clone()) {
            health.breaches.push(breach);
        }
        health.not_measured.extend(outcome.not_measured.iter().cloned());
        Ok(Computed {
            health,
            recipients,
            insight: outcome,
        })
    }

    /// Stores the evaluation and applies it to the alerts inside `txn`: the stored view and
    /// the notifications to broadcast once committed; or, when a later reading is recorded,
    /// that one's view, and `txn` must not be committed.
    async fn store(&self, txn: &DatabaseTransaction, reading: &Reading, actor: &str) -> Result<Stored, Error> {
        let Computed {
            health,
            recipients,
            insight: outcome,
        } = &reading.computed;
        let now = Utc::now();
        let mut view = to_proto(health, now);
        if let Some(made) = &outcome.forecast {
            view.margin_forecast = Some(insight::save_forecast(txn, made).await?);
        }
        if !save_evaluation(txn, &view, reading.read_at).await? {
            tracing::info!(project.id = %health.project_id, read_at = %reading.read_at, "a later evaluation was recorded first; this one changes nothing");
            let recorded = latest_in(txn, &health.project_id)
                .await?
                .ok_or_else(|| Error::internal("the later evaluation's row is gone"))?;
            return Ok(Stored::Superseded(recorded));
        }
        let changes = alerts::apply(txn, health, recipients, actor).await?;
        let mut flagged = 0;
        if !outcome.flags.is_empty() {
            // The project's manager reviews its flags: the person PSA assigns, or the role.
            let mut reviewers: Vec<Recipient> = recipients
                .iter()
                .filter(|r| r.role == "project_manager")
                .cloned()
                .collect();
            if reviewers.is_empty() {
                reviewers.push(Recipient {
                    role: "project_manager".into(),
                    employee_id: String::new(),
                });
            }
            flagged = insight::save_flags(txn, &health.project_id, &outcome.flags, &reviewers, &self.insight).await?;
        }
        let mut stored = Vec::with_capacity(changes.opened.len());
        for alert in &changes.opened {
            stored.push(self.notifier.alert_opened(txn, alert, &health.project_name).await?);
        }
        tracing::info!(
            project.id = %health.project_id,
            status = health.status(),
            opened = changes.opened.len(),
            updated = changes.updated.len(),
            resolved = changes.resolved.len(),
            anomalies.new = flagged,
            policy.version = %health.policy_version,
            "project evaluated"
        );
        Ok(Stored::Recorded(view, stored))
    }

    /// Reads the project's facts and computes its evaluation, recording nothing.
    pub async fn read(&self, project_id: &str) -> Result<Reading, Error> {
        let read_at = Utc::now().trunc_subsecs(6);
        let computed = self.compute(project_id).await?;
        Ok(Reading { read_at, computed })
    }

    /// Records a reading (the evaluation, its alerts and notifications) in one transaction,
    /// unless one that read the project later was recorded first: then nothing changes and
    /// the answer is that one, `superseded`.
    pub async fn record(&self, reading: &Reading, actor: &str) -> Result<Recorded, Error> {
        let txn = keel_store::begin_write(&self.db).await?;
        match self.store(&txn, reading, actor).await? {
            Stored::Recorded(view, stored) => {
                txn.commit().await.map_err(keel_store::db_error)?;
                self.notifier.publish(&stored);
                Ok(Recorded {
                    health: view,
                    superseded: false,
                })
            }
            Stored::Superseded(view) => {
                txn.rollback().await.map_err(keel_store::db_error)?;
                Ok(Recorded {
                    health: view,
                    superseded: true,
                })
            }
        }
    }

    /// Evaluates `project_id` now (events and the sweep).
    #[tracing::instrument(skip_all, fields(project.id = %project_id))]
    pub async fn evaluate(&self, project_id: &str, actor: &str) -> Result<pb::ProjectHealth, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reading = self.read(project_id).await?;
            match self.record(&reading, actor).await {
                Ok(recorded) => return Ok(recorded.health),
                Err(e) if attempt < CONFLICT_RETRIES && is_conflict(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Evaluates once per idempotency key: a replay answers the first evaluation.
    pub async fn evaluate_once(
        &self,
        request: &EvaluateProjectRequest,
        actor: &str,
    ) -> Result<pb::ProjectHealth, Error> {
        let reading = self.read(&request.project_id).await?;
        let published: Arc<Mutex<Vec<notifications::entity::Model>>> = Arc::default();
        let sink = published.clone();
        let this = self.clone();
        let actor = actor.to_string();
        let view = keel_store::idempotency::run_once(
            &self.db,
            "EvaluateProject",
            &request.idempotency_key,
            request,
            move |txn| {
                Box::pin(async move {
                    match this.store(txn, &reading, &actor).await? {
                        Stored::Recorded(view, stored) => {
                            if let Ok(mut sink) = sink.lock() {
                                sink.extend(stored);
                            }
                            Ok(view)
                        }
                        // Nothing of this reading was written: the key answers the later one.
                        Stored::Superseded(view) => Ok(view),
                    }
                })
            },
        )
        .await?;
        let stored = published
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        self.notifier.publish(&stored);
        Ok(view)
    }

    /// The latest stored evaluation of `project_id`.
    pub async fn latest(&self, project_id: &str) -> Result<Option<pb::ProjectHealth>, Error> {
        latest_in(&self.db, project_id).await
    }

    /// The latest evaluations of `project_ids` (those never evaluated left out), in the
    /// order named.
    pub async fn latest_of(&self, project_ids: &[String]) -> Result<Vec<pb::ProjectHealth>, Error> {
        let rows = entity::Entity::find()
            .filter(entity::Column::ProjectId.is_in(project_ids.iter().cloned()))
            .all(&self.db)
            .await
            .map_err(keel_store::db_error)?;
        let mut by_id = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let health = pb::ProjectHealth::decode(row.health.as_slice()).map_err(Error::internal)?;
            by_id.insert(row.project_id, health);
        }
        Ok(project_ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Evaluates every ACTIVE project in PSA; returns how many were evaluated. A project that
    /// fails is logged and the sweep goes on.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let projects = self.downstream.projects().await?;
        let mut evaluated = 0;
        for project in projects.iter().filter(|p| p.status == ProjectStatus::Active as i32) {
            match self.evaluate(&project.id, "service:delivery-health:sweep").await {
                Ok(_) => evaluated += 1,
                Err(error) => tracing::warn!(project.id = %project.id, error = %error, "evaluation failed"),
            }
        }
        Ok(evaluated)
    }

    /// Sweeps every `interval` until `cancel` fires.
    pub async fn run_sweeps(self, interval: Duration, cancel: CancellationToken) {
        loop {
            if let Err(error) = self.sweep().await {
                tracing::warn!(error = %error, "health sweep failed");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// A unique violation from a concurrent evaluation (the alert it opened first).
fn is_conflict(error: &Error) -> bool {
    matches!(error, Error::Aborted(_))
}

async fn latest_in<C: ConnectionTrait>(db: &C, project_id: &str) -> Result<Option<pb::ProjectHealth>, Error> {
    let row = entity::Entity::find_by_id(project_id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)?;
    row.map(|row| pb::ProjectHealth::decode(row.health.as_slice()).map_err(Error::internal))
        .transpose()
}

/// Stores the evaluation over an older reading (or none); `false`, writing nothing, when the
/// recorded evaluation read at or after `read_at`. The row (its lock, on PostgreSQL) orders
/// concurrent evaluations of a project.
async fn save_evaluation<C: ConnectionTrait>(
    txn: &C,
    view: &pb::ProjectHealth,
    read_at: DateTime<Utc>,
) -> Result<bool, Error> {
    use sea_orm::sea_query::ExprTrait as _;
    let row = entity::ActiveModel {
        project_id: Set(view.project_id.clone()),
        status: Set(view.status.clone()),
        health: Set(view.encode_to_vec()),
        policy_version: Set(view.policy_version.clone()),
        evaluated_at: Set(Utc::now()),
        read_at: Set(Some(read_at)),
    };
    let recorded = Expr::col((entity::Entity, entity::Column::ReadAt));
    let written = entity::Entity::insert(row)
        .on_conflict(
            OnConflict::column(entity::Column::ProjectId)
                .update_columns([
                    entity::Column::Status,
                    entity::Column::Health,
                    entity::Column::PolicyVersion,
                    entity::Column::EvaluatedAt,
                    entity::Column::ReadAt,
                ])
                .action_and_where(recorded.clone().is_null().or(recorded.lt(read_at)))
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(keel_store::db_error)?;
    Ok(written > 0)
}
