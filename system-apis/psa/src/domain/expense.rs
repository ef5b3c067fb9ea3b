//! Expenses: what a person spent delivering a project, and its states.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::psa::{
    ApproveExpenseRequest, ExpenseState, MarkExpensePostedRequest, RecordExpenseRequest, RejectExpenseRequest,
    SubmitExpensesRequest, UpdateExpenseRequest,
};
use uuid::Uuid;

use super::staffing::{expected_version, optional_uuid, required_date};
use super::time::Decision;

/// The expense categories Keel knows; ERP maps each to an expense account.
pub const CATEGORIES: [&str; 6] = ["travel", "lodging", "meals", "transport", "software", "other"];
/// The most expenses one `SubmitExpenses` may hold.
pub const MAX_SUBMIT: usize = 100;

/// What an expense says: shared by record and update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub date: NaiveDate,
    /// One of [`CATEGORIES`].
    pub category: String,
    pub description: String,
    /// Greater than zero, in the currency it was spent in.
    pub amount: Money,
    pub billable: bool,
    /// The receipt in document management, when there is one.
    pub receipt_document_id: Option<Uuid>,
}

impl Spend {
    #[allow(clippy::too_many_arguments)] // the request's own fields, named as the contract names them
    fn parse(
        v: &mut Violations,
        date: &str,
        category: &str,
        description: &str,
        amount: Option<&keel_proto::common::Money>,
        billable: bool,
        receipt_document_id: &str,
    ) -> Option<Spend> {
        let date = required_date(v, "date", date);
        let category = category.trim().to_ascii_lowercase();
        if category.is_empty() {
            v.add("category", format!("is required (one of {})", CATEGORIES.join(", ")));
        } else if !CATEGORIES.contains(&category.as_str()) {
            v.add(
                "category",
                format!("{category:?} is not a category (one of {})", CATEGORIES.join(", ")),
            );
        }
        let description = v.required_text("description", description);
        let amount = v.non_negative_money("amount", amount);
        if amount.is_some_and(|a| a.amount().is_zero()) {
            v.add("amount.amount", "must be greater than 0");
        }
        let receipt_document_id = optional_uuid(v, "receipt_document_id", receipt_document_id);
        Some(Spend {
            date: date?,
            category,
            description,
            amount: amount?,
            billable,
            receipt_document_id,
        })
    }

    fn receipt(&self) -> String {
        self.receipt_document_id.map(|id| id.to_string()).unwrap_or_default()
    }
}

/// A checked `RecordExpense`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExpense {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub employee_id: Uuid,
    pub spend: Spend,
}

impl NewExpense {
    pub fn parse(request: &RecordExpenseRequest) -> Result<NewExpense, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let employee_id = v.uuid("employee_id", &request.employee_id);
        let spend = Spend::parse(
            &mut v,
            &request.date,
            &request.category,
            &request.description,
            request.amount.as_ref(),
            request.billable,
            &request.receipt_document_id,
        );
        v.finish()?;
        match (project_id, employee_id, spend) {
            (Some(project_id), Some(employee_id), Some(spend)) => Ok(NewExpense {
                idempotency_key,
                project_id,
                employee_id,
                spend,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> RecordExpenseRequest {
        RecordExpenseRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            employee_id: self.employee_id.to_string(),
            date: self.spend.date.to_string(),
            category: self.spend.category.clone(),
            description: self.spend.description.clone(),
            amount: Some(self.spend.amount.to_proto()),
            billable: self.spend.billable,
            receipt_document_id: self.spend.receipt(),
        }
    }
}

/// A checked `UpdateExpense`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenseEdit {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
    pub spend: Spend,
}

impl ExpenseEdit {
    pub fn parse(request: &UpdateExpenseRequest) -> Result<ExpenseEdit, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let spend = Spend::parse(
            &mut v,
            &request.date,
            &request.category,
            &request.description,
            request.amount.as_ref(),
            request.billable,
            &request.receipt_document_id,
        );
        v.finish()?;
        match (id, spend) {
            (Some(id), Some(spend)) => Ok(ExpenseEdit {
                idempotency_key,
                id,
                expected_version,
                spend,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> UpdateExpenseRequest {
        UpdateExpenseRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            date: self.spend.date.to_string(),
            category: self.spend.category.clone(),
            description: self.spend.description.clone(),
            amount: Some(self.spend.amount.to_proto()),
            billable: self.spend.billable,
            receipt_document_id: self.spend.receipt(),
        }
    }
}

/// A checked `SubmitExpenses`: 1 to [`MAX_SUBMIT`] distinct ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenseSubmission {
    pub idempotency_key: String,
    pub ids: Vec<Uuid>,
}

impl ExpenseSubmission {
    pub fn parse(request: &SubmitExpensesRequest) -> Result<ExpenseSubmission, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        if request.ids.is_empty() {
            v.add("ids", "must name at least one expense");
        } else if request.ids.len() > MAX_SUBMIT {
            v.add("ids", format!("may name at most {MAX_SUBMIT} expenses"));
        }
        let mut ids = Vec::with_capacity(request.ids.len());
        for (i, raw) in request.ids.iter().enumerate() {
            if let Some(id) = v.uuid(&format!("ids[{i}]"), raw) {
                if ids.contains(&id) {
                    v.add(format!("ids[{i}]"), "appears twice");
                }
                ids.push(id);
            }
        }
        v.finish()?;
        Ok(ExpenseSubmission { idempotency_key, ids })
    }

