//! Keel's explainable recommendations. Models here recommend and flag; they never change a
//! billing rule, a rate card, a revenue schedule or a contract term. Every output carries its
//! explanation, its confidence and the version of the model that made it, and a named person
//! decides what happens next.
//!
//! - [`sow`]: statement-of-work intake. [`sow::extract`] reads service type, delivery
//!   complexity, region, contract type and milestones out of the text;
//!   [`sow::TemplateRecommender`] recommends a delivery template (TF-IDF features and
//!   multinomial logistic regression, temperature-calibrated), abstaining below a confidence
//!   floor; [`sow::Recommendation`] is the record a person accepts or overrides.
//! - [`anomaly`]: time-entry anomalies per consultant and project (robust statistics, weekday
//!   patterns, duplicates, round-number padding, hours above the assignment's allocation).
//! - [`margin`]: cost, revenue and margin at completion with an interval, for fixed-fee and
//!   time-and-materials projects, and an alert when the margin falls below the floor.
//! - [`staffing`]: over-allocation, certifications expiring or missing, and critical skills held
//!   by one person or none.
//! - [`Insight`] and [`InsightPolicy`]: the policy switch per capability; a switched-off one
//!   answers [`InsightError::Disabled`] and records nothing, an enabled one records its input and
//!   output ([`InsightRecord`]) for audit and retraining.
//!
//! The crate knows nothing of gRPC, databases or workflows, so process APIs can call it and it
//! builds and tests on its own. Its errors are [`InsightError`]; a process API maps
//! [`InsightError::InvalidInput`] to `keel_core::Error::invalid(field, reason)` at its edge.
#![forbid(unsafe_code)]

pub mod anomaly;
mod error;
pub mod margin;
mod policy;
pub mod sow;
pub mod staffing;

pub use error::InsightError;
pub use policy::{Capability, Insight, InsightPolicy, InsightRecord};
