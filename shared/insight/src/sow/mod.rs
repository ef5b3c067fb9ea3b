//! Statement-of-work intake: the fields read from a SOW's text ([`extract`]), the template
//! recommendation ([`TemplateRecommender`]) and the record a person decides on
//! ([`Recommendation`]).

mod extract;
mod features;
mod recommend;
mod record;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use extract::{ExtractedMilestone, ExtractedSow, extract};
pub use features::TfIdf;
pub use recommend::{RecommenderConfig, TemplateRecommender, TemplateScore, TermWeight};
pub use record::{Decision, Outcome, Recommendation, RecommendedTemplate};

/// Where the work is delivered, as PSA's delivery templates name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    #[serde(rename = "emea")]
    Emea,
    #[serde(rename = "na")]
    NorthAmerica,
    #[serde(rename = "apac")]
    Apac,
    #[serde(rename = "latam")]
    Latam,
}

/// How the client pays, as PSA's delivery templates name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContractType {
    #[serde(rename = "fixed-fee")]
    FixedFee,
    #[serde(rename = "time-and-materials")]
    TimeAndMaterials,
}

/// How hard the delivery is, from its duration, the sites or countries it covers and the
/// interfaces it builds (see [`DeliveryComplexity::from_drivers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryComplexity {
    Low,
    Medium,
    High,
}

impl DeliveryComplexity {
    /// Points per driver: duration of 9 months or more 2, of 5 or more 1; 4 or more sites 2,
    /// 2 or more 1; 10 or more interfaces 2, 4 or more 1. Four points or more is high, two or
    /// more medium, otherwise low. A driver the SOW does not state scores nothing.
    pub fn from_drivers(months: Option<u32>, sites: Option<u32>, integrations: Option<u32>) -> Self {
        let points = |value: Option<u32>, high: u32, medium: u32| match value {
            Some(value) if value >= high => 2,
            Some(value) if value >= medium => 1,
            _ => 0,
        };
        match points(months, 9, 5) + points(sites, 4, 2) + points(integrations, 10, 4) {
            4.. => DeliveryComplexity::High,
            2..=3 => DeliveryComplexity::Medium,
            _ => DeliveryComplexity::Low,
        }
    }
}

/// A payment milestone as the SOW states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneField {
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    pub date: Option<NaiveDate>,
}

/// The fields a careful reader finds in a labelled SOW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedFields {
    pub service_type: String,
    pub complexity: DeliveryComplexity,
    /// `None` when the text does not say where the work happens.
    pub region: Option<Region>,
    pub contract_type: ContractType,
    pub milestones: Vec<MilestoneField>,
}

/// One statement of work of the firm's past projects, with the delivery template chosen for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledSow {
    pub id: String,
    /// The PSA delivery template id.
    pub template: String,
    pub text: String,
    pub expected: ExpectedFields,
}

impl LabelledSow {
    /// Reads a JSON-lines file of labelled SOWs; a bad line is an error naming its number.
    pub fn read_jsonl(text: &str) -> Result<Vec<LabelledSow>, crate::InsightError> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(number, line)| {
                serde_json::from_str(line)
                    .map_err(|error| crate::InsightError::invalid(format!("line {}", number + 1), error.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryComplexity::{self, High, Low, Medium};

    #[test]
    fn complexity_points_per_driver() {
        // (months, sites, interfaces, expected)
        let table = [
            (None, None, None, Low),
            (Some(4), Some(1), Some(3), Low),
            (Some(5), None, None, Low),
            (Some(5), Some(2), None, Medium),
            (Some(9), None, None, Medium),
            (None, Some(4), Some(3), Medium),
            (Some(9), Some(4), None, High),
            (Some(5), Some(2), Some(4), Medium),
            (Some(6), Some(3), Some(10), High),
        ];
        for (months, sites, integrations, expected) in table {
            assert_eq!(
                DeliveryComplexity::from_drivers(months, sites, integrations),
                expected,
                "{months:?} months, {sites:?} sites, {integrations:?} interfaces"
            );
        }
    }
}
