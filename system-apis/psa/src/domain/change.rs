//! Change requests: a delta to a project's hours and money, spread over its baseline and
//! milestones once approved and applied.

use std::str::FromStr;

use keel_core::{Error, Money, Violations};
use keel_proto::psa::{ChangeRequestTransitionRequest, CreateChangeRequestRequest};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::staffing::expected_version;
use super::{decimal_text, parse_role};

/// The largest change in hours one request may carry, either way.
pub const MAX_DELTA_HOURS: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// A checked `CreateChangeRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChangeRequest {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    /// The baseline line the delta applies to.
    pub role: String,
    /// May be negative; at most 2 decimal places.
    pub delta_hours: Decimal,
    /// May be negative.
    pub delta_amount: Money,
    /// Milestone positions, 1-based, distinct.
    pub affected_milestones: Vec<u32>,
}

impl NewChangeRequest {
    pub fn parse(request: &CreateChangeRequestRequest) -> Result<NewChangeRequest, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let title = v.required_text("title", &request.title);
        let description = v.optional_text("description", &request.description);
        let role = parse_role(&mut v, "role", &request.role);
        let delta_hours = match Decimal::from_str(request.delta_hours.trim()) {
            Ok(d) if d.normalize().scale() > 2 => {
                v.add("delta_hours", "must have at most 2 decimal places");
                None
            }
            Ok(d) if d.abs() > MAX_DELTA_HOURS => {
                v.add("delta_hours", format!("must be within ±{MAX_DELTA_HOURS}"));
                None
            }
            Ok(d) => Some(d.normalize()),
            Err(_) => {
                v.add(
                    "delta_hours",
                    "is required (a decimal string such as \"40\" or \"-12.5\")",
                );
                None
            }
        };
        let delta_amount = v.take(Money::from_proto("delta_amount", request.delta_amount.as_ref()));
        let mut affected_milestones = Vec::with_capacity(request.affected_milestone_ids.len());
        for (i, raw) in request.affected_milestone_ids.iter().enumerate() {
            let field = format!("affected_milestone_ids[{i}]");
            match raw.trim().parse::<u32>() {
                Ok(position) if position >= 1 => {
                    if affected_milestones.contains(&position) {
                        v.add(field, "appears twice");
                    } else {
                        affected_milestones.push(position);
                    }
                }
                _ => v.add(field, format!("{raw:?} is not a milestone id (\"1\" for the first)")),
            }
        }
        if let Some(amount) = delta_amount
            && !amount.amount().is_zero()
            && request.affected_milestone_ids.is_empty()
        {
            v.add(
                "affected_milestone_ids",
                "must name the milestones a non-zero delta_amount changes",
            );
        }
        if let (Some(hours), Some(amount)) = (delta_hours, delta_amount)
            && hours.is_zero()
            && amount.amount().is_zero()
        {
            v.add("delta_hours", "a change request must change hours or money");
        }
        v.finish()?;
        match (project_id, delta_hours, delta_amount) {
            (Some(project_id), Some(delta_hours), Some(delta_amount)) => Ok(NewChangeRequest {
                idempotency_key,
                project_id,
                title,
                description,
                role,
                delta_hours,
                delta_amount,
                affected_milestones,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> CreateChangeRequestRequest {
        CreateChangeRequestRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            role: self.role.clone(),
            delta_hours: decimal_text(self.delta_hours),
            delta_amount: Some(self.delta_amount.to_proto()),
            affected_milestone_ids: self.affected_milestones.iter().map(u32::to_string).collect(),
        }
    }
}

/// Which way a change request moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRequestStep {
    Submit,
    Approve,
    Reject,
    Apply,
}

impl ChangeRequestStep {
    /// The idempotency scope and audit action of the step.
    pub fn name(self) -> &'static str {
        match self {
            ChangeRequestStep::Submit => "submitted",
            ChangeRequestStep::Approve => "approved",
            ChangeRequestStep::Reject => "rejected",
            ChangeRequestStep::Apply => "applied",
        }
    }
}

/// A checked Submit/Approve/Reject/ApplyChangeRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequestTransition {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
    pub step: ChangeRequestStep,
    /// Required on a rejection, empty otherwise.
    pub reason: String,
}

impl ChangeRequestTransition {
    pub fn parse(
        request: &ChangeRequestTransitionRequest,
        step: ChangeRequestStep,
    ) -> Result<ChangeRequestTransition, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        let reason = if step == ChangeRequestStep::Reject {
            v.required_text("reason", &request.reason)
        } else {
            v.optional_text("reason", &request.reason)
        };
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("id", "is required"))?;
        Ok(ChangeRequestTransition {
            idempotency_key,
            id,
            expected_version,
            step,
            reason,
        })
    }

    pub fn to_request(&self) -> ChangeRequestTransitionRequest {
        ChangeRequestTransitionRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            reason: self.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as MoneyMessage;

    use super::*;

    fn good() -> CreateChangeRequestRequest {
        CreateChangeRequestRequest {
            idempotency_key: "cr-1".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            title: "Add a second legal entity".into(),
            description: String::new(),
            role: "solution-architect".into(),
            delta_hours: "-12.5".into(),
            delta_amount: Some(MoneyMessage {
                amount: "-2312.50".into(),
                currency: "EUR".into(),
            }),
            affected_milestone_ids: vec!["2".into(), "3".into()],
        }
    }

    #[test]
    fn negative_deltas_are_allowed() {
        let parsed = NewChangeRequest::parse(&good()).unwrap();
        assert_eq!(parsed.delta_hours, Decimal::new(-125, 1));
        assert_eq!(parsed.delta_amount.to_minor_units(), -231_250);
        assert_eq!(parsed.affected_milestones, [2, 3]);
    }

    #[test]
    fn every_bad_change_request_field_is_named() {
        type Change = fn(&mut CreateChangeRequestRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.title.clear(), "title"),
            (|r| r.role.clear(), "role"),
            (|r| r.delta_hours = "1.125".into(), "delta_hours"),
            (|r| r.delta_hours = "lots".into(), "delta_hours"),
            (|r| r.delta_amount = None, "delta_amount"),
            (
                |r| r.affected_milestone_ids = vec!["0".into()],
                "affected_milestone_ids[0]",
            ),
            (
                |r| r.affected_milestone_ids = vec!["2".into(), "2".into()],
                "affected_milestone_ids[1]",
            ),
            (|r| r.affected_milestone_ids.clear(), "affected_milestone_ids"),
        ];
        for (change, field) in table {
            let mut request = good();
            change(&mut request);
            let error = NewChangeRequest::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field], "{request:?}");
        }
    }
}
