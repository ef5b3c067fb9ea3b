//! The delivery-template recommender: TF-IDF features ([`TfIdf`]) and a multinomial logistic
//! regression (linfa-logistic), trained on the firm's labelled past SOWs. Training is
//! deterministic: the same examples and settings give the same model and the same version.
//!
//! Confidence is calibrated by temperature scaling: each training SOW is scored by a model fitted
//! on the other four fifths, and the temperature that minimises the negative log-likelihood of
//! those out-of-fold scores divides the final model's logits. Below the configured confidence floor the recommender abstains, still saying what it
//! would have picked. The terms that drove a recommendation are the features whose weight for
//! the chosen template, above that feature's mean weight across templates, times their value
//! in this SOW, is largest.

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView1, Axis};
use serde::{Deserialize, Serialize};

use super::LabelledSow;
use super::extract::{check_text, extract};
use super::features::TfIdf;
use super::record::{Recommendation, RecommendedTemplate};
use crate::InsightError;

/// How the recommender is trained and when it abstains.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommenderConfig {
    /// Below this calibrated confidence the recommender abstains (0 to 1).
    pub confidence_floor: f64,
    /// L2 penalty of the logistic regression.
    pub l2_penalty: f64,
    /// Solver iterations.
    pub max_iterations: u64,
    /// A term joins the vocabulary when at least this share of training SOWs has it.
    pub min_document_share: f32,
    /// How many terms explain a recommendation.
    pub explanation_terms: usize,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        RecommenderConfig {
            confidence_floor: 0.7,
            l2_penalty: 0.01,
            max_iterations: 200,
            min_document_share: 0.01,
            explanation_terms: 6,
        }
    }
}

impl RecommenderConfig {
    /// Checks the configuration, naming the field at fault.
    pub fn validate(&self) -> Result<(), InsightError> {
        if !(0.0..=1.0).contains(&self.confidence_floor) {
            return Err(InsightError::invalid("confidence_floor", "must be between 0 and 1"));
        }
        if !(self.l2_penalty.is_finite() && self.l2_penalty >= 0.0) {
            return Err(InsightError::invalid("l2_penalty", "must be a non-negative number"));
        }
        if self.max_iterations == 0 {
            return Err(InsightError::invalid("max_iterations", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.min_document_share) {
            return Err(InsightError::invalid(
                "min_document_share",
                "must be at least 0 and below 1",
            ));
        }
        Ok(())
    }
}

/// A term and how much it pushed the recommendation towards the chosen template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermWeight {
    pub term: String,
    pub weight: f64,
}

/// A template and its calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateScore {
    pub template: String,
    pub probability: f64,
}

/// A trained recommender; [`TemplateRecommender::recommend`] makes a [`Recommendation`].
#[derive(Debug)]
pub struct TemplateRecommender {
    config: RecommenderConfig,
    features: TfIdf,
    model: MultiFittedLogisticRegression<f64, usize>,
    templates: Vec<String>,
    temperature: f64,
    version: String,
}

