//! The setup worker: drives each running setup through its steps.
//!
//! A step's outcome is recorded before the next begins, so a restart resumes at the step
//! that did not finish; the step's downstream call carries the key `setup-<id>-<step>`, so
//! repeating it cannot create twice. Transient failures (a system API down or slow) wait with
//! exponential backoff and jitter; past `max_attempts`, or on any failure a person must fix,
//! the setup goes to the exception list. A lease on each setup lets replicas share the work
//! without running one setup twice at once.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use keel_core::Error;
use keel_proto::collaboration::CreateWorkspaceRequest;
use keel_proto::documents::{CreateDocumentRequest, DocumentType, SetRetentionRequest};
use keel_proto::erp::{
    BudgetLine as ErpBudgetLine, CreateBillingMilestoneRequest, CreateProjectCodeRequest, PostBudgetRequest,
};
use keel_proto::psa::CreateProjectRequest;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clients::Downstream;
use crate::intake::Approval;
use crate::policy::{self, ValidDeal};
use crate::setups::{self, Advance, entity::Model as SetupRow, step};

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// How often to look for due setups when not woken.
    pub poll_interval: Duration,
    /// How long a worker holds a setup before another may take it over.
    pub lease: Duration,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts of one step before the setup goes to the exception list.
    pub max_attempts: u32,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(100),
            max_attempts: 20,
        }
    }
}

/// What became of one step.
enum Outcome {
    Advanced(Box<SetupRow>),
    Finished,
}

#[derive(Clone)]
pub struct Worker {
    db: DatabaseConnection,
    downstream: Downstream,
    options: WorkerOptions,
    waker: Arc<Notify>,
    owner: String,
    metrics: Option<keel_telemetry::Metrics>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(db: DatabaseConnection, downstream: Downstream, options: WorkerOptions) -> Worker {
        Worker {
            db,
            downstream,
            options,
            waker: Arc::new(Notify::new()),
            owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            metrics: None,
        }
    }

    /// Counts exceptions in these metrics.
    pub fn with_metrics(mut self, metrics: keel_telemetry::Metrics) -> Worker {
        self.metrics = Some(metrics);
        self
    }

    /// Wakes the worker at once (the consumer calls it after recording a setup).
    pub fn waker(&self) -> Arc<Notify> {
        self.waker.clone()
    }

    /// Works every due setup once. Returns how many it took.
    pub async fn run_due(&self) -> Result<usize, Error> {
        let now = Utc::now();
        let due = setups::due(&self.db, now, 20).await?;
        let mut taken = 0;
        for mut row in due {
            let until = now + self.lease();
            if !setups::claim(&self.db, &row.id, &self.owner, now, until).await? {
                continue;
            }
            // The row was read before the claim; each step saves it whole, so it must carry
            // the lease, or the first step would release it while this worker still drives.
            row.lease_owner = Some(self.owner.clone());
            row.lease_until = Some(until);
            taken += 1;
            self.drive(row).await;
        }
        Ok(taken)
    }

