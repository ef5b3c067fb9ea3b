//! Parse-once input of postings and billing: time and expense batches, budget change orders,
//! billing milestones, invoices and revenue schedules.

use std::collections::HashMap;

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::erp::create_draft_invoice_request::Source;
use keel_proto::erp::{
    CreateBillingMilestoneRequest, CreateDraftInvoiceRequest, ExpensePosting, IssueInvoiceRequest,
    MarkMilestoneReachedRequest, PostBudgetRequest, PostExpensesRequest, PostTimeEntriesRequest,
    RecognizeRevenueRequest, RevenueMethod, SetRevenueScheduleRequest, TimeEntryPosting, UpdateBudgetRequest,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::ledger::{expected_version, legal_entity, percent, positive_money, project_code};
use super::{LegalEntity, NewBudget, ProjectCodeNumber, unrecorded_violation};

/// The most entries one posting batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 500;

/// Time or an expense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkKind {
    Time,
    Expense,
}

impl WorkKind {
    /// The stored form, also the prefix of a journal's source (`time:<id>`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Time => "time",
            WorkKind::Expense => "expense",
        }
    }
}

/// One checked, approved time entry or expense to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkEntry {
    pub entry_id: Uuid,
    pub person_id: Uuid,
    pub person_legal_entity: LegalEntity,
    pub project_code: ProjectCodeNumber,
    pub date: NaiveDate,
    /// Hours for time; `None` for an expense.
    pub hours: Option<Decimal>,
    /// The expense category; empty for time.
    pub category: String,
    /// What the client is billed, not negative (zero when not billable).
    pub bill: Money,
    /// What the work cost, not negative.
    pub cost: Money,
}

impl WorkEntry {
    /// A short line for journals and invoices: `time 7.5 h on 2026-11-02`.
    pub fn description(&self, kind: WorkKind) -> String {
        match kind {
            WorkKind::Time => format!("time {} h on {}", self.hours.unwrap_or_default(), self.date),
            WorkKind::Expense => format!("expense {} on {}", self.category, self.date),
        }
    }
}

/// A checked batch of time entries or expenses; each entry id appears once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkBatch {
    pub idempotency_key: String,
    pub kind: WorkKind,
    pub entries: Vec<WorkEntry>,
}

fn batch_size(violations: &mut Violations, field: &str, len: usize) -> bool {
    if len == 0 {
        violations.add(field, "must hold at least one entry");
    } else if len > MAX_BATCH_ENTRIES {
        violations.add(field, format!("must hold at most {MAX_BATCH_ENTRIES} entries"));
        return false;
    }
    true
}

struct RawWork<'a> {
    id_field: &'static str,
    id: &'a str,
    person_id: &'a str,
    person_legal_entity: &'a str,
    project_code: &'a str,
    date_field: &'static str,
    date: &'a str,
    hours: Option<&'a str>,
    category: &'a str,
    bill_field: &'static str,
    bill: Option<&'a keel_proto::common::Money>,
    cost_field: &'static str,
    cost: Option<&'a keel_proto::common::Money>,
}

