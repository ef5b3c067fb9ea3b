//! HRIS requests parsed once into checked values; every bad field is named as the contract
//! spells it (`skills[1].proficiency`).

pub mod candidates;
mod csv_records;
pub mod import;
pub mod profile;

use keel_core::{Error, Money, Violations};
use keel_proto::common::Money as MoneyMessage;
use keel_proto::hris::{
    CreateEmployeeRequest, SetAvailabilityRequest, SetCertificationsRequest, SetLanguagesRequest, SetSkillsRequest,
    UpdateEmployeeRequest,
};
use rust_decimal::Decimal;
use uuid::Uuid;

pub use candidates::CandidateQuery;
pub use import::{EmployeeImport, ImportColumns, ImportRow};
pub use profile::{Availability, Certification, Language, LanguageLevel, Skill, TimeOff};

/// Regions Keel knows.
pub const REGIONS: &[&str] = &["emea", "na", "latam", "apac"];

/// The fields of an employee a caller replaces with `UpdateEmployee`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeDetails {
    pub name: String,
    pub email: String,
    pub legal_entity: String,
    pub location: String,
    pub region: String,
    pub labor_category: String,
    /// Cost per hour.
    pub cost_rate: Money,
    /// A fraction from 0 to 1.
    pub utilization_target: Decimal,
    /// Empty for none.
    pub manager_employee_number: String,
    pub active: bool,
}

/// The raw details of a request or a CSV row, before checking.
#[derive(Debug, Clone, Copy)]
pub struct RawDetails<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub legal_entity: &'a str,
    pub location: &'a str,
    pub region: &'a str,
    pub labor_category: &'a str,
    pub cost_rate: Option<&'a MoneyMessage>,
    pub utilization_target: &'a str,
    pub manager_employee_number: &'a str,
    pub active: bool,
}

impl EmployeeDetails {
    /// Checks every field, recording violations; `None` when any failed.
    pub fn check(v: &mut Violations, raw: RawDetails<'_>) -> Option<EmployeeDetails> {
        let name = v.required_text("name", raw.name);
        let email = check_email(v, "email", raw.email);
        let legal_entity = check_legal_entity(v, "legal_entity", raw.legal_entity);
        let location = v.required_text("location", raw.location);
        let region = raw.region.trim().to_string();
        if !REGIONS.contains(&region.as_str()) {
            v.add(
                "region",
                format!(
                    "{:?} is not one of {}",
                    region.chars().take(40).collect::<String>(),
                    REGIONS.join(", ")
                ),
            );
        }
        let labor_category = check_slug(v, "labor_category", raw.labor_category);
        let cost_rate = v.non_negative_money("cost_rate", raw.cost_rate);
        let utilization_target = check_fraction(v, "utilization_target", raw.utilization_target);
        let manager_employee_number = if raw.manager_employee_number.trim().is_empty() {
            String::new()
        } else {
            check_employee_number(v, "manager_employee_number", raw.manager_employee_number)
        };
        Some(EmployeeDetails {
            name,
            email,
            legal_entity,
            location,
            region,
            labor_category,
            cost_rate: cost_rate?,
            utilization_target: utilization_target?,
            manager_employee_number,
            active: raw.active,
        })
    }
}

/// A checked new employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmployee {
    pub employee_number: String,
    pub details: EmployeeDetails,
    pub skills: Vec<Skill>,
    pub certifications: Vec<Certification>,
    pub languages: Vec<Language>,
    pub weekly_capacity_hours: Decimal,
}

