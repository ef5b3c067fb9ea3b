//! A wrapper for values that must never appear in logs, `Debug` output or error messages.

use std::fmt;

use serde::Deserialize;

/// A secret value (a database URL with a password, a signing key, a token).
///
/// `Debug` and `Display` print `***`; the value is only reachable through [`Secret::expose`], so
/// every place that reads it is easy to find.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value as a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Returns the secret value. Call it where the value is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_mask_the_value_and_expose_returns_it() {
        let secret = Secret::new("postgres://keel:hunter2@db/keel".to_owned());
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(secret.expose(), "postgres://keel:hunter2@db/keel");
        assert_eq!(secret.into_inner(), "postgres://keel:hunter2@db/keel");
    }
}