impl TemplateRecommender {
    /// Trains on labelled SOWs. The temperature is fitted on out-of-fold predictions (five
    /// folds, each SOW scored by a model that did not see it); the model kept is fitted on all.
    pub fn train(examples: &[LabelledSow], config: RecommenderConfig) -> Result<TemplateRecommender, InsightError> {
        config.validate()?;
        let mut templates: Vec<String> = examples.iter().map(|example| example.template.clone()).collect();
        templates.sort_unstable();
        templates.dedup();
        if templates.len() < 2 || examples.len() < 10 {
            return Err(InsightError::invalid(
                "examples",
                "need at least 10 SOWs across at least 2 templates",
            ));
        }
        for (position, example) in examples.iter().enumerate() {
            check_text(&example.text).map_err(|error| match error {
                InsightError::InvalidInput { reason, .. } => {
                    InsightError::invalid(format!("examples[{position}].text"), reason)
                }
                other => other,
            })?;
        }
        let classes: Vec<usize> = examples.iter().map(|example| class_of(&templates, example)).collect();

        // Out-of-fold logits for every training SOW calibrate the temperature; the model kept is
        // then fitted on all of them.
        let mut held_out_logits = Vec::new();
        let mut held_out_classes = Vec::new();
        for fold in 0..CALIBRATION_FOLDS {
            let in_fold = |position: usize| position % CALIBRATION_FOLDS == fold;
            let fit: Vec<usize> = (0..examples.len()).filter(|position| !in_fold(*position)).collect();
            let held: Vec<usize> = (0..examples.len()).filter(|position| in_fold(*position)).collect();
            let Ok((features, model)) = fit_model(examples, &classes, &fit, templates.len(), &config) else {
                continue; // a fold that misses a template cannot be scored against all of them
            };
            let texts: Vec<&str> = held.iter().map(|position| examples[*position].text.as_str()).collect();
            held_out_logits.push(logits(&model, &features.transform(&texts)?));
            held_out_classes.extend(held.iter().map(|position| classes[*position]));
        }
        let temperature = match held_out_logits.as_slice() {
            [] => 1.0,
            parts => {
                let views: Vec<_> = parts.iter().map(|part| part.view()).collect();
                let stacked = ndarray::concatenate(Axis(0), &views)
                    .map_err(|error| InsightError::Training(format!("calibration: {error}")))?;
                fit_temperature(&stacked, &held_out_classes)
            }
        };
        let everything: Vec<usize> = (0..examples.len()).collect();
        let (features, model) = fit_model(examples, &classes, &everything, templates.len(), &config)?;

        let version = model_version(examples, &config, temperature);
        Ok(TemplateRecommender {
            config,
            features,
            model,
            templates,
            temperature,
            version,
        })
    }

    /// The templates this recommender knows, in the order of its probabilities.
    pub fn templates(&self) -> &[String] {
        &self.templates
    }

    /// The temperature dividing the logits (above 1 softens an overconfident model).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The version recorded on every recommendation: training data, settings and calibration.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Moves the confidence floor without retraining (a policy change, not a model change; the
    /// model version stays the same). A floor outside 0 to 1 is refused naming
    /// `confidence_floor`, and changes nothing.
    pub fn set_confidence_floor(&mut self, floor: f64) -> Result<(), InsightError> {
        RecommenderConfig {
            confidence_floor: floor,
            ..self.config.clone()
        }
        .validate()?;
        self.config.confidence_floor = floor;
        Ok(())
    }

    /// The configuration it was trained with, and the current confidence floor.
    pub fn config(&self) -> &RecommenderConfig {
        &self.config
    }

    /// Calibrated probabilities per template for each text, in [`templates`](Self::templates)
    /// order.
    pub fn probabilities(&self, texts: &[&str]) -> Result<Array2<f64>, InsightError> {
        for text in texts {
            check_text(text)?;
        }
        let mut logits = logits(&self.model, &self.features.transform(texts)?);
        logits.mapv_inplace(|value| value / self.temperature);
        for mut row in logits.rows_mut() {
            softmax(&mut row);
        }
        Ok(logits)
    }

    /// Recommends a template for one SOW, with the fields read from it, the terms behind the
    /// choice and the calibrated confidence; abstains below the confidence floor. Empty text is
    /// [`InsightError::InvalidInput`] on `sow_text`.
    pub fn recommend(&self, sow_text: &str) -> Result<Recommendation, InsightError> {
        let extracted = extract(sow_text)?;
        let x = self.features.transform(&[sow_text])?;
        let probabilities = self.probabilities(&[sow_text])?;
        let row = probabilities.row(0);
        let mut ranked: Vec<TemplateScore> = row
            .iter()
            .zip(&self.templates)
            .map(|(probability, template)| TemplateScore {
                template: template.clone(),
                probability: *probability,
            })
            .collect();
        ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let best = ranked[0].clone();
        let class = self.templates.iter().position(|t| *t == best.template).unwrap_or(0);
        let explanation = self.explain(x.row(0), class);
        let output = if best.probability >= self.config.confidence_floor {
            RecommendedTemplate::Template(best.template)
        } else {
            RecommendedTemplate::Abstained {
                best_guess: best.template,
            }
        };
        Ok(Recommendation::new(
            sow_text.to_string(),
            extracted,
            output,
            best.probability,
            explanation,
            ranked,
            self.version.clone(),
        ))
    }

