//! The `expense-posting` workflow: one instance per approved PSA expense (business key: the
//! expense id), posting it to the ERP ledger exactly once and recording the journal in PSA.
//!
//! - `fetch` (calls `psa`): PSA `GetExpense`; the expense must be APPROVED.
//! - `employer` (calls `hris`): the legal entity that employs the person, which bears the cost.
//! - `post-to-erp` (calls `erp`): `PostExpenses` on the project's code: the amount spent as the
//!   cost, rebilled at cost when billable. ERP posts an expense id once whatever the key.
//! - `mark-posted` (calls `psa`): `MarkExpensePosted` with the journal reference.

use async_trait::async_trait;
use keel_core::Error;
use keel_proto::common::Money;
use keel_proto::erp::{ExpensePosting, PostExpensesRequest};
use keel_proto::psa::{ExpenseState, MarkExpensePostedRequest};
use keel_workflow::{RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Downstream;

/// The workflow kind.
pub const KIND: &str = "expense-posting";
pub const FETCH: &str = "fetch";
pub const EMPLOYER: &str = "employer";
pub const POST_TO_ERP: &str = "post-to-erp";
pub const MARK_POSTED: &str = "mark-posted";

/// What `fetch` journals: the expense as approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedExpense {
    pub expense_id: String,
    pub employee_id: String,
    pub project_id: String,
    pub date: String,
    pub category: String,
    /// Decimal string, in `currency`.
    pub amount: String,
    pub currency: String,
    pub billable: bool,
    /// The expense's version when fetched: `mark-posted` expects it.
    pub version: i64,
}

/// The `expense-posting` workflow over PSA, HRIS and ERP.
#[derive(Debug)]
pub struct ExpensePostingWorkflow {
    downstream: Downstream,
    steps: [StepDef; 4],
}

impl ExpensePostingWorkflow {
    /// Steps retried under `retry`.
    pub fn with_retry(downstream: Downstream, retry: RetryPolicy) -> ExpensePostingWorkflow {
        ExpensePostingWorkflow {
            downstream,
            steps: [
                StepDef::new(FETCH).calls("psa").with_retry(retry),
                StepDef::new(EMPLOYER).calls("hris").with_retry(retry),
                StepDef::new(POST_TO_ERP).calls("erp").with_retry(retry),
                StepDef::new(MARK_POSTED).calls("psa").with_retry(retry),
            ],
        }
    }

    /// The workflow input for an expense.
    pub fn input(expense_id: &str) -> Value {
        json!({ "expense_id": expense_id })
    }

    async fn fetch(&self, cx: &StepContext) -> Result<Value, Error> {
        let expense = self.downstream.get_expense(&cx.business_key).await?;
        if expense.state != ExpenseState::Approved as i32 {
            let state = ExpenseState::try_from(expense.state)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN");
            return Err(Error::FailedPrecondition(format!(
                "expense {} is {state}; only APPROVED expenses are posted",
                expense.id
            )));
        }
        let amount = expense.amount.unwrap_or_default();
        let approved = ApprovedExpense {
            expense_id: expense.id,
            employee_id: expense.employee_id,
            project_id: expense.project_id,
            date: expense.date,
            category: expense.category,
            amount: amount.amount,
            currency: amount.currency,
            billable: expense.billable,
            version: expense.version,
        };
        serde_json::to_value(approved).map_err(Error::internal)
    }

    async fn employer(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        match self.downstream.employee(&approved.employee_id).await {
            Ok(employee) => Ok(json!({ "legal_entity": employee.legal_entity })),
            Err(Error::NotFound(_)) => Err(Error::FailedPrecondition(format!(
                "employee {} of expense {} is not in HRIS: the legal entity bearing the cost is unknown",
                approved.employee_id, approved.expense_id
            ))),
            Err(other) => Err(other),
        }
    }

    async fn post_to_erp(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        let legal_entity = cx
            .result(EMPLOYER)
            .and_then(|r| r.get("legal_entity"))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::internal("post-to-erp ran before employer"))?
            .to_string();
        let code = self.downstream.project_code_for_project(&approved.project_id).await?;
        let spent = Money {
            amount: approved.amount.clone(),
            currency: approved.currency.clone(),
        };
        let bill_amount = if approved.billable {
            spent.clone()
        } else {
            Money {
                amount: "0".into(),
                currency: approved.currency.clone(),
            }
        };
        let response = self
            .downstream
            .post_expenses(PostExpensesRequest {
                idempotency_key: cx.idempotency_key(""),
                expenses: vec![ExpensePosting {
                    expense_id: approved.expense_id.clone(),
                    person_id: approved.employee_id.clone(),
                    person_legal_entity: legal_entity,
                    project_code: code.code.clone(),
                    expense_date: approved.date.clone(),
                    category: approved.category.clone(),
                    amount: Some(spent),
                    bill_amount: Some(bill_amount),
                }],
            })
            .await?;
        let posted = response
            .postings
            .into_iter()
            .find(|p| p.entry_id.eq_ignore_ascii_case(&approved.expense_id))
            .ok_or_else(|| Error::internal("ERP answered PostExpenses without the expense"))?;
        if posted.journal_ids.is_empty() {
            return Err(Error::internal("ERP posted the expense without a journal"));
        }
        Ok(json!({
            "journal_reference": posted.journal_ids.join(","),
            "project_code": code.code,
            "already_posted": posted.already_posted,
        }))
    }

    async fn mark_posted(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        let reference = cx
            .result(POST_TO_ERP)
            .and_then(|r| r.get("journal_reference"))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::internal("mark-posted ran before post-to-erp"))?
            .to_string();
        let expense = self
            .downstream
            .mark_expense_posted(MarkExpensePostedRequest {
                idempotency_key: cx.idempotency_key(""),
                id: approved.expense_id,
                journal_reference: reference,
                expected_version: approved.version,
            })
            .await?;
        Ok(json!({ "journal_reference": expense.journal_reference, "version": expense.version }))
    }
}

fn fetched(cx: &StepContext) -> Result<ApprovedExpense, Error> {
    let value = cx
        .result(FETCH)
        .cloned()
        .ok_or_else(|| Error::internal("an expense-posting step ran before fetch"))?;
    serde_json::from_value(value).map_err(Error::internal)
}

#[async_trait]
impl Workflow for ExpensePostingWorkflow {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, expense.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            FETCH => self.fetch(cx).await?,
            EMPLOYER => self.employer(cx).await?,
            POST_TO_ERP => self.post_to_erp(cx).await?,
            MARK_POSTED => self.mark_posted(cx).await?,
            other => return Err(Error::internal(format!("unknown expense-posting step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }
}
