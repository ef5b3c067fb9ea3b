//! The `change-order` workflow: one instance per approved PSA change request (business key:
//! the change request id), a saga that applies the change everywhere or nowhere.
//!
//! - `fetch` (psa): the change request, which must be APPROVED; its project; the ERP project
//!   code, budget, billing milestones and revenue schedule. Journals the [`Plan`]: the
//!   before-images and what each later step will write.
//! - `erp-budget` (erp): `UpdateBudget` with the role's line moved by the delta.
//! - `erp-billing-schedule` (erp): `UpdateBillingMilestone` for each affected milestone, by
//!   PSA's split of the delta.
//! - `erp-revenue-forecast` (erp): `ReviseRevenueSchedule` with the contract value moved by
//!   the delta (nothing when the code has no schedule).
//! - `file-document` (documents): the change-order document filed for the project (no
//!   retention yet: retention is applied at close-out, so a withdrawn change order can still
//!   be deleted).
//! - `psa-apply` (psa): `ApplyChangeRequest`, the commit point: last, because PSA's applied
//!   state is what everyone reads as "the change happened".
//!
//! Every call carries the step's idempotency key. `UNAVAILABLE` / `DEADLINE_EXCEEDED` are
//! retried; any other error is a refusal: the engine undoes every step already done, and the
//! refused one (see `undo.rs`), latest first, and the instance ends compensated.

