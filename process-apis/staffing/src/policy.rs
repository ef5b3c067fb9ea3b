//! The firm's staffing policy: when leadership must approve, who that is, and how candidates
//! are shortlisted. A versioned file (`config/policies/staffing.toml`), parsed with every key
//! defaulted and unknown keys refused, then checked once with [`StaffingPolicy::validate`].
//! Every staffing instance records the version it ran under.

use std::path::Path;

use keel_core::Error;
use keel_insight::{Capability, InsightPolicy};
use keel_workflow::Rollout;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The thresholds and routing of staffing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffingPolicy {
    /// The policy's version, recorded on every instance (`"2026-11"`).
    pub version: String,
    /// Above this labor cost (in the project's currency) for one person over the request's
    /// period, leadership approves. Default 50000.
    pub labor_cost_threshold: Decimal,
    /// Below this margin, in percent of revenue, leadership approves. Default 30.
    pub margin_floor_percent: Decimal,
    /// The role that approves (as tokens name roles). Default `executive`.
    pub approval_role: String,
    /// Hours the approval role has before the request escalates. Default 48.
    pub approval_timeout_hours: u64,
    /// Who decides once it has escalated; empty: the exception queue. Default `admin`.
    pub escalate_to: String,
    /// The lowest score (0 to 100) a candidate may be proposed with. Default 50.
    pub min_score: Decimal,
    /// Candidates read from HRIS at most. Default 100.
    pub candidate_limit: u32,
    /// Ranked candidates kept on the instance and shown. Default 5.
    pub shortlist: usize,
    /// A skill a project's resource requests ask for at this proficiency (1 to 5) or above is
    /// critical to the project: staffing risk flags it when one person or nobody on the team
    /// holds it. Default 4.
    pub critical_skill_proficiency: i32,
    /// Where an opened resource request starts staffing on its own (`[automation]`: the
    /// project's service line and region). Elsewhere a resource manager starts it by hand
    /// (`StaffResourceRequest`). Default: everywhere.
    pub automation: Rollout,
}

impl Default for StaffingPolicy {
    fn default() -> Self {
        StaffingPolicy {
            version: "default".into(),
            labor_cost_threshold: Decimal::from(50_000),
            margin_floor_percent: Decimal::from(30),
            approval_role: "executive".into(),
            approval_timeout_hours: 48,
            escalate_to: "admin".into(),
            min_score: Decimal::from(50),
            candidate_limit: 100,
            shortlist: 5,
            critical_skill_proficiency: 4,
            automation: Rollout::default(),
        }
    }
}

impl StaffingPolicy {
    /// Reads and checks a policy file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<StaffingPolicy, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("staffing_policy", format!("cannot read {}: {e}", path.display())))?;
        StaffingPolicy::parse(&text)
    }

    /// Parses and checks a policy's TOML text.
    pub fn parse(text: &str) -> Result<StaffingPolicy, Error> {
        let policy: StaffingPolicy =
            toml::from_str(text).map_err(|e| Error::invalid("staffing_policy", e.message().to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the thresholds make sense, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        let field = |key: &str| format!("staffing_policy.{key}");
        if self.version.trim().is_empty() {
            return Err(Error::invalid(field("version"), "is required"));
        }
        if self.labor_cost_threshold <= Decimal::ZERO {
            return Err(Error::invalid(field("labor_cost_threshold"), "must be above 0"));
        }
        if self.margin_floor_percent < Decimal::ZERO || self.margin_floor_percent >= Decimal::ONE_HUNDRED {
            return Err(Error::invalid(
                field("margin_floor_percent"),
                "must be from 0 to below 100",
            ));
        }
        if self.approval_role.trim().is_empty() {
            return Err(Error::invalid(field("approval_role"), "is required"));
        }
        if self.approval_timeout_hours == 0 {
            return Err(Error::invalid(field("approval_timeout_hours"), "must be at least 1"));
        }
        if self.min_score < Decimal::ZERO || self.min_score > Decimal::ONE_HUNDRED {
            return Err(Error::invalid(field("min_score"), "must be from 0 to 100"));
        }
        if self.candidate_limit == 0 || self.candidate_limit > 1000 {
            return Err(Error::invalid(field("candidate_limit"), "must be from 1 to 1000"));
        }
        if self.shortlist == 0 || self.shortlist > 20 {
            return Err(Error::invalid(field("shortlist"), "must be from 1 to 20"));
        }
        if !(1..=5).contains(&self.critical_skill_proficiency) {
            return Err(Error::invalid(
                field("critical_skill_proficiency"),
                "must be from 1 to 5",
            ));
        }
        self.automation.validate(&field("automation"))?;
        Ok(())
    }
}

/// The firm's insight policy as staffing reads it (`config/policies/insight.toml`): its version
/// and the `[insight]` switches, of which staffing obeys `staffing_risk`. The file's other keys
/// (the template recommender's) are project setup's to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InsightSwitches {
    /// The insight policy's version, recorded on every staffing risk flag.
    pub version: String,
    pub insight: InsightPolicy,
}

