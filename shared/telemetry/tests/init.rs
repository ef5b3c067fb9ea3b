//! Installing the global subscriber (its own test binary: it changes process-wide state).

use keel_telemetry::{LogFormat, TelemetryInit, init};

fn settings(otlp_endpoint: Option<&str>) -> TelemetryInit {
    TelemetryInit {
        format: LogFormat::Json,
        filter: "info,keel=debug".to_owned(),
        otlp_endpoint: otlp_endpoint.map(str::to_owned),
        service_name: "keel-test".to_owned(),
    }
}

#[test]
fn otlp_export_outside_a_tokio_runtime_is_a_clear_error() {
    let error = init(&settings(Some("http://127.0.0.1:4317"))).unwrap_err();
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}

#[test]
fn an_invalid_filter_is_an_error_naming_it() {
    if std::env::var_os("RUST_LOG").is_some() {
        return; // RUST_LOG replaces the configured filter
    }
    let mut bad = settings(None);
    bad.filter = "keel=loud".to_owned();
    let error = init(&bad).unwrap_err();
    assert!(error.to_string().contains("telemetry.filter `keel=loud`"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_init_installs_and_a_second_is_harmless() {
    // Nothing listens on port 1: export fails, and shutting down must still return promptly.
    let first = init(&settings(Some("http://127.0.0.1:1"))).unwrap();
    assert!(first.is_active());
    tracing::info_span!("keel.test.span").in_scope(|| tracing::info!(answer = 42, "inside a span"));

    let second = init(&settings(None)).unwrap();
    assert!(!second.is_active());

    let started = std::time::Instant::now();
    drop(second);
    drop(first);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}