    /// Runs until `shutdown`: at once when woken, else every poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = %e, "setup worker pass failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.waker.notified() => {}
                _ = tokio::time::sleep(self.options.poll_interval) => {}
            }
        }
    }

    /// Takes one setup as far as it will go now.
    #[tracing::instrument(skip_all, fields(setup.id = %row.id, opportunity.id = %row.opportunity_id))]
    async fn drive(&self, mut row: SetupRow) {
        loop {
            let current_step = row.step.clone();
            match self.step(&row).await {
                Ok(Outcome::Advanced(next)) => row = *next,
                Ok(Outcome::Finished) => return,
                Err(error) if error.is_transient() => {
                    let attempts = row.attempts.max(0) as u32 + 1;
                    if attempts >= self.options.max_attempts {
                        let reason = format!("step {current_step} failed {attempts} times; last error: {error}");
                        row.attempts = row.attempts.max(0) + 1;
                        self.fail(&row, "RETRIES_EXHAUSTED", &reason, &[]).await;
                    } else {
                        let delay = self.backoff(attempts);
                        tracing::warn!(step = %current_step, attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "step will be retried");
                        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                        if let Err(e) = setups::retry_later(&self.db, &row, at, &error.to_string()).await {
                            tracing::error!(error = %e, "could not schedule the retry; the lease will lapse and the step run again");
                        }
                    }
                    return;
                }
                Err(error) => {
                    let fields: Vec<String> = error.field_violations().iter().map(|v| v.field.clone()).collect();
                    let reason = format!("step {current_step} was rejected: {error}");
                    self.fail(&row, "DOWNSTREAM_REJECTED", &reason, &fields).await;
                    return;
                }
            }
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        ExponentialBuilder::default()
            .with_min_delay(self.options.base_backoff)
            .with_max_delay(self.options.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(self.options.max_backoff)
    }

    async fn fail(&self, row: &SetupRow, code: &str, reason: &str, fields: &[String]) {
        tracing::warn!(code, reason, "setup moved to the exception list");
        if let Some(metrics) = &self.metrics {
            metrics.record_workflow_exception(crate::SERVICE_NAME, code);
        }
        let result = async {
            let txn = keel_store::begin_write(&self.db).await?;
            setups::to_exception(&txn, row, code, reason, fields).await?;
            txn.commit().await.map_err(keel_store::db_error)
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record the exception; the lease will lapse and the step run again");
        }
    }

    /// Records a finished step and renews this worker's lease, so a long setup is not taken
    /// over by another replica between steps.
    async fn advance(&self, row: &SetupRow, advance: Advance) -> Result<SetupRow, Error> {
        let mut renewed = row.clone();
        renewed.lease_until = Some(Utc::now() + self.lease());
        let txn = keel_store::begin_write(&self.db).await?;
        let next = setups::advance(&txn, &renewed, advance).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(next)
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.options.lease).unwrap_or_else(|_| chrono::Duration::seconds(60))
    }

    fn key(row: &SetupRow, step: &str) -> String {
        format!("setup-{}-{step}", row.id)
    }

    async fn step(&self, row: &SetupRow) -> Result<Outcome, Error> {
        let opportunity = setups::opportunity_of(row)?;
        // Validation is pure and cheap; every step re-derives the checked deal from the
        // recorded opportunity rather than storing it twice.
        let deal = match policy::validate_deal(&opportunity) {
            Ok(deal) => deal,
            Err(rejection) => {
                self.fail(row, rejection.code, &rejection.reason, &rejection.fields)
                    .await;
                return Ok(Outcome::Finished);
            }
        };
        match row.step.as_str() {
            step::VALIDATE => {
                let advance = Advance {
                    step: step::SELECT_TEMPLATE,
                    ..Default::default()
                };
                Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)))
            }
            step::SELECT_TEMPLATE => {
                match crate::intake::approved_for(&self.db, &row.opportunity_id).await? {
                    Approval::NoIntake => {}
                    Approval::Waiting { recommendation_id } => {
                        let txn = keel_store::begin_write(&self.db).await?;
                        setups::wait_for_decision(&txn, row, &recommendation_id).await?;
                        txn.commit().await.map_err(keel_store::db_error)?;
                        // A decision committed between the read above and this wait woke a
                        // setup that was not yet waiting; look again so it is not lost.
                        if let Approval::Approved { .. } =
                            crate::intake::approved_for(&self.db, &row.opportunity_id).await?
                        {
                            let txn = keel_store::begin_write(&self.db).await?;
                            setups::wake_waiting(&txn, &row.opportunity_id).await?;
                            txn.commit().await.map_err(keel_store::db_error)?;
                            self.waker.notify_one();
                        }
                        tracing::info!(recommendation.id = %recommendation_id, "setup waits for the intake decision");
                        return Ok(Outcome::Finished);
                    }
                    Approval::Approved {
                        recommendation_id,
                        template_id,
                        decided_by,
                    } => {
                        let templates = self.downstream.list_templates().await?;
                        if !templates.iter().any(|t| t.id == template_id) {
                            let reason = format!(
                                "the template {template_id} {decided_by} approved (recommendation {recommendation_id}) is not a PSA delivery template"
                            );
                            self.fail(row, "NO_TEMPLATE", &reason, &["template_id".to_string()])
                                .await;
                            return Ok(Outcome::Finished);
                        }
                        let advance = Advance {
                            step: step::CREATE_PROJECT,
                            template_id: Some(template_id),
                            approval: Some((recommendation_id, decided_by)),
                            ..Default::default()
                        };
                        return Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)));
                    }
                }
                let templates = self.downstream.list_templates().await?;
                match policy::select_template(&deal, &templates) {
                    Ok(template) => {
                        let advance = Advance {
                            step: step::CREATE_PROJECT,
                            template_id: Some(template.id.clone()),
                            template_version: Some(template.version),
                            ..Default::default()
                        };
                        Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)))
                    }
                    Err(rejection) => {
                        self.fail(row, rejection.code, &rejection.reason, &rejection.fields)
                            .await;
                        Ok(Outcome::Finished)
                    }
                }
            }
            step::CREATE_PROJECT => {
                let (project_id, template_version) = self.create_project(row, &deal).await?;
                let advance = Advance {
                    step: step::OPEN_PROJECT_CODE,
                    project_id: Some(project_id),
                    // The version PSA built the project from (a newer one than selected when
                    // the template changed in between).
                    template_version: Some(template_version),
                    ..Default::default()
                };
                Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)))
            }
            step::OPEN_PROJECT_CODE => {
                let code = self.open_project_code(row, &deal).await?;
                let advance = Advance {
                    step: step::POST_BUDGET,
                    project_code: Some(code),
                    ..Default::default()
                };
                Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)))
            }
            step::POST_BUDGET => {
                self.post_budget(row).await?;
                self.next(row, step::CREATE_BILLING_MILESTONES).await
            }
            step::CREATE_BILLING_MILESTONES => {
                self.create_billing_milestones(row).await?;
                self.next(row, step::OPEN_WORKSPACE).await
            }
            step::OPEN_WORKSPACE => {
                self.open_workspace(row, &deal).await?;
                self.next(row, step::FILE_SOW).await
            }
            step::FILE_SOW => {
                self.file_sow(row, &deal).await?;
                self.advance(
                    row,
                    Advance {
                        step: step::DONE,
                        ..Default::default()
                    },
                )
                .await?;
                tracing::info!(project.id = %row.project_id, project.code = %row.project_code, "setup completed");
                Ok(Outcome::Finished)
            }
            other => Err(Error::internal(format!(
                "setup {} is at unknown step {other:?}",
                row.id
            ))),
        }
    }

    /// The project's id and the version of the template PSA created it from.
    async fn create_project(&self, row: &SetupRow, deal: &ValidDeal) -> Result<(String, u32), Error> {
        let request = CreateProjectRequest {
            idempotency_key: Self::key(row, step::CREATE_PROJECT),
            opportunity_id: deal.opportunity_id.clone(),
            account_id: deal.account_id.clone(),
            name: deal.name.clone(),
            template_id: row.template_id.clone(),
            service_line: deal.service_line.clone(),
            contract_type: deal.contract_type.clone(),
            region: deal.region.clone(),
            client_tier: deal.client_tier.clone(),
            contract_value: Some(deal.amount.to_proto()),
            start_date: deal.close_date.to_string(),
        };
        match self.downstream.create_project(request).await {
            Ok(project) => Ok((project.id, project.template_version)),
            // PSA already holds this opportunity's project (made by an earlier attempt whose
            // answer was lost): adopt it rather than fail.
            Err(Error::AlreadyExists(_)) => {
                let project = self.downstream.project_for_opportunity(&deal.opportunity_id).await?;
                Ok((project.id, project.template_version))
            }
            Err(e) => Err(e),
        }
    }

    async fn open_project_code(&self, row: &SetupRow, deal: &ValidDeal) -> Result<String, Error> {
        let request = CreateProjectCodeRequest {
            idempotency_key: Self::key(row, step::OPEN_PROJECT_CODE),
            project_id: row.project_id.clone(),
            name: deal.name.clone(),
            legal_entity: policy::legal_entity_for(&deal.region).to_string(),
            currency: deal.amount.currency().code().to_string(),
        };
        match self.downstream.create_project_code(request).await {
            Ok(code) => Ok(code.code),
            Err(Error::AlreadyExists(_)) => Ok(self.downstream.project_code_for_project(&row.project_id).await?.code),
            Err(e) => Err(e),
        }
    }

    async fn post_budget(&self, row: &SetupRow) -> Result<(), Error> {
        let project = self.downstream.project_for_opportunity(&row.opportunity_id).await?;
        let baseline = project
            .budget_baseline
            .ok_or_else(|| Error::FailedPrecondition(format!("PSA project {} has no budget baseline", project.id)))?;
        let request = PostBudgetRequest {
            idempotency_key: Self::key(row, step::POST_BUDGET),
            project_code: row.project_code.clone(),
            lines: baseline
                .lines
                .into_iter()
                .map(|line| ErpBudgetLine {
                    role: line.role,
                    hours: line.hours,
                    amount: line.amount,
                })
                .collect(),
        };
        match self.downstream.post_budget(request).await {
            Ok(_) => Ok(()),
            Err(Error::FailedPrecondition(message)) => {
                // Posted by an earlier attempt whose answer was lost.
                let code = self.downstream.project_code_for_project(&row.project_id).await?;
                if code.budget.is_some() {
                    Ok(())
                } else {
                    Err(Error::FailedPrecondition(message))
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn next(&self, row: &SetupRow, step: &'static str) -> Result<Outcome, Error> {
        let advance = Advance {
            step,
            ..Default::default()
        };
        Ok(Outcome::Advanced(Box::new(self.advance(row, advance).await?)))
    }

    /// One ERP billing milestone per PSA milestone, under the project code, with the PSA
    /// milestone's name, amount and due date. Each carries its own key, so a repeated step
    /// creates none twice.
    async fn create_billing_milestones(&self, row: &SetupRow) -> Result<(), Error> {
        let project = self.downstream.project_for_opportunity(&row.opportunity_id).await?;
        for milestone in project.milestones {
            let request = CreateBillingMilestoneRequest {
                idempotency_key: format!("{}-{}", Self::key(row, step::CREATE_BILLING_MILESTONES), milestone.id),
                project_code: row.project_code.clone(),
                name: milestone.name,
                amount: milestone.amount,
                due_date: milestone.due_date,
            };
            self.downstream.create_billing_milestone(request).await?;
        }
        Ok(())
    }

    /// The project's collaboration workspace; one the project already has is kept.
    async fn open_workspace(&self, row: &SetupRow, deal: &ValidDeal) -> Result<(), Error> {
        let request = CreateWorkspaceRequest {
            idempotency_key: Self::key(row, step::OPEN_WORKSPACE),
            project_id: row.project_id.clone(),
            name: deal.name.clone(),
            channels: Vec::new(),
        };
        match self.downstream.create_workspace(request).await {
            Ok(_) => Ok(()),
            Err(Error::AlreadyExists(_)) => self.downstream.workspace_for_project(&row.project_id).await.map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// The deal's statement of work filed in document management for the project and
    /// client, retained until [`policy::SOW_RETENTION_YEARS`] after the close.
    async fn file_sow(&self, row: &SetupRow, deal: &ValidDeal) -> Result<(), Error> {
        let document = self
            .downstream
            .create_document(CreateDocumentRequest {
                idempotency_key: Self::key(row, step::FILE_SOW),
                r#type: DocumentType::Sow as i32,
                title: format!("Statement of work {}: {}", deal.sow_reference, deal.name),
                client_id: deal.account_id.clone(),
                project_id: row.project_id.clone(),
            })
            .await?;
        self.downstream
            .set_retention(SetRetentionRequest {
                idempotency_key: format!("{}-retention", Self::key(row, step::FILE_SOW)),
                id: document.id,
                expected_version: document.version,
                retain_until: policy::sow_retained_until(deal.close_date).to_string(),
            })
            .await?;
        Ok(())
    }
}
