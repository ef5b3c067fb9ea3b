//! Project status changes, rate cards and assignments: who works on a project, in which role,
//! billed at which rate.

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::psa::{
    CreateAssignmentRequest, EndAssignmentRequest, ProjectStatus, RoleRate, SetProjectRateCardRequest,
    UpdateProjectStatusRequest,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{decimal_text, parse_role, positive_decimal};

/// A checked `UpdateProjectStatus`: the target is ACTIVE, ON_HOLD or CLOSED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectStatusChange {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub status: ProjectStatus,
    pub expected_version: i64,
}

impl ProjectStatusChange {
    pub fn parse(request: &UpdateProjectStatusRequest) -> Result<ProjectStatusChange, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let status = match ProjectStatus::try_from(request.status) {
            Ok(status @ (ProjectStatus::Active | ProjectStatus::OnHold | ProjectStatus::Closed)) => Some(status),
            _ => {
                v.add(
                    "status",
                    "must be PROJECT_STATUS_ACTIVE, PROJECT_STATUS_ON_HOLD or PROJECT_STATUS_CLOSED",
                );
                None
            }
        };
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (project_id, status) {
            (Some(project_id), Some(status)) => Ok(ProjectStatusChange {
                idempotency_key,
                project_id,
                status,
                expected_version,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> UpdateProjectStatusRequest {
        UpdateProjectStatusRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            status: self.status as i32,
            expected_version: self.expected_version,
        }
    }
}

/// A version the caller last read: at least 1.
pub(crate) fn expected_version(v: &mut Violations, value: i64) -> i64 {
    expected_version_at(v, "expected_version", value)
}

/// [`expected_version`] under another field name (`postings[2].expected_version`).
pub(crate) fn expected_version_at(v: &mut Violations, field: &str, value: i64) -> i64 {
    if value < 1 {
        v.add(field, "is required: the version you last read (1 or more)");
    }
    value
}

/// One role's bill rate, per hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRateSpec {
    pub role: String,
    pub bill_rate: Money,
}

/// A checked `SetProjectRateCard`: distinct roles, positive rates in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCardInput {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub rates: Vec<RoleRateSpec>,
    /// 0 when the project has no rate card yet.
    pub expected_version: i64,
}

impl RateCardInput {
    pub fn parse(request: &SetProjectRateCardRequest) -> Result<RateCardInput, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        if request.rates.is_empty() {
            v.add("rates", "must hold at least one role's rate");
        }
        let mut rates = Vec::with_capacity(request.rates.len());
        for (i, rate) in request.rates.iter().enumerate() {
            let role = parse_role(&mut v, &format!("rates[{i}].role"), &rate.role);
            if !role.is_empty() && rates.iter().any(|r: &RoleRateSpec| r.role == role) {
                v.add(format!("rates[{i}].role"), format!("{role:?} appears twice"));
            }
            let field = format!("rates[{i}].bill_rate");
            let Some(bill_rate) = v.non_negative_money(&field, rate.bill_rate.as_ref()) else {
                continue;
            };
            if bill_rate.amount().is_zero() {
                v.add(format!("{field}.amount"), "must be greater than 0");
            }
            if let Some(first) = rates.first()
                && first.bill_rate.currency() != bill_rate.currency()
            {
                v.add(format!("{field}.currency"), "every rate must be in one currency");
            }
            rates.push(RoleRateSpec { role, bill_rate });
        }
        if request.expected_version < 0 {
            v.add(
                "expected_version",
                "must be 0 for a new rate card or the version you last read",
            );
        }
        v.finish()?;
        let project_id = project_id.ok_or_else(|| Error::invalid("project_id", "is required"))?;
        Ok(RateCardInput {
            idempotency_key,
            project_id,
            rates,
            expected_version: request.expected_version,
        })
    }

    pub fn to_request(&self) -> SetProjectRateCardRequest {
        SetProjectRateCardRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            rates: self
                .rates
                .iter()
                .map(|r| RoleRate {
                    role: r.role.clone(),
                    bill_rate: Some(r.bill_rate.to_proto()),
                })
                .collect(),
            expected_version: self.expected_version,
        }
    }
}

/// A checked `CreateAssignment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub employee_id: Uuid,
    pub person_name: String,
    pub role: String,
    /// The rate-card role; the same as `role` when the request left it empty.
    pub bill_role: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// 0 < p <= 100, at most 2 decimal places.
    pub allocation_percent: Decimal,
}

