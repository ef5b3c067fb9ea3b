//! The policy switch per capability, and the front door that obeys it and records what each
//! enabled capability was given and answered.

use serde::{Deserialize, Serialize};

use crate::InsightError;
use crate::anomaly::{self, Allocation, AnomalyConfig, AnomalyFlag, TimeEntry};
use crate::margin::{self, MarginConfig, MarginForecast, ProjectBurn};
use crate::sow::{Recommendation, TemplateRecommender};
use crate::staffing::{self, Assignment, Person, ProjectStaffing, StaffingFlag};

/// Which capabilities the firm allows, read from the `[insight]` section of its configuration.
/// Every capability is on unless switched off; an unknown key is an error.
///
/// ```toml
/// [insight]
/// margin_forecast = false
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InsightPolicy {
    pub intake: bool,
    pub anomalies: bool,
    pub margin_forecast: bool,
    pub staffing_risk: bool,
}

impl Default for InsightPolicy {
    fn default() -> Self {
        InsightPolicy {
            intake: true,
            anomalies: true,
            margin_forecast: true,
            staffing_risk: true,
        }
    }
}

/// One capability the policy switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    Intake,
    Anomalies,
    MarginForecast,
    StaffingRisk,
}

impl Capability {
    /// The policy's name, as an error or an audit log shows it: `insight.<key>`.
    pub fn policy_name(self) -> &'static str {
        match self {
            Capability::Intake => "insight.intake",
            Capability::Anomalies => "insight.anomalies",
            Capability::MarginForecast => "insight.margin_forecast",
            Capability::StaffingRisk => "insight.staffing_risk",
        }
    }
}

impl InsightPolicy {
    /// Whether `capability` is switched on.
    pub fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::Intake => self.intake,
            Capability::Anomalies => self.anomalies,
            Capability::MarginForecast => self.margin_forecast,
            Capability::StaffingRisk => self.staffing_risk,
        }
    }

    /// `Ok` when `capability` is on, otherwise [`InsightError::Disabled`] naming the policy.
    pub fn require(&self, capability: Capability) -> Result<(), InsightError> {
        if self.allows(capability) {
            Ok(())
        } else {
            Err(InsightError::Disabled(capability.policy_name().to_string()))
        }
    }
}

/// What one enabled call was given and answered, for audit and retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightRecord {
    pub capability: Capability,
    pub input: serde_json::Value,
    pub output: serde_json::Value,
}

/// The capabilities behind the firm's policy. A switched-off capability answers
/// [`InsightError::Disabled`] before reading its input, and records nothing; an enabled one
/// records its input and output (a failed call records nothing). A process API drains the
/// records into its audit store with [`Insight::take_records`].
#[derive(Debug, Clone, Default)]
pub struct Insight {
    policy: InsightPolicy,
    records: Vec<InsightRecord>,
}

impl Insight {
    pub fn new(policy: InsightPolicy) -> Self {
        Insight {
            policy,
            records: Vec::new(),
        }
    }

    pub fn policy(&self) -> &InsightPolicy {
        &self.policy
    }

    /// The records kept since the last [`Insight::take_records`].
    pub fn records(&self) -> &[InsightRecord] {
        &self.records
    }

    /// Hands over the records kept so far, leaving none.
    pub fn take_records(&mut self) -> Vec<InsightRecord> {
        std::mem::take(&mut self.records)
    }

    /// [`TemplateRecommender::recommend`], when `insight.intake` allows it.
    pub fn recommend_template(
        &mut self,
        recommender: &TemplateRecommender,
        sow_text: &str,
    ) -> Result<Recommendation, InsightError> {
        self.policy.require(Capability::Intake)?;
        let recommendation = recommender.recommend(sow_text)?;
        self.record(Capability::Intake, &sow_text, &recommendation);
        Ok(recommendation)
    }

    /// [`anomaly::detect`], when `insight.anomalies` allows it.
    pub fn detect_anomalies(
        &mut self,
        entries: &[TimeEntry],
        allocations: &[Allocation],
        config: &AnomalyConfig,
    ) -> Result<Vec<AnomalyFlag>, InsightError> {
        self.policy.require(Capability::Anomalies)?;
        let flags = anomaly::detect(entries, allocations, config)?;
        self.record(Capability::Anomalies, &(entries, allocations, config), &flags);
        Ok(flags)
    }

    /// [`margin::forecast`], when `insight.margin_forecast` allows it.
    pub fn forecast_margin(
        &mut self,
        burn: &ProjectBurn,
        config: &MarginConfig,
    ) -> Result<MarginForecast, InsightError> {
        self.policy.require(Capability::MarginForecast)?;
        let forecast = margin::forecast(burn, config)?;
        self.record(Capability::MarginForecast, &(burn, config), &forecast);
        Ok(forecast)
    }

    /// [`staffing::assess`], when `insight.staffing_risk` allows it.
    pub fn assess_staffing(
        &mut self,
        project: &ProjectStaffing,
        people: &[Person],
        assignments: &[Assignment],
    ) -> Result<Vec<StaffingFlag>, InsightError> {
        self.policy.require(Capability::StaffingRisk)?;
        let flags = staffing::assess(project, people, assignments)?;
        self.record(Capability::StaffingRisk, &(project, people, assignments), &flags);
        Ok(flags)
    }

    fn record(&mut self, capability: Capability, input: &impl Serialize, output: &impl Serialize) {
        // Serializing these types fails only on a non-finite float among a recommendation's
        // probabilities; such a value is recorded as null rather than lose the answer.
        self.records.push(InsightRecord {
            capability,
            input: serde_json::to_value(input).unwrap_or_default(),
            output: serde_json::to_value(output).unwrap_or_default(),
        });
    }
}
