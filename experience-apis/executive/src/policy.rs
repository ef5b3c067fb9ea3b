//! The executive view's policy (`config/policies/executive.toml`): the rules its figures are
//! measured against, parsed with every key defaulted and unknown keys refused, and checked once
//! with [`ExecutivePolicy::validate`].

use std::path::Path;

use keel_core::Error;
use serde::Deserialize;

/// The rules of the executive's figures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutivePolicy {
    /// The policy's version, changed whenever a rule changes. Default `default`.
    pub version: String,
    /// Time-entry compliance (`[compliance]`).
    pub compliance: CompliancePolicy,
}

/// When a time entry counts as submitted on time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompliancePolicy {
    /// Days after the end of an entry's work week (midnight UTC between Sunday and Monday) by
    /// which it must be submitted. Default 2: by the end of Tuesday.
    pub submit_within_days: u32,
}

impl Default for CompliancePolicy {
    fn default() -> Self {
        CompliancePolicy { submit_within_days: 2 }
    }
}

impl Default for ExecutivePolicy {
    fn default() -> Self {
        ExecutivePolicy {
            version: "default".into(),
            compliance: CompliancePolicy::default(),
        }
    }
}

/// The longest deadline after a work week: four weeks.
pub const MAX_SUBMIT_WITHIN_DAYS: u32 = 28;

impl ExecutivePolicy {
    /// Reads and checks a policy file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<ExecutivePolicy, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("executive_policy", format!("cannot read {}: {e}", path.display())))?;
        ExecutivePolicy::parse(&text)
    }

    /// Parses and checks a policy's TOML text.
    pub fn parse(text: &str) -> Result<ExecutivePolicy, Error> {
        let policy: ExecutivePolicy =
            toml::from_str(text).map_err(|e| Error::invalid("executive_policy", e.message().to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the rules make sense, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        if self.version.trim().is_empty() {
            return Err(Error::invalid("executive_policy.version", "is required"));
        }
        if self.compliance.submit_within_days > MAX_SUBMIT_WITHIN_DAYS {
            return Err(Error::invalid(
                "executive_policy.compliance.submit_within_days",
                format!(
                    "must be at most {MAX_SUBMIT_WITHIN_DAYS}, got {}",
                    self.compliance.submit_within_days
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys_and_bad_ones_are_named() {
        let policy = ExecutivePolicy::parse("version = \"x\"").unwrap();
        assert_eq!(policy.compliance.submit_within_days, 2);
        let policy = ExecutivePolicy::parse("version = \"x\"\n[compliance]\nsubmit_within_days = 5").unwrap();
        assert_eq!(policy.compliance.submit_within_days, 5);
        for (text, field) in [
            (
                "version = \"x\"\n[compliance]\nsubmit_within_days = 29",
                "executive_policy.compliance.submit_within_days",
            ),
            ("version = \"\"", "executive_policy.version"),
            (
                "version = \"x\"\n[compliance]\nsubmit_within_day = 2",
                "executive_policy",
            ),
            (
                "version = \"x\"\n[compliance]\nsubmit_within_days = -1",
                "executive_policy",
            ),
        ] {
            let error = ExecutivePolicy::parse(text).unwrap_err();
            assert_eq!(error.field_violations()[0].field, field, "{text}");
        }
    }

    #[test]
    fn the_shipped_policy_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/executive.toml");
        let policy = ExecutivePolicy::load(&path).unwrap();
        assert_eq!(policy.compliance.submit_within_days, 2);
        assert_ne!(policy.version, "default");
    }
}