    pub fn to_request(&self) -> SubmitExpensesRequest {
        SubmitExpensesRequest {
            idempotency_key: self.idempotency_key.clone(),
            ids: self.ids.iter().map(Uuid::to_string).collect(),
        }
    }
}

/// A checked `ApproveExpense` or `RejectExpense`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenseDecision {
    pub idempotency_key: String,
    pub id: Uuid,
    pub approver_id: Uuid,
    pub expected_version: i64,
    pub decision: Decision,
}

impl ExpenseDecision {
    pub fn parse_approve(request: &ApproveExpenseRequest) -> Result<ExpenseDecision, Error> {
        ExpenseDecision::parse(
            &request.idempotency_key,
            &request.id,
            &request.approver_id,
            request.expected_version,
            None,
        )
    }

    pub fn parse_reject(request: &RejectExpenseRequest) -> Result<ExpenseDecision, Error> {
        ExpenseDecision::parse(
            &request.idempotency_key,
            &request.id,
            &request.approver_id,
            request.expected_version,
            Some(&request.reason),
        )
    }

    fn parse(
        key: &str,
        id: &str,
        approver_id: &str,
        version: i64,
        reason: Option<&str>,
    ) -> Result<ExpenseDecision, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(key);
        let id = v.uuid("id", id);
        let approver_id = v.uuid("approver_id", approver_id);
        let decision = match reason {
            None => Decision::Approve,
            Some(reason) => Decision::Reject {
                reason: v.required_text("reason", reason),
            },
        };
        let expected_version = expected_version(&mut v, version);
        v.finish()?;
        match (id, approver_id) {
            (Some(id), Some(approver_id)) => Ok(ExpenseDecision {
                idempotency_key,
                id,
                approver_id,
                expected_version,
                decision,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    /// The canonical request, for the idempotency fingerprint: an approval or a rejection.
    pub fn fingerprint_request(&self) -> RejectExpenseRequest {
        RejectExpenseRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            approver_id: self.approver_id.to_string(),
            reason: match &self.decision {
                Decision::Approve => String::new(),
                Decision::Reject { reason } => reason.clone(),
            },
            expected_version: self.expected_version,
        }
    }
}

/// A checked `MarkExpensePosted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpensePosting {
    pub idempotency_key: String,
    pub id: Uuid,
    pub journal_reference: String,
    pub expected_version: i64,
}

impl ExpensePosting {
    pub fn parse(request: &MarkExpensePostedRequest) -> Result<ExpensePosting, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let journal_reference = v.required_text("journal_reference", &request.journal_reference);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("id", "is required"))?;
        Ok(ExpensePosting {
            idempotency_key,
            id,
            journal_reference,
            expected_version,
        })
    }

    pub fn to_request(&self) -> MarkExpensePostedRequest {
        MarkExpensePostedRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            journal_reference: self.journal_reference.clone(),
            expected_version: self.expected_version,
        }
    }
}

/// Which expenses a `ListExpenses` asks for; `None` matches any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpenseFilter {
    pub project_id: Option<Uuid>,
    pub employee_id: Option<Uuid>,
    pub state: Option<ExpenseState>,
}

impl ExpenseFilter {
    pub fn parse(project_id: &str, employee_id: &str, state: i32) -> Result<ExpenseFilter, Error> {
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", project_id);
        let employee_id = optional_uuid(&mut v, "employee_id", employee_id);
        let state = match ExpenseState::try_from(state) {
            Ok(ExpenseState::Unspecified) => None,
            Ok(state) => Some(state),
            Err(_) => {
                v.add("state", format!("{state} is not an expense state"));
                None
            }
        };
        v.finish()?;
        Ok(ExpenseFilter {
            project_id,
            employee_id,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as MoneyMessage;

    use super::*;

    fn record() -> RecordExpenseRequest {
        RecordExpenseRequest {
            idempotency_key: "e-1".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            employee_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            date: "2026-12-03".into(),
            category: "Travel".into(),
            description: "Train to the client's site".into(),
            amount: Some(MoneyMessage {
                amount: "84.50".into(),
                currency: "EUR".into(),
            }),
            billable: true,
            receipt_document_id: String::new(),
        }
    }

    #[test]
    fn a_good_expense_is_normalized() {
        let parsed = NewExpense::parse(&record()).unwrap();
        assert_eq!(parsed.spend.category, "travel");
        assert_eq!(parsed.to_request().amount.unwrap().amount, "84.50");
        assert_eq!(parsed.spend.receipt_document_id, None);
    }

    #[test]
    fn every_bad_expense_field_is_named() {
        type Change = fn(&mut RecordExpenseRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.project_id = "x".into(), "project_id"),
            (|r| r.employee_id.clear(), "employee_id"),
            (|r| r.date = "2026-02-30".into(), "date"),
            (|r| r.category = "yacht".into(), "category"),
            (|r| r.category.clear(), "category"),
            (|r| r.description = " ".into(), "description"),
            (|r| r.amount = None, "amount"),
            (|r| r.amount.as_mut().unwrap().amount = "0".into(), "amount.amount"),
            (|r| r.amount.as_mut().unwrap().amount = "-3".into(), "amount.amount"),
            (|r| r.amount.as_mut().unwrap().amount = "1.005".into(), "amount.amount"),
            (
                |r| r.amount.as_mut().unwrap().currency = "euro".into(),
                "amount.currency",
            ),
            (|r| r.receipt_document_id = "receipt".into(), "receipt_document_id"),
        ];
        for (change, field) in table {
            let mut request = record();
            change(&mut request);
            let error = NewExpense::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field], "{request:?}");
        }
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        let error = ExpenseDecision::parse_reject(&RejectExpenseRequest {
            idempotency_key: "r".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            approver_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            reason: String::new(),
            expected_version: 2,
        })
        .unwrap_err();
        assert_eq!(error.field_violations()[0].field, "reason");
    }
}
