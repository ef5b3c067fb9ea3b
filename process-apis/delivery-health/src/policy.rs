//! The delivery-health policy: the thresholds that turn a project's numbers into alerts, and
//! the roles alerts go to. A versioned TOML file (`config/policies/delivery-health.toml`),
//! parsed with unknown keys refused and checked once with [`HealthPolicy::validate`]; a bad
//! file is refused with an error naming the file and the key.

use std::path::Path;

use keel_auth::Role;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The policy Keel ships, as in `config/policies/delivery-health.toml`.
pub const SHIPPED_POLICY: &str = include_str!("../../../config/policies/delivery-health.toml");

/// Where the shipped policy lives, relative to the repository (and to `keel.toml`).
pub const DEFAULT_POLICY_PATH: &str = "config/policies/delivery-health.toml";

/// A policy file Keel cannot run under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{file}: cannot read the policy: {problem}")]
    Unreadable { file: String, problem: String },
    /// The file is not valid TOML for the policy (an unknown, missing or mistyped key). The
    /// problem carries the parser's message, which names the key and its line.
    #[error("{file}: {problem}")]
    Malformed { file: String, problem: String },
    /// A key holds a value the policy does not allow.
    #[error("{file}: {key}: {problem}")]
    Invalid { file: String, key: String, problem: String },
}

impl PolicyError {
    /// The key at fault, when the policy was read but a value was refused.
    pub fn key(&self) -> Option<&str> {
        match self {
            PolicyError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The delivery-health policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPolicy {
    /// Recorded on every evaluation and alert; change it with any change to the file.
    pub version: String,
    pub thresholds: Thresholds,
    pub recipients: RecipientPolicy,
    /// The margin forecast's floor and confidence, and the working week allocations are read
    /// in. Whether each capability runs at all is the firm's `[insight]` switch
    /// (`insight.toml`), not this file.
    #[serde(default)]
    pub insight: InsightThresholds,
}

/// The numbers the margin forecast and the anomaly detector run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InsightThresholds {
    /// MARGIN_EROSION is raised when the forecast margin at completion, as a percent of revenue,
    /// is below this.
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_floor_percent: Decimal,
    /// The confidence of the forecast's interval, in percent.
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_confidence_percent: Decimal,
    /// Hours in a full working week: an assignment at 50% is allocated half of them.
    #[serde(with = "rust_decimal::serde::str")]
    pub week_hours: Decimal,
}

impl Default for InsightThresholds {
    fn default() -> Self {
        InsightThresholds {
            margin_floor_percent: Decimal::from(25),
            margin_confidence_percent: Decimal::from(90),
            week_hours: Decimal::from(40),
        }
    }
}

/// When a measure raises an alert: each alerts when the project's number is *above* it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Percent by which approved + posted hours may exceed the baseline hours.
    #[serde(with = "rust_decimal::serde::str")]
    pub effort_over_baseline_percent: Decimal,
    /// Percent by which approved + posted amounts may exceed the baseline amounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub money_over_baseline_percent: Decimal,
    /// Days a billing milestone not yet reached may be past its due date.
    pub milestone_days_late: u32,
    /// Submitted hours not yet approved the project may carry.
    #[serde(with = "rust_decimal::serde::str")]
    pub unapproved_hours: Decimal,
    /// Open HIGH or CRITICAL tickets the project may have.
    pub open_high_severity_tickets: u32,
}

/// Who alerts go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientPolicy {
    /// Keel roles (`project_manager`, `finance`, ...) every alert goes to.
    pub roles: Vec<String>,
    /// PSA assignment roles that make a person the project's manager: the `project_manager`
    /// recipient is that person when PSA has one on the project.
    #[serde(default)]
    pub project_manager_assignment_roles: Vec<String>,
}

/// The largest percentage threshold accepted (a typo guard: 1000% over the baseline).
const MAX_PERCENT: u32 = 1000;

impl HealthPolicy {
    /// The policy Keel ships.
    pub fn shipped() -> Result<HealthPolicy, PolicyError> {
        HealthPolicy::parse(SHIPPED_POLICY, DEFAULT_POLICY_PATH)
    }

