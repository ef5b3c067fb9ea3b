//! The errors of this crate: bad input names its field; a decision on a recommendation that
//! was already decided is refused.

/// What went wrong in a model call or a decision on a recommendation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsightError {
    /// Input that breaks a rule, naming the field at fault.
    #[error("invalid input: {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// A recommendation already has its recorded outcome; outcomes are never rewritten.
    #[error("recommendation {0} was already decided")]
    AlreadyDecided(String),
    /// The capability is switched off by the firm's policy (see [`crate::InsightPolicy`]);
    /// nothing was computed or recorded. Holds the policy's name, such as `insight.intake`.
    #[error("disabled by policy {0}")]
    Disabled(String),
    /// Training could not produce a model (too few examples, a solver failure).
    #[error("training failed: {0}")]
    Training(String),
}

impl InsightError {
    /// Input that breaks a rule: `field` names it, `reason` says why.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        InsightError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