impl NewEmployee {
    pub fn parse(request: &CreateEmployeeRequest) -> Result<(String, NewEmployee), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let employee = NewEmployee::check(&mut v, request);
        v.finish()?;
        let employee = employee.ok_or_else(|| Error::internal("checked fields missing after validation"))?;
        Ok((key, employee))
    }

    /// Checks everything but the idempotency key (shared with CSV rows).
    pub fn check(v: &mut Violations, request: &CreateEmployeeRequest) -> Option<NewEmployee> {
        let employee_number = check_employee_number(v, "employee_number", &request.employee_number);
        let details = EmployeeDetails::check(
            v,
            RawDetails {
                name: &request.name,
                email: &request.email,
                legal_entity: &request.legal_entity,
                location: &request.location,
                region: &request.region,
                labor_category: &request.labor_category,
                cost_rate: request.cost_rate.as_ref(),
                utilization_target: &request.utilization_target,
                manager_employee_number: &request.manager_employee_number,
                active: true,
            },
        );
        if !employee_number.is_empty() && employee_number == request.manager_employee_number.trim() {
            v.add("manager_employee_number", "an employee cannot be their own manager");
        }
        let skills = profile::parse_skills(v, "skills", &request.skills);
        let certifications = profile::parse_certifications(v, "certifications", &request.certifications);
        let languages = profile::parse_languages(v, "languages", &request.languages);
        let weekly_capacity_hours = profile::parse_weekly_hours(
            v,
            "weekly_capacity_hours",
            &request.weekly_capacity_hours,
            Some(profile::DEFAULT_WEEKLY_HOURS),
        );
        Some(NewEmployee {
            employee_number,
            details: details?,
            skills,
            certifications,
            languages,
            weekly_capacity_hours,
        })
    }

    /// The request as checked, for the idempotency fingerprint.
    pub fn to_request(&self, idempotency_key: &str) -> CreateEmployeeRequest {
        let d = &self.details;
        CreateEmployeeRequest {
            idempotency_key: idempotency_key.to_string(),
            employee_number: self.employee_number.clone(),
            name: d.name.clone(),
            email: d.email.clone(),
            legal_entity: d.legal_entity.clone(),
            location: d.location.clone(),
            region: d.region.clone(),
            labor_category: d.labor_category.clone(),
            cost_rate: Some(d.cost_rate.to_proto()),
            utilization_target: d.utilization_target.to_string(),
            manager_employee_number: d.manager_employee_number.clone(),
            skills: self.skills.iter().map(profile::skill_to_proto).collect(),
            certifications: self
                .certifications
                .iter()
                .map(profile::certification_to_proto)
                .collect(),
            languages: self.languages.iter().map(profile::language_to_proto).collect(),
            weekly_capacity_hours: self.weekly_capacity_hours.to_string(),
        }
    }
}

/// What a change replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Details(EmployeeDetails),
    Skills(Vec<Skill>),
    Certifications(Vec<Certification>),
    Languages(Vec<Language>),
    Availability(Availability),
}

/// A checked change to one employee at an expected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployeeChange {
    pub id: Uuid,
    pub expected_version: i64,
    pub change: Change,
}

/// The checked change as its contract request, for the idempotency fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeRequest {
    Details(UpdateEmployeeRequest),
    Skills(SetSkillsRequest),
    Certifications(SetCertificationsRequest),
    Languages(SetLanguagesRequest),
    Availability(SetAvailabilityRequest),
}

fn target(v: &mut Violations, id: &str, expected_version: i64) -> (Option<Uuid>, i64) {
    let id = v.uuid("id", id);
    if expected_version < 1 {
        v.add("expected_version", "must be the version you read (1 or more)");
    }
    (id, expected_version)
}

fn finish(
    v: Violations,
    key: String,
    id: Option<Uuid>,
    expected_version: i64,
    change: Option<Change>,
) -> Result<(String, EmployeeChange), Error> {
    v.finish()?;
    let (Some(id), Some(change)) = (id, change) else {
        return Err(Error::internal("checked fields missing after validation"));
    };
    Ok((
        key,
        EmployeeChange {
            id,
            expected_version,
            change,
        },
    ))
}