fn parse_work(violations: &mut Violations, field: &str, raw: RawWork<'_>) -> Option<WorkEntry> {
    let entry_id = violations.uuid(&format!("{field}.{}", raw.id_field), raw.id);
    let person_id = violations.uuid(&format!("{field}.person_id"), raw.person_id);
    let person_legal_entity = legal_entity(
        violations,
        &format!("{field}.person_legal_entity"),
        raw.person_legal_entity,
    );
    let project_code = project_code(violations, &format!("{field}.project_code"), raw.project_code);
    let date = violations.date(&format!("{field}.{}", raw.date_field), raw.date);
    let hours = match raw.hours {
        Some(hours) => {
            let hours_field = format!("{field}.hours");
            let parsed = violations.non_negative_decimal(&hours_field, hours);
            if parsed.is_some_and(|h| h > Decimal::from(24)) {
                violations.add(hours_field, "must be at most 24 for one entry");
            }
            parsed.map(|mut h| {
                h.set_sign_positive(true);
                Some(h)
            })
        }
        None => Some(None),
    };
    let category = if raw.hours.is_none() {
        violations.required_text(&format!("{field}.category"), raw.category)
    } else {
        String::new()
    };
    let bill = violations.non_negative_money(&format!("{field}.{}", raw.bill_field), raw.bill);
    let cost = violations.non_negative_money(&format!("{field}.{}", raw.cost_field), raw.cost);
    if let (Some(bill), Some(cost)) = (&bill, &cost)
        && bill.amount().is_zero()
        && cost.amount().is_zero()
    {
        violations.add(
            format!("{field}.{}", raw.cost_field),
            "cost and bill amount are both zero: nothing to post",
        );
    }
    Some(WorkEntry {
        entry_id: entry_id?,
        person_id: person_id?,
        person_legal_entity: person_legal_entity?,
        project_code: project_code?,
        date: date?,
        hours: hours?,
        category,
        bill: bill?,
        cost: cost?,
    })
}

fn no_repeats(violations: &mut Violations, field: &str, id_field: &str, raw_ids: &[&str]) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (index, id) in raw_ids.iter().enumerate() {
        let id = id.trim().to_ascii_lowercase();
        if id.is_empty() {
            continue;
        }
        if let Some(earlier) = first.get(&id) {
            violations.add(
                format!("{field}[{index}].{id_field}"),
                format!("is already in {field}[{earlier}]; give each entry once"),
            );
        } else {
            first.insert(id, index);
        }
    }
}

impl WorkBatch {
    pub fn parse_time(request: &PostTimeEntriesRequest) -> Result<WorkBatch, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let readable = batch_size(&mut violations, "entries", request.entries.len());
        let raw: &[TimeEntryPosting] = if readable { &request.entries } else { &[] };
        let entries: Vec<WorkEntry> = raw
            .iter()
            .enumerate()
            .filter_map(|(index, e)| {
                parse_work(
                    &mut violations,
                    &format!("entries[{index}]"),
                    RawWork {
                        id_field: "time_entry_id",
                        id: &e.time_entry_id,
                        person_id: &e.person_id,
                        person_legal_entity: &e.person_legal_entity,
                        project_code: &e.project_code,
                        date_field: "work_date",
                        date: &e.work_date,
                        hours: Some(&e.hours),
                        category: "",
                        bill_field: "bill_amount",
                        bill: e.bill_amount.as_ref(),
                        cost_field: "cost_amount",
                        cost: e.cost_amount.as_ref(),
                    },
                )
            })
            .collect();
        let ids: Vec<&str> = raw.iter().map(|e| e.time_entry_id.as_str()).collect();
        no_repeats(&mut violations, "entries", "time_entry_id", &ids);
        violations.finish()?;
        Ok(WorkBatch {
            idempotency_key,
            kind: WorkKind::Time,
            entries,
        })
    }

    pub fn parse_expenses(request: &PostExpensesRequest) -> Result<WorkBatch, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let readable = batch_size(&mut violations, "expenses", request.expenses.len());
        let raw: &[ExpensePosting] = if readable { &request.expenses } else { &[] };
        let zero_bill: Vec<Option<keel_proto::common::Money>> = raw
            .iter()
            .map(|e| match &e.bill_amount {
                Some(bill) => Some(bill.clone()),
                // Not rebillable: zero in the expense's currency.
                None => e.amount.as_ref().map(|m| keel_proto::common::Money {
                    amount: "0".into(),
                    currency: m.currency.clone(),
                }),
            })
            .collect();
        let entries: Vec<WorkEntry> = raw
            .iter()
            .zip(&zero_bill)
            .enumerate()
            .filter_map(|(index, (e, bill))| {
                parse_work(
                    &mut violations,
                    &format!("expenses[{index}]"),
                    RawWork {
                        id_field: "expense_id",
                        id: &e.expense_id,
                        person_id: &e.person_id,
                        person_legal_entity: &e.person_legal_entity,
                        project_code: &e.project_code,
                        date_field: "expense_date",
                        date: &e.expense_date,
                        hours: None,
                        category: &e.category,
                        bill_field: "bill_amount",
                        bill: bill.as_ref(),
                        cost_field: "amount",
                        cost: e.amount.as_ref(),
                    },
                )
            })
            .collect();
        let ids: Vec<&str> = raw.iter().map(|e| e.expense_id.as_str()).collect();
        no_repeats(&mut violations, "expenses", "expense_id", &ids);
        violations.finish()?;
        Ok(WorkBatch {
            idempotency_key,
            kind: WorkKind::Expense,
            entries,
        })
    }

    /// The batch in canonical form, which identifies a replay.
    pub fn fingerprint_request(&self) -> PostTimeEntriesRequest {
        PostTimeEntriesRequest {
            idempotency_key: format!("{}:{}", self.kind.as_str(), self.idempotency_key),
            entries: self
                .entries
                .iter()
                .map(|e| TimeEntryPosting {
                    time_entry_id: e.entry_id.to_string(),
                    person_id: e.person_id.to_string(),
                    person_legal_entity: e.person_legal_entity.to_string(),
                    project_code: e.project_code.to_string(),
                    work_date: e.date.to_string(),
                    hours: match e.hours {
                        Some(hours) => hours.to_string(),
                        None => format!("category:{}", e.category),
                    },
                    bill_amount: Some(e.bill.to_proto()),
                    cost_amount: Some(e.cost.to_proto()),
                })
                .collect(),
        }
    }
}

