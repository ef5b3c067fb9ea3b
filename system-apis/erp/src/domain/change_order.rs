//! Parse-once input of the ERP side of a change order: moving a billing milestone's amount or
//! due date, and revising a revenue schedule's contract value.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::erp::{ReviseRevenueScheduleRequest, UpdateBillingMilestoneRequest};
use uuid::Uuid;

use super::ledger::{expected_version, positive_money, project_code};
use super::{ProjectCodeNumber, unrecorded_violation};

/// A checked `UpdateBillingMilestoneRequest`: at least one of amount and due date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneUpdate {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
    /// The new amount, more than zero; `None` keeps it.
    pub amount: Option<Money>,
    /// The new due date; `None` keeps it.
    pub due_date: Option<NaiveDate>,
}

impl MilestoneUpdate {
    pub fn parse(request: &UpdateBillingMilestoneRequest) -> Result<MilestoneUpdate, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let id = violations.uuid("milestone_id", &request.milestone_id);
        let expected_version = expected_version(&mut violations, request.expected_version);
        let amount = match &request.amount {
            Some(amount) => positive_money(&mut violations, "amount", Some(amount)).map(Some),
            None => Some(None),
        };
        let due_date = if request.due_date.trim().is_empty() {
            Some(None)
        } else {
            violations.date("due_date", &request.due_date).map(Some)
        };
        if request.amount.is_none() && request.due_date.trim().is_empty() {
            violations.add("amount", "give the new amount, the new due_date, or both");
        }
        violations.finish()?;
        let (Some(id), Some(amount), Some(due_date)) = (id, amount, due_date) else {
            return Err(unrecorded_violation());
        };
        Ok(MilestoneUpdate {
            idempotency_key,
            id,
            expected_version,
            amount,
            due_date,
        })
    }

    /// The request in canonical form, which identifies a replay.
    pub fn to_request(&self) -> UpdateBillingMilestoneRequest {
        UpdateBillingMilestoneRequest {
            idempotency_key: self.idempotency_key.clone(),
            milestone_id: self.id.to_string(),
            expected_version: self.expected_version,
            amount: self.amount.as_ref().map(Money::to_proto),
            due_date: self.due_date.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// A checked `ReviseRevenueScheduleRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueRevision {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    pub expected_version: i64,
    /// Not negative.
    pub contract_value: Money,
}

impl RevenueRevision {
    pub fn parse(request: &ReviseRevenueScheduleRequest) -> Result<RevenueRevision, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = project_code(&mut violations, "project_code", &request.project_code);
        let expected_version = expected_version(&mut violations, request.expected_version);
        let contract_value = violations.non_negative_money("contract_value", request.contract_value.as_ref());
        violations.finish()?;
        let (Some(project_code), Some(contract_value)) = (project_code, contract_value) else {
            return Err(unrecorded_violation());
        };
        Ok(RevenueRevision {
            idempotency_key,
            project_code,
            expected_version,
            contract_value,
        })
    }

    /// The request in canonical form, which identifies a replay.
    pub fn to_request(&self) -> ReviseRevenueScheduleRequest {
        ReviseRevenueScheduleRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            expected_version: self.expected_version,
            contract_value: Some(self.contract_value.to_proto()),
        }
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as MoneyMessage;

    use super::*;

    fn milestone() -> UpdateBillingMilestoneRequest {
        UpdateBillingMilestoneRequest {
            idempotency_key: "co-1".into(),
            milestone_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            expected_version: 2,
            amount: Some(MoneyMessage {
                amount: "31200.00".into(),
                currency: "EUR".into(),
            }),
            due_date: String::new(),
        }
    }

    #[test]
    fn a_milestone_update_needs_something_to_change_and_names_each_bad_field() {
        let parsed = MilestoneUpdate::parse(&milestone()).unwrap();
        assert_eq!(parsed.amount.unwrap().to_minor_units(), 3_120_000);
        assert_eq!(parsed.due_date, None);
        type Change = fn(&mut UpdateBillingMilestoneRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.milestone_id = "m-1".into(), "milestone_id"),
            (|r| r.expected_version = 0, "expected_version"),
            (|r| r.amount.as_mut().unwrap().amount = "0".into(), "amount.amount"),
            (|r| r.amount.as_mut().unwrap().amount = "-5.00".into(), "amount.amount"),
            (|r| r.due_date = "next week".into(), "due_date"),
            (|r| r.amount = None, "amount"),
        ];
        for (change, field) in table {
            let mut request = milestone();
            change(&mut request);
            let error = MilestoneUpdate::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field], "{request:?}");
        }
        let mut due_only = milestone();
        due_only.amount = None;
        due_only.due_date = "2027-03-31".into();
        assert!(MilestoneUpdate::parse(&due_only).unwrap().amount.is_none());
    }

    #[test]
    fn a_revision_names_each_bad_field() {
        let good = ReviseRevenueScheduleRequest {
            idempotency_key: "co-2".into(),
            project_code: "PRJ-000042".into(),
            expected_version: 1,
            contract_value: Some(MoneyMessage {
                amount: "104000.01".into(),
                currency: "EUR".into(),
            }),
        };
        assert_eq!(
            RevenueRevision::parse(&good).unwrap().contract_value.to_minor_units(),
            10_400_001
        );
        let mut bad = good.clone();
        bad.contract_value = None;
        bad.expected_version = 0;
        let error = RevenueRevision::parse(&bad).unwrap_err();
        let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
        assert!(
            fields.contains(&"contract_value") && fields.contains(&"expected_version"),
            "{fields:?}"
        );
    }
}
