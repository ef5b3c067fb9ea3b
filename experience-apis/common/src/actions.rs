//! What every mutation of a view shares: its idempotency key, and its bad input named by the
//! GraphQL argument rather than the process API's request field.

use keel_core::Error;
use keel_core::validate::MAX_IDEMPOTENCY_KEY_LEN;
use sha2::{Digest, Sha256};

/// The idempotency key of one mutation: the client's when it sent one (checked downstream),
/// else derived from the caller, the mutation and its arguments, so the same action retried by
/// the same person is the same action, and a different one is a different action.
pub fn idempotency_key(client: Option<String>, subject: &str, mutation: &str, arguments: &[&str]) -> String {
    if let Some(key) = client {
        return key;
    }
    let mut hasher = Sha256::new();
    for part in [subject, mutation].iter().chain(arguments) {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    let key = format!("{mutation}-{}", hex::encode(hasher.finalize()));
    key.chars().take(MAX_IDEMPOTENCY_KEY_LEN).collect()
}

/// `error` with each field violation renamed from a process API's request field to the
/// GraphQL argument it came from (`renames`: request field, argument); fields not listed keep
/// their name.
pub fn rename_fields(error: Error, renames: &[(&str, &str)]) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if let Some((_, argument)) = renames.iter().find(|(field, _)| *field == violation.field) {
                    violation.field = (*argument).to_string();
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::error::FieldViolation;

    #[test]
    fn a_derived_key_is_the_same_for_the_same_action_and_differs_otherwise() {
        let key = |subject: &str, args: &[&str]| idempotency_key(None, subject, "approveTime", args);
        assert_eq!(key("greta", &["e1"]), key("greta", &["e1"]));
        assert_ne!(key("greta", &["e1"]), key("greta", &["e2"]));
        assert_ne!(key("greta", &["e1"]), key("jonas", &["e1"]));
        assert_ne!(key("greta", &["e1", "x"]), key("greta", &["e1x"]));
        assert!(key("greta", &["e1"]).starts_with("approveTime-"));
        assert!(key("greta", &["e1"]).len() <= MAX_IDEMPOTENCY_KEY_LEN);
        assert_eq!(
            idempotency_key(Some("mine".into()), "greta", "approveTime", &["e1"]),
            "mine"
        );
    }

    #[test]
    fn violations_are_renamed_to_their_arguments() {
        let error = Error::InvalidInput(vec![
            FieldViolation::new("entry.date", "is in the future"),
            FieldViolation::new("reason", "is required"),
        ]);
        let Error::InvalidInput(renamed) = rename_fields(error, &[("entry.date", "date")]) else {
            panic!("still invalid input");
        };
        let fields: Vec<&str> = renamed.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["date", "reason"]);
    }
}
