//! Readiness for `/readyz`: the stores are migrated and every gRPC service the gateway
//! depends on answers the standard health check with `SERVING`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long one health check may take before its service counts as not ready.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` checks. Cheap to clone: clones share the migrated flag.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    migrated: AtomicBool,
    /// The gRPC service name (`keel.crm.v1.CrmService`) and the channel it is served on.
    checks: Vec<(String, Channel)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("migrated", &self.inner.migrated.load(Ordering::Acquire))
            .field(
                "services",
                &self.inner.checks.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Readiness {
    /// Readiness over the services in `checks`, each a gRPC service name and its channel. Not
    /// ready until [`mark_migrated`](Self::mark_migrated).
    pub fn new(checks: Vec<(String, Channel)>) -> Readiness {
        Readiness {
            inner: Arc::new(Inner {
                migrated: AtomicBool::new(false),
                checks,
            }),
        }
    }

    /// Records that the database migrations have run.
    pub fn mark_migrated(&self) {
        self.inner.migrated.store(true, Ordering::Release);
    }

    /// `Ok` when migrated and every service is `SERVING`; otherwise what is not ready, one
    /// line each (`keel.erp.v1.ErpService: NOT_SERVING`). The services are asked at once,
    /// each within [`READINESS_TIMEOUT`].
    pub async fn check(&self) -> Result<(), Vec<String>> {
        let mut not_ready = Vec::new();
        if !self.inner.migrated.load(Ordering::Acquire) {
            not_ready.push("migrations: not applied yet".to_string());
        }
        let answers = join_all(
            self.inner
                .checks
                .iter()
                .map(|(service, channel)| check_service(service, channel.clone())),
        )
        .await;
        not_ready.extend(answers.into_iter().flatten());
        if not_ready.is_empty() { Ok(()) } else { Err(not_ready) }
    }
}

/// `None` when `service` is `SERVING`; otherwise why not.
async fn check_service(service: &str, channel: Channel) -> Option<String> {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_string(),
    });
    request.set_timeout(READINESS_TIMEOUT);
    match tokio::time::timeout(READINESS_TIMEOUT, client.check(request)).await {
        Err(_elapsed) => Some(format!(
            "{service}: no health answer within {} ms",
            READINESS_TIMEOUT.as_millis()
        )),
        Ok(Err(status)) => Some(format!("{service}: health check failed ({:?})", status.code())),
        Ok(Ok(answer)) => match answer.into_inner().status() {
            ServingStatus::Serving => None,
            other => Some(format!("{service}: {}", other.as_str_name())),
        },
    }
}
