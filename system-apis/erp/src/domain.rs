//! Parse-once input of the ERP contract: each request is checked here, every bad field named
//! as the proto spells it (`lines[2].amount.currency`), into types that cannot hold an invalid
//! value. Adapters take only these types.
//!
//! What needs the ERP's records (does the code exist, is a line in the code's currency) is
//! checked by the adapter; everything else is checked here.

use std::collections::HashMap;
use std::fmt;

use keel_core::{Currency, Error, Money, Violations};
use keel_proto::erp::{BudgetLine, CreateProjectCodeRequest, GetProjectCodeRequest, PostBudgetRequest};
use rust_decimal::Decimal;
use uuid::Uuid;

pub mod billing;
pub mod change_order;
pub mod ledger;

/// What every project code starts with.
pub const PROJECT_CODE_PREFIX: &str = "PRJ-";
/// Digits of a project code's number, zero-padded (`PRJ-000042`); a number past 999999 simply
/// grows a digit.
pub const PROJECT_CODE_DIGITS: usize = 6;
/// The most digits a project code's number may have.
const PROJECT_CODE_MAX_DIGITS: usize = 12;
/// The shortest and longest legal entity code.
pub const LEGAL_ENTITY_LEN: std::ops::RangeInclusive<usize> = 2..=16;
/// The longest budget role, in characters.
pub const MAX_ROLE_LEN: usize = 64;
/// The most lines one budget may hold.
pub const MAX_BUDGET_LINES: usize = 500;

/// An ERP project code such as `PRJ-000042`: `PRJ-` and a zero-padded number assigned by the
/// ERP. Parsing accepts lower case (`prj-000042`) and stores upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectCodeNumber(String);

impl ProjectCodeNumber {
    /// The code for the `value`th number of the project code sequence (from 1).
    pub fn from_sequence(value: i64) -> Result<ProjectCodeNumber, Error> {
        if value < 1 {
            return Err(Error::internal(format!("the project code sequence gave {value}")));
        }
        Ok(ProjectCodeNumber(format!(
            "{PROJECT_CODE_PREFIX}{value:0width$}",
            width = PROJECT_CODE_DIGITS
        )))
    }

