//! The `close-out` workflow: one instance per PSA project (business key: the project id).
//!
//! - `check` (psa, erp): nothing left unposted or unbilled ([`crate::check`]). Anything left
//!   is a business error naming each item: the instance goes to the exception queue, owned by
//!   finance; once they have fixed it, operations' retry runs the check again. When it passes
//!   it journals the close date (today), from which retention runs.
//! - `archive-workspace` (collaboration): `ArchiveWorkspace` on the project's workspace (none
//!   is fine: nothing to archive).
//! - `apply-retention` (documents): `ApplyRetention` for the project's documents from the
//!   close date, by the rule of each document's type (the SOW's seven years among them).
//! - `close-project` (psa): `UpdateProjectStatus` CLOSED.
//! - `review`: the post-project review ([`crate::review`]) from PSA, ERP and the exception
//!   history of the process APIs, journaled as the step's result: that is where `GetReview`
//!   reads it.
//!
//! Every call that changes something carries the step's idempotency key. The archive and
//! the closing read the record first and leave one already archived or closed alone, so a
//! step run again after a crash (with the record's version moved on) changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::collaboration::{ArchiveWorkspaceRequest, WorkspaceStatus};
use keel_proto::common::Money;
use keel_proto::documents::ApplyRetentionRequest;
use keel_proto::psa::{ExpenseState, ProjectStatus, TimeEntryState, UpdateProjectStatusRequest};
use keel_proto::workflow::ExceptionEpisode;
use keel_workflow::{Engine, RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::check;
use crate::clients::{Downstream, MAX_PAGES};
use crate::costs::{self, CostPosting};
use crate::exceptions::{self, ProjectRecords};
use crate::policy::CloseOutPolicy;
use crate::review::{self, ReviewInput};

/// The workflow kind.
pub const KIND: &str = "close-out";
/// The step names, in order.
pub const CHECK: &str = "check";
pub const ARCHIVE_WORKSPACE: &str = "archive-workspace";
pub const APPLY_RETENTION: &str = "apply-retention";
pub const CLOSE_PROJECT: &str = "close-project";
pub const REVIEW: &str = "review";
/// The team that owns a close-out's exceptions.
pub const OWNING_TEAM: &str = "finance";

/// The `close-out` workflow over PSA, ERP, collaboration and documents.
#[derive(Debug)]
pub struct CloseOut {
    downstream: Downstream,
    policy: Arc<CloseOutPolicy>,
    /// A reader of the close-out's own store, for its own exceptions (the other process APIs'
    /// come from their workflow admins).
    own_history: Option<Engine>,
    steps: [StepDef; 5],
}

impl CloseOut {
    /// Steps retried under the engine's default policy (1 s doubling to 100 s, 20 attempts).
    pub fn new(downstream: Downstream, policy: Arc<CloseOutPolicy>, own_history: Option<Engine>) -> CloseOut {
        CloseOut::with_retry(downstream, policy, own_history, RetryPolicy::default())
    }

    /// Steps retried under `retry` (tests use millisecond delays).
    pub fn with_retry(
        downstream: Downstream,
        policy: Arc<CloseOutPolicy>,
        own_history: Option<Engine>,
        retry: RetryPolicy,
    ) -> CloseOut {
        CloseOut {
            downstream,
            policy,
            own_history,
            steps: [
                StepDef::new(CHECK).calls("psa").with_retry(retry),
                StepDef::new(ARCHIVE_WORKSPACE).calls("collaboration").with_retry(retry),
                StepDef::new(APPLY_RETENTION).calls("documents").with_retry(retry),
                StepDef::new(CLOSE_PROJECT).calls("psa").with_retry(retry),
                StepDef::new(REVIEW).calls("erp").with_retry(retry),
            ],
        }
    }

    /// The policy close-outs run under.
    pub fn policy(&self) -> &CloseOutPolicy {
        &self.policy
    }

    /// The workflow input for a project, started under `idempotency_key`.
    pub fn input(project_id: &str, idempotency_key: &str) -> Value {
        json!({ "project_id": project_id, "idempotency_key": idempotency_key })
    }

    async fn check(&self, cx: &StepContext) -> Result<Value, Error> {
        let project = self.downstream.project(&cx.business_key).await?;
        let code = self.downstream.project_code_for_project(&project.id).await?;
        let time = self
            .downstream
            .time_entries(&project.id, TimeEntryState::Unspecified)
            .await?;
        let expenses = self.downstream.expenses(&project.id, ExpenseState::Unspecified).await?;
        let milestones = self.downstream.billing_milestones(&code.code).await?;
        let invoices = self.downstream.invoices(&code.code).await?;
        let left = check::left_over(&time, &expenses, &milestones, &invoices, &self.policy);
        if !left.is_empty() {
            return Err(Error::FailedPrecondition(check::blocked(&project.id, &left)));
        }
        Ok(json!({
            "project_code": code.code,
            "close_date": Utc::now().date_naive().to_string(),
            "time_entries": time.len(),
            "expenses": expenses.len(),
            "milestones": milestones.len(),
            "invoices": invoices.len(),
        }))
    }

    async fn archive_workspace(&self, cx: &StepContext) -> Result<Value, Error> {
        let Some(workspace) = self.downstream.workspace_of(&cx.business_key).await? else {
            return Ok(json!({ "workspace_id": null }));
        };
        if workspace.status == WorkspaceStatus::Archived as i32 {
            return Ok(json!({ "workspace_id": workspace.id, "version": workspace.version }));
        }
        let archived = self
            .downstream
            .archive_workspace(ArchiveWorkspaceRequest {
                idempotency_key: cx.idempotency_key(""),
                id: workspace.id.clone(),
                expected_version: workspace.version,
            })
            .await?;
        Ok(json!({ "workspace_id": archived.id, "version": archived.version }))
    }

    async fn apply_retention(&self, cx: &StepContext, checked: &Checked) -> Result<Value, Error> {
        let applied = self
            .downstream
            .apply_retention(ApplyRetentionRequest {
                idempotency_key: cx.idempotency_key(""),
                project_id: cx.business_key.clone(),
                close_date: checked.close_date.clone(),
            })
            .await?;
        let documents: Vec<Value> = applied
            .documents
            .iter()
            .map(|d| json!({ "id": d.id, "retain_until": d.retain_until }))
            .collect();
        Ok(json!({ "documents": documents, "changed": applied.changed }))
    }

    async fn close_project(&self, cx: &StepContext) -> Result<Value, Error> {
        let project = self.downstream.project(&cx.business_key).await?;
        if project.status == ProjectStatus::Closed as i32 {
            return Ok(json!({ "version": project.version }));
        }
        let closed = self
            .downstream
            .update_project_status(UpdateProjectStatusRequest {
                idempotency_key: cx.idempotency_key(""),
                project_id: project.id.clone(),
                status: ProjectStatus::Closed as i32,
                expected_version: project.version,
            })
            .await?;
        Ok(json!({ "version": closed.version }))
    }

    async fn review(&self, cx: &StepContext, checked: &Checked) -> Result<Value, Error> {
        let downstream = &self.downstream;
        let project = downstream.project(&cx.business_key).await?;
        let currency = project
            .contract_value
            .as_ref()
            .map(|m| m.currency.clone())
            .unwrap_or_default();
        let time = downstream
            .time_entries(&project.id, TimeEntryState::Unspecified)
            .await?;
        let expenses = downstream.expenses(&project.id, ExpenseState::Unspecified).await?;
        let change_requests = downstream.change_requests(&project.id).await?;
        let resource_requests = downstream.resource_requests(&project.id).await?;
        let code = downstream.project_code_for_project(&project.id).await?;
        let milestones = downstream.billing_milestones(&code.code).await?;
        let invoices = downstream.invoices(&code.code).await?;
        let journals = downstream.journals(&code.code).await?;
        let costs = self
            .in_currency(costs::cost_postings(&journals, &code)?, &currency)
            .await?;

        let mut records = ProjectRecords::new(&project.id);
        records.extend([project.opportunity_id.as_str()]);
        records.extend(time.iter().map(|e| e.id.as_str()));
        records.extend(expenses.iter().map(|e| e.id.as_str()));
        records.extend(change_requests.iter().map(|c| c.id.as_str()));
        records.extend(resource_requests.iter().map(|r| r.id.as_str()));
        records.extend(milestones.iter().map(|m| m.id.as_str()));
        records.extend(invoices.iter().map(|i| i.id.as_str()));
        let since = project.audit.as_ref().and_then(|a| a.created_at).unwrap_or_default();
        let (episodes, truncated) = self.exception_history(since).await?;
        let review = review::review(ReviewInput {
            project: &project,
            project_code: &code.code,
            close_date: &checked.close_date,
            produced_at: Utc::now(),
            time_entries: &time,
            costs: &costs,
            invoices: &invoices,
            change_requests: &change_requests,
            exceptions: exceptions::attribute(&records, &episodes)?,
            exceptions_truncated: truncated,
        })?;
        serde_json::to_value(review).map_err(Error::internal)
    }

    /// Cost postings booked in another currency, converted by ERP at their journal's date.
    async fn in_currency(&self, postings: Vec<CostPosting>, currency: &str) -> Result<Vec<CostPosting>, Error> {
        let mut converted = Vec::with_capacity(postings.len());
        for mut posting in postings {
            if posting.currency != currency && !posting.amount.is_zero() {
                let magnitude = self
                    .downstream
                    .convert(
                        Money {
                            amount: posting.amount.abs().to_string(),
                            currency: posting.currency.clone(),
                        },
                        currency,
                        &posting.date,
                    )
                    .await?;
                let amount: Decimal = magnitude
                    .amount
                    .parse()
                    .map_err(|e| Error::internal(format!("ERP converted to {:?}: {e}", magnitude.amount)))?;
                posting.amount = if posting.amount.is_sign_negative() {
                    -amount
                } else {
                    amount
                };
            }
            posting.currency = currency.to_string();
            converted.push(posting);
        }
        Ok(converted)
    }

    /// Every exception episode raised since `since`, from each configured workflow admin and
    /// this close-out's own store; whether any list was cut at the pages a close-out reads.
    async fn exception_history(&self, since: prost_types::Timestamp) -> Result<(Vec<ExceptionEpisode>, bool), Error> {
        let mut episodes = Vec::new();
        let mut truncated = false;
        for admin in 0..self.downstream.admin_names().len() {
            let listed = self.downstream.exception_history(admin, since).await?;
            truncated |= listed.truncated;
            episodes.extend(listed.items);
        }
        if let Some(engine) = &self.own_history {
            let since = chrono::DateTime::from_timestamp(since.seconds, u32::try_from(since.nanos).unwrap_or(0));
            let mut page = Page::parse(100, "")?;
            for round in 0..=MAX_PAGES {
                if round == MAX_PAGES {
                    truncated = true;
                    break;
                }
                let found = engine.exception_history(since, page).await?;
                let last = found.last().map(|e| e.id);
                let full = found.len() as u64 == page.size;
                episodes.extend(found.into_iter().map(episode_to_proto));
                match last {
                    Some(last) if full => page.after = Some(last),
                    _ => break,
                }
            }
        }
        Ok((episodes, truncated))
    }
}

fn episode_to_proto(e: keel_workflow::ExceptionEpisode) -> ExceptionEpisode {
    use keel_core::time::to_timestamp;
    ExceptionEpisode {
        id: e.id.to_string(),
        instance_id: e.instance_id.to_string(),
        kind: e.kind,
        business_key: e.business_key,
        owning_team: e.owning_team,
        reason: e.reason,
        error: e.error,
        raised_at: Some(to_timestamp(e.raised_at)),
        outcome: e.outcome.unwrap_or_default(),
        closed_at: e.closed_at.map(to_timestamp),
        closed_by: e.closed_by.unwrap_or_default(),
        note: e.note.unwrap_or_default(),
        input_json: e.input.to_string(),
    }
}

/// What `check` journaled.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Checked {
    pub project_code: String,
    pub close_date: String,
}

/// The check's result, once it passed.
pub fn checked(cx: &StepContext) -> Result<Checked, Error> {
    let value = cx
        .result(CHECK)
        .cloned()
        .ok_or_else(|| Error::internal("a close-out step ran before the check"))?;
    serde_json::from_value(value).map_err(Error::internal)
}

#[async_trait]
impl Workflow for CloseOut {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        OWNING_TEAM
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, project.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            CHECK => self.check(cx).await?,
            ARCHIVE_WORKSPACE => self.archive_workspace(cx).await?,
            APPLY_RETENTION => self.apply_retention(cx, &checked(cx)?).await?,
            CLOSE_PROJECT => self.close_project(cx).await?,
            REVIEW => self.review(cx, &checked(cx)?).await?,
            other => return Err(Error::internal(format!("unknown close-out step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }
}
