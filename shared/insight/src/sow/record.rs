//! The record of one recommendation: its inputs, its output, the explanation, the confidence and
//! the model version, and later the outcome a named person recorded. Nothing here applies a
//! template: [`Recommendation::approved_template`] is empty until a person has decided, and
//! what happens next (project setup) is the caller's to start with that person's decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::ExtractedSow;
use super::recommend::{TemplateScore, TermWeight};
use crate::InsightError;

/// What the recommender said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecommendedTemplate {
    /// A template at or above the confidence floor.
    Template(String),
    /// Below the confidence floor: no recommendation, and the template it would have picked.
    Abstained { best_guess: String },
}

/// A person's decision on a recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// The recommended template is right.
    Accept { by: String },
    /// Another template (or the same one after an abstention) is right, for the stated reason.
    Override {
        by: String,
        template: String,
        reason: String,
    },
}

/// A recorded decision and when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub decision: Decision,
    pub decided_at: DateTime<Utc>,
}

/// One recommendation, as kept for audit and retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub id: Uuid,
    pub made_at: DateTime<Utc>,
    /// The SOW text the model read.
    pub sow_text: String,
    /// The fields read from it.
    pub extracted: ExtractedSow,
    pub output: RecommendedTemplate,
    /// Calibrated probability of the top template, 0 to 1.
    pub confidence: f64,
    /// The terms that pushed the model towards its top template, strongest first.
    pub explanation: Vec<TermWeight>,
    /// Every template with its probability, most likely first.
    pub alternatives: Vec<TemplateScore>,
    pub model_version: String,
    outcome: Option<Outcome>,
}

impl Recommendation {
    pub(crate) fn new(
        sow_text: String,
        extracted: ExtractedSow,
        output: RecommendedTemplate,
        confidence: f64,
        explanation: Vec<TermWeight>,
        alternatives: Vec<TemplateScore>,
        model_version: String,
    ) -> Self {
        Recommendation {
            id: Uuid::now_v7(),
            made_at: Utc::now(),
            sow_text,
            extracted,
            output,
            confidence,
            explanation,
            alternatives,
            model_version,
            outcome: None,
        }
    }

    /// The recorded outcome, once a person has decided.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Records a person's decision, once. The person must be named; an override names a
    /// template and a reason; an abstention cannot be accepted (there is nothing to accept).
    /// A second decision is [`InsightError::AlreadyDecided`] and changes nothing.
    pub fn record_outcome(&mut self, decision: Decision, decided_at: DateTime<Utc>) -> Result<&Outcome, InsightError> {
        if self.outcome.is_some() {
            return Err(InsightError::AlreadyDecided(self.id.to_string()));
        }
        match &decision {
            Decision::Accept { by } => {
                require_named("decided_by", by)?;
                if let RecommendedTemplate::Abstained { .. } = self.output {
                    return Err(InsightError::invalid(
                        "decision",
                        "the model abstained; choose a template with an override",
                    ));
                }
            }
            Decision::Override { by, template, reason } => {
                require_named("decided_by", by)?;
                require_named("template", template)?;
                require_named("reason", reason)?;
                if !self.alternatives.iter().any(|score| score.template == *template) {
                    return Err(InsightError::invalid(
                        "template",
                        format!("{template} is not a known delivery template"),
                    ));
                }
            }
        }
        Ok(self.outcome.insert(Outcome { decision, decided_at }))
    }

    /// The template a person approved (accepted or chose by override); `None` until then.
    pub fn approved_template(&self) -> Option<&str> {
        match (&self.outcome.as_ref()?.decision, &self.output) {
            (Decision::Accept { .. }, RecommendedTemplate::Template(template)) => Some(template),
            (Decision::Override { template, .. }, _) => Some(template),
            (Decision::Accept { .. }, RecommendedTemplate::Abstained { .. }) => None,
        }
    }

    /// The decided template as a labelled example for retraining: the SOW text and what the
    /// person chose.
    pub fn as_training_label(&self) -> Option<(&str, &str)> {
        Some((self.sow_text.as_str(), self.approved_template()?))
    }
}

fn require_named(field: &str, value: &str) -> Result<(), InsightError> {
    if value.trim().is_empty() {
        return Err(InsightError::invalid(
            field,
            "must name a person or value, not be empty",
        ));
    }
    Ok(())
}