/// A required `YYYY-MM-DD` date.
pub(crate) fn required_date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.trim().is_empty() {
        v.add(field, "is required (a date in YYYY-MM-DD form)");
        None
    } else {
        v.date(field, value)
    }
}

impl NewAssignment {
    pub fn parse(request: &CreateAssignmentRequest) -> Result<NewAssignment, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let employee_id = v.uuid("employee_id", &request.employee_id);
        let person_name = v.required_text("person_name", &request.person_name);
        let role = parse_role(&mut v, "role", &request.role);
        let bill_role = if request.bill_role.trim().is_empty() {
            role.clone()
        } else {
            parse_role(&mut v, "bill_role", &request.bill_role)
        };
        let start_date = required_date(&mut v, "start_date", &request.start_date);
        let end_date = required_date(&mut v, "end_date", &request.end_date);
        if let (Some(start), Some(end)) = (start_date, end_date)
            && end < start
        {
            v.add("end_date", "must be on or after start_date");
        }
        let allocation_percent = positive_decimal(
            &mut v,
            "allocation_percent",
            &request.allocation_percent,
            2,
            Decimal::ONE_HUNDRED,
        );
        v.finish()?;
        match (project_id, employee_id, start_date, end_date, allocation_percent) {
            (Some(project_id), Some(employee_id), Some(start_date), Some(end_date), Some(allocation_percent)) => {
                Ok(NewAssignment {
                    idempotency_key,
                    project_id,
                    employee_id,
                    person_name,
                    role,
                    bill_role,
                    start_date,
                    end_date,
                    allocation_percent,
                })
            }
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> CreateAssignmentRequest {
        CreateAssignmentRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            employee_id: self.employee_id.to_string(),
            person_name: self.person_name.clone(),
            role: self.role.clone(),
            bill_role: self.bill_role.clone(),
            start_date: self.start_date.to_string(),
            end_date: self.end_date.to_string(),
            allocation_percent: decimal_text(self.allocation_percent),
        }
    }
}

/// A checked `EndAssignment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentEnd {
    pub idempotency_key: String,
    pub id: Uuid,
    pub end_date: NaiveDate,
    pub expected_version: i64,
}

impl AssignmentEnd {
    pub fn parse(request: &EndAssignmentRequest) -> Result<AssignmentEnd, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let end_date = required_date(&mut v, "end_date", &request.end_date);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (id, end_date) {
            (Some(id), Some(end_date)) => Ok(AssignmentEnd {
                idempotency_key,
                id,
                end_date,
                expected_version,
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> EndAssignmentRequest {
        EndAssignmentRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            end_date: self.end_date.to_string(),
            expected_version: self.expected_version,
        }
    }
}

/// An optional id filter: empty means any.
pub(crate) fn optional_uuid(v: &mut Violations, field: &str, value: &str) -> Option<Uuid> {
    if value.trim().is_empty() {
        None
    } else {
        v.uuid(field, value)
    }
}

/// The most projects one batch read may name.
pub const MAX_BATCH_PROJECTS: usize = 100;

/// The projects a batch read (`BatchGetProjects`, `List...OfProjects`) names: 1 to
/// [`MAX_BATCH_PROJECTS`] ids, each a UUID, without repeats, in the order first named.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectIds(pub Vec<Uuid>);

impl ProjectIds {
    pub fn parse(ids: &[String]) -> Result<ProjectIds, Error> {
        let mut v = Violations::new();
        if ids.is_empty() {
            v.add("project_ids", "must name at least one project");
        } else if ids.len() > MAX_BATCH_PROJECTS {
            v.add(
                "project_ids",
                format!("may name at most {MAX_BATCH_PROJECTS} projects, got {}", ids.len()),
            );
        }
        let mut parsed: Vec<Uuid> = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate().take(MAX_BATCH_PROJECTS) {
            if let Some(id) = v.uuid(&format!("project_ids[{i}]"), id)
                && !parsed.contains(&id)
            {
                parsed.push(id);
            }
        }
        v.finish()?;
        Ok(ProjectIds(parsed))
    }

    /// The ids as the text the store keeps.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(Uuid::to_string).collect()
    }
}

/// Which assignments a `ListAssignments` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssignmentFilter {
    pub project_id: Option<Uuid>,
    pub employee_id: Option<Uuid>,
}

