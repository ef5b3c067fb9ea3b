//! Keel's telemetry, in one place so no other crate touches global subscribers:
//!
//! - [`init`]: the `tracing` subscriber (pretty or JSON logs, `RUST_LOG` or the configured
//!   filter) bridged to OpenTelemetry, with OTLP gRPC export when an endpoint is configured.
//! - [`propagation`]: W3C trace context in and out of gRPC metadata, HTTP headers and event headers.
//! - [`GrpcTraceLayer`]: a tower layer for tonic servers, one span and one measurement per RPC.
//! - [`Metrics`]: Keel's Prometheus metrics and their text exposition.

#![forbid(unsafe_code)]

mod grpc_layer;
mod init;
mod metrics;
pub mod propagation;

pub use grpc_layer::{GrpcTraceLayer, GrpcTraceService};
pub use init::{Guard, LogFormat, TelemetryInit, init};
pub use metrics::{METRICS_CONTENT_TYPE, Metrics};
pub use propagation::{extract_grpc, extract_headers, inject_grpc, inject_headers};
