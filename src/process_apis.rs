//! The process APIs on the workflow engine, wired into a target: each gets its store, its
//! downstream channels and service credentials, its event consumers and its gRPC service, and
//! hands its engine back so the platform runs it and serves one workflow admin over them all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keel_auth::LocalKey;
use keel_config::{KeelConfig, ServiceName};
use keel_events::Bus;
use keel_workflow::{Engine, EngineOptions};
use tonic::service::RoutesBuilder;

use crate::platform::{Stores, channel, credentials};

/// What wiring a process API needs from the platform.
pub(crate) struct Wiring<'a> {
    pub config: &'a KeelConfig,
    pub local: Option<&'a LocalKey>,
    pub bus: &'a Arc<dyn Bus>,
    pub call_timeout: Duration,
    pub max_message: usize,
    pub routes: &'a mut RoutesBuilder,
    /// Every engine wired so far; the platform runs them and serves their admin.
    pub engines: &'a mut Vec<Engine>,
    /// The process's stores, opened together at start.
    pub stores: &'a mut Stores,
}

/// A policy file under `templates.policies_dir`: parsed and checked when present (a bad one
/// stops the start, naming the key), the built-in defaults when absent.
fn policy_file<T>(
    config: &KeelConfig,
    name: &str,
    load: impl FnOnce(&Path) -> Result<T, keel_core::Error>,
    default: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let path = config.templates.policies_dir.join(name);
    if !path.exists() {
        tracing::warn!(policy = %path.display(), "policy file not found; using the built-in defaults");
        return default();
    }
    let policy = load(&path).with_context(|| format!("loading the policy file {}", path.display()))?;
    tracing::info!(policy = %path.display(), "policy loaded");
    Ok(policy)
}

/// Project setup's insight policy (`insight.toml`): the `[insight]` switches and the template
/// recommender's confidence floor, checked at start.
pub(crate) fn insight_policy(config: &KeelConfig) -> anyhow::Result<keel_project_setup::IntakePolicy> {
    policy_file(config, "insight.toml", keel_project_setup::IntakePolicy::load, || {
        Ok(keel_project_setup::IntakePolicy::default())
    })
}

/// The executive view's policy (`executive.toml`): the time-entry compliance deadline,
/// checked at start.
pub(crate) fn executive_policy(config: &KeelConfig) -> anyhow::Result<keel_experience_executive::ExecutivePolicy> {
    policy_file(
        config,
        "executive.toml",
        keel_experience_executive::ExecutivePolicy::load,
        || Ok(keel_experience_executive::ExecutivePolicy::default()),
    )
}

/// Time capture: the `time-posting` workflow, the approved-entry consumer and its service.
pub(crate) async fn time_capture(w: &mut Wiring<'_>) -> anyhow::Result<()> {
    let policy = policy_file(
        w.config,
        "time-capture.toml",
        keel_time_capture::TimePolicy::load,
        || Ok(keel_time_capture::TimePolicy::default()),
    )?;
    let db = w.stores.take(ServiceName::TimeCapture)?;
    let downstream = keel_time_capture::Downstream::new(
        channel(w.config, ServiceName::Psa)?,
        channel(w.config, ServiceName::Erp)?,
        channel(w.config, ServiceName::Hris)?,
        credentials(w.config, w.local, keel_time_capture::SERVICE_NAME)?,
        w.call_timeout,
    );
    let engine = Engine::new(
        db,
        keel_time_capture::workflows(downstream.clone()),
        EngineOptions::default(),
    );
    let consumer = Arc::new(keel_time_capture::TimeEntryApprovedConsumer::new(engine.clone()));
    w.bus
        .subscribe(keel_time_capture::TimeEntryApprovedConsumer::subscription(), consumer)
        .await
        .context("subscribing time capture to psa.time_entry.approved")?;
    let expenses = Arc::new(keel_time_capture::ExpenseApprovedConsumer::new(engine.clone()));
    w.bus
        .subscribe(keel_time_capture::ExpenseApprovedConsumer::subscription(), expenses)
        .await
        .context("subscribing time capture to psa.expense.approved")?;
    let service = keel_time_capture::service::server(engine.clone(), downstream, policy);
    w.routes.add_service(service.max_decoding_message_size(w.max_message));
    w.engines.push(engine);
    Ok(())
}