impl EmployeeChange {
    pub fn parse_update(r: &UpdateEmployeeRequest) -> Result<(String, EmployeeChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&r.idempotency_key);
        let (id, version) = target(&mut v, &r.id, r.expected_version);
        let details = EmployeeDetails::check(
            &mut v,
            RawDetails {
                name: &r.name,
                email: &r.email,
                legal_entity: &r.legal_entity,
                location: &r.location,
                region: &r.region,
                labor_category: &r.labor_category,
                cost_rate: r.cost_rate.as_ref(),
                utilization_target: &r.utilization_target,
                manager_employee_number: &r.manager_employee_number,
                active: r.active,
            },
        );
        finish(v, key, id, version, details.map(Change::Details))
    }

    pub fn parse_skills(r: &SetSkillsRequest) -> Result<(String, EmployeeChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&r.idempotency_key);
        let (id, version) = target(&mut v, &r.id, r.expected_version);
        let skills = profile::parse_skills(&mut v, "skills", &r.skills);
        finish(v, key, id, version, Some(Change::Skills(skills)))
    }

    pub fn parse_certifications(r: &SetCertificationsRequest) -> Result<(String, EmployeeChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&r.idempotency_key);
        let (id, version) = target(&mut v, &r.id, r.expected_version);
        let certs = profile::parse_certifications(&mut v, "certifications", &r.certifications);
        finish(v, key, id, version, Some(Change::Certifications(certs)))
    }

    pub fn parse_languages(r: &SetLanguagesRequest) -> Result<(String, EmployeeChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&r.idempotency_key);
        let (id, version) = target(&mut v, &r.id, r.expected_version);
        let languages = profile::parse_languages(&mut v, "languages", &r.languages);
        finish(v, key, id, version, Some(Change::Languages(languages)))
    }

    pub fn parse_availability(r: &SetAvailabilityRequest) -> Result<(String, EmployeeChange), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&r.idempotency_key);
        let (id, version) = target(&mut v, &r.id, r.expected_version);
        let weekly_capacity_hours =
            profile::parse_weekly_hours(&mut v, "weekly_capacity_hours", &r.weekly_capacity_hours, None);
        let time_off = profile::parse_time_off(&mut v, "time_off", &r.time_off);
        finish(
            v,
            key,
            id,
            version,
            Some(Change::Availability(Availability {
                weekly_capacity_hours,
                time_off,
            })),
        )
    }

    /// The idempotency scope's operation name.
    pub fn operation(&self) -> &'static str {
        match self.change {
            Change::Details(_) => "update_employee",
            Change::Skills(_) => "set_skills",
            Change::Certifications(_) => "set_certifications",
            Change::Languages(_) => "set_languages",
            Change::Availability(_) => "set_availability",
        }
    }

    /// The request as checked, for the idempotency fingerprint.
    pub fn to_request(&self, idempotency_key: &str) -> ChangeRequest {
        let key = idempotency_key.to_string();
        let id = self.id.to_string();
        let expected_version = self.expected_version;
        match &self.change {
            Change::Details(d) => ChangeRequest::Details(UpdateEmployeeRequest {
                idempotency_key: key,
                id,
                expected_version,
                name: d.name.clone(),
                email: d.email.clone(),
                legal_entity: d.legal_entity.clone(),
                location: d.location.clone(),
                region: d.region.clone(),
                labor_category: d.labor_category.clone(),
                cost_rate: Some(d.cost_rate.to_proto()),
                utilization_target: d.utilization_target.to_string(),
                manager_employee_number: d.manager_employee_number.clone(),
                active: d.active,
            }),
            Change::Skills(s) => ChangeRequest::Skills(SetSkillsRequest {
                idempotency_key: key,
                id,
                expected_version,
                skills: s.iter().map(profile::skill_to_proto).collect(),
            }),
            Change::Certifications(c) => ChangeRequest::Certifications(SetCertificationsRequest {
                idempotency_key: key,
                id,
                expected_version,
                certifications: c.iter().map(profile::certification_to_proto).collect(),
            }),
            Change::Languages(l) => ChangeRequest::Languages(SetLanguagesRequest {
                idempotency_key: key,
                id,
                expected_version,
                languages: l.iter().map(profile::language_to_proto).collect(),
            }),
            Change::Availability(a) => ChangeRequest::Availability(SetAvailabilityRequest {
                idempotency_key: key,
                id,
                expected_version,
                weekly_capacity_hours: a.weekly_capacity_hours.to_string(),
                time_off: a.time_off.iter().map(profile::time_off_to_proto).collect(),
            }),
        }
    }
}

/// Optional list filters, each exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeeFilter {
    pub legal_entity: Option<String>,
    pub region: Option<String>,
    pub labor_category: Option<String>,
}

impl EmployeeFilter {
    pub fn new(legal_entity: &str, region: &str, labor_category: &str) -> EmployeeFilter {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        EmployeeFilter {
            legal_entity: some(legal_entity),
            region: some(region),
            labor_category: some(labor_category),
        }
    }
}

