//! Installing the process-wide `tracing` subscriber and OpenTelemetry pipeline, once.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, multi-line, coloured on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What [`init`] needs to know (the telemetry section of the configuration).
#[derive(Debug, Clone)]
pub struct TelemetryInit {
    /// Log line format.
    pub format: LogFormat,
    /// `tracing` filter directives, e.g. `info,keel=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    /// OTLP gRPC endpoint for traces, e.g. `http://127.0.0.1:4317`; `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute of exported spans.
    pub service_name: String,
}

/// Keeps the tracer provider alive; dropping it flushes pending spans and shuts the exporter down.
/// Drop it at the end of `main`, while the Tokio runtime still runs.
#[must_use = "dropping the guard shuts tracing export down"]
#[derive(Debug)]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Guard {
    /// Whether this guard belongs to the `init` call that installed the subscriber (a later call
    /// gets an inactive guard).
    pub fn is_active(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("keel-telemetry: shutting the tracer provider down failed: {error}");
        }
    }
}

/// Installs the global subscriber: the filter (`RUST_LOG` if set, else `settings.filter`), a
/// pretty or JSON log layer writing to stderr, and an OpenTelemetry layer. Spans always get trace
/// ids (so context propagates); they are exported over OTLP gRPC, in batches, only when
/// `settings.otlp_endpoint` is set, which requires a Tokio runtime. Also sets the global
/// propagator to W3C TraceContext.
///
/// A second call leaves the first subscriber in place and returns an inactive guard.
pub fn init(settings: &TelemetryInit) -> anyhow::Result<Guard> {
    let filter = filter(settings)?;
    let provider = tracer_provider(settings)?;
    let tracer = provider.tracer("keel");

    let log_layer = match settings.format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .pretty()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(log_layer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();

    if installed.is_err() {
        // Another subscriber (an earlier init, a test harness) owns the process: leave it be.
        let _ = provider.shutdown();
        return Ok(Guard { provider: None });
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(Guard {
        provider: Some(provider),
    })
}

fn filter(settings: &TelemetryInit) -> anyhow::Result<EnvFilter> {
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).with_context(|| format!("RUST_LOG `{directives}` is not a valid filter"))
        }
        _ => EnvFilter::try_new(&settings.filter)
            .with_context(|| format!("telemetry.filter `{}` is not a valid filter", settings.filter)),
    }
}

fn tracer_provider(settings: &TelemetryInit) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = &settings.otlp_endpoint else {
        return Ok(builder.build());
    };
    if tokio::runtime::Handle::try_current().is_err() {
        bail!("exporting traces to {endpoint} needs a Tokio runtime: call keel_telemetry::init inside one");
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("cannot build the OTLP exporter for telemetry.otlp_endpoint `{endpoint}`"))?;
    Ok(builder.with_batch_exporter(exporter).build())
}