    fn explain(&self, features: ArrayView1<'_, f64>, class: usize) -> Vec<TermWeight> {
        let weights = self.model.params();
        let mean = weights
            .mean_axis(Axis(1))
            .unwrap_or_else(|| Array1::zeros(weights.nrows()));
        let mut terms: Vec<TermWeight> = features
            .iter()
            .enumerate()
            .filter(|(_, value)| **value > 0.0)
            .map(|(feature, value)| TermWeight {
                term: self.features.term(feature).to_string(),
                weight: value * (weights[(feature, class)] - mean[feature]),
            })
            .filter(|term| term.weight > 0.0)
            .collect();
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        terms.truncate(self.config.explanation_terms);
        terms
    }
}

/// How many folds the out-of-fold calibration uses.
const CALIBRATION_FOLDS: usize = 5;

fn class_of(templates: &[String], example: &LabelledSow) -> usize {
    templates
        .iter()
        .position(|template| *template == example.template)
        .unwrap_or(0)
}

type Fitted = (TfIdf, MultiFittedLogisticRegression<f64, usize>);

/// Fits the vocabulary and the regression on the examples at `positions`; every one of the
/// `template_count` templates must be among them.
fn fit_model(
    examples: &[LabelledSow],
    classes: &[usize],
    positions: &[usize],
    template_count: usize,
    config: &RecommenderConfig,
) -> Result<Fitted, InsightError> {
    let texts: Vec<&str> = positions
        .iter()
        .map(|position| examples[*position].text.as_str())
        .collect();
    let features = TfIdf::fit(&texts, config.min_document_share)?;
    let x = features.transform(&texts)?;
    let y = Array1::from_iter(positions.iter().map(|position| classes[*position]));
    let model = MultiLogisticRegression::default()
        .alpha(config.l2_penalty)
        .max_iterations(config.max_iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|error| InsightError::Training(format!("logistic regression: {error}")))?;
    if model.classes() != (0..template_count).collect::<Vec<_>>() {
        return Err(InsightError::Training("every template needs training examples".into()));
    }
    Ok((features, model))
}

fn logits(model: &MultiFittedLogisticRegression<f64, usize>, x: &Array2<f64>) -> Array2<f64> {
    x.dot(model.params()) + model.intercept()
}

fn softmax(row: &mut ndarray::ArrayViewMut1<'_, f64>) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    row.mapv_inplace(|value| (value - max).exp());
    let sum = row.sum();
    row.mapv_inplace(|value| value / sum);
}

/// The temperature in [0.05, 20] minimising the negative log-likelihood of `truth` (a
/// golden-section search on its logarithm; the likelihood is unimodal in the temperature).
fn fit_temperature(logits: &Array2<f64>, truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let nll = |log_temperature: f64| -> f64 {
        let temperature = log_temperature.exp();
        let mut total = 0.0;
        for (row, class) in logits.rows().into_iter().zip(truth) {
            let mut scaled = row.mapv(|value| value / temperature);
            softmax(&mut scaled.view_mut());
            total -= scaled[*class].max(1e-12).ln();
        }
        total
    };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = (0.05f64.ln(), 20f64.ln());
    for _ in 0..60 {
        let a = high - ratio * (high - low);
        let b = low + ratio * (high - low);
        if nll(a) < nll(b) {
            high = b;
        } else {
            low = a;
        }
    }
    ((low + high) / 2.0).exp()
}

/// `sow-template-lr/<examples>/<fnv-1a of the training ids, labels and settings>`.
fn model_version(examples: &[LabelledSow], config: &RecommenderConfig, temperature: f64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for example in examples {
        feed(example.id.as_bytes());
        feed(example.template.as_bytes());
        feed(&(example.text.len() as u64).to_le_bytes());
    }
    feed(format!("{config:?} {temperature:.6}").as_bytes());
    format!("sow-template-lr/{}/{hash:016x}", examples.len())
}