/// A checked `UpdateBudgetRequest`: a full new set of lines, checked as `PostBudget` checks
/// them, for the version the caller read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUpdate {
    pub expected_version: i64,
    pub budget: NewBudget,
}

impl BudgetUpdate {
    pub fn parse(request: &UpdateBudgetRequest) -> Result<BudgetUpdate, Error> {
        let mut violations = Violations::new();
        let expected_version = expected_version(&mut violations, request.expected_version);
        let budget = NewBudget::parse(&PostBudgetRequest {
            idempotency_key: request.idempotency_key.clone(),
            project_code: request.project_code.clone(),
            lines: request.lines.clone(),
        });
        match budget {
            Ok(budget) => {
                violations.finish()?;
                Ok(BudgetUpdate {
                    expected_version,
                    budget,
                })
            }
            Err(Error::InvalidInput(mut more)) => {
                if !violations.is_empty() {
                    more.insert(
                        0,
                        keel_core::error::FieldViolation::new("expected_version", "is required (1 or more)"),
                    );
                }
                Err(Error::InvalidInput(more))
            }
            Err(other) => Err(other),
        }
    }

    pub fn to_request(&self) -> UpdateBudgetRequest {
        let posted = self.budget.to_request();
        UpdateBudgetRequest {
            idempotency_key: posted.idempotency_key,
            project_code: posted.project_code,
            expected_version: self.expected_version,
            lines: posted.lines,
        }
    }
}

/// A checked `CreateBillingMilestoneRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMilestone {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    pub name: String,
    pub amount: Money,
    pub due_date: NaiveDate,
}

impl NewMilestone {
    pub fn parse(request: &CreateBillingMilestoneRequest) -> Result<NewMilestone, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = project_code(&mut violations, "project_code", &request.project_code);
        let name = violations.required_text("name", &request.name);
        let amount = positive_money(&mut violations, "amount", request.amount.as_ref());
        let due_date = violations.date("due_date", &request.due_date);
        violations.finish()?;
        let (Some(project_code), Some(amount), Some(due_date)) = (project_code, amount, due_date) else {
            return Err(unrecorded_violation());
        };
        Ok(NewMilestone {
            idempotency_key,
            project_code,
            name,
            amount,
            due_date,
        })
    }

    pub fn to_request(&self) -> CreateBillingMilestoneRequest {
        CreateBillingMilestoneRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            name: self.name.clone(),
            amount: Some(self.amount.to_proto()),
            due_date: self.due_date.to_string(),
        }
    }
}

