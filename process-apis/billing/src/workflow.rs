//! The `billing-readiness` workflow: one instance per PSA milestone (business key
//! `<project id>/<milestone position>`), drafting its invoice in ERP once every prerequisite
//! holds.
//!
//! - `check` (calls `psa`): [`readiness::assess`]. Blocked, it fails with
//!   `FAILED_PRECONDITION` whose message lists every blocker and the records it names, so the
//!   instance waits in the exception queue; once the blockers are fixed, operations retries it
//!   and `check` runs again. Ready, it journals the ERP milestone, code and amount.
//! - `draft-invoice` (calls `erp`): the invoice already holding the ERP milestone, if any (a
//!   step cut off after ERP answered); else ERP `CreateDraftInvoice` for the milestone under
//!   the step's idempotency key. Pre-validated: the invoice's total must equal the milestone's
//!   amount and currency, or the step fails with `AMOUNT_MISMATCH`.
//!
//! `UNAVAILABLE` / `DEADLINE_EXCEEDED` are retried by the engine; every other error sends the
//! instance to the exception queue.

use async_trait::async_trait;
use keel_core::Error;
use keel_workflow::{RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Downstream;
use crate::readiness::{self, MilestoneRef, invoices_for, money, show_money};

/// The workflow kind.
pub const KIND: &str = "billing-readiness";
pub const CHECK: &str = "check";
pub const DRAFT_INVOICE: &str = "draft-invoice";

/// What `check` journals: the ready milestone as ERP holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyMilestone {
    pub project_code: String,
    pub erp_milestone_id: String,
    pub milestone_name: String,
    /// Decimal string.
    pub amount: String,
    pub currency: String,
}

/// What `draft-invoice` journals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftedInvoice {
    pub invoice_id: String,
    pub total: String,
    pub currency: String,
    /// True when the invoice existed already (drafted by an earlier attempt).
    pub already_drafted: bool,
}

/// The `billing-readiness` workflow over PSA, ERP and billing's acceptances.
#[derive(Debug)]
pub struct BillingReadiness {
    downstream: Downstream,
    db: DatabaseConnection,
    steps: [StepDef; 2],
}

impl BillingReadiness {
    /// Steps retried under the engine's default policy.
    pub fn new(downstream: Downstream, db: DatabaseConnection) -> BillingReadiness {
        BillingReadiness::with_retry(downstream, db, RetryPolicy::default())
    }

    /// Steps retried under `retry` (tests use millisecond delays).
    pub fn with_retry(downstream: Downstream, db: DatabaseConnection, retry: RetryPolicy) -> BillingReadiness {
        BillingReadiness {
            downstream,
            db,
            steps: [
                StepDef::new(CHECK).calls("psa").with_retry(retry),
                StepDef::new(DRAFT_INVOICE).calls("erp").with_retry(retry),
            ],
        }
    }

    /// The workflow input for a milestone.
    pub fn input(at: &MilestoneRef) -> Value {
        json!({ "project_id": at.project_id, "milestone_id": at.milestone_id })
    }

    async fn check(&self, cx: &StepContext) -> Result<Value, Error> {
        let at = MilestoneRef::from_business_key(&cx.business_key)?;
        let assessment = readiness::assess(&self.downstream, &self.db, &at).await?;
        if !assessment.blockers.is_empty() {
            return Err(Error::FailedPrecondition(assessment.describe()));
        }
        let (Some(code), Some(erp)) = (assessment.project_code, assessment.erp_milestone) else {
            return Err(Error::internal("a ready milestone without its ERP milestone"));
        };
        let amount = assessment.milestone.amount.unwrap_or_default();
        let ready = ReadyMilestone {
            project_code: code,
            erp_milestone_id: erp.id,
            milestone_name: assessment.milestone.name,
            amount: amount.amount,
            currency: amount.currency,
        };
        serde_json::to_value(ready).map_err(Error::internal)
    }

    async fn draft_invoice(&self, cx: &StepContext) -> Result<Value, Error> {
        let ready: ReadyMilestone = cx
            .result(CHECK)
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("draft-invoice ran before check"))?;
        let invoices = self.downstream.invoices_of(&ready.project_code).await?;
        let (invoice, already_drafted) = match invoices_for(&ready.erp_milestone_id, &invoices).first() {
            Some(existing) => ((*existing).clone(), true),
            None => (
                self.downstream
                    .create_milestone_invoice(cx.idempotency_key(""), &ready.project_code, &ready.erp_milestone_id)
                    .await?,
                false,
            ),
        };
        let expected = keel_proto::common::Money {
            amount: ready.amount.clone(),
            currency: ready.currency.clone(),
        };
        let total = invoice.total.clone().unwrap_or_default();
        if money(Some(&total)).is_none() || money(Some(&total)) != money(Some(&expected)) {
            return Err(Error::FailedPrecondition(format!(
                "AMOUNT_MISMATCH: draft invoice {} totals {}, but milestone {:?} bills {}",
                invoice.id,
                show_money(Some(&total)),
                ready.milestone_name,
                show_money(Some(&expected))
            )));
        }
        let drafted = DraftedInvoice {
            invoice_id: invoice.id,
            total: total.amount,
            currency: total.currency,
            already_drafted,
        };
        serde_json::to_value(drafted).map_err(Error::internal)
    }
}

#[async_trait]
impl Workflow for BillingReadiness {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, milestone = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            CHECK => self.check(cx).await?,
            DRAFT_INVOICE => self.draft_invoice(cx).await?,
            other => return Err(Error::internal(format!("unknown billing-readiness step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }
}
