//! The delivery-health process API (`keel.health.v1`): a project's health computed from its
//! records, never picked by hand, under the firm's versioned delivery-health policy; alerts to
//! the project manager and finance, one open per project and kind with the numbers that raised
//! it; and notifications, stored, broadcast, and sent to a signed outbound webhook.
//!
//! - [`policy`]: [`HealthPolicy`], the versioned file `config/policies/delivery-health.toml`.
//! - [`health`]: the pure evaluation, facts + policy → [`health::ProjectHealth`].
//! - [`clients`]: PSA, ERP and support over gRPC, and the gathering of a project's facts.
//! - [`evaluator`]: [`Evaluator`], evaluate-and-store, one project or a sweep of all.
//! - [`alerts`]: the alert table, deduplicated per project and kind, audited.
//! - [`insight`]: the margin forecast at completion (a forecast below the floor is the
//!   `MARGIN_EROSION` alert) and the time-entry anomaly flags the project's manager reviews,
//!   each behind the firm's `[insight]` switch, every output recorded.
//! - [`notifications`]: [`Notifier`] (store, broadcast, approval requests) and the outbound
//!   webhook [`WebhookDelivery`].
//! - [`consumer`]: [`HealthTrigger`], the events that re-evaluate a project.
//! - [`service`]: the gRPC service.
//! - [`Migrator`]: the platform tables, the inbox and delivery health's own tables.
//!
//! It owns evaluations, alerts and notifications, never a system's records: it reads PSA, ERP
//! and support only through their gRPC APIs, as the `service` role.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod clients;
pub mod consumer;
pub mod evaluator;
pub mod health;
pub mod insight;
pub mod migrations;
pub mod notifications;
pub mod policy;
pub mod service;

pub use clients::Downstream;
pub use consumer::HealthTrigger;
pub use evaluator::Evaluator;
pub use insight::InsightSettings;
pub use migrations::Migrator;
pub use notifications::approvals::{ApprovalFeed, ApprovalSource};
pub use notifications::{ApprovalRequest, Notifier, WebhookDelivery, WebhookSettings};
pub use policy::HealthPolicy;
pub use service::DeliveryHealthGrpcService;

/// The service name used in audit entries, events and configuration.
pub const SERVICE_NAME: &str = "delivery-health";

/// How often the sweep re-evaluates every active project when the platform does not say:
/// lateness grows with time alone, without any event.
pub const DEFAULT_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Starts delivery health's background work: the periodic sweep and, when a webhook is
/// configured, its delivery worker. Both stop when `cancel` fires.
pub fn spawn_background(
    evaluator: Evaluator,
    webhook: Option<WebhookDelivery>,
    sweep_every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(evaluator.run_sweeps(sweep_every, cancel.clone()))];
    if let Some(webhook) = webhook {
        tasks.push(tokio::spawn(webhook.run(cancel)));
    }
    tasks
}