/// Staffing: the `staffing` workflow under the staffing policy, the opened-request consumer,
/// staffing risk (under `insight.staffing_risk` of `insight.toml`) and its filled-request
/// consumer, and the service.
pub(crate) async fn staffing(w: &mut Wiring<'_>) -> anyhow::Result<()> {
    let policy = policy_file(w.config, "staffing.toml", keel_staffing::StaffingPolicy::load, || {
        Ok(keel_staffing::StaffingPolicy::default())
    })?;
    let db = w.stores.take(ServiceName::Staffing)?;
    let downstream = keel_staffing::Downstream::new(
        channel(w.config, ServiceName::Psa)?,
        channel(w.config, ServiceName::Hris)?,
        credentials(w.config, w.local, keel_staffing::SERVICE_NAME)?,
        w.call_timeout,
    );
    let switches = policy_file(w.config, "insight.toml", keel_staffing::InsightSwitches::load, || {
        Ok(keel_staffing::InsightSwitches::default())
    })?;
    let risks = keel_staffing::Risks::new(downstream.clone(), switches, policy.critical_skill_proficiency);
    let workflow = Arc::new(keel_staffing::Staffing::new(downstream, Arc::new(policy)));
    let engine = Engine::new(db, vec![workflow.clone()], EngineOptions::default());
    let consumer = Arc::new(keel_staffing::ResourceRequestOpenedConsumer::new(
        engine.clone(),
        workflow.clone(),
    ));
    w.bus
        .subscribe(keel_staffing::ResourceRequestOpenedConsumer::subscription(), consumer)
        .await
        .context("subscribing staffing to psa.resource_request.opened")?;
    let filled = Arc::new(keel_staffing::ResourceRequestFilledConsumer::new(
        engine.clone(),
        risks.clone(),
    ));
    w.bus
        .subscribe(keel_staffing::ResourceRequestFilledConsumer::subscription(), filled)
        .await
        .context("subscribing staffing risk to psa.resource_request.filled")?;
    w.routes.add_service(
        keel_staffing::service::server(engine.clone(), workflow, risks).max_decoding_message_size(w.max_message),
    );
    w.engines.push(engine);
    Ok(())
}

/// Billing: `billing-readiness`, `reconciliation` and `reconciliation-difference`, the
/// milestone-reached consumer and its service.
pub(crate) async fn billing(w: &mut Wiring<'_>) -> anyhow::Result<()> {
    let db = w.stores.take(ServiceName::Billing)?;
    let downstream = keel_billing::Downstream::new(
        channel(w.config, ServiceName::Psa)?,
        channel(w.config, ServiceName::Erp)?,
        credentials(w.config, w.local, keel_billing::SERVICE_NAME)?,
        w.call_timeout,
    );
    let engine = Engine::new(
        db.clone(),
        keel_billing::workflows(downstream.clone(), db),
        EngineOptions::default(),
    );
    let consumer = Arc::new(keel_billing::MilestoneReachedConsumer::new(
        engine.clone(),
        downstream.clone(),
    ));
    w.bus
        .subscribe(keel_billing::MilestoneReachedConsumer::subscription(), consumer)
        .await
        .context("subscribing billing to erp.milestone.reached")?;
    w.routes.add_service(
        keel_billing::service::server(engine.clone(), downstream).max_decoding_message_size(w.max_message),
    );
    w.engines.push(engine);
    Ok(())
}

/// Delivery health: the evaluator under the delivery-health policy, its triggers, its periodic
/// sweep, the approval feed and the notifications webhook, with the `[insight]` switches of
/// `insight.toml` for its margin forecast and time-entry anomalies. It runs no engine: an evaluation writes to no system.
pub(crate) async fn delivery_health(
    w: &mut Wiring<'_>,
    background: &mut Vec<tokio::task::JoinHandle<()>>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let policy = policy_file(
        w.config,
        "delivery-health.toml",
        |path| {
            keel_delivery_health::HealthPolicy::load(path)
                .map_err(|e| keel_core::Error::invalid("policy", e.to_string()))
        },
        || keel_delivery_health::HealthPolicy::shipped().context("the built-in delivery-health policy"),
    )?;
    let webhook = &w.config.notifications.webhook;
    let settings = keel_delivery_health::WebhookSettings {
        url: webhook.url.clone(),
        secret: webhook.secret.clone().unwrap_or_default(),
        ..Default::default()
    };
    let db = w.stores.take(ServiceName::DeliveryHealth)?;
    let delivery =
        keel_delivery_health::WebhookDelivery::new(db.clone(), settings.clone()).context("notifications.webhook")?;
    let downstream = keel_delivery_health::Downstream::new(
        channel(w.config, ServiceName::Psa)?,
        channel(w.config, ServiceName::Erp)?,
        channel(w.config, ServiceName::Support)?,
        credentials(w.config, w.local, keel_delivery_health::SERVICE_NAME)?,
        w.call_timeout,
    );
    let notifier = keel_delivery_health::Notifier::new(settings.enabled());
    // The decisions waiting in the process APIs that run workflows, read through their
    // workflow admin (once per address: embedded, one admin serves every engine) and
    // notified like alerts.
    let mut sources: Vec<keel_delivery_health::ApprovalSource> = Vec::new();
    let mut addresses = std::collections::HashSet::new();
    for &service in crate::platform::WORKFLOW_SERVICES {
        if addresses.insert(w.config.endpoint_for(service)) {
            sources.push(keel_delivery_health::ApprovalSource {
                name: service.to_string(),
                channel: channel(w.config, service)?,
            });
        }
    }
    let feed = keel_delivery_health::ApprovalFeed::new(
        db.clone(),
        notifier.clone(),
        sources,
        credentials(w.config, w.local, keel_delivery_health::SERVICE_NAME)?,
        w.call_timeout,
    );
    background.push(tokio::spawn(feed.run(
        keel_delivery_health::notifications::approvals::DEFAULT_POLL_INTERVAL,
        shutdown.clone(),
    )));
    // The margin forecast and time-entry anomalies run under the firm's `[insight]` switches.
    let insight = insight_policy(w.config)?;
    let evaluator = keel_delivery_health::Evaluator::new(db, downstream, policy, notifier).with_insight(
        keel_delivery_health::InsightSettings {
            switches: insight.insight,
            version: insight.version,
        },
    );
    w.bus
        .subscribe(
            keel_delivery_health::HealthTrigger::subscription(),
            Arc::new(keel_delivery_health::HealthTrigger::new(evaluator.clone())),
        )
        .await
        .context("subscribing delivery health to project changes")?;
    w.routes
        .add_service(keel_delivery_health::service::server(evaluator.clone()).max_decoding_message_size(w.max_message));
    background.extend(keel_delivery_health::spawn_background(
        evaluator,
        delivery,
        keel_delivery_health::DEFAULT_SWEEP_INTERVAL,
        shutdown,
    ));
    Ok(())
}

