//! Loading the configuration in layers: built-in defaults → an optional `keel.toml` →
//! `KEEL__SECTION__KEY` environment variables → programmatic overrides (command-line flags) →
//! [`KeelConfig::validate`].
//!
//! The process environment is read in exactly one place, [`KeelConfig::load_from_process_env`];
//! everything else, tests included, passes the environment in as a map.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use config::{Config, Environment, FileFormat};

use crate::{ConfigError, ConfigOrigin, KeelConfig};

/// Prefix of Keel's environment variables: `KEEL__SERVER__GRPC_ADDR` sets `server.grpc_addr`.
pub const ENV_PREFIX: &str = "KEEL";
/// Separator between the prefix, the section and the key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// The file name Keel looks for by convention; the caller decides whether to pass it.
pub const DEFAULT_FILE_NAME: &str = "keel.toml";

/// Keys whose values are never repeated in an error message.
const SECRET_KEYS: [&str; 3] = ["database.url", "auth.local_key", "auth.service_token"];
/// The origin the `config` crate gives values read from its `Environment` source.
const CONFIG_CRATE_ENV_ORIGIN: &str = "the environment";

/// Programmatic overrides, the last layer before validation: typically the command-line flags.
///
/// Keys are dotted paths (`server.grpc_addr`); values are text, converted like environment
/// values. `Debug` shows the keys only, since a value may be a secret.
#[derive(Clone, Default)]
pub struct Overrides {
    entries: Vec<(String, String)>,
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (a dotted path such as `server.grpc_addr`) to `value`; a later call for the
    /// same key wins.
    #[must_use]
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.entries.push((key.into(), value.into()));
        self
    }

    /// Sets `key` when `value` is `Some`, e.g. for an optional command-line flag.
    #[must_use]
    pub fn set_if_some(self, key: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    /// Whether no override is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The overridden key paths, in the order they were set.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }

    fn contains(&self, key: &str) -> bool {
        self.keys().any(|overridden| overridden == key)
    }
}

impl fmt::Debug for Overrides {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Overrides")
            .field("keys", &self.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeelConfig {
    /// Loads the configuration from the given layers and validates it.
    ///
    /// `file`: a `keel.toml` to read (`None`: no file; a missing file is an error).
    /// `env`: the environment variables; only `KEEL__…` ones are used.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        Loader { file, env, overrides }.load()
    }

    /// [`KeelConfig::load`] with the `KEEL__…` variables of this process: the one place Keel
    /// reads its configuration from the environment.
    pub fn load_from_process_env(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
        let mut env = HashMap::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else {
                continue; // not valid UTF-8, so not one of ours
            };
            if !name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(&prefix))
            {
                continue;
            }
            let Ok(value) = value.into_string() else {
                return Err(ConfigError::Value {
                    origin: ConfigOrigin::Environment {
                        variable: name.to_owned(),
                    },
                    key: key_of_variable(name),
                    problem: "is not valid UTF-8".to_owned(),
                });
            };
            env.insert(name.to_owned(), value);
        }
        Self::load(file, &env, overrides)
    }
}

/// `KEEL__SERVER__GRPC_ADDR` → `server.grpc_addr`.
fn key_of_variable(name: &str) -> String {
    name.get(ENV_PREFIX.len() + ENV_SEPARATOR.len()..)
        .unwrap_or_default()
        .to_lowercase()
        .replace(ENV_SEPARATOR, ".")
}

/// One load: the layers, and the knowledge needed to say where a bad value came from.
struct Loader<'a> {
    file: Option<&'a Path>,
    env: &'a HashMap<String, String>,
    overrides: &'a Overrides,
}