/// The HR system's id: 1 to 32 letters, digits, `-`, `_` or `.`.
pub fn check_employee_number(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    let valid =
        !value.is_empty() && value.len() <= 32 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        v.add(
            field,
            format!(
                "{:?} must be 1 to 32 letters, digits, '-', '_' or '.'",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value.to_string()
}

/// A plausible address: one `@`, a local part, a dotted domain, no spaces.
pub fn check_email(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    let valid = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if !valid {
        v.add(
            field,
            format!(
                "{:?} is not an email address",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value.to_ascii_lowercase()
}

/// Upper-case letters, digits and dashes: "KEEL-UK".
fn check_legal_entity(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        v.add(
            field,
            format!(
                "{:?} must be 1 to 32 upper-case letters, digits and dashes (\"KEEL-UK\")",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value.to_string()
}

/// Lower-case words joined by `-`: "senior-consultant".
fn check_slug(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !valid {
        v.add(
            field,
            format!(
                "{:?} must be lower-case letters, digits and dashes",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value.to_string()
}

/// A decimal fraction from 0 to 1 ("0.75" is 75%).
fn check_fraction(v: &mut Violations, field: &str, value: &str) -> Option<Decimal> {
    let fraction = v.non_negative_decimal(field, value)?;
    if fraction > Decimal::ONE {
        v.add(field, format!("{fraction} is above 1; give a fraction (0.75 for 75%)"));
        return None;
    }
    Some(fraction.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn good() -> CreateEmployeeRequest {
        CreateEmployeeRequest {
            idempotency_key: "k1".into(),
            employee_number: "E000042".into(),
            name: "Priya Raman".into(),
            email: "priya.raman@keel.example".into(),
            legal_entity: "KEEL-UK".into(),
            location: "London".into(),
            region: "emea".into(),
            labor_category: "senior-consultant".into(),
            cost_rate: Some(MoneyMessage {
                amount: "85.50".into(),
                currency: "GBP".into(),
            }),
            utilization_target: "0.75".into(),
            manager_employee_number: "E000001".into(),
            skills: vec![keel_proto::hris::Skill {
                name: "Rust".into(),
                proficiency: 4,
            }],
            certifications: vec![],
            languages: vec![keel_proto::hris::Language {
                code: "en".into(),
                level: "native".into(),
            }],
            weekly_capacity_hours: String::new(),
        }
    }

    #[test]
    fn a_complete_employee_parses() {
        let (key, e) = NewEmployee::parse(&good()).unwrap();
        assert_eq!(key, "k1");
        assert_eq!(e.details.cost_rate.to_minor_units(), 8550);
        assert_eq!(e.details.utilization_target, Decimal::new(75, 2));
        assert_eq!(e.skills[0].name, "rust");
        assert_eq!(e.weekly_capacity_hours, Decimal::from(40));
        assert!(e.details.active);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Edit = fn(&mut CreateEmployeeRequest);
        let table: &[(Edit, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.employee_number = "E 1".into(), "employee_number"),
            (|r| r.name.clear(), "name"),
            (|r| r.email = "priya.keel.example".into(), "email"),
            (|r| r.email = "priya@keel".into(), "email"),
            (|r| r.legal_entity = "keel-uk".into(), "legal_entity"),
            (|r| r.location.clear(), "location"),
            (|r| r.region = "mars".into(), "region"),
            (|r| r.labor_category = "Senior Consultant".into(), "labor_category"),
            (
                |r| {
                    r.cost_rate = Some(MoneyMessage {
                        amount: "-1".into(),
                        currency: "GBP".into(),
                    })
                },
                "cost_rate.amount",
            ),
            (
                |r| {
                    r.cost_rate = Some(MoneyMessage {
                        amount: "1".into(),
                        currency: "QQQ".into(),
                    })
                },
                "cost_rate.currency",
            ),
            (|r| r.cost_rate = None, "cost_rate"),
            (|r| r.utilization_target = "75".into(), "utilization_target"),
            (|r| r.utilization_target = "0,75".into(), "utilization_target"),
            (
                |r| r.manager_employee_number = "E000042".into(),
                "manager_employee_number",
            ),
            (|r| r.skills[0].proficiency = 0, "skills[0].proficiency"),
            (|r| r.languages[0].level = "fluent".into(), "languages[0].level"),
            (|r| r.weekly_capacity_hours = "90".into(), "weekly_capacity_hours"),
        ];
        for (edit, field) in table {
            let mut r = good();
            edit(&mut r);
            let err = NewEmployee::parse(&r).unwrap_err();
            let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
            assert_eq!(fields, [*field], "{r:?}");
        }
    }

    #[test]
    fn an_update_needs_an_id_and_a_version() {
        let err = EmployeeChange::parse_skills(&SetSkillsRequest {
            idempotency_key: "k".into(),
            id: "nope".into(),
            expected_version: 0,
            skills: vec![],
        })
        .unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["id", "expected_version"]);
    }
}
