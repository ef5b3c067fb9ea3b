//! Resource requests: what a project needs staffed, and the proposal and assignment that fill
//! it.

use chrono::NaiveDate;
use keel_core::{Error, Violations};
use keel_proto::psa::{
    CreateResourceRequestRequest, FillResourceRequestRequest, ProposeCandidateRequest, RequiredLanguage, RequiredSkill,
    ResourceRequestState, ResourceRequestTransitionRequest,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::staffing::{expected_version, optional_uuid, required_date};
use super::{check_key, decimal_text, parse_role, positive_decimal};

/// The regions a request may ask for (as HRIS records them).
pub const REGIONS: [&str; 4] = ["emea", "na", "latam", "apac"];
/// Language levels, lowest first.
pub const LANGUAGE_LEVELS: [&str; 7] = ["a1", "a2", "b1", "b2", "c1", "c2", "native"];
/// The most requirements of one kind (skills, certifications, languages) a request may hold.
pub const MAX_REQUIREMENTS: usize = 20;
/// The longest period a request may cover, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A skill at a minimum proficiency (1 to 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillNeed {
    pub name: String,
    pub min_proficiency: i32,
}

/// A language at a minimum level (one of [`LANGUAGE_LEVELS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageNeed {
    pub code: String,
    pub min_level: String,
}

/// A checked `CreateResourceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResourceRequest {
    pub idempotency_key: String,
    pub project_id: Uuid,
    pub role: String,
    pub bill_role: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub allocation_percent: Decimal,
    pub skills: Vec<SkillNeed>,
    pub certifications: Vec<String>,
    pub languages: Vec<LanguageNeed>,
    pub region: String,
    pub location: String,
    pub requested_by: Uuid,
    pub notes: String,
}

fn too_many(v: &mut Violations, field: &str, count: usize) {
    if count > MAX_REQUIREMENTS {
        v.add(field, format!("may hold at most {MAX_REQUIREMENTS} entries"));
    }
}

fn key(v: &mut Violations, field: &str, value: &str, example: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        v.add(field, format!("is required (a key such as {example:?})"));
    } else if let Err(problem) = check_key(value) {
        v.add(field, problem);
    }
    value.to_string()
}

impl NewResourceRequest {
    pub fn parse(request: &CreateResourceRequestRequest) -> Result<NewResourceRequest, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let role = parse_role(&mut v, "role", &request.role);
        let bill_role = if request.bill_role.trim().is_empty() {
            role.clone()
        } else {
            parse_role(&mut v, "bill_role", &request.bill_role)
        };
        let start_date = required_date(&mut v, "start_date", &request.start_date);
        let end_date = required_date(&mut v, "end_date", &request.end_date);
        if let (Some(start), Some(end)) = (start_date, end_date) {
            if end < start {
                v.add("end_date", "must be on or after start_date");
            } else if (end - start).num_days() > MAX_PERIOD_DAYS {
                v.add(
                    "end_date",
                    format!("must be at most {MAX_PERIOD_DAYS} days after start_date"),
                );
            }
        }
        let allocation_percent = positive_decimal(
            &mut v,
            "allocation_percent",
            &request.allocation_percent,
            2,
            Decimal::ONE_HUNDRED,
        );
        too_many(&mut v, "skills", request.skills.len());
        let mut skills: Vec<SkillNeed> = Vec::with_capacity(request.skills.len());
        for (i, skill) in request.skills.iter().enumerate() {
            let name = key(&mut v, &format!("skills[{i}].name"), &skill.name, "sap-fico");
            if !name.is_empty() && skills.iter().any(|s| s.name == name) {
                v.add(format!("skills[{i}].name"), format!("{name:?} appears twice"));
            }
            if !(1..=5).contains(&skill.min_proficiency) {
                v.add(
                    format!("skills[{i}].min_proficiency"),
                    "must be from 1 (aware) to 5 (expert)",
                );
            }
            skills.push(SkillNeed {
                name,
                min_proficiency: skill.min_proficiency,
            });
        }
        too_many(&mut v, "certifications", request.certifications.len());
        let mut certifications: Vec<String> = Vec::with_capacity(request.certifications.len());
        for (i, raw) in request.certifications.iter().enumerate() {
            let name = key(&mut v, &format!("certifications[{i}]"), raw, "aws-sa");
            if !name.is_empty() && certifications.contains(&name) {
                v.add(format!("certifications[{i}]"), format!("{name:?} appears twice"));
            }
            certifications.push(name);
        }
        too_many(&mut v, "languages", request.languages.len());
        let mut languages: Vec<LanguageNeed> = Vec::with_capacity(request.languages.len());
        for (i, language) in request.languages.iter().enumerate() {
            let code = language.code.trim().to_ascii_lowercase();
            if code.len() != 2 || !code.chars().all(|c| c.is_ascii_lowercase()) {
                v.add(
                    format!("languages[{i}].code"),
                    "must be a two-letter ISO 639-1 code such as \"de\"",
                );
            } else if languages.iter().any(|l| l.code == code) {
                v.add(format!("languages[{i}].code"), format!("{code:?} appears twice"));
            }
            let min_level = language.min_level.trim().to_ascii_lowercase();
            if !LANGUAGE_LEVELS.contains(&min_level.as_str()) {
                v.add(
                    format!("languages[{i}].min_level"),
                    format!("must be one of {}", LANGUAGE_LEVELS.join(", ")),
                );
            }
            languages.push(LanguageNeed { code, min_level });
        }
        let region = request.region.trim().to_ascii_lowercase();
        if !region.is_empty() && !REGIONS.contains(&region.as_str()) {
            v.add(
                "region",
                format!("must be one of {} (or empty for any)", REGIONS.join(", ")),
            );
        }
        let location = v.optional_text("location", &request.location);
        let requested_by = v.uuid("requested_by", &request.requested_by);
        let notes = v.optional_text("notes", &request.notes);
        v.finish()?;
        match (project_id, start_date, end_date, allocation_percent, requested_by) {
            (Some(project_id), Some(start_date), Some(end_date), Some(allocation_percent), Some(requested_by)) => {
                Ok(NewResourceRequest {
                    idempotency_key,
                    project_id,
                    role,
                    bill_role,
                    start_date,
                    end_date,
                    allocation_percent,
                    skills,
                    certifications,
                    languages,
                    region,
                    location,
                    requested_by,
                    notes,
                })
            }
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn to_request(&self) -> CreateResourceRequestRequest {
        CreateResourceRequestRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            role: self.role.clone(),
            bill_role: self.bill_role.clone(),
            start_date: self.start_date.to_string(),
            end_date: self.end_date.to_string(),
            allocation_percent: decimal_text(self.allocation_percent),
            skills: self
                .skills
                .iter()
                .map(|s| RequiredSkill {
                    name: s.name.clone(),
                    min_proficiency: s.min_proficiency,
                })
                .collect(),
            certifications: self.certifications.clone(),
            languages: self
                .languages
                .iter()
                .map(|l| RequiredLanguage {
                    code: l.code.clone(),
                    min_level: l.min_level.clone(),
                })
                .collect(),
            region: self.region.clone(),
            location: self.location.clone(),
            requested_by: self.requested_by.to_string(),
            notes: self.notes.clone(),
        }
    }
}

