//! The typed configuration tree: one struct per `keel.toml` section, each field with its
//! built-in default (the embedded mode: everything in one process, SQLite, in-process bus).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

use crate::Secret;

/// The whole Keel configuration. Every field has a default, so an empty `keel.toml` (or none)
/// runs Keel embedded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeelConfig {
    /// Listening addresses and the data directory (`[server]`).
    pub server: ServerConfig,
    /// Where services keep their state (`[database]`).
    pub database: DatabaseConfig,
    /// The event bus (`[events]`).
    pub events: EventsConfig,
    /// Token verification and issuance (`[auth]`).
    pub auth: AuthConfig,
    /// Logs, traces and their export (`[telemetry]`).
    pub telemetry: TelemetryConfig,
    /// Where the other services are in distributed mode (`[services]`).
    pub services: ServiceEndpoints,
    /// Bounds on requests (`[limits]`).
    pub limits: LimitsConfig,
    /// Delivery templates and policies (`[templates]`).
    pub templates: TemplatesConfig,
    /// The adapter behind each system API (`[adapters]`).
    pub adapters: AdaptersConfig,
    /// Inbound webhooks from vendor systems (`[webhooks]`).
    pub webhooks: WebhooksConfig,
    /// Outbound notifications (`[notifications]`).
    pub notifications: NotificationsConfig,
}

/// Listening addresses and local storage of this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the gRPC services listen on. Default `127.0.0.1:50051`.
    pub grpc_addr: SocketAddr,
    /// Address the HTTP server (GraphQL, `/metrics`, health) listens on. Default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
    /// Directory for SQLite files, the local signing key and other local state. Default `./keel-data`.
    pub data_dir: PathBuf,
    /// Seconds in-flight requests get to finish after a shutdown signal. Default 20.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 50051)),
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: PathBuf::from("./keel-data"),
            shutdown_grace_seconds: 20,
        }
    }
}

/// Where services keep their state.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `None`: one SQLite file per service under `server.data_dir`. Otherwise a `postgres://` (or
    /// `postgresql://`) URL; it usually carries a password, hence a secret. Default `None`.
    pub url: Option<Secret<String>>,
    /// Largest number of pooled connections per service. Default 10.
    pub max_connections: u32,
    /// PostgreSQL only: each service uses the schema `<schema_prefix><service>`, e.g. `keel_crm`.
    /// Lower-case letters, digits and `_`. Default `keel_`.
    pub schema_prefix: String,
}

impl DatabaseConfig {
    /// The PostgreSQL schema of a service: `<schema_prefix><service>`, e.g. `keel_crm`.
    pub fn schema_for(&self, service: &str) -> String {
        format!("{}{}", self.schema_prefix, service.replace('-', "_"))
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            schema_prefix: "keel_".to_owned(),
        }
    }
}

/// The event bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// `None`: the in-process bus (embedded mode). Otherwise the NATS server URL, e.g.
    /// `nats://127.0.0.1:4222`, and events travel through JetStream. Default `None`.
    pub nats_url: Option<String>,
    /// Prefix of JetStream stream names, e.g. `KEEL` gives `KEEL_CRM`. Default `KEEL`.
    pub stream_prefix: String,
    /// Prefix of event subjects, e.g. `keel` gives `keel.crm.opportunity.won`. Default `keel`.
    pub subject_prefix: String,
    /// Milliseconds between two passes of the outbox relay. Default 200.
    pub relay_interval_ms: u64,
    /// How long a system API keeps an event in its outbox once the relay published it (an
    /// operator may replay it within that time), a JetStream stream keeps its message, and a
    /// consumer remembers it applied the event, in days. Default 30.
    pub outbox_retention_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream_prefix: "KEEL".to_owned(),
            subject_prefix: "keel".to_owned(),
            relay_interval_ms: 200,
            outbox_retention_days: 30,
        }
    }
}

/// Token verification (the gateway and every service) and local token issuance.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `local`: HS256 tokens signed with a local key (embedded mode). `jwks`: RS256/ES256 tokens
    /// verified against an identity provider's key set. Default `local`.
    pub mode: AuthMode,
    /// Expected `iss` claim. Default `keel-local`.
    pub issuer: String,
    /// Expected `aud` claim. Default `keel`.
    pub audience: String,
    /// Local mode: the HS256 key, at least 32 bytes. `None`: the key file under
    /// `server.data_dir` is used (created on first start). Default `None`.
    pub local_key: Option<Secret<String>>,
    /// JWKS mode: URL of the identity provider's key set. Default `None`.
    pub jwks_url: Option<String>,
    /// JWKS mode: a key set read from a file instead of a URL. Default `None`.
    pub jwks_file: Option<PathBuf>,
    /// The only algorithm accepted (pinned): `HS256` in local mode, `RS256` or `ES256` in JWKS mode.
    /// Default `HS256`.
    pub algorithm: JwtAlgorithm,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Default 30.
    pub leeway_seconds: u64,
    /// JWKS mode: the token services present when they act on their own (not for a user).
    /// Default `None`.
    pub service_token: Option<Secret<String>>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Local,
            issuer: "keel-local".to_owned(),
            audience: "keel".to_owned(),
            local_key: None,
            jwks_url: None,
            jwks_file: None,
            algorithm: JwtAlgorithm::Hs256,
            leeway_seconds: 30,
            service_token: None,
        }
    }
}