/// A checked versioned change to one record by id (`MarkMilestoneReached`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedChange {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
}

impl VersionedChange {
    pub fn parse_milestone(request: &MarkMilestoneReachedRequest) -> Result<VersionedChange, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let id = violations.uuid("milestone_id", &request.milestone_id);
        let expected_version = expected_version(&mut violations, request.expected_version);
        violations.finish()?;
        let Some(id) = id else {
            return Err(unrecorded_violation());
        };
        Ok(VersionedChange {
            idempotency_key,
            id,
            expected_version,
        })
    }

    pub fn to_milestone_request(&self) -> MarkMilestoneReachedRequest {
        MarkMilestoneReachedRequest {
            idempotency_key: self.idempotency_key.clone(),
            milestone_id: self.id.to_string(),
            expected_version: self.expected_version,
        }
    }
}

/// What a draft invoice bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceSource {
    Milestone(Uuid),
    TimeAndMaterials,
}

/// A checked `CreateDraftInvoiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDraftInvoice {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    pub source: InvoiceSource,
}

impl NewDraftInvoice {
    pub fn parse(request: &CreateDraftInvoiceRequest) -> Result<NewDraftInvoice, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = project_code(&mut violations, "project_code", &request.project_code);
        let source = match &request.source {
            Some(Source::MilestoneId(id)) => violations.uuid("milestone_id", id).map(InvoiceSource::Milestone),
            Some(Source::TimeAndMaterials(true)) => Some(InvoiceSource::TimeAndMaterials),
            _ => {
                violations.add(
                    "source",
                    "give milestone_id, or time_and_materials = true to bill uninvoiced time and expenses",
                );
                None
            }
        };
        violations.finish()?;
        let (Some(project_code), Some(source)) = (project_code, source) else {
            return Err(unrecorded_violation());
        };
        Ok(NewDraftInvoice {
            idempotency_key,
            project_code,
            source,
        })
    }

    pub fn to_request(&self) -> CreateDraftInvoiceRequest {
        CreateDraftInvoiceRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            source: Some(match self.source {
                InvoiceSource::Milestone(id) => Source::MilestoneId(id.to_string()),
                InvoiceSource::TimeAndMaterials => Source::TimeAndMaterials(true),
            }),
        }
    }
}

/// A checked `IssueInvoiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceIssue {
    pub idempotency_key: String,
    pub invoice_id: Uuid,
    pub expected_version: i64,
    pub issue_date: NaiveDate,
}

impl InvoiceIssue {
    pub fn parse(request: &IssueInvoiceRequest) -> Result<InvoiceIssue, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let invoice_id = violations.uuid("invoice_id", &request.invoice_id);
        let expected_version = expected_version(&mut violations, request.expected_version);
        let issue_date = violations.date("issue_date", &request.issue_date);
        violations.finish()?;
        let (Some(invoice_id), Some(issue_date)) = (invoice_id, issue_date) else {
            return Err(unrecorded_violation());
        };
        Ok(InvoiceIssue {
            idempotency_key,
            invoice_id,
            expected_version,
            issue_date,
        })
    }

    pub fn to_request(&self) -> IssueInvoiceRequest {
        IssueInvoiceRequest {
            idempotency_key: self.idempotency_key.clone(),
            invoice_id: self.invoice_id.to_string(),
            expected_version: self.expected_version,
            issue_date: self.issue_date.to_string(),
        }
    }
}

/// How a project code's revenue is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecognitionMethod {
    FixedFeeMilestone,
    FixedFeePercentComplete,
    TimeAndMaterials,
}

