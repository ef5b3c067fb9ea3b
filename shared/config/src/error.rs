//! What can go wrong while loading configuration, phrased for the person who has to fix it:
//! every error names the key path and, when known, where the value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigOrigin {
    /// The `keel.toml` file at this path.
    File(PathBuf),
    /// An environment variable, e.g. `KEEL__SERVER__GRPC_ADDR`.
    Environment {
        /// The variable's name.
        variable: String,
    },
    /// A programmatic override (a command-line flag).
    Override,
    /// A built-in default.
    Default,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(formatter, "{}", path.display()),
            Self::Environment { variable } => write!(formatter, "environment variable {variable}"),
            Self::Override => formatter.write_str("command-line override"),
            Self::Default => formatter.write_str("built-in default"),
        }
    }
}

/// One broken rule found by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key path, e.g. `database.url`.
    pub key: String,
    /// What is wrong, e.g. `must start with postgres:// or postgresql://`.
    pub message: String,
    /// Where the offending value came from, when the configuration was loaded (not only validated).
    pub origin: Option<ConfigOrigin>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "`{}`", self.key)?;
        if let Some(origin) = &self.origin {
            write!(formatter, " (from {origin})")?;
        }
        write!(formatter, ": {}", self.message)
    }
}

/// Loading or validating the configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read or is not valid TOML.
    #[error("configuration file {}: {problem}", path.display())]
    File {
        /// The file, as given.
        path: PathBuf,
        /// The I/O or TOML syntax error.
        problem: String,
    },
    /// A value could not become its typed field: an unknown key, a wrong type, an unparsable value.
    #[error("invalid configuration value for `{key}` in {origin}: {problem}")]
    Value {
        /// Where the value came from.
        origin: ConfigOrigin,
        /// The key path, e.g. `server.grpc_addr`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The configuration parsed, but breaks one or more rules; every broken rule is listed.
    #[error("invalid configuration:{}", list_problems(.problems))]
    Invalid {
        /// Every broken rule, in key order.
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    /// The key paths this error is about, e.g. `["server.grpc_addr"]`.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::File { .. } => Vec::new(),
            Self::Value { key, .. } => vec![key.as_str()],
            Self::Invalid { problems } => problems.iter().map(|problem| problem.key.as_str()).collect(),
        }
    }
}

/// One problem per line, so a long list stays readable in a terminal.
fn list_problems(problems: &[ConfigProblem]) -> String {
    problems.iter().map(|problem| format!("\n  - {problem}")).collect()
}
