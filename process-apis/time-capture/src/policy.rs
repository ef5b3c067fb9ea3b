//! The firm's time policy: the thresholds the validation rules apply. A versioned file
//! (`config/policies/time-capture.toml`), parsed with every key defaulted and unknown keys
//! refused, and checked once with [`TimePolicy::validate`].

use std::path::Path;

use chrono::NaiveDate;
use keel_core::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The thresholds of the time rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimePolicy {
    /// The policy's version, changed whenever a threshold changes. Default `default` (the
    /// built-in values).
    pub version: String,
    /// Hours one person may record in a day, all projects together. Default 10.
    pub max_daily_hours: Decimal,
    /// Hours one person may record in an ISO week (Monday to Sunday). Default 50.
    pub max_weekly_hours: Decimal,
    /// The shortest narrative a billable entry may carry, in characters (trimmed). Default 10.
    pub min_billable_narrative_chars: usize,
    /// Time on or before this date belongs to a closed period. Default: none closed.
    pub closed_through: Option<NaiveDate>,
    /// The PSA assignment roles that make a person a project's manager, who approves its
    /// time. Default: `project-manager`, `engagement-manager` (delivery health's
    /// `recipients.project_manager_assignment_roles`).
    pub project_manager_assignment_roles: Vec<String>,
    /// The approval chain (`[approval]`): when an entry needs a second approval after its
    /// project manager's, and who gives it. Default: one step for every entry.
    pub approval: ApprovalChain,
}

/// The approval chain: the project manager approves first; an entry the chain names then
/// needs a second approval by a holder of one of `second_step_assignment_roles` on the
/// project, never the entry's own person and never the person who approved the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalChain {
    /// An entry of more hours than this needs the second step. Default: unset, no entry does.
    pub second_step_above_hours: Option<Decimal>,
    /// The PSA assignment roles whose holder on the project gives the second approval.
    /// Default: `finance-partner`, `engagement-lead`.
    pub second_step_assignment_roles: Vec<String>,
}

impl Default for ApprovalChain {
    fn default() -> Self {
        ApprovalChain {
            second_step_above_hours: None,
            second_step_assignment_roles: vec!["finance-partner".into(), "engagement-lead".into()],
        }
    }
}

impl ApprovalChain {
    /// How many approvals an entry of `hours` needs: 1, or 2 where the chain says so.
    pub fn steps_for(&self, hours: Decimal) -> u32 {
        match self.second_step_above_hours {
            Some(above) if hours > above => 2,
            _ => 1,
        }
    }

    /// Whether a PSA assignment role makes its person a second-step approver (trimmed,
    /// ignoring case).
    pub fn approves_second_step(&self, assignment_role: &str) -> bool {
        self.second_step_assignment_roles
            .iter()
            .any(|r| r.trim().eq_ignore_ascii_case(assignment_role.trim()))
    }
}

impl Default for TimePolicy {
    fn default() -> Self {
        TimePolicy {
            version: "default".into(),
            max_daily_hours: Decimal::from(10),
            max_weekly_hours: Decimal::from(50),
            min_billable_narrative_chars: 10,
            closed_through: None,
            project_manager_assignment_roles: vec!["project-manager".into(), "engagement-manager".into()],
            approval: ApprovalChain::default(),
        }
    }
}

impl TimePolicy {
    /// Whether a PSA assignment role makes its person the project's manager (trimmed,
    /// ignoring case, as delivery health compares it).
    pub fn manages(&self, assignment_role: &str) -> bool {
        self.project_manager_assignment_roles
            .iter()
            .any(|r| r.trim().eq_ignore_ascii_case(assignment_role.trim()))
    }

