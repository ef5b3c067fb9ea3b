//! The firm's close-out policy: what work left on a project blocks its close-out. A versioned
//! file (`config/policies/close-out.toml`), parsed with every key defaulted and unknown keys
//! refused. Every close-out records the version it ran under.
//!
//! Time and expenses APPROVED but not posted or SUBMITTED and awaiting approval, billing
//! milestones not invoiced and invoices still in draft always block: a closed project must not
//! leave money behind. Whether work still in DRAFT blocks too is the firm's choice.

use std::path::Path;

use keel_core::Error;
use serde::{Deserialize, Serialize};

/// What blocks a close-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloseOutPolicy {
    /// The policy's version, recorded on every close-out (`"2026-11"`).
    pub version: String,
    /// Whether time entries and expenses still in DRAFT (recorded, never submitted) block the
    /// close-out. Default `false`: a draft nobody submitted is not owed to anyone.
    pub drafts_block: bool,
}

impl Default for CloseOutPolicy {
    fn default() -> Self {
        CloseOutPolicy {
            version: "default".into(),
            drafts_block: false,
        }
    }
}

impl CloseOutPolicy {
    /// Reads and checks a policy file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<CloseOutPolicy, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("close_out_policy", format!("cannot read {}: {e}", path.display())))?;
        CloseOutPolicy::parse(&text)
    }

    /// Parses and checks a policy's TOML text.
    pub fn parse(text: &str) -> Result<CloseOutPolicy, Error> {
        let policy: CloseOutPolicy =
            toml::from_str(text).map_err(|e| Error::invalid("close_out_policy", e.message().to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the policy, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        if self.version.trim().is_empty() {
            return Err(Error::invalid("close_out_policy.version", "is required"));
        }
        Ok(())
    }

    /// The versions a close-out records: this policy's.
    pub fn versions(&self) -> serde_json::Value {
        serde_json::json!({ "close_out_policy": self.version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/close-out.toml");
        let policy = CloseOutPolicy::load(&path).unwrap();
        assert_eq!(policy.version, "2026-11");
        assert!(!policy.drafts_block);
    }

    #[test]
    fn bad_policies_name_the_key() {
        let cases = [
            ("version = \"\"", "close_out_policy.version"),
            ("drafts_block = \"yes\"", "close_out_policy"),
            ("draft_blocks = true", "close_out_policy"),
        ];
        for (text, field) in cases {
            let error = CloseOutPolicy::parse(text).unwrap_err();
            assert_eq!(error.field_violations()[0].field, field, "{text}");
        }
        let unknown = CloseOutPolicy::parse("draft_blocks = true").unwrap_err();
        assert!(unknown.to_string().contains("draft_blocks"), "{unknown}");
    }
}
