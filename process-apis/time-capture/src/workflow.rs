//! The `time-posting` workflow: one instance per approved PSA time entry (business key: the
//! entry id), posting it to the ERP ledger exactly once and recording the journal in PSA.
//!
//! - `fetch`: PSA `GetTimeEntry`; the entry must be APPROVED. Journals what posting needs.
//! - `cost` (calls `hris`): the person's HRIS record: the legal entity that employs them and
//!   the cost of the hours at their cost rate (half-even to the currency's minor unit). A
//!   person HRIS does not know is FAILED_PRECONDITION: the cost cannot be made up.
//! - `post-to-erp` (calls `erp`): ERP `GetProjectCode` for the project, then
//!   `PostTimeEntries` with this one entry under the step's idempotency key. ERP posts a time
//!   entry id once whatever the key, so a retried step can never post twice.
//! - `mark-posted` (calls `psa`): PSA `MarkTimeEntryPosted` with the journal reference.
//!
//! `UNAVAILABLE` / `DEADLINE_EXCEEDED` from either system come back as
//! `Error::Unavailable` and are retried by the engine; every other error sends the instance
//! to the exception queue.

use std::str::FromStr;

use async_trait::async_trait;
use keel_core::Error;
use keel_proto::common::Money;
use keel_proto::erp::{PostTimeEntriesRequest, TimeEntryPosting};
use keel_proto::psa::{MarkTimeEntryPostedRequest, TimeEntryState};
use keel_workflow::{RetryPolicy, StepContext, StepDef, StepOutcome, Workflow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Downstream;

/// The workflow kind.
pub const KIND: &str = "time-posting";
pub const FETCH: &str = "fetch";
pub const COST: &str = "cost";
pub const POST_TO_ERP: &str = "post-to-erp";
pub const MARK_POSTED: &str = "mark-posted";

/// What `fetch` journals: the entry as approved, the fields posting needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedEntry {
    pub time_entry_id: String,
    pub employee_id: String,
    pub project_id: String,
    pub date: String,
    /// Decimal string.
    pub hours: String,
    /// Hours × rate, rounded to the currency's minor unit (decimal string); zero when not
    /// billable.
    pub amount: String,
    pub currency: String,
    pub billable: bool,
    /// The entry's version when fetched: `mark-posted` expects it.
    pub version: i64,
}

/// What `cost` journals: who employs the person and what the hours cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Costed {
    pub legal_entity: String,
    /// Per hour, decimal string.
    pub cost_rate: String,
    /// Hours × cost rate, rounded half-even to the currency's minor unit (decimal string).
    pub cost_amount: String,
    pub cost_currency: String,
}

/// What `post-to-erp` journals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpPosting {
    /// The ERP journal ids, comma-separated: what PSA records as the entry's journal.
    pub journal_reference: String,
    pub project_code: String,
    pub legal_entity: String,
    /// True when ERP had already posted this entry (a replay, or an earlier instance).
    pub already_posted: bool,
}

/// The `time-posting` workflow over PSA and ERP.
#[derive(Debug)]
pub struct TimePosting {
    downstream: Downstream,
    steps: [StepDef; 4],
}

impl TimePosting {
    /// Steps retried under the engine's default policy (1 s doubling to 100 s, 20 attempts).
    pub fn new(downstream: Downstream) -> TimePosting {
        TimePosting::with_retry(downstream, RetryPolicy::default())
    }

    /// Steps retried under `retry` (tests use millisecond delays).
    pub fn with_retry(downstream: Downstream, retry: RetryPolicy) -> TimePosting {
        TimePosting {
            downstream,
            steps: [
                StepDef::new(FETCH).calls("psa").with_retry(retry),
                StepDef::new(COST).calls("hris").with_retry(retry),
                StepDef::new(POST_TO_ERP).calls("erp").with_retry(retry),
                StepDef::new(MARK_POSTED).calls("psa").with_retry(retry),
            ],
        }
    }

    /// The workflow input for a time entry.
    pub fn input(time_entry_id: &str) -> Value {
        json!({ "time_entry_id": time_entry_id })
    }

    async fn fetch(&self, cx: &StepContext) -> Result<Value, Error> {
        let entry = self.downstream.get_time_entry(&cx.business_key).await?;
        if entry.state != TimeEntryState::Approved as i32 {
            let state = TimeEntryState::try_from(entry.state)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN");
            return Err(Error::FailedPrecondition(format!(
                "time entry {} is {state}; only APPROVED entries are posted",
                entry.id
            )));
        }
        let amount = entry.amount.clone().unwrap_or_default();
        let approved = ApprovedEntry {
            time_entry_id: entry.id,
            employee_id: entry.employee_id,
            project_id: entry.project_id,
            date: entry.date,
            hours: entry.hours,
            amount: amount.amount,
            currency: amount.currency,
            billable: entry.billable,
            version: entry.version,
        };
        serde_json::to_value(approved).map_err(Error::internal)
    }

