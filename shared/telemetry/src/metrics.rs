//! Keel's Prometheus metrics: one registry, the platform's counters, histogram and gauge, and
//! their text exposition for `/metrics`.
//!
//! Label values must come from small sets (route templates, event types, workflow names), never
//! from ids or raw request paths.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus scrapes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Most distinct gRPC (service, method) pairs given their own labels; later ones count as `other`,
/// so a client calling made-up methods cannot grow the registry without bound.
const MAX_GRPC_ROUTES: usize = 512;

/// Upper bounds of the RPC duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcRequestLabels {
    service: String,
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcRouteLabels {
    service: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRequestLabels {
    path: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumedEventLabels {
    event_type: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowExceptionLabels {
    workflow: String,
    reason: String,
}

type DurationFamily = Family<GrpcRouteLabels, Histogram, fn() -> Histogram>;

/// Keel's metrics. Cheap to clone (an `Arc` inside): every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    grpc_requests: Family<GrpcRequestLabels, Counter>,
    grpc_request_duration: DurationFamily,
    http_requests: Family<HttpRequestLabels, Counter>,
    events_published: Family<EventLabels, Counter>,
    events_consumed: Family<ConsumedEventLabels, Counter>,
    workflow_exceptions: Family<WorkflowExceptionLabels, Counter>,
    outbox_pending: Gauge,
    grpc_routes: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry holding Keel's metrics.
    pub fn new() -> Self {
        Self::with_registry(Registry::default())
    }

    /// Adds Keel's metrics to `registry`, which may already hold others (e.g. workflow KPIs).
    pub fn with_registry(mut registry: Registry) -> Self {
        let grpc_requests = Family::<GrpcRequestLabels, Counter>::default();
        registry.register(
            "keel_grpc_requests",
            "gRPC requests served, by service, method and gRPC status code",
            grpc_requests.clone(),
        );
        let grpc_request_duration: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS.iter().copied()));
        registry.register_with_unit(
            "keel_grpc_request_duration",
            "Time to answer a gRPC request (until response headers), by service and method",
            Unit::Seconds,
            grpc_request_duration.clone(),
        );
        let http_requests = Family::<HttpRequestLabels, Counter>::default();
        registry.register(
            "keel_http_requests",
            "HTTP requests served, by route and status",
            http_requests.clone(),
        );
        let events_published = Family::<EventLabels, Counter>::default();
        registry.register(
            "keel_events_published",
            "Events published to the bus, by event type",
            events_published.clone(),
        );
        let events_consumed = Family::<ConsumedEventLabels, Counter>::default();
        registry.register(
            "keel_events_consumed",
            "Events handled by consumers, by event type and outcome",
            events_consumed.clone(),
        );
        let workflow_exceptions = Family::<WorkflowExceptionLabels, Counter>::default();
        registry.register(
            "keel_workflow_exceptions",
            "Workflow instances moved to the exception queue, by workflow and reason",
            workflow_exceptions.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "keel_outbox_pending",
            "Events written to the outbox and not yet relayed to the bus",
            outbox_pending.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                grpc_requests,
                grpc_request_duration,
                http_requests,
                events_published,
                events_consumed,
                workflow_exceptions,
                outbox_pending,
                grpc_routes: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Records one answered gRPC request: `service` is the full service name
    /// (`keel.crm.v1.CrmService`), `code` the gRPC status code (0 for OK).
    pub fn record_grpc_request(&self, service: &str, method: &str, code: i32, duration: Duration) {
        let (service, method) = self.bounded_route(service, method);
        self.inner
            .grpc_requests
            .get_or_create(&GrpcRequestLabels {
                service: service.clone(),
                method: method.clone(),
                code: code.to_string(),
            })
            .inc();
        self.inner
            .grpc_request_duration
            .get_or_create(&GrpcRouteLabels { service, method })
            .observe(duration.as_secs_f64());
    }

    /// Records one answered HTTP request. `path` is the route template (`/graphql`, `/metrics`),
    /// not the raw path.
    pub fn record_http_request(&self, path: &str, status: u16) {
        self.inner
            .http_requests
            .get_or_create(&HttpRequestLabels {
                path: path.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Records one event published to the bus, e.g. `crm.opportunity.won`.
    pub fn record_event_published(&self, event_type: &str) {
        self.inner
            .events_published
            .get_or_create(&EventLabels {
                event_type: event_type.to_owned(),
            })
            .inc();
    }

    /// Records one event handled by a consumer. `outcome` is one of a few fixed words, by
    /// convention `processed`, `duplicate`, `retry` or `failed`.
    pub fn record_event_consumed(&self, event_type: &str, outcome: &str) {
        self.inner
            .events_consumed
            .get_or_create(&ConsumedEventLabels {
                event_type: event_type.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records one workflow instance entering the exception queue, e.g. (`project-setup`,
    /// `erp_unavailable`).
    pub fn record_workflow_exception(&self, workflow: &str, reason: &str) {
        self.inner
            .workflow_exceptions
            .get_or_create(&WorkflowExceptionLabels {
                workflow: workflow.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Sets the number of outbox events not yet relayed.
    pub fn set_outbox_pending(&self, pending: i64) {
        self.inner.outbox_pending.set(pending);
    }

    /// Every metric in the text exposition format (OpenMetrics, ending in `# EOF`); serve it with
    /// [`METRICS_CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }

    /// The labels to record `(service, method)` under: itself while fewer than
    /// [`MAX_GRPC_ROUTES`] routes are known, `other` past that.
    fn bounded_route(&self, service: &str, method: &str) -> (String, String) {
        let route = (service.to_owned(), method.to_owned());
        let mut routes = self
            .inner
            .grpc_routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if routes.contains(&route) {
            return route;
        }
        if routes.len() < MAX_GRPC_ROUTES {
            routes.insert(route.clone());
            return route;
        }
        ("other".to_owned(), "other".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_shows_every_recorded_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.record_grpc_request("keel.crm.v1.CrmService", "GetAccount", 0, Duration::from_millis(3));
        metrics.record_grpc_request("keel.crm.v1.CrmService", "GetAccount", 0, Duration::from_millis(40));
        metrics.record_grpc_request("keel.erp.v1.ErpService", "PostTimeEntries", 14, Duration::from_secs(2));
        metrics.record_http_request("/graphql", 200);
        metrics.record_event_published("crm.opportunity.won");
        metrics.record_event_consumed("crm.opportunity.won", "duplicate");
        metrics.record_workflow_exception("project-setup", "erp_unavailable");
        metrics.set_outbox_pending(7);

        let text = metrics.clone().encode();
        let expected_lines = [
            r#"keel_grpc_requests_total{service="keel.crm.v1.CrmService",method="GetAccount",code="0"} 2"#,
            r#"keel_grpc_requests_total{service="keel.erp.v1.ErpService",method="PostTimeEntries",code="14"} 1"#,
            r#"keel_grpc_request_duration_seconds_count{service="keel.crm.v1.CrmService",method="GetAccount"} 2"#,
            r#"keel_grpc_request_duration_seconds_bucket{le="0.005",service="keel.crm.v1.CrmService",method="GetAccount"} 1"#,
            r#"keel_http_requests_total{path="/graphql",status="200"} 1"#,
            r#"keel_events_published_total{event_type="crm.opportunity.won"} 1"#,
            r#"keel_events_consumed_total{event_type="crm.opportunity.won",outcome="duplicate"} 1"#,
            r#"keel_workflow_exceptions_total{workflow="project-setup",reason="erp_unavailable"} 1"#,
            "keel_outbox_pending 7",
            "# TYPE keel_grpc_requests counter",
            "# UNIT keel_grpc_request_duration_seconds seconds",
            "# EOF",
        ];
        for line in expected_lines {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "missing `{line}` in:\n{text}"
            );
        }
    }

    #[test]
    fn grpc_routes_past_the_cap_are_counted_as_other() {
        let metrics = Metrics::new();
        for index in 0..MAX_GRPC_ROUTES {
            metrics.record_grpc_request("keel.Svc", &format!("M{index}"), 0, Duration::ZERO);
        }
        metrics.record_grpc_request("keel.Svc", "OneTooMany", 12, Duration::ZERO);
        metrics.record_grpc_request("keel.Svc", "M0", 0, Duration::ZERO);
        let text = metrics.encode();
        assert!(text.contains(r#"keel_grpc_requests_total{service="other",method="other",code="12"} 1"#));
        assert!(text.contains(r#"keel_grpc_requests_total{service="keel.Svc",method="M0",code="0"} 2"#));
        assert!(!text.contains("OneTooMany"));
    }
}
