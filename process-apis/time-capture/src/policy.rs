//! The firm's time policy: the thresholds the validation rules apply. Read from configuration
//! (serde, every field defaulted) and checked once with [`TimePolicy::validate`].

use chrono::NaiveDate;
use keel_core::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The thresholds of the time rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimePolicy {
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
}

impl Default for TimePolicy {
    fn default() -> Self {
        TimePolicy {
            max_daily_hours: Decimal::from(10),
            max_weekly_hours: Decimal::from(50),
            min_billable_narrative_chars: 10,
            closed_through: None,
            project_manager_assignment_roles: vec!["project-manager".into(), "engagement-manager".into()],
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

    /// Checks the thresholds make sense, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
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
}