    async fn cost(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        let employee = match self.downstream.employee(&approved.employee_id).await {
            Ok(employee) => employee,
            Err(Error::NotFound(_)) => {
                return Err(Error::FailedPrecondition(format!(
                    "employee {} of time entry {} is not in HRIS: the cost and the employing legal entity of the time are unknown",
                    approved.employee_id, approved.time_entry_id
                )));
            }
            Err(other) => return Err(other),
        };
        let rate = employee
            .cost_rate
            .ok_or_else(|| Error::FailedPrecondition(format!("employee {} has no cost rate in HRIS", employee.id)))?;
        let currency = keel_core::Currency::parse(&rate.currency).map_err(Error::internal)?;
        let per_hour = Decimal::from_str(&rate.amount).map_err(Error::internal)?;
        let hours = Decimal::from_str(&approved.hours).map_err(Error::internal)?;
        let cost = hours
            .checked_mul(per_hour)
            .ok_or_else(|| Error::internal(format!("{hours} hours at {per_hour} overflow")))?
            .round_dp_with_strategy(
                currency.minor_unit_digits(),
                rust_decimal::RoundingStrategy::MidpointNearestEven,
            );
        let costed = Costed {
            legal_entity: employee.legal_entity,
            cost_rate: rate.amount,
            cost_amount: cost.to_string(),
            cost_currency: rate.currency,
        };
        serde_json::to_value(costed).map_err(Error::internal)
    }

    /// Posts the entry to the project's code: billed at the rate card (from PSA), costed at the
    /// person's cost rate and booked by their employing entity (from HRIS); ERP charges across
    /// entities when the person's entity is not the project's.
    async fn post_to_erp(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        let costed: Costed = cx
            .result(COST)
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("post-to-erp ran before cost"))?;
        let code = self.downstream.project_code_for_project(&approved.project_id).await?;
        let bill_amount = Money {
            amount: approved.amount.clone(),
            currency: approved.currency.clone(),
        };
        let cost_amount = Money {
            amount: costed.cost_amount.clone(),
            currency: costed.cost_currency.clone(),
        };
        let response = self
            .downstream
            .post_time_entries(PostTimeEntriesRequest {
                idempotency_key: cx.idempotency_key(""),
                entries: vec![TimeEntryPosting {
                    time_entry_id: approved.time_entry_id.clone(),
                    person_id: approved.employee_id.clone(),
                    person_legal_entity: costed.legal_entity.clone(),
                    project_code: code.code.clone(),
                    work_date: approved.date.clone(),
                    hours: approved.hours.clone(),
                    bill_amount: Some(bill_amount),
                    cost_amount: Some(cost_amount),
                }],
            })
            .await?;
        let posted = response
            .postings
            .into_iter()
            .find(|p| p.entry_id.eq_ignore_ascii_case(&approved.time_entry_id))
            .ok_or_else(|| Error::internal("ERP answered PostTimeEntries without the entry"))?;
        if posted.journal_ids.is_empty() {
            return Err(Error::internal("ERP posted the entry without a journal"));
        }
        let posting = ErpPosting {
            journal_reference: posted.journal_ids.join(","),
            project_code: code.code,
            legal_entity: code.legal_entity,
            already_posted: posted.already_posted,
        };
        serde_json::to_value(posting).map_err(Error::internal)
    }

    async fn mark_posted(&self, cx: &StepContext) -> Result<Value, Error> {
        let approved = fetched(cx)?;
        let posting: ErpPosting = cx
            .result(POST_TO_ERP)
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("mark-posted ran before post-to-erp"))?;
        let entry = self
            .downstream
            .mark_time_entry_posted(MarkTimeEntryPostedRequest {
                idempotency_key: cx.idempotency_key(""),
                id: approved.time_entry_id,
                journal_reference: posting.journal_reference.clone(),
                expected_version: approved.version,
            })
            .await?;
        Ok(json!({ "journal_reference": entry.journal_reference, "version": entry.version }))
    }
}

fn fetched(cx: &StepContext) -> Result<ApprovedEntry, Error> {
    let value = cx
        .result(FETCH)
        .cloned()
        .ok_or_else(|| Error::internal("a posting step ran before fetch"))?;
    serde_json::from_value(value).map_err(Error::internal)
}

#[async_trait]
impl Workflow for TimePosting {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    fn owning_team(&self) -> &'static str {
        "finance-operations"
    }

    #[tracing::instrument(skip_all, fields(workflow.kind = KIND, workflow.step = cx.step, time_entry.id = %cx.business_key, attempt = cx.attempt))]
    async fn run_step(&self, cx: &StepContext) -> Result<StepOutcome, Error> {
        let result = match cx.step {
            FETCH => self.fetch(cx).await?,
            COST => self.cost(cx).await?,
            POST_TO_ERP => self.post_to_erp(cx).await?,
            MARK_POSTED => self.mark_posted(cx).await?,
            other => return Err(Error::internal(format!("unknown time-posting step {other}"))),
        };
        Ok(StepOutcome::Done(result))
    }
}