impl Loader<'_> {
    fn load(&self) -> Result<KeelConfig, ConfigError> {
        let merged = self.merge()?;
        let config: KeelConfig = merged
            .clone()
            .try_deserialize()
            .map_err(|error| self.value_error(error, &merged))?;
        config.validate().map_err(|error| match error {
            ConfigError::Invalid { mut problems } => {
                for problem in &mut problems {
                    problem.origin = self.origin_of(&problem.key, &merged);
                }
                ConfigError::Invalid { problems }
            }
            other => other,
        })?;
        Ok(config)
    }

    /// Stacks the file, the environment and the overrides; later layers win key by key.
    fn merge(&self) -> Result<Config, ConfigError> {
        let mut builder = Config::builder();
        if let Some(path) = self.file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
                path: path.to_owned(),
                problem: error.to_string(),
            })?;
            builder = builder.add_source(config::File::from_str(&text, FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(self.env.clone().into_iter().collect())),
        );
        for (key, value) in &self.overrides.entries {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|error| ConfigError::Value {
                    origin: ConfigOrigin::Override,
                    key: key.clone(),
                    problem: error.to_string(),
                })?;
        }
        builder.build().map_err(|error| match (error, self.file) {
            // The file is the only source whose collection can fail with a parse error.
            (config::ConfigError::FileParse { cause, .. }, Some(path)) => ConfigError::File {
                path: path.to_owned(),
                problem: cause.to_string(),
            },
            (error, _) => ConfigError::Value {
                origin: ConfigOrigin::Default,
                key: String::new(),
                problem: error.to_string(),
            },
        })
    }

    /// Turns a deserialization error of the `config` crate into one naming key, origin and problem.
    fn value_error(&self, error: config::ConfigError, merged: &Config) -> ConfigError {
        let (mut key, mut problem) = match error {
            config::ConfigError::At { error, key, .. } => (key.unwrap_or_default(), error.to_string()),
            config::ConfigError::Type {
                unexpected,
                expected,
                key,
                ..
            } => (
                key.unwrap_or_default(),
                format!("invalid type: {unexpected}, expected {expected}"),
            ),
            config::ConfigError::NotFound(key) => (key, "is missing".to_owned()),
            other => (String::new(), other.to_string()),
        };
        // serde reports an unknown key at its parent: move it into the key path.
        if let Some(rest) = problem.strip_prefix("unknown field `")
            && let Some((field, expected)) = rest.split_once('`')
        {
            key = if key.is_empty() {
                field.to_owned()
            } else {
                format!("{key}.{field}")
            };
            problem = format!("unknown key{expected}");
        }
        if !SECRET_KEYS.contains(&key.as_str())
            && !problem.starts_with("unknown key")
            && let Some(value) = raw_value(merged, &key)
            && let Ok(text) = value.clone().into_string()
            && !problem.contains(&format!("`{text}`"))
            && !problem.contains(&format!("\"{text}\""))
        {
            problem = format!("{problem} (got `{text}`)");
        }
        let origin = self.origin_of(&key, merged).unwrap_or(ConfigOrigin::Default);
        ConfigError::Value { origin, key, problem }
    }

    /// Which layer set `key`, or `None` when no layer did (the built-in default applies).
    fn origin_of(&self, key: &str, merged: &Config) -> Option<ConfigOrigin> {
        if self.overrides.contains(key) {
            return Some(ConfigOrigin::Override);
        }
        // A whole table (an unknown section) has no origin of its own: ask its first leaf.
        let (leaf_key, value) = first_leaf(key.to_owned(), raw_value(merged, key)?);
        if value.origin() == Some(CONFIG_CRATE_ENV_ORIGIN) {
            return Some(ConfigOrigin::Environment {
                variable: self.variable_for(&leaf_key),
            });
        }
        Some(match self.file {
            Some(path) => ConfigOrigin::File(path.to_owned()),
            None => ConfigOrigin::Override,
        })
    }

    /// The environment variable that sets `key`, as spelled in the environment.
    fn variable_for(&self, key: &str) -> String {
        self.env
            .keys()
            .find(|name| {
                name.get(..ENV_PREFIX.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                    && key_of_variable(name) == key
            })
            .cloned()
            .unwrap_or_else(|| {
                format!(
                    "{ENV_PREFIX}{ENV_SEPARATOR}{}",
                    key.to_uppercase().replace('.', ENV_SEPARATOR)
                )
            })
    }
}

/// The merged value at a dotted key path, with its origin (`Config::get` would drop the origin).
fn raw_value<'c>(merged: &'c Config, key: &str) -> Option<&'c config::Value> {
    key.split('.')
        .try_fold(&merged.cache, |value, segment| match &value.kind {
            config::ValueKind::Table(table) => table.get(segment),
            _ => None,
        })
}

/// The first value under `value` that is not a table (in key order), with its key path.
fn first_leaf(key: String, value: &config::Value) -> (String, &config::Value) {
    match &value.kind {
        config::ValueKind::Table(table) => match table.iter().min_by(|left, right| left.0.cmp(right.0)) {
            Some((child_key, child)) => first_leaf(format!("{key}.{child_key}"), child),
            None => (key, value),
        },
        _ => (key, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_map_to_key_paths() {
        assert_eq!(key_of_variable("KEEL__SERVER__GRPC_ADDR"), "server.grpc_addr");
        assert_eq!(
            key_of_variable("KEEL__LIMITS__GRAPHQL_MAX_DEPTH"),
            "limits.graphql_max_depth"
        );
    }

    #[test]
    fn overrides_debug_shows_keys_not_values() {
        let overrides = Overrides::new()
            .set("database.url", "postgres://keel:hunter2@db/keel")
            .set_if_some("server.grpc_addr", None::<String>);
        assert_eq!(format!("{overrides:?}"), r#"Overrides { keys: ["database.url"] }"#);
        assert!(!overrides.is_empty());
    }
}