/// Logs and traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log line format: `pretty` for people, `json` for collectors. Default `pretty`.
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` wins when set. Default `warn,keel=info`.
    pub filter: String,
    /// OTLP gRPC endpoint for traces, e.g. `http://127.0.0.1:4317`. `None`: no export. Default `None`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of exported traces. Default `keel`.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "warn,keel=info".to_owned(),
            otlp_endpoint: None,
            service_name: "keel".to_owned(),
        }
    }
}

/// gRPC URLs of the other services in distributed mode. A `None` endpoint means the service runs
/// in this process, reachable at `server.grpc_addr` (see [`KeelConfig::endpoint_for`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceEndpoints {
    /// The CRM system API, e.g. `http://keel-crm:50051`. Default `None`.
    pub crm: Option<String>,
    /// The PSA system API. Default `None`.
    pub psa: Option<String>,
    /// The ERP system API. Default `None`.
    pub erp: Option<String>,
    /// The HRIS system API. Default `None`.
    pub hris: Option<String>,
    /// The documents system API. Default `None`.
    pub documents: Option<String>,
    /// The collaboration system API. Default `None`.
    pub collaboration: Option<String>,
    /// The support system API. Default `None`.
    pub support: Option<String>,
    /// The project-setup process API. Default `None`.
    pub project_setup: Option<String>,
    /// The time-capture process API. Default `None`.
    pub time_capture: Option<String>,
    /// The staffing process API. Default `None`.
    pub staffing: Option<String>,
    /// The delivery-health process API. Default `None`.
    pub delivery_health: Option<String>,
    /// The billing process API. Default `None`.
    pub billing: Option<String>,
    /// The change-order process API. Default `None`.
    pub change_orders: Option<String>,
    /// The close-out process API. Default `None`.
    pub close_out: Option<String>,
    /// Deadline of a call to another service, in milliseconds. Default 5000.
    pub call_timeout_ms: u64,
}

impl Default for ServiceEndpoints {
    fn default() -> Self {
        Self {
            crm: None,
            psa: None,
            erp: None,
            hris: None,
            documents: None,
            collaboration: None,
            support: None,
            project_setup: None,
            time_capture: None,
            staffing: None,
            delivery_health: None,
            billing: None,
            change_orders: None,
            close_out: None,
            call_timeout_ms: 5000,
        }
    }
}

/// Bounds on what a caller may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest gRPC message a service receives, in bytes. Default 4 MiB.
    pub grpc_max_message_bytes: usize,
    /// Largest HTTP request body, in bytes. Default 64 KiB.
    pub http_max_body_bytes: usize,
    /// Deepest nesting of data fields a GraphQL query may have (introspection fields are not
    /// counted). Default 10.
    pub graphql_max_depth: usize,
    /// Largest GraphQL query complexity accepted. Default 500.
    pub graphql_max_complexity: usize,
    /// Whether GraphQL introspection (`__schema`) is answered. Default: on when every service
    /// runs in one process (`keel up`), off otherwise.
    pub graphql_introspection: Option<bool>,
    /// Whether an unknown GraphQL field's error suggests the fields meant. Default: as
    /// `graphql_introspection`.
    pub graphql_suggestions: Option<bool>,
    /// Whether each GraphQL response carries `extensions.backendCalls` (the calls it made, by
    /// service and kind). Default: on when every service runs in one process, off otherwise.
    pub graphql_report_backend_calls: Option<bool>,
    /// How long each service keeps idempotency keys (a replay within it returns the first
    /// answer), in days. Default 30.
    pub idempotency_retention_days: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            grpc_max_message_bytes: 4_194_304,
            http_max_body_bytes: 65_536,
            graphql_max_depth: 10,
            graphql_max_complexity: 500,
            graphql_introspection: None,
            graphql_suggestions: None,
            graphql_report_backend_calls: None,
            idempotency_retention_days: 30,
        }
    }
}