use async_trait::async_trait;
use keel_core::Error;
use keel_proto::documents::{AddVersionRequest, CreateDocumentRequest, DocumentType};
use keel_proto::erp::{ReviseRevenueScheduleRequest, UpdateBillingMilestoneRequest, UpdateBudgetRequest};
use keel_proto::psa::{ChangeRequestState, ChangeRequestTransitionRequest};
use keel_workflow::{RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use serde_json::{Value, json};

use crate::clients::Downstream;
use crate::plan::{self, Plan};

/// The workflow kind.
pub const KIND: &str = "change-order";
/// The step names, in order.
pub const FETCH: &str = "fetch";
pub const ERP_BUDGET: &str = "erp-budget";
pub const ERP_BILLING_SCHEDULE: &str = "erp-billing-schedule";
pub const ERP_REVENUE_FORECAST: &str = "erp-revenue-forecast";
pub const FILE_DOCUMENT: &str = "file-document";
pub const PSA_APPLY: &str = "psa-apply";

/// The `change-order` workflow over PSA, ERP and documents.
#[derive(Debug)]
pub struct ChangeOrder {
    pub(crate) downstream: Downstream,
    steps: [StepDef; 6],
}

impl ChangeOrder {
    /// Steps retried under the engine's default policy (1 s doubling to 100 s, 20 attempts).
    pub fn new(downstream: Downstream) -> ChangeOrder {
        ChangeOrder::with_retry(downstream, RetryPolicy::default())
    }

    /// Steps retried under `retry` (tests use millisecond delays).
    pub fn with_retry(downstream: Downstream, retry: RetryPolicy) -> ChangeOrder {
        ChangeOrder {
            downstream,
            steps: [
                StepDef::new(FETCH).calls("psa").with_retry(retry),
                StepDef::new(ERP_BUDGET).calls("erp").with_undo().with_retry(retry),
                StepDef::new(ERP_BILLING_SCHEDULE)
                    .calls("erp")
                    .with_undo()
                    .with_retry(retry),
                StepDef::new(ERP_REVENUE_FORECAST)
                    .calls("erp")
                    .with_undo()
                    .with_retry(retry),
                StepDef::new(FILE_DOCUMENT)
                    .calls("documents")
                    .with_undo()
                    .with_retry(retry),
                StepDef::new(PSA_APPLY).calls("psa").with_retry(retry),
            ],
        }
    }

    /// The workflow input for a change request, started under `idempotency_key`.
    pub fn input(change_request_id: &str, idempotency_key: &str) -> Value {
        json!({ "change_request_id": change_request_id, "idempotency_key": idempotency_key })
    }

    async fn fetch(&self, cx: &StepContext) -> Result<Value, Error> {
        let request = self.downstream.get_change_request(&cx.business_key).await?;
        if request.state != ChangeRequestState::Approved as i32 {
            let state = ChangeRequestState::try_from(request.state)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN");
            return Err(Error::FailedPrecondition(format!(
                "change request {} is {state}; only an APPROVED change request is applied",
                request.id
            )));
        }
        let project = self.downstream.get_project(&request.project_id).await?;
        let code = self.downstream.project_code_for_project(&project.id).await?;
        let milestones = self.downstream.billing_milestones(&code.code).await?;
        let revenue = self.downstream.revenue_schedule(&code.code).await?;
        let plan = plan::plan(
            &request,
            &project,
            &code.code,
            code.budget.as_ref(),
            &milestones,
            revenue.as_ref(),
        )?;
        serde_json::to_value(plan).map_err(Error::internal)
    }

    async fn erp_budget(&self, cx: &StepContext, plan: &Plan) -> Result<Value, Error> {
        let budget = self
            .downstream
            .update_budget(UpdateBudgetRequest {
                idempotency_key: cx.idempotency_key(""),
                project_code: plan.project_code.clone(),
                expected_version: plan.budget_version,
                lines: plan.erp_lines(&plan.budget_after)?,
            })
            .await?;
        Ok(json!({ "version": budget.version }))
    }

    async fn erp_billing_schedule(&self, cx: &StepContext, plan: &Plan) -> Result<Value, Error> {
        let mut moved = Vec::with_capacity(plan.milestones.len());
        for milestone in &plan.milestones {
            let after = self
                .downstream
                .update_billing_milestone(UpdateBillingMilestoneRequest {
                    idempotency_key: cx.idempotency_key(&milestone.erp_id),
                    milestone_id: milestone.erp_id.clone(),
                    expected_version: milestone.version,
                    amount: Some(plan.money(milestone.after_minor)?),
                    due_date: String::new(),
                })
                .await?;
            moved.push(json!({ "id": after.id, "version": after.version }));
        }
        Ok(json!({ "milestones": moved }))
    }

    async fn erp_revenue_forecast(&self, cx: &StepContext, plan: &Plan) -> Result<Value, Error> {
        let Some(revenue) = &plan.revenue else {
            return Ok(json!({ "schedule": null }));
        };
        let schedule = self
            .downstream
            .revise_revenue_schedule(ReviseRevenueScheduleRequest {
                idempotency_key: cx.idempotency_key(""),
                project_code: plan.project_code.clone(),
                expected_version: revenue.version,
                contract_value: Some(plan.money(revenue.after_minor)?),
            })
            .await?;
        Ok(json!({ "version": schedule.version }))
    }

    async fn file_document(&self, cx: &StepContext, plan: &Plan) -> Result<Value, Error> {
        let document = self
            .downstream
            .create_document(CreateDocumentRequest {
                idempotency_key: cx.idempotency_key("create"),
                r#type: DocumentType::ChangeOrder as i32,
                title: plan.document_title(),
                client_id: plan.client_id.clone(),
                project_id: plan.project_id.clone(),
            })
            .await?;
        let content = document_text(plan);
        let version = self
            .downstream
            .add_version(AddVersionRequest {
                idempotency_key: cx.idempotency_key("content"),
                document_id: document.id.clone(),
                expected_version: document.version,
                file_name: format!("change-order-{}.txt", plan.change_request_id),
                content_type: "text/plain".into(),
                content: content.into_bytes(),
            })
            .await?;
        Ok(json!({ "document_id": document.id, "version_number": version.number }))
    }

    async fn psa_apply(&self, cx: &StepContext, plan: &Plan) -> Result<Value, Error> {
        let applied = self
            .downstream
            .apply_change_request(ChangeRequestTransitionRequest {
                idempotency_key: cx.idempotency_key(""),
                id: plan.change_request_id.clone(),
                expected_version: plan.change_request_version,
                reason: String::new(),
            })
            .await?;
        Ok(json!({ "version": applied.version }))
    }
}

/// The change-order document's text: what changes, by how much, where.
fn document_text(plan: &Plan) -> String {
    let mut text = format!(
        "Change order for change request {}\n\n{}\n{}\n\nProject: {} (ERP {})\nRole: {}\nHours: {}\nAmount: {} {}\n",
        plan.change_request_id,
        plan.title,
        plan.description,
        plan.project_id,
        plan.project_code,
        plan.role,
        plan.delta_hours,
        plan.delta_amount,
        plan.currency,
    );
    for (milestone, share) in &plan.shares {
        let share = plan.money(*share).map(|m| m.amount).unwrap_or_default();
        text.push_str(&format!("Milestone {milestone}: {share} {}\n", plan.currency));
    }
    text
}

/// The plan `fetch` journaled.
pub fn fetched(cx: &StepContext) -> Result<Plan, Error> {
    let value = cx
        .result(FETCH)
        .cloned()
        .ok_or_else(|| Error::internal("a change-order step ran before fetch"))?;
    serde_json::from_value(value).map_err(Error::internal)
}

#[async_trait]
impl Workflow for ChangeOrder {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    fn compensate_on_failure(&self) -> bool {
        true
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, change_request.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        if cx.step == FETCH {
            return Ok(StepOutcome::Done(self.fetch(cx).await?));
        }
        let plan = fetched(cx)?;
        let result = match cx.step {
            ERP_BUDGET => self.erp_budget(cx, &plan).await?,
            ERP_BILLING_SCHEDULE => self.erp_billing_schedule(cx, &plan).await?,
            ERP_REVENUE_FORECAST => self.erp_revenue_forecast(cx, &plan).await?,
            FILE_DOCUMENT => self.file_document(cx, &plan).await?,
            PSA_APPLY => self.psa_apply(cx, &plan).await?,
            other => return Err(Error::internal(format!("unknown change-order step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, change_request.id = %cx.business_key, attempt = cx.attempt))]
    async fn compensate(&self, cx: &StepContext, result: &Value) -> Result<(), Error> {
        crate::undo::undo(self, cx, result).await
    }
}