/// What a resource request transition does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceStep {
    /// OPEN -> PROPOSED with a person.
    Propose { employee_id: Uuid },
    /// PROPOSED -> OPEN, with a reason.
    Withdraw { reason: String },
    /// PROPOSED -> FILLED with the proposed person's assignment.
    Fill { assignment_id: Uuid },
    /// OPEN or PROPOSED -> CANCELLED, with a reason.
    Cancel { reason: String },
}

impl ResourceStep {
    /// The step's name, for idempotency scopes and audit actions.
    pub fn name(&self) -> &'static str {
        match self {
            ResourceStep::Propose { .. } => "proposed",
            ResourceStep::Withdraw { .. } => "withdrawn",
            ResourceStep::Fill { .. } => "filled",
            ResourceStep::Cancel { .. } => "cancelled",
        }
    }
}

/// A checked resource request transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTransition {
    pub idempotency_key: String,
    pub id: Uuid,
    pub expected_version: i64,
    pub step: ResourceStep,
}

impl ResourceTransition {
    pub fn parse_propose(request: &ProposeCandidateRequest) -> Result<ResourceTransition, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let employee_id = v.uuid("employee_id", &request.employee_id);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (id, employee_id) {
            (Some(id), Some(employee_id)) => Ok(ResourceTransition {
                idempotency_key,
                id,
                expected_version,
                step: ResourceStep::Propose { employee_id },
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    pub fn parse_fill(request: &FillResourceRequestRequest) -> Result<ResourceTransition, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let assignment_id = v.uuid("assignment_id", &request.assignment_id);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        match (id, assignment_id) {
            (Some(id), Some(assignment_id)) => Ok(ResourceTransition {
                idempotency_key,
                id,
                expected_version,
                step: ResourceStep::Fill { assignment_id },
            }),
            _ => Err(Error::invalid("request", "is incomplete")),
        }
    }

    /// `WithdrawProposal` (`cancel` false) or `CancelResourceRequest` (`cancel` true).
    pub fn parse_with_reason(
        request: &ResourceRequestTransitionRequest,
        cancel: bool,
    ) -> Result<ResourceTransition, Error> {
        let mut v = Violations::new();
        let idempotency_key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let reason = v.required_text("reason", &request.reason);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("id", "is required"))?;
        let step = if cancel {
            ResourceStep::Cancel { reason }
        } else {
            ResourceStep::Withdraw { reason }
        };
        Ok(ResourceTransition {
            idempotency_key,
            id,
            expected_version,
            step,
        })
    }

    /// The canonical request, for the idempotency fingerprint.
    pub fn fingerprint_request(&self) -> ResourceRequestTransitionRequest {
        let reason = match &self.step {
            ResourceStep::Propose { employee_id } => format!("propose:{employee_id}"),
            ResourceStep::Fill { assignment_id } => format!("fill:{assignment_id}"),
            ResourceStep::Withdraw { reason } => format!("withdraw:{reason}"),
            ResourceStep::Cancel { reason } => format!("cancel:{reason}"),
        };
        ResourceRequestTransitionRequest {
            idempotency_key: self.idempotency_key.clone(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
            reason,
        }
    }
}

/// Which requests a `ListResourceRequests` asks for; `None` matches any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceRequestFilter {
    pub project_id: Option<Uuid>,
    pub state: Option<ResourceRequestState>,
}

impl ResourceRequestFilter {
    pub fn parse(project_id: &str, state: i32) -> Result<ResourceRequestFilter, Error> {
        let mut v = Violations::new();
        let project_id = optional_uuid(&mut v, "project_id", project_id);
        let state = match ResourceRequestState::try_from(state) {
            Ok(ResourceRequestState::Unspecified) => None,
            Ok(state) => Some(state),
            Err(_) => {
                v.add("state", format!("{state} is not a resource request state"));
                None
            }
        };
        v.finish()?;
        Ok(ResourceRequestFilter { project_id, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateResourceRequestRequest {
        CreateResourceRequestRequest {
            idempotency_key: "rr-1".into(),
            project_id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            role: "solution-architect".into(),
            bill_role: String::new(),
            start_date: "2027-01-04".into(),
            end_date: "2027-03-26".into(),
            allocation_percent: "80".into(),
            skills: vec![RequiredSkill {
                name: "sap-fico".into(),
                min_proficiency: 4,
            }],
            certifications: vec!["sap-s4-finance".into()],
            languages: vec![RequiredLanguage {
                code: "DE".into(),
                min_level: "B2".into(),
            }],
            region: "EMEA".into(),
            location: String::new(),
            requested_by: "0193b2a4-6f1e-7c3a-9f00-0000000000cd".into(),
            notes: String::new(),
        }
    }

    #[test]
    fn a_good_request_is_normalized() {
        let parsed = NewResourceRequest::parse(&request()).unwrap();
        assert_eq!(parsed.bill_role, "solution-architect");
        assert_eq!(parsed.region, "emea");
        assert_eq!(
            parsed.languages,
            [LanguageNeed {
                code: "de".into(),
                min_level: "b2".into()
            }]
        );
        assert_eq!(parsed.to_request().allocation_percent, "80");
    }

    #[test]
    fn every_bad_request_field_is_named() {
        type Change = fn(&mut CreateResourceRequestRequest);
        let table: &[(Change, &str)] = &[
            (|r| r.idempotency_key.clear(), "idempotency_key"),
            (|r| r.project_id = "p".into(), "project_id"),
            (|r| r.role = "Architect".into(), "role"),
            (|r| r.start_date = "soon".into(), "start_date"),
            (|r| r.end_date = "2027-01-01".into(), "end_date"),
            (|r| r.end_date = "2028-03-01".into(), "end_date"),
            (|r| r.allocation_percent = "120".into(), "allocation_percent"),
            (|r| r.skills[0].min_proficiency = 6, "skills[0].min_proficiency"),
            (|r| r.skills[0].name = "SAP FICO".into(), "skills[0].name"),
            (|r| r.certifications.push("sap-s4-finance".into()), "certifications[1]"),
            (|r| r.languages[0].code = "deu".into(), "languages[0].code"),
            (|r| r.languages[0].min_level = "fluent".into(), "languages[0].min_level"),
            (|r| r.region = "europe".into(), "region"),
            (|r| r.requested_by.clear(), "requested_by"),
        ];
        for (change, field) in table {
            let mut request = request();
            change(&mut request);
            let error = NewResourceRequest::parse(&request).unwrap_err();
            let fields: Vec<_> = error.field_violations().iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, [*field], "{request:?}");
        }
    }

    #[test]
    fn withdrawing_and_cancelling_need_a_reason() {
        let bare = ResourceRequestTransitionRequest {
            idempotency_key: "k".into(),
            id: "0193b2a4-6f1e-7c3a-9f00-1234567890ab".into(),
            expected_version: 1,
            reason: " ".into(),
        };
        for cancel in [false, true] {
            let error = ResourceTransition::parse_with_reason(&bare, cancel).unwrap_err();
            assert_eq!(error.field_violations()[0].field, "reason");
        }
    }
}
