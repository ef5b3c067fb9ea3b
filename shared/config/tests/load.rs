//! Loading through every layer, as the `keel` binary does: file, environment, overrides.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keel_config::{AuthMode, ConfigError, ConfigOrigin, JwtAlgorithm, KeelConfig, LogFormat, Overrides};

/// A `keel.toml` in a fresh temporary directory.
struct ConfigFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ConfigFile {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(&path, text).unwrap();
        Self { _dir: dir, path }
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

#[test]
fn no_layers_give_the_valid_defaults() {
    let config = KeelConfig::load(None, &no_env(), &Overrides::new()).unwrap();
    assert_eq!(config.server.grpc_addr.to_string(), "127.0.0.1:50051");
    assert_eq!(config.server.http_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.data_dir, Path::new("./keel-data"));
    assert_eq!(config.server.shutdown_grace_seconds, 20);
    assert!(config.database.url.is_none());
    assert_eq!(config.database.max_connections, 10);
    assert_eq!(config.database.schema_prefix, "keel_");
    assert!(config.events.nats_url.is_none());
    assert_eq!(config.events.stream_prefix, "KEEL");
    assert_eq!(config.events.subject_prefix, "keel");
    assert_eq!(config.events.relay_interval_ms, 200);
    assert_eq!(config.events.outbox_retention_days, 30);
    assert_eq!(config.auth.mode, AuthMode::Local);
    assert_eq!(config.auth.algorithm, JwtAlgorithm::Hs256);
    assert_eq!(config.auth.issuer, "keel-local");
    assert_eq!(config.auth.audience, "keel");
    assert_eq!(config.auth.leeway_seconds, 30);
    assert_eq!(config.telemetry.format, LogFormat::Pretty);
    assert_eq!(config.telemetry.filter, "warn,keel=info");
    assert_eq!(config.telemetry.service_name, "keel");
    assert_eq!(config.services.call_timeout_ms, 5000);
    assert_eq!(config.limits.grpc_max_message_bytes, 4_194_304);
    assert_eq!(config.limits.idempotency_retention_days, 30);
    assert_eq!(config.adapters.erp, "reference");
    assert_eq!(config.limits.http_max_body_bytes, 65_536);
    assert_eq!(config.limits.graphql_max_depth, 10);
    assert_eq!(config.limits.graphql_max_complexity, 500);
    assert_eq!(config.limits.graphql_introspection, None, "decided by how Keel runs");
    assert_eq!(config.templates.dir, Path::new("config/templates"));
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let file = ConfigFile::new("");
    let config = KeelConfig::load(file.path(), &no_env(), &Overrides::new()).unwrap();
    assert_eq!(config.server.grpc_addr.to_string(), "127.0.0.1:50051");
}

/// One key set in up to three layers; the highest layer present must win.
#[test]
fn each_layer_overrides_the_one_below() {
    let file = ConfigFile::new(
        r#"
        [server]
        grpc_addr = "127.0.0.1:7001"
        data_dir = "/var/lib/keel"

        [limits]
        graphql_max_depth = 7
        graphql_introspection = false

        [telemetry]
        format = "json"
        "#,
    );
    let env = env(&[
        ("KEEL__SERVER__GRPC_ADDR", "127.0.0.1:7002"),
        ("KEEL__LIMITS__GRAPHQL_MAX_DEPTH", "9"),
        ("KEEL__LIMITS__GRAPHQL_INTROSPECTION", "true"),
        ("KEEL__SERVER__HTTP_ADDR", "127.0.0.1:9090"),
        ("UNRELATED", "ignored"),
        ("KEEL_SINGLE_UNDERSCORE", "ignored"),
    ]);
    let overrides = Overrides::new().set("limits.graphql_max_depth", "11");

    let file_only = KeelConfig::load(file.path(), &no_env(), &Overrides::new()).unwrap();
    assert_eq!(file_only.server.grpc_addr.port(), 7001, "file overrides defaults");
    assert_eq!(file_only.server.data_dir, Path::new("/var/lib/keel"));
    assert_eq!(file_only.limits.graphql_max_depth, 7);
    assert_eq!(file_only.limits.graphql_introspection, Some(false));
    assert_eq!(file_only.telemetry.format, LogFormat::Json);
    assert_eq!(
        file_only.server.http_addr.port(),
        8080,
        "keys absent from the file keep their default"
    );

    let with_env = KeelConfig::load(file.path(), &env, &Overrides::new()).unwrap();
    assert_eq!(
        with_env.server.grpc_addr.port(),
        7002,
        "env overrides file (key with an underscore)"
    );
    assert_eq!(with_env.server.http_addr.port(), 9090);
    assert_eq!(with_env.limits.graphql_max_depth, 9);
    assert_eq!(
        with_env.limits.graphql_introspection,
        Some(true),
        "env text `true` becomes a bool"
    );
    assert_eq!(
        with_env.server.data_dir,
        Path::new("/var/lib/keel"),
        "file keys env does not set stay"
    );

    let with_overrides = KeelConfig::load(file.path(), &env, &overrides).unwrap();
    assert_eq!(with_overrides.limits.graphql_max_depth, 11, "overrides override env");
    assert_eq!(with_overrides.server.grpc_addr.port(), 7002);
}

#[test]
fn secrets_and_options_load_from_the_environment() {
    let env = env(&[
        ("KEEL__DATABASE__URL", "postgres://keel:hunter2@db:5432/keel"),
        ("KEEL__AUTH__LOCAL_KEY", "0123456789abcdef0123456789abcdef"),
        ("KEEL__EVENTS__NATS_URL", "nats://127.0.0.1:4222"),
        ("KEEL__SERVICES__PROJECT_SETUP", "http://keel-project-setup:50051"),
    ]);
    let config = KeelConfig::load(None, &env, &Overrides::new()).unwrap();
    assert_eq!(
        config.database.url.as_ref().unwrap().expose(),
        "postgres://keel:hunter2@db:5432/keel"
    );
    assert_eq!(config.auth.local_key.as_ref().unwrap().expose().len(), 32);
    assert_eq!(config.events.nats_url.as_deref(), Some("nats://127.0.0.1:4222"));
    assert_eq!(
        config.services.project_setup.as_deref(),
        Some("http://keel-project-setup:50051")
    );
}

#[test]
fn debug_of_a_config_never_shows_secret_values() {
    let file = ConfigFile::new(
        r#"
        [database]
        url = "postgres://keel:file-password@db/keel"
        [auth]
        mode = "jwks"
        algorithm = "RS256"
        jwks_url = "https://idp.example.com/.well-known/jwks.json"
        local_key = "a-local-signing-key-of-at-least-32-bytes"
        service_token = "eyJhbGciOiJSUzI1NiJ9.service.token"
        "#,
    );
    let config = KeelConfig::load(file.path(), &no_env(), &Overrides::new()).unwrap();
    let debug = format!("{config:?} {config:#?}");
    for secret in ["file-password", "a-local-signing-key", "service.token"] {
        assert!(!debug.contains(secret), "Debug leaks {secret}: {debug}");
    }
    assert!(debug.contains("url: Some(***)"), "{debug}");
}

/// Expects a `ConfigError::Value` and returns (origin, key, message).
fn value_error(result: Result<KeelConfig, ConfigError>) -> (ConfigOrigin, String, String) {
    match result {
        Err(error @ ConfigError::Value { .. }) => {
            let message = error.to_string();
            let ConfigError::Value { origin, key, .. } = error else {
                unreachable!()
            };
            (origin, key, message)
        }
        other => panic!("expected a value error, got {other:?}"),
    }
}

#[test]
fn bad_values_in_the_file_name_the_file_the_key_and_the_problem() {
    let cases = [
        // (file text, key, words the message must contain)
        (
            "[server]\ngrpc_adr = \"127.0.0.1:1\"",
            "server.grpc_adr",
            vec!["unknown key", "grpc_addr"],
        ),
        (
            "[serverr]\ngrpc_addr = \"127.0.0.1:1\"",
            "serverr",
            vec!["unknown key", "server"],
        ),
        (
            "[server]\ngrpc_addr = \"localhost-50051\"",
            "server.grpc_addr",
            vec!["invalid socket address", "localhost-50051"],
        ),
        (
            "[database]\nmax_connections = \"ten\"",
            "database.max_connections",
            vec!["invalid type", "ten"],
        ),
        (
            "[auth]\nmode = \"oauth\"",
            "auth.mode",
            vec!["`local`, `jwks`", "oauth"],
        ),
        (
            "[telemetry]\nformat = \"xml\"",
            "telemetry.format",
            vec!["`pretty`, `json`"],
        ),
        (
            "[limits]\ngraphql_introspection = \"maybe\"",
            "limits.graphql_introspection",
            vec!["maybe"],
        ),
    ];
    for (text, expected_key, words) in cases {
        let file = ConfigFile::new(text);
        let (origin, key, message) = value_error(KeelConfig::load(file.path(), &no_env(), &Overrides::new()));
        assert_eq!(key, expected_key, "{text}");
        assert_eq!(origin, ConfigOrigin::File(file.path.clone()), "{text}");
        assert!(message.contains(&format!("`{expected_key}`")), "{message}");
        assert!(message.contains(&file.path.display().to_string()), "{message}");
        for word in words {
            assert!(message.contains(word), "`{word}` missing from: {message}");
        }
    }
}

#[test]
fn bad_values_in_the_environment_name_the_variable() {
    let cases = [
        ("KEEL__SERVER__GRPC_ADDR", "not-an-address", "server.grpc_addr"),
        ("KEEL__SERVER__GRPC_ADR", "127.0.0.1:1", "server.grpc_adr"),
        ("KEEL__DATABSE__URL", "postgres://db", "databse"),
    ];
    for (variable, value, expected_key) in cases {
        let (origin, key, message) = value_error(KeelConfig::load(None, &env(&[(variable, value)]), &Overrides::new()));
        assert_eq!(key, expected_key);
        let expected_variable = variable;
        assert_eq!(
            origin,
            ConfigOrigin::Environment {
                variable: expected_variable.to_owned()
            }
        );
        assert!(
            message.contains(&format!("environment variable {expected_variable}")),
            "{message}"
        );
    }
}

#[test]
fn a_bad_override_names_the_override() {
    let overrides = Overrides::new().set("server.http_addr", "nowhere");
    let (origin, key, message) = value_error(KeelConfig::load(None, &no_env(), &overrides));
    assert_eq!((origin, key.as_str()), (ConfigOrigin::Override, "server.http_addr"));
    assert!(message.contains("command-line override"), "{message}");
}

#[test]
fn a_bad_postgres_url_names_database_url_and_its_file_without_echoing_it() {
    let file = ConfigFile::new("[database]\nurl = \"mysql://root:hunter2@db/keel\"\nmax_connections = 0");
    let error = KeelConfig::load(file.path(), &no_env(), &Overrides::new()).unwrap_err();
    let ConfigError::Invalid { problems } = &error else {
        panic!("expected validation problems, got {error}");
    };
    assert_eq!(error.keys(), ["database.url", "database.max_connections"]);
    assert_eq!(problems[0].origin, Some(ConfigOrigin::File(file.path.clone())));
    let message = error.to_string();
    assert!(message.contains("`database.url`"), "{message}");
    assert!(message.contains("postgres://"), "{message}");
    assert!(message.contains(&file.path.display().to_string()), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn validation_names_the_environment_variable_and_leaves_defaults_unattributed() {
    let env = env(&[("KEEL__AUTH__MODE", "jwks")]);
    let error = KeelConfig::load(None, &env, &Overrides::new()).unwrap_err();
    let ConfigError::Invalid { problems } = &error else {
        panic!("expected validation problems, got {error}");
    };
    assert_eq!(error.keys(), ["auth.jwks_url", "auth.algorithm"]);
    assert_eq!(problems[0].origin, None, "jwks_url was set by no layer");
    assert_eq!(problems[1].origin, None, "algorithm is the HS256 default");
}

#[test]
fn an_unreadable_or_malformed_file_names_the_file() {
    let missing = PathBuf::from("/nonexistent/keel.toml");
    match KeelConfig::load(Some(&missing), &no_env(), &Overrides::new()) {
        Err(ConfigError::File { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a file error, got {other:?}"),
    }

    let file = ConfigFile::new("[server\ngrpc_addr = 1");
    let error = KeelConfig::load(file.path(), &no_env(), &Overrides::new()).unwrap_err();
    assert!(matches!(error, ConfigError::File { .. }), "{error}");
    assert!(error.to_string().contains(&file.path.display().to_string()), "{error}");
}

#[test]
fn loading_from_the_process_environment_still_lets_overrides_win() {
    let overrides = Overrides::new().set("server.grpc_addr", "127.0.0.1:6553");
    let config = KeelConfig::load_from_process_env(None, &overrides).unwrap();
    assert_eq!(config.server.grpc_addr.port(), 6553);
}
