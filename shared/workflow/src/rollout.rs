//! Phased rollout: where a workflow starts on its own. A firm switches automation on per
//! service line and region and widens it as each phase proves itself; outside it, the work
//! waits for a person to start it by hand.

use keel_core::Error;
use serde::{Deserialize, Serialize};

/// Matches every service line or region.
pub const EVERYWHERE: &str = "*";

/// The service lines and regions a workflow starts on its own for (a policy file's
/// `[automation]` table). Both must match; `"*"` matches all. Default: everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rollout {
    pub service_lines: Vec<String>,
    pub regions: Vec<String>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            service_lines: vec![EVERYWHERE.into()],
            regions: vec![EVERYWHERE.into()],
        }
    }
}

impl Rollout {
    /// Whether automation covers work of `service_line` in `region` (compared trimmed,
    /// ignoring case).
    pub fn covers(&self, service_line: &str, region: &str) -> bool {
        matches(&self.service_lines, service_line) && matches(&self.regions, region)
    }

    /// Whether it covers every service line and region, so nothing needs looking up.
    pub fn everywhere(&self) -> bool {
        self.service_lines.iter().any(|s| s.trim() == EVERYWHERE) && self.regions.iter().any(|r| r.trim() == EVERYWHERE)
    }

    /// Checks the lists, naming `<table>.service_lines` or `<table>.regions` at fault. An empty
    /// list would switch automation off without saying so: `[]` is refused; list the service
    /// lines or regions to automate, or `"*"`.
    pub fn validate(&self, table: &str) -> Result<(), Error> {
        for (key, values) in [("service_lines", &self.service_lines), ("regions", &self.regions)] {
            if values.is_empty() {
                return Err(Error::invalid(
                    format!("{table}.{key}"),
                    "must list at least one, or \"*\" for all",
                ));
            }
            if values.iter().any(|v| v.trim().is_empty()) {
                return Err(Error::invalid(format!("{table}.{key}"), "must not hold a blank entry"));
            }
        }
        Ok(())
    }
}

fn matches(allowed: &[String], value: &str) -> bool {
    allowed
        .iter()
        .any(|a| a.trim() == EVERYWHERE || a.trim().eq_ignore_ascii_case(value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(service_lines: &[&str], regions: &[&str]) -> Rollout {
        Rollout {
            service_lines: service_lines.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn both_the_service_line_and_the_region_must_be_rolled_out() {
        let phase_one = rollout(&["erp-deployment"], &["emea", "NA"]);
        assert!(phase_one.covers("erp-deployment", "emea"));
        assert!(phase_one.covers(" ERP-Deployment ", "na"));
        assert!(!phase_one.covers("data-analytics", "emea"));
        assert!(!phase_one.covers("erp-deployment", "apac"));
        assert!(!phase_one.covers("", ""));
        assert!(!phase_one.everywhere());

        let every_line_in_emea = rollout(&["*"], &["emea"]);
        assert!(every_line_in_emea.covers("data-analytics", "emea"));
        assert!(!every_line_in_emea.covers("data-analytics", "na"));
        assert!(Rollout::default().covers("anything", "anywhere"));
        assert!(Rollout::default().everywhere());
    }

    #[test]
    fn an_empty_or_blank_list_is_refused_naming_the_key() {
        let field = |r: Rollout| {
            r.validate("automation").unwrap_err().field_violations()[0]
                .field
                .clone()
        };
        assert_eq!(field(rollout(&[], &["*"])), "automation.service_lines");
        assert_eq!(field(rollout(&["*"], &[" "])), "automation.regions");
        assert!(Rollout::default().validate("automation").is_ok());
    }
}