/// Change orders: the `change-order` saga over ERP, documents and PSA, the approved-request
/// consumer and its service.
pub(crate) async fn change_orders(w: &mut Wiring<'_>) -> anyhow::Result<()> {
    let db = w.stores.take(ServiceName::ChangeOrders)?;
    let downstream = keel_change_orders::Downstream::new(
        channel(w.config, ServiceName::Psa)?,
        channel(w.config, ServiceName::Erp)?,
        channel(w.config, ServiceName::Documents)?,
        credentials(w.config, w.local, keel_change_orders::SERVICE_NAME)?,
        w.call_timeout,
    );
    let engine = Engine::new(
        db,
        keel_change_orders::workflows(downstream.clone()),
        EngineOptions::default(),
    );
    let consumer = Arc::new(keel_change_orders::ChangeRequestApprovedConsumer::new(engine.clone()));
    w.bus
        .subscribe(
            keel_change_orders::ChangeRequestApprovedConsumer::subscription(),
            consumer,
        )
        .await
        .context("subscribing change orders to psa.change_request.approved")?;
    w.routes
        .add_service(keel_change_orders::server(engine.clone(), downstream).max_decoding_message_size(w.max_message));
    w.engines.push(engine);
    Ok(())
}

/// The process APIs whose workflow admin the close-out asks for the exceptions a project
/// raised (each keyed by one of the project's records), one per distinct endpoint: in `keel up`
/// they are all this process, whose one admin answers for every engine.
const EXCEPTION_SOURCES: [ServiceName; 4] = [
    ServiceName::TimeCapture,
    ServiceName::Staffing,
    ServiceName::Billing,
    ServiceName::ChangeOrders,
];

/// Close-out: the `close-out` workflow under the close-out policy, the invoice-issued consumer
/// and its service.
pub(crate) async fn close_out(w: &mut Wiring<'_>) -> anyhow::Result<()> {
    let policy = Arc::new(policy_file(
        w.config,
        "close-out.toml",
        keel_close_out::CloseOutPolicy::load,
        || Ok(keel_close_out::CloseOutPolicy::default()),
    )?);
    let db = w.stores.take(ServiceName::CloseOut)?;
    let mut admins: Vec<(String, tonic::transport::Channel)> = Vec::new();
    let mut endpoints: Vec<String> = Vec::new();
    for service in EXCEPTION_SOURCES {
        let endpoint = w.config.endpoint_for(service);
        if !endpoints.contains(&endpoint) {
            endpoints.push(endpoint);
            admins.push((service.as_str().to_string(), channel(w.config, service)?));
        }
    }
    let downstream = keel_close_out::Downstream::new(
        keel_close_out::Channels {
            psa: channel(w.config, ServiceName::Psa)?,
            erp: channel(w.config, ServiceName::Erp)?,
            collaboration: channel(w.config, ServiceName::Collaboration)?,
            documents: channel(w.config, ServiceName::Documents)?,
            admins,
        },
        credentials(w.config, w.local, keel_close_out::SERVICE_NAME)?,
        w.call_timeout,
    );
    // Its own exceptions are read from its own store: an engine with no workflows over it.
    let own_history = Engine::new(db.clone(), Vec::new(), EngineOptions::default());
    let engine = Engine::new(
        db,
        keel_close_out::workflows(downstream.clone(), policy.clone(), Some(own_history)),
        EngineOptions::default(),
    );
    let consumer = Arc::new(keel_close_out::InvoiceIssuedConsumer::new(
        engine.clone(),
        downstream.clone(),
        policy.clone(),
    ));
    w.bus
        .subscribe(keel_close_out::InvoiceIssuedConsumer::subscription(), consumer)
        .await
        .context("subscribing close-out to erp.invoice.issued")?;
    w.routes.add_service(
        keel_close_out::server(engine.clone(), downstream, policy).max_decoding_message_size(w.max_message),
    );
    w.engines.push(engine);
    Ok(())
}