/// Which adapter each system API runs on. `reference` is the persisted adapter Keel ships;
/// an integrator's adapter is registered in the `keel` binary's `src/adapters.rs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptersConfig {
    pub crm: String,
    pub psa: String,
    pub erp: String,
    pub hris: String,
    pub documents: String,
    pub collaboration: String,
    pub support: String,
}

impl Default for AdaptersConfig {
    fn default() -> Self {
        let reference = || "reference".to_string();
        Self {
            crm: reference(),
            psa: reference(),
            erp: reference(),
            hris: reference(),
            documents: reference(),
            collaboration: reference(),
            support: reference(),
        }
    }
}

/// Inbound webhooks from vendor systems.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// HubSpot's deal webhooks into the CRM system API (`[webhooks.hubspot]`).
    pub hubspot: HubSpotWebhookConfig,
}

/// HubSpot's deal-property-change webhooks, verified with the app's client secret (signature v3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSpotWebhookConfig {
    /// The HubSpot app's client secret. Unset: the endpoint is not served.
    pub client_secret: Option<Secret<String>>,
    /// Scheme and host of the webhook URL registered in HubSpot (`https://keel.example.com`):
    /// the signature covers the full URL, which a server behind a proxy cannot see.
    pub public_url: Option<String>,
}

/// Outbound notifications: alerts and approval requests sent out of Keel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// A Slack-compatible webhook, HMAC-signed (`[notifications.webhook]`).
    pub webhook: NotificationWebhookConfig,
}

/// Where alerts and approval requests are POSTed; off without a URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationWebhookConfig {
    /// The receiver (http or https). Unset: notifications are stored and streamed only.
    pub url: Option<String>,
    /// The HMAC-SHA256 key each POST is signed with; at least 16 characters, required with a URL.
    pub secret: Option<Secret<String>>,
}

/// Delivery templates and policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplatesConfig {
    /// Directory of the versioned delivery template files. Default `config/templates`.
    pub dir: PathBuf,
    /// Directory of the versioned policy files (`staffing.toml`, ...). A policy file that is
    /// missing leaves that policy at its built-in defaults; one that is present must be valid.
    /// Default `config/policies`.
    pub policies_dir: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("config/templates"),
            policies_dir: PathBuf::from("config/policies"),
        }
    }
}

/// Error of parsing one of the configuration enums from its text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseEnumError {
    expected: &'static [&'static str],
    got: String,
}

impl fmt::Display for ParseEnumError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("expected one of ")?;
        for (index, name) in self.expected.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(formatter, "{separator}`{name}`")?;
        }
        write!(formatter, ", got `{}`", self.got)
    }
}

impl std::error::Error for ParseEnumError {}

/// Defines a configuration enum that reads from and prints as fixed strings (case-insensitive).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// The text form, as written in `keel.toml`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $(if text.eq_ignore_ascii_case($text) {
                    return Ok(Self::$variant);
                })+
                Err(ParseEnumError {
                    expected: &[$($text),+],
                    got: text.to_owned(),
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseEnumError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// How tokens are verified.
    AuthMode {
        /// HS256 tokens signed with a local key (embedded mode).
        Local => "local",
        /// RS256/ES256 tokens verified against a JWKS.
        Jwks => "jwks",
    }
}

text_enum! {
    /// The one JWT signature algorithm accepted.
    JwtAlgorithm {
        /// HMAC with SHA-256 (local mode).
        Hs256 => "HS256",
        /// RSA PKCS#1 v1.5 with SHA-256.
        Rs256 => "RS256",
        /// ECDSA P-256 with SHA-256.
        Es256 => "ES256",
    }
}

text_enum! {
    /// Log line format.
    LogFormat {
        /// Human-readable, multi-line.
        Pretty => "pretty",
        /// One JSON object per line.
        Json => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_their_conventional_spelling_in_any_case() {
        let cases = [
            ("local", Ok(AuthMode::Local)),
            ("JWKS", Ok(AuthMode::Jwks)),
            ("oauth", Err("expected one of `local`, `jwks`, got `oauth`")),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<AuthMode>().map_err(|e| e.to_string()),
                expected.map_err(str::to_owned)
            );
        }
        assert_eq!("hs256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Hs256));
        assert_eq!("ES256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Es256));
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(JwtAlgorithm::Rs256.to_string(), "RS256");
    }

    #[test]
    fn schema_for_joins_prefix_and_service() {
        let database = DatabaseConfig::default();
        assert_eq!(database.schema_for("crm"), "keel_crm");
        assert_eq!(database.schema_for("project-setup"), "keel_project_setup");
    }
}
