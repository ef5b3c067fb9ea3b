//! The rules a configuration must satisfy before Keel starts, checked all at once so one run
//! reports every problem.

use crate::{AuthMode, ConfigError, ConfigProblem, JwtAlgorithm, KeelConfig};

/// Shortest accepted HS256 key, in bytes.
pub const MIN_LOCAL_KEY_BYTES: usize = 32;

impl KeelConfig {
    /// Checks every rule and returns [`ConfigError::Invalid`] listing all broken ones.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Problems::default();
        self.check_server(&mut problems);
        self.check_database(&mut problems);
        self.check_events(&mut problems);
        self.check_auth(&mut problems);
        self.check_telemetry(&mut problems);
        self.check_services(&mut problems);
        self.check_limits(&mut problems);
        self.check_webhooks(&mut problems);
        problems.0
    }

    fn check_server(&self, problems: &mut Problems) {
        let server = &self.server;
        // Port 0 asks the OS for a free port, so two port-0 addresses never collide.
        if server.grpc_addr == server.http_addr && server.grpc_addr.port() != 0 {
            problems.add(
                "server.http_addr",
                format!("must differ from server.grpc_addr (both are {})", server.grpc_addr),
            );
        }
        if server.data_dir.as_os_str().is_empty() {
            problems.add("server.data_dir", "must not be empty");
        }
        if self.templates.policies_dir.as_os_str().is_empty() {
            problems.add("templates.policies_dir", "must not be empty");
        }
        if self.templates.dir.as_os_str().is_empty() {
            problems.add("templates.dir", "must not be empty");
        }
    }

    fn check_database(&self, problems: &mut Problems) {
        let database = &self.database;
        if let Some(url) = &database.url {
            // The URL usually holds a password: never echo it.
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.add(
                    "database.url",
                    "must start with postgres:// or postgresql:// (leave it unset for SQLite under server.data_dir)",
                );
            }
        }
        if database.max_connections == 0 {
            problems.add("database.max_connections", "must be at least 1");
        }
        let prefix = &database.schema_prefix;
        let allowed = prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !allowed || prefix.starts_with(|c: char| c.is_ascii_digit()) || prefix.len() > 40 {
            problems.add(
                "database.schema_prefix",
                "must be at most 40 lower-case letters, digits or `_`, not starting with a digit",
            );
        }
    }

    fn check_events(&self, problems: &mut Problems) {
        let events = &self.events;
        if events.nats_url.as_deref().is_some_and(|url| url.trim().is_empty()) {
            problems.add(
                "events.nats_url",
                "must not be empty (leave it unset for the in-process bus)",
            );
        }
        let bad_stream_char = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
        if events.stream_prefix.is_empty() || events.stream_prefix.contains(bad_stream_char) {
            problems.add(
                "events.stream_prefix",
                "must be non-empty without spaces, `.`, `*`, `>`, `/` or `\\`",
            );
        }
        let subject = &events.subject_prefix;
        if subject.is_empty()
            || subject.contains(|c: char| c.is_whitespace() || matches!(c, '*' | '>'))
            || subject.starts_with('.')
            || subject.ends_with('.')
        {
            problems.add(
                "events.subject_prefix",
                "must be non-empty without spaces, `*` or `>`, and not start or end with `.`",
            );
        }
        if events.relay_interval_ms == 0 {
            problems.add("events.relay_interval_ms", "must be at least 1");
        }
        if events.outbox_retention_days == 0 {
            problems.add("events.outbox_retention_days", "must be greater than 0");
        }
    }

    fn check_auth(&self, problems: &mut Problems) {
        let auth = &self.auth;
        if auth.issuer.trim().is_empty() {
            problems.add("auth.issuer", "must not be empty");
        }
        if auth.audience.trim().is_empty() {
            problems.add("auth.audience", "must not be empty");
        }
        match auth.mode {
            AuthMode::Local => {
                if auth.algorithm != JwtAlgorithm::Hs256 {
                    problems.add(
                        "auth.algorithm",
                        format!("must be HS256 in local mode, got {}", auth.algorithm),
                    );
                }
            }
            AuthMode::Jwks => {
                if auth.jwks_url.is_none() && auth.jwks_file.is_none() {
                    problems.add("auth.jwks_url", "jwks mode needs auth.jwks_url or auth.jwks_file");
                }
                if !matches!(auth.algorithm, JwtAlgorithm::Rs256 | JwtAlgorithm::Es256) {
                    problems.add(
                        "auth.algorithm",
                        format!("must be RS256 or ES256 in jwks mode, got {}", auth.algorithm),
                    );
                }
            }
        }
        if let Some(key) = &auth.local_key
            && key.expose().len() < MIN_LOCAL_KEY_BYTES
        {
            problems.add(
                "auth.local_key",
                format!("must be at least {MIN_LOCAL_KEY_BYTES} bytes"),
            );
        }
        if let Some(url) = &auth.jwks_url {
            check_http_url(problems, "auth.jwks_url", url);
        }
        if auth
            .service_token
            .as_ref()
            .is_some_and(|token| token.expose().trim().is_empty())
        {
            problems.add("auth.service_token", "must not be empty when set");
        }
    }

    fn check_telemetry(&self, problems: &mut Problems) {
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            check_http_url(problems, "telemetry.otlp_endpoint", endpoint);
        }
        if self.telemetry.service_name.trim().is_empty() {
            problems.add("telemetry.service_name", "must not be empty");
        }
    }

    fn check_services(&self, problems: &mut Problems) {
        let services = &self.services;
        for service in crate::ServiceName::ALL {
            if let Some(url) = self.configured_endpoint(service) {
                check_http_url(problems, &format!("services.{}", service.config_key()), url);
            }
        }
        for service in crate::ServiceName::SYSTEMS {
            if self.adapter_for(service).trim().is_empty() {
                problems.add(
                    &format!("adapters.{}", service.config_key()),
                    "must name an adapter (\"reference\" is the one Keel ships)",
                );
            }
        }
        if services.call_timeout_ms == 0 {
            problems.add("services.call_timeout_ms", "must be at least 1");
        }
    }

    fn check_webhooks(&self, problems: &mut Problems) {
        let hubspot = &self.webhooks.hubspot;
        match (&hubspot.client_secret, &hubspot.public_url) {
            (Some(secret), _) if secret.expose().trim().is_empty() => {
                problems.add("webhooks.hubspot.client_secret", "must not be empty");
            }
            (Some(_), None) => problems.add(
                "webhooks.hubspot.public_url",
                "is required with a client secret: the scheme and host of the URL registered in HubSpot",
            ),
            (_, Some(url)) => check_http_url(problems, "webhooks.hubspot.public_url", url),
            (None, None) => {}
        }
    }

    fn check_limits(&self, problems: &mut Problems) {
        let limits = &self.limits;
        let positive = [
            ("limits.grpc_max_message_bytes", limits.grpc_max_message_bytes),
            ("limits.http_max_body_bytes", limits.http_max_body_bytes),
            ("limits.graphql_max_depth", limits.graphql_max_depth),
            ("limits.graphql_max_complexity", limits.graphql_max_complexity),
            (
                "limits.idempotency_retention_days",
                limits.idempotency_retention_days as usize,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.add(key, "must be greater than 0");
            }
        }
    }
}