impl Default for InsightSwitches {
    fn default() -> Self {
        InsightSwitches {
            version: "default".into(),
            insight: InsightPolicy::default(),
        }
    }
}

impl InsightSwitches {
    /// Reads the insight policy file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<InsightSwitches, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("insight_policy", format!("cannot read {}: {e}", path.display())))?;
        InsightSwitches::parse(&text)
    }

    /// Parses the insight policy's TOML text: a version, and `[insight]` with no unknown switch.
    pub fn parse(text: &str) -> Result<InsightSwitches, Error> {
        let switches: InsightSwitches =
            toml::from_str(text).map_err(|e| Error::invalid("insight_policy", e.message().to_string()))?;
        if switches.version.trim().is_empty() {
            return Err(Error::invalid("insight_policy.version", "is required"));
        }
        Ok(switches)
    }

    /// Whether staffing risk is assessed and recorded (`insight.staffing_risk`).
    pub fn staffing_risk(&self) -> bool {
        self.insight.allows(Capability::StaffingRisk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/staffing.toml");
        let policy = StaffingPolicy::load(&path).unwrap();
        assert_eq!(policy.approval_role, "executive");
        assert!(policy.version.starts_with("20"), "{}", policy.version);
    }

    #[test]
    fn the_shipped_insight_policy_switches_staffing_risk_on_and_a_typo_is_named() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policies/insight.toml");
        let switches = InsightSwitches::load(&path).unwrap();
        assert!(switches.staffing_risk());
        assert_eq!(switches.version, "2026-11");
        let off = InsightSwitches::parse("version = \"v2\"\n[insight]\nstaffing_risk = false\n").unwrap();
        assert!(!off.staffing_risk());
        let typo = InsightSwitches::parse("version = \"v2\"\n[insight]\nstaffing_risks = false\n").unwrap_err();
        assert!(typo.to_string().contains("staffing_risks"), "{typo}");
    }

    #[test]
    fn missing_keys_default_and_bad_ones_are_named() {
        let policy = StaffingPolicy::parse("version = \"v2\"\nmargin_floor_percent = \"25\"").unwrap();
        assert_eq!(policy.margin_floor_percent, Decimal::from(25));
        assert_eq!(policy.labor_cost_threshold, Decimal::from(50_000));
        let unknown = StaffingPolicy::parse("margin_floor = \"25\"").unwrap_err();
        assert!(unknown.to_string().contains("margin_floor"), "{unknown}");
        let table = [
            ("labor_cost_threshold = \"0\"", "staffing_policy.labor_cost_threshold"),
            ("margin_floor_percent = \"100\"", "staffing_policy.margin_floor_percent"),
            ("approval_role = \" \"", "staffing_policy.approval_role"),
            ("min_score = \"101\"", "staffing_policy.min_score"),
            ("shortlist = 0", "staffing_policy.shortlist"),
            ("version = \"\"", "staffing_policy.version"),
            (
                "critical_skill_proficiency = 6",
                "staffing_policy.critical_skill_proficiency",
            ),
        ];
        for (text, field) in table {
            let error = StaffingPolicy::parse(text).unwrap_err();
            assert_eq!(error.field_violations()[0].field, field, "{text}");
        }
    }
}