impl AssignmentFilter {
    pub fn parse(project_id: &str, employee_id: &str) -> Result<AssignmentFilter, Error> {
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", project_id);
        let employee_id = optional_uuid(&mut v, "employee_id", employee_id);
        v.finish()?;
        Ok(AssignmentFilter {
            project_id,
            employee_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::common::Money as MoneyMessage;

    use super::*;

    fn assignment() -> CreateAssignmentRequest {
        CreateAssignmentRequest {
            idempotency_key: "a-1".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            employee_id: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            person_name: "Ada Lovelace".into(),
            role: "solution-architect".into(),
            bill_role: String::new(),
            start_date: "2026-12-01".into(),
            end_date: "2027-03-31".into(),
            allocation_percent: "50".into(),
        }
    }

    #[test]
    fn a_batch_names_one_to_a_hundred_projects_by_uuid_without_repeats() {
        let a = "0193b2a4-6f1e-7c3a-9f00-1234567890ab".to_string();
        let b = "0193b2a4-6f1e-7c3a-9f00-0000000000cd".to_string();
        let ids = ProjectIds::parse(&[a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(ids.texts(), vec![a.clone(), b]);
        let error = ProjectIds::parse(&[]).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "project_ids");
        let error = ProjectIds::parse(&vec![a.clone(); MAX_BATCH_PROJECTS + 1]).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "project_ids");
        let error = ProjectIds::parse(&[a, "p-1".into()]).unwrap_err();
        assert_eq!(error.field_violations()[0].field, "project_ids[1]");
    }

    #[test]
    fn an_assignment_bills_at_its_role_unless_told_otherwise() {
        let parsed = NewAssignment::parse(&assignment()).unwrap();
        assert_eq!(parsed.bill_role, "solution-architect");
        let mut other = assignment();
        other.bill_role = "senior-consultant".into();
        assert_eq!(NewAssignment::parse(&other).unwrap().bill_role, "senior-consultant");
    }

    #[test]
    fn every_bad_assignment_field_is_named() {
        type Change = fn(&mut CreateAssignmentRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.project_id = "p".into(), "project_id"),
            (|r| r.employee_id.clear(), "employee_id"),
            (|r| r.person_name = " ".into(), "person_name"),
            (|r| r.role = "Architect".into(), "role"),
            (|r| r.bill_role = "bill role".into(), "bill_role"),
            (|r| r.start_date = "2026-13-01".into(), "start_date"),
            (|r| r.end_date = "2026-11-30".into(), "end_date"),
            (|r| r.allocation_percent = "0".into(), "allocation_percent"),
            (|r| r.allocation_percent = "100.01".into(), "allocation_percent"),
            (|r| r.allocation_percent = "half".into(), "allocation_percent"),
        ];
        for (change, field) in table {
            let mut request = assignment();
            change(&mut request);
            let error = NewAssignment::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field], "{request:?}");
        }
    }

    #[test]
    fn rate_cards_need_distinct_roles_positive_rates_and_one_currency() {
        let rate = |role: &str, amount: &str, currency: &str| RoleRate {
            role: role.into(),
            bill_rate: Some(MoneyMessage {
                amount: amount.into(),
                currency: currency.into(),
            }),
        };
        let request = |rates: Vec<RoleRate>| SetProjectRateCardRequest {
            idempotency_key: "r".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            rates,
            expected_version: 0,
        };
        assert!(RateCardInput::parse(&request(vec![rate("pm", "185.00", "EUR")])).is_ok());
        let table: Vec<(Vec<RoleRate>, &str)> = vec![
            (vec![], "rates"),
            (vec![rate("pm", "0", "EUR")], "rates[0].bill_rate.amount"),
            (vec![rate("pm", "-1", "EUR")], "rates[0].bill_rate.amount"),
            (vec![rate("pm", "1.001", "EUR")], "rates[0].bill_rate.amount"),
            (vec![rate("PM", "1", "EUR")], "rates[0].role"),
            (vec![rate("pm", "1", "EUR"), rate("pm", "2", "EUR")], "rates[1].role"),
            (
                vec![rate("pm", "1", "EUR"), rate("qa", "2", "USD")],
                "rates[1].bill_rate.currency",
            ),
        ];
        for (rates, field) in table {
            let error = RateCardInput::parse(&request(rates)).unwrap_err();
            assert_eq!(error.field_violations()[0].field, field);
        }
    }
}