    /// Parses a code given by a caller; the error describes what is wrong.
    pub fn parse(value: &str) -> Result<ProjectCodeNumber, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("is required (a project code such as PRJ-000042)".into());
        }
        let upper = trimmed.to_ascii_uppercase();
        match upper.strip_prefix(PROJECT_CODE_PREFIX) {
            Some(digits)
                if (PROJECT_CODE_DIGITS..=PROJECT_CODE_MAX_DIGITS).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(ProjectCodeNumber(upper))
            }
            _ => Err(format!(
                "{:?} is not a project code ({PROJECT_CODE_PREFIX} and {PROJECT_CODE_DIGITS} or more digits, such as PRJ-000042)",
                truncate(trimmed)
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectCodeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The legal entity that books a project code's transactions: for now a short code of
/// upper-case letters, digits and `-` (`US01`, `UK01`, `DE-02`), 2 to 16 long.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LegalEntity(String);

impl LegalEntity {
    pub fn parse(value: &str) -> Result<LegalEntity, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("is required (a legal entity code such as US01)".into());
        }
        let well_formed = LEGAL_ENTITY_LEN.contains(&trimmed.len())
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(format!(
                "{:?} is not a legal entity code: {} to {} characters of A-Z, 0-9 and -, such as US01",
                truncate(trimmed),
                LEGAL_ENTITY_LEN.start(),
                LEGAL_ENTITY_LEN.end()
            ));
        }
        Ok(LegalEntity(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LegalEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A labor role a budget line is for, such as `senior-consultant`: lower-case letters, digits
/// and `-`, at most [`MAX_ROLE_LEN`] long.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetRole(String);

impl BudgetRole {
    pub fn parse(value: &str) -> Result<BudgetRole, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("is required (a role such as senior-consultant)".into());
        }
        if trimmed.chars().count() > MAX_ROLE_LEN {
            return Err(format!("must be at most {MAX_ROLE_LEN} characters"));
        }
        if !trimmed
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "{:?} is not a role: use lower-case letters, digits and -, such as senior-consultant",
                truncate(trimmed)
            ));
        }
        Ok(BudgetRole(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BudgetRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checked `CreateProjectCodeRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProjectCode {
    pub idempotency_key: String,
    /// The PSA project the code is for.
    pub project_id: Uuid,
    pub name: String,
    pub legal_entity: LegalEntity,
    pub currency: Currency,
}

impl NewProjectCode {
    /// Checks every field, naming each one at fault.
    pub fn parse(request: &CreateProjectCodeRequest) -> Result<NewProjectCode, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_id = violations.uuid("project_id", &request.project_id);
        let name = violations.required_text("name", &request.name);
        let legal_entity = check(
            &mut violations,
            "legal_entity",
            LegalEntity::parse(&request.legal_entity),
        );
        let currency = check(&mut violations, "currency", Currency::parse(request.currency.trim()));
        violations.finish()?;
        let (Some(project_id), Some(legal_entity), Some(currency)) = (project_id, legal_entity, currency) else {
            return Err(unrecorded_violation());
        };
        Ok(NewProjectCode {
            idempotency_key,
            project_id,
            name,
            legal_entity,
            currency,
        })
    }

    /// The request in canonical form (trimmed, parsed values), which identifies a replay.
    pub fn to_request(&self) -> CreateProjectCodeRequest {
        CreateProjectCodeRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_id: self.project_id.to_string(),
            name: self.name.clone(),
            legal_entity: self.legal_entity.to_string(),
            currency: self.currency.code().to_string(),
        }
    }
}

/// How a caller names the project code they want: by code or by PSA project id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCodeLookup {
    Code(ProjectCodeNumber),
    ProjectId(Uuid),
}

impl ProjectCodeLookup {
    /// Exactly one of `code` and `project_id` must be given; otherwise the error names `code`.
    pub fn parse(request: &GetProjectCodeRequest) -> Result<ProjectCodeLookup, Error> {
        let has_code = !request.code.trim().is_empty();
        let has_project_id = !request.project_id.trim().is_empty();
        match (has_code, has_project_id) {
            (false, false) => Err(Error::invalid(
                "code",
                "give either code (such as PRJ-000042) or project_id; both are empty",
            )),
            (true, true) => Err(Error::invalid("code", "give either code or project_id, not both")),
            (true, false) => ProjectCodeNumber::parse(&request.code)
                .map(ProjectCodeLookup::Code)
                .map_err(|description| Error::invalid("code", description)),
            (false, true) => {
                let mut violations = Violations::new();
                let project_id = violations.uuid("project_id", &request.project_id);
                violations.finish()?;
                project_id
                    .map(ProjectCodeLookup::ProjectId)
                    .ok_or_else(unrecorded_violation)
            }
        }
    }
}

/// One checked budget line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBudgetLine {
    pub role: BudgetRole,
    /// Budgeted hours, not negative.
    pub hours: Decimal,
    /// Budgeted amount, not negative, in the budget's currency.
    pub amount: Money,
}

/// A checked `PostBudgetRequest`: at least one line, one line per role, every line in one
/// currency, and the exact total of the lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBudget {
    pub idempotency_key: String,
    pub project_code: ProjectCodeNumber,
    pub lines: Vec<NewBudgetLine>,
    total: Money,
}

impl NewBudget {
    /// Checks every field, naming each one at fault (`lines[1].hours`).
    pub fn parse(request: &PostBudgetRequest) -> Result<NewBudget, Error> {
        let mut violations = Violations::new();
        let idempotency_key = violations.idempotency_key(&request.idempotency_key);
        let project_code = check(
            &mut violations,
            "project_code",
            ProjectCodeNumber::parse(&request.project_code),
        );
        if request.lines.is_empty() {
            violations.add("lines", "must hold at least one line");
        } else if request.lines.len() > MAX_BUDGET_LINES {
            violations.add("lines", format!("must hold at most {MAX_BUDGET_LINES} lines"));
        }
        // An over-long request is refused whole, without reading its lines.
        let readable = if request.lines.len() > MAX_BUDGET_LINES {
            &[][..]
        } else {
            &request.lines[..]
        };

        let mut lines = Vec::with_capacity(readable.len());
        let mut first_line_of_role: HashMap<String, usize> = HashMap::new();
        let mut budget_currency: Option<(usize, Currency)> = None;
        for (index, line) in readable.iter().enumerate() {
            let role = check(
                &mut violations,
                &format!("lines[{index}].role"),
                BudgetRole::parse(&line.role),
            );
            if let Some(role) = &role {
                match first_line_of_role.get(role.as_str()) {
                    Some(first) => violations.add(
                        format!("lines[{index}].role"),
                        format!("{role} is already budgeted in lines[{first}]; give each role one line"),
                    ),
                    None => {
                        first_line_of_role.insert(role.to_string(), index);
                    }
                }
            }
            let hours = parse_hours(&mut violations, &format!("lines[{index}].hours"), &line.hours);
            let amount = violations.non_negative_money(&format!("lines[{index}].amount"), line.amount.as_ref());
            if let Some(amount) = &amount {
                match budget_currency {
                    None => budget_currency = Some((index, amount.currency())),
                    Some((first, currency)) if currency != amount.currency() => violations.add(
                        format!("lines[{index}].amount.currency"),
                        format!(
                            "is {}, but lines[{first}] is in {currency}; a budget has one currency",
                            amount.currency()
                        ),
                    ),
                    Some(_) => {}
                }
            }
            if let (Some(role), Some(hours), Some(amount)) = (role, hours, amount) {
                lines.push(NewBudgetLine { role, hours, amount });
            }
        }
        let total = match budget_currency {
            Some((_, currency)) if lines.len() == readable.len() => match total_of(&lines, currency) {
                Some(total) => Some(total),
                None => {
                    violations.add("lines", "the lines add up to more than Keel can hold");
                    None
                }
            },
            _ => None,
        };
        violations.finish()?;
        let (Some(project_code), Some(total)) = (project_code, total) else {
            return Err(unrecorded_violation());
        };
        Ok(NewBudget {
            idempotency_key,
            project_code,
            lines,
            total,
        })
    }

    /// The exact sum of the lines' amounts.
    pub fn total(&self) -> Money {
        self.total
    }

    /// The one currency every line is in.
    pub fn currency(&self) -> Currency {
        self.total.currency()
    }

    /// The request in canonical form (trimmed, parsed values), which identifies a replay.
    pub fn to_request(&self) -> PostBudgetRequest {
        PostBudgetRequest {
            idempotency_key: self.idempotency_key.clone(),
            project_code: self.project_code.to_string(),
            lines: self
                .lines
                .iter()
                .map(|line| BudgetLine {
                    role: line.role.to_string(),
                    hours: line.hours.to_string(),
                    amount: Some(line.amount.to_proto()),
                })
                .collect(),
        }
    }
}

/// Sums the lines in minor units, exactly; `None` past what a stored amount can hold.
fn total_of(lines: &[NewBudgetLine], currency: Currency) -> Option<Money> {
    let sum: i128 = lines.iter().map(|line| i128::from(line.amount.to_minor_units())).sum();
    i64::try_from(sum)
        .ok()
        .map(|minor| Money::from_minor_units(minor, currency))
}

fn parse_hours(violations: &mut Violations, field: &str, value: &str) -> Option<Decimal> {
    if value.trim().is_empty() {
        violations.add(field, "is required (a decimal number of hours such as 120.5)");
        return None;
    }
    let mut hours = violations.non_negative_decimal(field, value)?;
    // "-0" is zero hours, kept without its sign.
    hours.set_sign_positive(true);
    Some(hours)
}

/// Keeps the value of a check, or records its description against `field`.
fn check<T>(violations: &mut Violations, field: &str, result: Result<T, String>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(description) => {
            violations.add(field, description);
            None
        }
    }
}

/// A check gave no value yet recorded no violation: a bug in this module, not bad input.
fn unrecorded_violation() -> Error {
    Error::internal("a request check failed without naming a field")
}

/// Echoes at most 40 characters of bad input back to the caller.
fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

/// The most projects one batch read may name.
pub const MAX_BATCH_PROJECTS: usize = 100;

/// The PSA project ids of a batch read: 1 to [`MAX_BATCH_PROJECTS`], each a UUID, without
/// repeats, in the order first named.
pub fn parse_project_ids(ids: &[String]) -> Result<Vec<Uuid>, Error> {
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
    Ok(parsed)
}

#[cfg(test)]
mod tests;
