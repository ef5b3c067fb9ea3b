//! Parse-once inputs of the PSA contract: every request is checked here, at the edge, into
//! types the adapters can trust, and every field at fault is named with its path exactly as
//! the contract spells it (`template.phases[1].tasks[0].hours`).
//!
//! - [`template`]: delivery templates ([`TemplateSpec`], [`NewTemplate`]).
//! - [`project`]: project creation and lookup ([`NewProject`], [`ProjectLookup`]).
//! - [`staffing`]: project status changes, rate cards and assignments.
//! - [`time`]: time entries and their state changes.
//! - [`expense`]: expenses and their state changes.
//! - [`resource`]: resource requests, proposals and fills.
//! - [`change`]: change requests.
//! - [`plan`]: the arithmetic that turns a template and a contract value into phases,
//!   milestones and a budget baseline ([`ProjectPlan`]).

pub mod change;
pub mod expense;
pub mod plan;
pub mod project;
pub mod resource;
pub mod staffing;
pub mod template;
pub mod time;

use std::fmt;
use std::str::FromStr;

use keel_core::Violations;
use rust_decimal::Decimal;

pub use change::{ChangeRequestStep, ChangeRequestTransition, NewChangeRequest};
pub use expense::{ExpenseDecision, ExpenseEdit, ExpenseFilter, ExpensePosting, ExpenseSubmission, NewExpense, Spend};
pub use plan::{Baseline, BaselineLine, PlannedMilestone, PlannedPhase, PlannedTask, ProjectPlan};
pub use project::{NewProject, ProjectLookup};
pub use resource::{
    LanguageNeed, NewResourceRequest, ResourceRequestFilter, ResourceStep, ResourceTransition, SkillNeed,
};
pub use staffing::{
    AssignmentEnd, AssignmentFilter, MAX_BATCH_PROJECTS, NewAssignment, ProjectIds, ProjectStatusChange, RateCardInput,
    RoleRateSpec,
};
pub use template::{NewTemplate, TemplateMilestoneSpec, TemplatePhaseSpec, TemplateSpec, TemplateTaskSpec};
pub use time::{
    Decision, EntryOfWork, NewTimeEntries, NewTimeEntry, TimeEntryApprovals, TimeEntryDecision, TimeEntryEdit,
    TimeEntryFilter, TimeEntryPosting, TimeEntryPostings, TimeEntrySubmission, WorkDone,
};

/// The longest key (template id, role, selector value), in characters.
pub const MAX_KEY_LEN: usize = 64;

/// A delivery template's stable key: 1 to 64 characters of `[a-z0-9-]`, e.g.
/// `erp-fixed-fee-emea`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(String);

impl TemplateId {
    /// Checks a template id, recording a violation on `field` when it is not one.
    pub fn parse(violations: &mut Violations, field: &str, value: &str) -> Option<TemplateId> {
        let value = value.trim();
        if value.is_empty() {
            violations.add(field, "is required (a key such as \"erp-fixed-fee-emea\")");
            return None;
        }
        match check_key(value) {
            Ok(()) => Some(TemplateId(value.to_string())),
            Err(problem) => {
                violations.add(field, problem);
                None
            }
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a delivery template is for: service line, contract type, region and client tier.
/// On a template an empty value matches any; on a project it records the deal's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
}

impl Selector {
    /// Checks the four selector values; `prefix` is the path of the message holding them
    /// (`template.` or empty for a request's own fields).
    pub fn parse(
        violations: &mut Violations,
        prefix: &str,
        service_line: &str,
        contract_type: &str,
        region: &str,
        client_tier: &str,
    ) -> Selector {
        let mut value = |name: &str, raw: &str| {
            let trimmed = raw.trim();
            if !trimmed.is_empty()
                && let Err(problem) = check_key(trimmed)
            {
                violations.add(format!("{prefix}{name}"), problem);
            }
            trimmed.to_string()
        };
        Selector {
            service_line: value("service_line", service_line),
            contract_type: value("contract_type", contract_type),
            region: value("region", region),
            client_tier: value("client_tier", client_tier),
        }
    }
}

/// A labor role such as `solution-architect`: `[a-z0-9-]+`, at most [`MAX_KEY_LEN`].
pub(crate) fn parse_role(violations: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        violations.add(field, "is required (a labor role such as \"solution-architect\")");
    } else if let Err(problem) = check_key(value) {
        violations.add(field, problem);
    }
    value.to_string()
}

/// Lower-case letters, digits and `-`, at most [`MAX_KEY_LEN`] characters.
pub(crate) fn check_key(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_KEY_LEN {
        return Err(format!("must be at most {MAX_KEY_LEN} characters"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{:?} may hold only lower-case letters, digits and '-'",
            echo(value)
        ));
    }
    Ok(())
}

/// A decimal strictly greater than zero, with at most `max_scale` decimal places and at most
/// `max`, normalized (`"8.50"` becomes `8.5`).
pub(crate) fn positive_decimal(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max_scale: u32,
    max: Decimal,
) -> Option<Decimal> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        violations.add(field, "is required (a decimal string such as \"8\" or \"12.5\")");
        return None;
    }
    let Ok(decimal) = Decimal::from_str(trimmed) else {
        violations.add(field, format!("{:?} is not a decimal number", echo(trimmed)));
        return None;
    };
    let decimal = decimal.normalize();
    if decimal <= Decimal::ZERO {
        violations.add(field, "must be greater than 0");
        None
    } else if decimal.scale() > max_scale {
        violations.add(field, format!("must have at most {max_scale} decimal places"));
        None
    } else if decimal > max {
        violations.add(field, format!("must be at most {max}"));
        None
    } else {
        Some(decimal)
    }
}

/// The contract's text form of a decimal: normalized, no trailing zeros (`8`, `12.5`).
pub fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Echoes at most 40 characters of bad input back to the caller.
fn echo(value: &str) -> String {
    value.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids() {
        let table: &[(&str, bool)] = &[
            ("erp-fixed-fee-emea", true),
            ("a", true),
            ("0-9", true),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
            ("", false),
            ("ERP", false),
            ("erp fixed", false),
            ("erp_fixed", false),
            ("érp", false),
        ];
        for (value, ok) in table {
            let mut v = Violations::new();
            let parsed = TemplateId::parse(&mut v, "template.id", value);
            assert_eq!(parsed.is_some(), *ok, "{value:?}");
            assert_eq!(v.is_empty(), *ok, "{value:?}");
        }
    }

    #[test]
    fn selectors_may_be_empty_but_not_upper_case() {
        let mut v = Violations::new();
        let s = Selector::parse(&mut v, "template.", " erp-deployment ", "", "EMEA", "tier 1");
        assert_eq!(s.service_line, "erp-deployment");
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["template.region", "template.client_tier"]);
    }

    #[test]
    fn positive_decimals() {
        let max = Decimal::from(10_000);
        let table: &[(&str, Option<&str>)] = &[
            ("8", Some("8")),
            ("8.50", Some("8.5")),
            (" 0.25 ", Some("0.25")),
            ("10000", Some("10000")),
            ("0", None),
            ("0.00", None),
            ("-1", None),
            ("1.005", None),
            ("10000.01", None),
            ("", None),
            ("eight", None),
            // Scientific notation is read as Money reads it.
            ("1e3", Some("1000")),
        ];
        for (value, expected) in table {
            let mut v = Violations::new();
            let parsed = positive_decimal(&mut v, "hours", value, 2, max).map(decimal_text);
            assert_eq!(parsed.as_deref(), *expected, "{value:?}");
            assert_eq!(v.is_empty(), expected.is_some(), "{value:?}");
        }
    }
}