impl RecognitionMethod {
    pub fn from_proto(value: i32) -> Option<RecognitionMethod> {
        match RevenueMethod::try_from(value).ok()? {
            RevenueMethod::FixedFeeMilestone => Some(RecognitionMethod::FixedFeeMilestone),
            RevenueMethod::FixedFeePercentComplete => Some(RecognitionMethod::FixedFeePercentComplete),
            RevenueMethod::TimeAndMaterials => Some(RecognitionMethod::TimeAndMaterials),
            RevenueMethod::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> RevenueMethod {
        match self {
            RecognitionMethod::FixedFeeMilestone => RevenueMethod::FixedFeeMilestone,
            RecognitionMethod::FixedFeePercentComplete => RevenueMethod::FixedFeePercentComplete,
            RecognitionMethod::TimeAndMaterials => RevenueMethod::TimeAndMaterials,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecognitionMethod::FixedFeeMilestone => "fixed_fee_milestone",
            RecognitionMethod::FixedFeePercentComplete => "fixed_fee_percent_complete",
            RecognitionMethod::TimeAndMaterials => "time_and_materials",
        }
    }

    pub fn from_stored(value: &str) -> Option<RecognitionMethod> {
        [
            RecognitionMethod::FixedFeeMilestone,
            RecognitionMethod::FixedFeePercentComplete,
            RecognitionMethod::TimeAndMaterials,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
    }
}

/// A checked `SetRevenueScheduleRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevenueSchedule {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    pub method: RecognitionMethod,
    /// Not negative; zero allowed for time and materials.
    pub contract_value: Money,
}

impl NewRevenueSchedule {
    pub fn parse(request: &SetRevenueScheduleRequest) -> Result<NewRevenueSchedule, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = project_code(&mut violations, "project_code", &request.project_code);
        let method = RecognitionMethod::from_proto(request.method);
        if method.is_none() {
            violations.add(
                "method",
                "must be FIXED_FEE_MILESTONE, FIXED_FEE_PERCENT_COMPLETE or TIME_AND_MATERIALS",
            );
        }
        let contract_value = violations.non_negative_money("contract_value", request.contract_value.as_ref());
        violations.finish()?;
        let (Some(project_code), Some(method), Some(contract_value)) = (project_code, method, contract_value) else {
            return Err(unrecorded_violation());
        };
        Ok(NewRevenueSchedule {
            idempotency_key,
            project_code,
            method,
            contract_value,
        })
    }

    pub fn to_request(&self) -> SetRevenueScheduleRequest {
        SetRevenueScheduleRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            method: self.method.to_proto() as i32,
            contract_value: Some(self.contract_value.to_proto()),
        }
    }
}

/// A checked `RecognizeRevenueRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    /// Given for percent-complete schedules only.
    pub percent_complete: Option<Decimal>,
    pub as_of: NaiveDate,
}

impl Recognition {
    pub fn parse(request: &RecognizeRevenueRequest) -> Result<Recognition, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = project_code(&mut violations, "project_code", &request.project_code);
        let percent_complete = if request.percent_complete.trim().is_empty() {
            None
        } else {
            percent(&mut violations, "percent_complete", &request.percent_complete)
        };
        let as_of = violations.date("as_of_date", &request.as_of_date);
        violations.finish()?;
        let (Some(project_code), Some(as_of)) = (project_code, as_of) else {
            return Err(unrecorded_violation());
        };
        Ok(Recognition {
            idempotency_key,
            project_code,
            percent_complete,
            as_of,
        })
    }

    pub fn to_request(&self) -> RecognizeRevenueRequest {
        RecognizeRevenueRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            percent_complete: self.percent_complete.map(|p| p.to_string()).unwrap_or_default(),
            as_of_date: self.as_of.to_string(),
        }
    }
}

/// The cumulative revenue a percent-complete schedule should have recognised: `percent` of
/// `contract_value`, rounded half-even to the minor unit.
pub fn percent_of(contract_value: Money, percent: Decimal) -> Money {
    let exact = contract_value.amount() * percent / Decimal::ONE_HUNDRED;
    let digits = contract_value.currency().minor_unit_digits();
    let rounded = exact.round_dp_with_strategy(digits, rust_decimal::RoundingStrategy::MidpointNearestEven);
    // At most the contract value, which Money already holds.
    Money::new(rounded, contract_value.currency()).unwrap_or(contract_value)
}
