//! Keel's configuration: typed, layered, validated.
//!
//! Layers, each overriding the one before key by key: built-in defaults (the embedded mode) →
//! an optional `keel.toml` → environment variables `KEEL__SECTION__KEY` (e.g.
//! `KEEL__DATABASE__URL`, `KEEL__SERVER__GRPC_ADDR`) → programmatic overrides (command-line
//! flags) → [`KeelConfig::validate`]. A typo or a bad value stops the load with an error naming
//! the key path, where the value came from and what is wrong.
//!
//! ```
//! use std::collections::HashMap;
//! use keel_config::{KeelConfig, Overrides};
//!
//! let env = HashMap::from([("KEEL__SERVER__GRPC_ADDR".to_owned(), "0.0.0.0:6000".to_owned())]);
//! let config = KeelConfig::load(None, &env, &Overrides::new().set("limits.graphql_max_depth", "8")).unwrap();
//! assert_eq!(config.server.grpc_addr.port(), 6000);
//! assert_eq!(config.limits.graphql_max_depth, 8);
//! ```

#![forbid(unsafe_code)]

mod error;
mod load;
mod secret;
mod service;
mod settings;
mod validate;

pub use error::{ConfigError, ConfigOrigin, ConfigProblem};
pub use load::{DEFAULT_FILE_NAME, ENV_PREFIX, ENV_SEPARATOR, Overrides};
pub use secret::Secret;
pub use service::{ServiceName, UnknownService};
pub use settings::{
    AdaptersConfig, AuthConfig, AuthMode, DatabaseConfig, EventsConfig, HubSpotWebhookConfig, JwtAlgorithm, KeelConfig,
    LimitsConfig, LogFormat, NotificationWebhookConfig, NotificationsConfig, ParseEnumError, ServerConfig,
    ServiceEndpoints, TelemetryConfig, TemplatesConfig, WebhooksConfig,
};
pub use validate::MIN_LOCAL_KEY_BYTES;