    /// Reads and checks the policy file at `path`.
    pub fn load(path: &Path) -> Result<HealthPolicy, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Unreadable {
            file: file.clone(),
            problem: e.to_string(),
        })?;
        HealthPolicy::parse(&text, &file)
    }

    /// Parses and checks policy text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<HealthPolicy, PolicyError> {
        let policy: HealthPolicy = toml::from_str(text).map_err(|e| PolicyError::Malformed {
            file: file.to_string(),
            problem: e.to_string().trim_end().to_string(),
        })?;
        policy.validate(file)?;
        Ok(policy)
    }

    /// The recipient roles, parsed (validated already, so unknown names are skipped).
    pub fn recipient_roles(&self) -> Vec<Role> {
        self.recipients.roles.iter().filter_map(|r| r.parse().ok()).collect()
    }

    /// Checks every value, naming the key at fault.
    pub fn validate(&self, file: &str) -> Result<(), PolicyError> {
        let invalid = |key: &str, problem: String| PolicyError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        let version = self.version.trim();
        if version.is_empty() || version.len() > 64 {
            return Err(invalid("version", "must be 1 to 64 characters".into()));
        }
        let percents = [
            (
                "thresholds.effort_over_baseline_percent",
                self.thresholds.effort_over_baseline_percent,
            ),
            (
                "thresholds.money_over_baseline_percent",
                self.thresholds.money_over_baseline_percent,
            ),
        ];
        for (key, value) in percents {
            if value.is_sign_negative() || value > Decimal::from(MAX_PERCENT) {
                return Err(invalid(
                    key,
                    format!("must be between 0 and {MAX_PERCENT}, got {value}"),
                ));
            }
        }
        if self.thresholds.unapproved_hours.is_sign_negative() {
            return Err(invalid(
                "thresholds.unapproved_hours",
                format!("must not be negative, got {}", self.thresholds.unapproved_hours),
            ));
        }
        let insight = &self.insight;
        if insight.margin_floor_percent.is_sign_negative() || insight.margin_floor_percent >= Decimal::ONE_HUNDRED {
            return Err(invalid(
                "insight.margin_floor_percent",
                format!("must be at least 0 and below 100, got {}", insight.margin_floor_percent),
            ));
        }
        if insight.margin_confidence_percent <= Decimal::ZERO
            || insight.margin_confidence_percent >= Decimal::ONE_HUNDRED
        {
            return Err(invalid(
                "insight.margin_confidence_percent",
                format!(
                    "must be above 0 and below 100, got {}",
                    insight.margin_confidence_percent
                ),
            ));
        }
        if insight.week_hours <= Decimal::ZERO || insight.week_hours > Decimal::from(168) {
            return Err(invalid(
                "insight.week_hours",
                format!("must be above 0 and at most 168, got {}", insight.week_hours),
            ));
        }
        if self.recipients.roles.is_empty() {
            return Err(invalid("recipients.roles", "must name at least one role".into()));
        }
        for (i, role) in self.recipients.roles.iter().enumerate() {
            match role.parse::<Role>() {
                Ok(Role::Service | Role::Consultant) => {
                    return Err(invalid(
                        &format!("recipients.roles[{i}]"),
                        format!("{role:?} does not receive delivery alerts"),
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(invalid(&format!("recipients.roles[{i}]"), e.public_message())),
            }
        }
        for (i, role) in self.recipients.project_manager_assignment_roles.iter().enumerate() {
            if role.trim().is_empty() {
                return Err(invalid(
                    &format!("recipients.project_manager_assignment_roles[{i}]"),
                    "must not be empty".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_is_valid() {
        let policy = HealthPolicy::shipped().unwrap();
        assert!(!policy.version.is_empty());
        assert_eq!(policy.recipient_roles(), vec![Role::ProjectManager, Role::Finance]);
    }

    fn with(key: &str, value: &str) -> String {
        SHIPPED_POLICY
            .lines()
            .map(|line| {
                if line.starts_with(&format!("{key} =")) {
                    format!("{key} = {value}")
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases = [
            (
                "effort_over_baseline_percent",
                "\"-1\"",
                "thresholds.effort_over_baseline_percent",
            ),
            (
                "money_over_baseline_percent",
                "\"5000\"",
                "thresholds.money_over_baseline_percent",
            ),
            ("unapproved_hours", "\"-0.5\"", "thresholds.unapproved_hours"),
            ("version", "\"  \"", "version"),
            ("roles", "[\"project_manager\", \"chief\"]", "recipients.roles[1]"),
            ("roles", "[]", "recipients.roles"),
            ("margin_floor_percent", "\"100\"", "insight.margin_floor_percent"),
            (
                "margin_confidence_percent",
                "\"0\"",
                "insight.margin_confidence_percent",
            ),
            ("week_hours", "\"-40\"", "insight.week_hours"),
        ];
        for (key, value, named) in cases {
            let error = HealthPolicy::parse(&with(key, value), "p.toml").unwrap_err();
            assert_eq!(error.key(), Some(named), "{key} = {value}: {error}");
            assert!(error.to_string().starts_with("p.toml: "), "{error}");
        }
    }

    #[test]
    fn unknown_missing_and_mistyped_keys_are_refused_naming_the_key() {
        let typo = SHIPPED_POLICY.replace("unapproved_hours =", "unaproved_hours =");
        let error = HealthPolicy::parse(&typo, "p.toml").unwrap_err().to_string();
        assert!(error.contains("unaproved_hours"), "{error}");
        let missing = SHIPPED_POLICY.replace("version =", "# version =");
        let error = HealthPolicy::parse(&missing, "p.toml").unwrap_err().to_string();
        assert!(error.contains("version"), "{error}");
        let mistyped = with("effort_over_baseline_percent", "\"ten\"");
        let error = HealthPolicy::parse(&mistyped, "p.toml").unwrap_err().to_string();
        assert!(error.contains("effort_over_baseline_percent"), "{error}");
        let negative_days = with("milestone_days_late", "-3");
        let error = HealthPolicy::parse(&negative_days, "p.toml").unwrap_err().to_string();
        assert!(error.contains("milestone_days_late"), "{error}");
    }
}
