//! The reconciliation workflows.
//!
//! `reconciliation`: one instance per run (business key: the run id).
//! - `compare` (calls `erp`): reads the project (or every project PSA or ERP knows of) from
//!   both systems, [`reconcile::compare`]s each, and stores the report in billing's tables.
//! - `raise-exceptions`: starts one `reconciliation-difference` instance per difference found
//!   (business key: the difference's [identity](Difference::identity)). The engine keeps one open
//!   instance per key, so a difference found again by a later run is the same queue entry.
//!
//! `reconciliation-difference`: one step, `recheck` (calls `erp`), compares the difference's
//! project again and fails with `FAILED_PRECONDITION` naming the difference while it persists:
//! the instance waits in the exception queue with its reason, and a retry once it is fixed
//! closes it (DONE).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;
use keel_workflow::{Engine, EngineOptions, RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Downstream;
use crate::reconcile::{self, Difference};
use crate::reports;

/// The run workflow's kind.
pub const KIND: &str = "reconciliation";
pub const COMPARE: &str = "compare";
pub const RAISE_EXCEPTIONS: &str = "raise-exceptions";
/// The difference workflow's kind.
pub const DIFFERENCE_KIND: &str = "reconciliation-difference";
pub const RECHECK: &str = "recheck";

/// A run's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInput {
    pub run_id: String,
    /// Empty: every project.
    pub project_id: String,
}

/// The `reconciliation` workflow.
pub struct Reconciliation {
    downstream: Downstream,
    db: DatabaseConnection,
    /// An engine over the same store that knows only `reconciliation-difference`: this
    /// workflow uses it to start those instances, which the platform's engine runs.
    raiser: Engine,
    steps: [StepDef; 2],
}

impl std::fmt::Debug for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciliation").finish_non_exhaustive()
    }
}

impl Reconciliation {
    /// Steps retried under `retry`.
    pub fn with_retry(downstream: Downstream, db: DatabaseConnection, retry: RetryPolicy) -> Reconciliation {
        let raiser = Engine::new(
            db.clone(),
            vec![Arc::new(ReconciliationDifference::with_retry(
                downstream.clone(),
                retry,
            ))],
            EngineOptions::default(),
        );
        Reconciliation {
            downstream,
            db,
            raiser,
            steps: [
                StepDef::new(COMPARE).calls("erp").with_retry(retry),
                StepDef::new(RAISE_EXCEPTIONS).with_retry(retry),
            ],
        }
    }

    /// A run's workflow input.
    pub fn input(run_id: &str, project_id: &str) -> Value {
        json!({ "run_id": run_id, "project_id": project_id })
    }

    async fn projects(&self, input: &RunInput) -> Result<BTreeSet<String>, Error> {
        if !input.project_id.is_empty() {
            return Ok(BTreeSet::from([input.project_id.clone()]));
        }
        let (projects, codes) = tokio::try_join!(self.downstream.projects(), self.downstream.project_codes())?;
        Ok(projects
            .into_iter()
            .map(|p| p.id)
            .chain(codes.into_iter().map(|c| c.project_id))
            .filter(|id| !id.is_empty())
            .collect())
    }

    async fn compare(&self, cx: &StepContext) -> Result<Value, Error> {
        let input: RunInput = serde_json::from_value(cx.input.clone()).map_err(Error::internal)?;
        let projects = self.projects(&input).await?;
        let mut differences = Vec::new();
        for project_id in &projects {
            let facts = reconcile::gather(&self.downstream, project_id).await?;
            differences.extend(reconcile::compare(&facts));
        }
        reports::store_comparison(
            &self.db,
            &input.run_id,
            projects.len(),
            &differences,
            keel_workflow::ENGINE_ACTOR,
        )
        .await?;
        Ok(json!({ "projects_compared": projects.len(), "differences": differences.len() }))
    }

    async fn raise_exceptions(&self, cx: &StepContext) -> Result<Value, Error> {
        let input: RunInput = serde_json::from_value(cx.input.clone()).map_err(Error::internal)?;
        let rows = reports::differences_of(&self.db, &input.run_id, None).await?;
        let mut raised = 0usize;
        for row in &rows {
            let difference = Difference {
                project_id: row.project_id.clone(),
                kind: kind_of(&row.kind)?,
                record_type: row.record_type.clone(),
                record_id: row.record_id.clone(),
                psa_value: row.psa_value.clone(),
                erp_value: row.erp_value.clone(),
                message: row.message.clone(),
            };
            let started = self
                .raiser
                .start(
                    DIFFERENCE_KIND,
                    &row.identity,
                    serde_json::to_value(&difference).map_err(Error::internal)?,
                    json!({}),
                    &format!("reconciliation:{}", input.run_id),
                )
                .await?;
            raised += usize::from(started.created);
            reports::set_exception(&self.db, &row.id, &started.id.to_string()).await?;
        }
        Ok(json!({ "differences": rows.len(), "raised": raised }))
    }
}

fn kind_of(text: &str) -> Result<reconcile::DifferenceKind, Error> {
    use reconcile::DifferenceKind::*;
    [MissingInErp, MissingInPsa, Duplicated, Altered]
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| Error::internal(format!("stored difference kind {text:?}")))
}

#[async_trait]
impl Workflow for Reconciliation {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, run.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            COMPARE => self.compare(cx).await?,
            RAISE_EXCEPTIONS => self.raise_exceptions(cx).await?,
            other => return Err(Error::internal(format!("unknown reconciliation step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }
}

/// The `reconciliation-difference` workflow: one open instance per difference.
#[derive(Debug)]
pub struct ReconciliationDifference {
    downstream: Downstream,
    steps: [StepDef; 1],
}

impl ReconciliationDifference {
    /// Steps retried under `retry`.
    pub fn with_retry(downstream: Downstream, retry: RetryPolicy) -> ReconciliationDifference {
        ReconciliationDifference {
            downstream,
            steps: [StepDef::new(RECHECK).calls("erp").with_retry(retry)],
        }
    }

    async fn recheck(&self, cx: &StepContext) -> Result<Value, Error> {
        let difference: Difference = serde_json::from_value(cx.input.clone()).map_err(Error::internal)?;
        let facts = reconcile::gather(&self.downstream, &difference.project_id).await?;
        let identity = difference.identity();
        match reconcile::compare(&facts)
            .into_iter()
            .find(|d| d.identity() == identity)
        {
            Some(still) => Err(Error::FailedPrecondition(format!(
                "{} {} {}: {}",
                still.kind.as_str(),
                still.record_type,
                still.record_id,
                still.message
            ))),
            None => Ok(json!({ "closed": true, "identity": identity })),
        }
    }
}

#[async_trait]
impl Workflow for ReconciliationDifference {
    fn kind(&self) -> &'static str {
        DIFFERENCE_KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = DIFFERENCE_KIND, workflow.step = cx.step, difference = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        match cx.step {
            RECHECK => Ok(StepOutcome::Done(self.recheck(cx).await?)),
            other => Err(Error::internal(format!(
                "unknown reconciliation-difference step {other}"
            ))),
        }
    }
}
