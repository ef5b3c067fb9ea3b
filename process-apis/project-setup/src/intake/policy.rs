//! The firm's insight policy: which capabilities are switched on, and the confidence floor
//! below which the template recommender abstains. A versioned file
//! (`config/policies/insight.toml`), parsed with every key defaulted and unknown keys refused,
//! then checked once with [`IntakePolicy::validate`]. Every recommendation records the version
//! it was made under.

use std::path::Path;

use keel_core::Error;
use keel_insight::InsightPolicy;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakePolicy {
    /// The policy's version, recorded on every recommendation (`"2026-11"`).
    pub version: String,
    /// Below this calibrated confidence (0 to 1, exclusive) the recommender abstains and
    /// only an override decides. Default 0.7.
    pub confidence_floor: Decimal,
    /// One switch per capability (`[insight]`); each on unless switched off.
    pub insight: InsightPolicy,
}

impl Default for IntakePolicy {
    fn default() -> Self {
        IntakePolicy {
            version: "default".into(),
            confidence_floor: Decimal::new(7, 1),
            insight: InsightPolicy::default(),
        }
    }
}

impl IntakePolicy {
    /// Reads and checks a policy file; errors name the key.
    pub fn load(path: &Path) -> Result<IntakePolicy, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("insight_policy", format!("cannot read {}: {e}", path.display())))?;
        IntakePolicy::parse(&text)
    }

    /// Parses and checks a policy's TOML text.
    pub fn parse(text: &str) -> Result<IntakePolicy, Error> {
        let policy: IntakePolicy =
            toml::from_str(text).map_err(|e| Error::invalid("insight_policy", e.message().to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the values, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        if self.version.trim().is_empty() {
            return Err(Error::invalid("insight_policy.version", "is required"));
        }
        if self.confidence_floor <= Decimal::ZERO || self.confidence_floor >= Decimal::ONE {
            return Err(Error::invalid(
                "insight_policy.confidence_floor",
                "must be above 0 and below 1",
            ));
        }
        Ok(())
    }

    /// The floor as the recommender takes it.
    pub fn floor(&self) -> f64 {
        self.confidence_floor.to_f64().unwrap_or(0.7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/insight.toml");
        let policy = IntakePolicy::load(&path).unwrap();
        assert_eq!(policy.version, "2026-11");
        assert!(policy.insight.intake);
        assert_eq!(policy.confidence_floor, Decimal::new(7, 1));
    }

    #[test]
    fn a_switch_turns_one_capability_off_and_unknown_keys_are_named() {
        let policy = IntakePolicy::parse("version = \"v2\"\n[insight]\nintake = false\n").unwrap();
        assert!(!policy.insight.intake);
        assert!(policy.insight.margin_forecast, "the others stay on");

        let unknown = IntakePolicy::parse("version = \"v2\"\n[insight]\nintak = false\n").unwrap_err();
        assert!(unknown.to_string().contains("intak"), "{unknown}");
        for (text, key) in [
            ("version = \"\"", "insight_policy.version"),
            ("confidence_floor = \"1\"", "insight_policy.confidence_floor"),
            ("confidence_floor = \"0\"", "insight_policy.confidence_floor"),
        ] {
            let error = IntakePolicy::parse(text).unwrap_err();
            assert!(error.to_string().contains(key), "{text}: {error}");
        }
    }
}