fn check_http_url(problems: &mut Problems, key: &str, url: &str) {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(str::is_empty) {
        problems.add(key, format!("must be an http:// or https:// URL, got `{url}`"));
    }
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.to_owned(),
            message: message.into(),
            origin: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::Secret;

    fn keys_of(config: &KeelConfig) -> Vec<String> {
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|problem| problem.key).collect(),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(keys_of(&KeelConfig::default()), Vec::<String>::new());
    }

    #[test]
    fn each_rule_names_its_key() {
        type Edit = fn(&mut KeelConfig);
        let cases: Vec<(&str, Edit, &[&str])> = vec![
            (
                "postgres url accepted",
                |c| c.database.url = Some(Secret::new("postgres://db/keel".into())),
                &[],
            ),
            (
                "postgresql url accepted",
                |c| c.database.url = Some(Secret::new("postgresql://db".into())),
                &[],
            ),
            (
                "mysql url rejected",
                |c| c.database.url = Some(Secret::new("mysql://db".into())),
                &["database.url"],
            ),
            (
                "zero connections",
                |c| c.database.max_connections = 0,
                &["database.max_connections"],
            ),
            (
                "schema prefix with dash",
                |c| c.database.schema_prefix = "keel-".into(),
                &["database.schema_prefix"],
            ),
            (
                "empty schema prefix accepted",
                |c| c.database.schema_prefix = String::new(),
                &[],
            ),
            (
                "same addresses",
                |c| c.server.http_addr = c.server.grpc_addr,
                &["server.http_addr"],
            ),
            (
                "both on port 0 accepted",
                |c| {
                    c.server.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
                    c.server.http_addr = c.server.grpc_addr;
                },
                &[],
            ),
            (
                "local mode needs HS256",
                |c| c.auth.algorithm = JwtAlgorithm::Rs256,
                &["auth.algorithm"],
            ),
            (
                "jwks mode needs a key set and RS256/ES256",
                |c| c.auth.mode = AuthMode::Jwks,
                &["auth.jwks_url", "auth.algorithm"],
            ),
            (
                "jwks mode complete",
                |c| {
                    c.auth.mode = AuthMode::Jwks;
                    c.auth.algorithm = JwtAlgorithm::Es256;
                    c.auth.jwks_file = Some("jwks.json".into());
                },
                &[],
            ),
            (
                "short local key",
                |c| c.auth.local_key = Some(Secret::new("short".into())),
                &["auth.local_key"],
            ),
            (
                "32-byte local key",
                |c| c.auth.local_key = Some(Secret::new("k".repeat(32))),
                &[],
            ),
            ("empty issuer", |c| c.auth.issuer = " ".into(), &["auth.issuer"]),
            (
                "empty audience",
                |c| c.auth.audience = String::new(),
                &["auth.audience"],
            ),
            (
                "jwks url not http",
                |c| c.auth.jwks_url = Some("ftp://idp".into()),
                &["auth.jwks_url"],
            ),
            (
                "otlp endpoint not a URL",
                |c| c.telemetry.otlp_endpoint = Some("collector:4317".into()),
                &["telemetry.otlp_endpoint"],
            ),
            (
                "service endpoint not a URL",
                |c| c.services.erp = Some("erp:50051".into()),
                &["services.erp"],
            ),
            (
                "zero call timeout",
                |c| c.services.call_timeout_ms = 0,
                &["services.call_timeout_ms"],
            ),
            (
                "zero relay interval",
                |c| c.events.relay_interval_ms = 0,
                &["events.relay_interval_ms"],
            ),
            (
                "zero outbox retention",
                |c| c.events.outbox_retention_days = 0,
                &["events.outbox_retention_days"],
            ),
            (
                "stream prefix with dot",
                |c| c.events.stream_prefix = "KEEL.X".into(),
                &["events.stream_prefix"],
            ),
            (
                "subject prefix wildcard",
                |c| c.events.subject_prefix = "keel.*".into(),
                &["events.subject_prefix"],
            ),
            (
                "zero grpc message size",
                |c| c.limits.grpc_max_message_bytes = 0,
                &["limits.grpc_max_message_bytes"],
            ),
            (
                "zero body size",
                |c| c.limits.http_max_body_bytes = 0,
                &["limits.http_max_body_bytes"],
            ),
            (
                "zero depth",
                |c| c.limits.graphql_max_depth = 0,
                &["limits.graphql_max_depth"],
            ),
            (
                "zero complexity",
                |c| c.limits.graphql_max_complexity = 0,
                &["limits.graphql_max_complexity"],
            ),
        ];
        for (name, edit, expected) in cases {
            let mut config = KeelConfig::default();
            edit(&mut config);
            assert_eq!(keys_of(&config), expected, "case: {name}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_without_echoing_the_database_url() {
        let mut config = KeelConfig::default();
        config.database.url = Some(Secret::new("mysql://root:hunter2@db".into()));
        config.database.max_connections = 0;
        config.limits.graphql_max_depth = 0;
        let error = config.validate().unwrap_err();
        assert_eq!(
            error.keys(),
            ["database.url", "database.max_connections", "limits.graphql_max_depth"]
        );
        let message = error.to_string();
        assert!(
            message.contains("`database.url`: must start with postgres://"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}