    /// Reads and checks a policy file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<TimePolicy, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("time_policy", format!("cannot read {}: {e}", path.display())))?;
        TimePolicy::parse(&text)
    }

    /// Parses and checks a policy's TOML text.
    pub fn parse(text: &str) -> Result<TimePolicy, Error> {
        let policy: TimePolicy =
            toml::from_str(text).map_err(|e| Error::invalid("time_policy", e.message().to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the thresholds make sense, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        if self.version.trim().is_empty() {
            return Err(Error::invalid("time_policy.version", "is required"));
        }
        if self
            .project_manager_assignment_roles
            .iter()
            .all(|r| r.trim().is_empty())
        {
            return Err(Error::invalid(
                "time_policy.project_manager_assignment_roles",
                "must name at least one assignment role",
            ));
        }
        if self.max_daily_hours <= Decimal::ZERO || self.max_daily_hours > Decimal::from(24) {
            return Err(Error::invalid(
                "time_policy.max_daily_hours",
                "must be above 0 and at most 24",
            ));
        }
        if self.max_weekly_hours < self.max_daily_hours || self.max_weekly_hours > Decimal::from(168) {
            return Err(Error::invalid(
                "time_policy.max_weekly_hours",
                "must be at least max_daily_hours and at most 168",
            ));
        }
        if let Some(above) = self.approval.second_step_above_hours {
            if above <= Decimal::ZERO || above >= Decimal::from(24) {
                return Err(Error::invalid(
                    "time_policy.approval.second_step_above_hours",
                    "must be above 0 and below 24",
                ));
            }
            if self
                .approval
                .second_step_assignment_roles
                .iter()
                .all(|r| r.trim().is_empty())
            {
                return Err(Error::invalid(
                    "time_policy.approval.second_step_assignment_roles",
                    "must name at least one assignment role when second_step_above_hours is set",
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
    fn defaults_fill_missing_keys_and_unknown_keys_are_refused() {
        let policy: TimePolicy = serde_json::from_str(r#"{ "max_daily_hours": "12" }"#).unwrap();
        assert_eq!(policy.max_daily_hours, Decimal::from(12));
        assert_eq!(policy.max_weekly_hours, Decimal::from(50));
        assert_eq!(policy.min_billable_narrative_chars, 10);
        assert!(policy.validate().is_ok());
        assert!(serde_json::from_str::<TimePolicy>(r#"{ "max_daily_hour": "12" }"#).is_err());
        let bad = TimePolicy {
            max_daily_hours: Decimal::from(25),
            ..TimePolicy::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().field_violations()[0].field,
            "time_policy.max_daily_hours"
        );
    }

    #[test]
    fn the_approval_chain_adds_a_second_step_only_above_its_hours() {
        let policy = TimePolicy::parse(
            "version = \"x\"\n[approval]\nsecond_step_above_hours = \"8\"\nsecond_step_assignment_roles = [\"finance-partner\"]",
        )
        .unwrap();
        assert_eq!(policy.approval.steps_for(Decimal::from(8)), 1);
        assert_eq!(policy.approval.steps_for(Decimal::new(85, 1)), 2);
        assert!(policy.approval.approves_second_step(" Finance-Partner "));
        assert!(!policy.approval.approves_second_step("project-manager"));
        assert_eq!(TimePolicy::default().approval.steps_for(Decimal::from(20)), 1);
    }

    #[test]
    fn the_shipped_policy_file_loads_with_the_built_in_thresholds() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/time-capture.toml");
        let policy = TimePolicy::load(&path).unwrap();
        assert_eq!(policy.version, "2026-11");
        // The file states the thresholds Keel ships with; only its version differs.
        assert_eq!(
            TimePolicy {
                version: "default".into(),
                ..policy
            },
            TimePolicy::default()
        );
    }

    #[test]
    fn a_bad_policy_file_names_the_key_at_fault() {
        let field = |text: &str| TimePolicy::parse(text).unwrap_err().field_violations()[0].field.clone();
        assert_eq!(field("version = \"\""), "time_policy.version");
        assert_eq!(
            field("version = \"x\"\nmax_daily_hours = \"30\""),
            "time_policy.max_daily_hours"
        );
        assert_eq!(
            field("version = \"x\"\nproject_manager_assignment_roles = []"),
            "time_policy.project_manager_assignment_roles"
        );
        assert_eq!(
            field("version = \"x\"\n[approval]\nsecond_step_above_hours = \"0\""),
            "time_policy.approval.second_step_above_hours"
        );
        assert_eq!(
            field("version = \"x\"\n[approval]\nsecond_step_above_hours = \"8\"\nsecond_step_assignment_roles = []"),
            "time_policy.approval.second_step_assignment_roles"
        );
        let unknown = TimePolicy::parse("version = \"x\"\nmax_daly_hours = \"9\"").unwrap_err();
        assert!(unknown.to_string().contains("max_daly_hours"), "{unknown}");
        let missing = TimePolicy::load(Path::new("/nonexistent/time-capture.toml")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/time-capture.toml"),
            "{missing}"
        );
    }
}
