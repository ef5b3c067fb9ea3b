//! The wiring: assembles a target (every service, or one) from the crates, on the stores and
//! bus the configuration names. `keel up` and `keel run --target <service>` both come here;
//! only the set of services differs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use keel_auth::{
    GrpcAuthLayer, JwksAlgorithm, KeySource, LocalKey, Role, ServiceCredentials, Verifier, VerifierConfig,
};
use keel_config::{AuthMode, JwtAlgorithm, KeelConfig, ServiceName};
use keel_events::{Bus, InProcessBus, NatsBus, NatsOptions, Relay};
use keel_store::{DatabaseConnection, StoreOptions};
use keel_telemetry::{GrpcTraceLayer, Metrics};
use sea_orm_migration::MigratorTrait;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};

use crate::{adapters, process_apis};

/// What one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Every service (what `keel up` runs).
    All,
    Crm,
    Psa,
    Erp,
    Hris,
    Documents,
    Collaboration,
    Support,
    ProjectSetup,
    TimeCapture,
    Staffing,
    Billing,
    DeliveryHealth,
    ChangeOrders,
    CloseOut,
    /// The GraphQL gateway and its experience APIs.
    Gateway,
}

impl Target {
    fn includes(self, part: Target) -> bool {
        self == Target::All || self == part
    }

    fn serves_grpc(self) -> bool {
        self != Target::Gateway
    }

    fn serves_http(self) -> bool {
        self.includes(Target::Gateway)
    }

    /// The system and process services this target keeps a store for.
    pub fn stores(self) -> Vec<ServiceName> {
        ServiceName::ALL
            .into_iter()
            .filter(|s| self.includes(Target::from(*s)))
            .collect()
    }
}

impl From<ServiceName> for Target {
    fn from(service: ServiceName) -> Target {
        match service {
            ServiceName::Crm => Target::Crm,
            ServiceName::Psa => Target::Psa,
            ServiceName::Erp => Target::Erp,
            ServiceName::Hris => Target::Hris,
            ServiceName::Documents => Target::Documents,
            ServiceName::Collaboration => Target::Collaboration,
            ServiceName::Support => Target::Support,
            ServiceName::ProjectSetup => Target::ProjectSetup,
            ServiceName::TimeCapture => Target::TimeCapture,
            ServiceName::Staffing => Target::Staffing,
            ServiceName::Billing => Target::Billing,
            ServiceName::DeliveryHealth => Target::DeliveryHealth,
            ServiceName::ChangeOrders => Target::ChangeOrders,
            ServiceName::CloseOut => Target::CloseOut,
        }
    }
}

/// The gRPC service name each service answers health checks for.
fn grpc_name(service: ServiceName) -> &'static str {
    use keel_proto::billing::billing_service_server::SERVICE_NAME as BILLING;
    use keel_proto::changeorders::change_order_service_server::SERVICE_NAME as CHANGE_ORDERS;
    use keel_proto::closeout::close_out_service_server::SERVICE_NAME as CLOSE_OUT;
    use keel_proto::collaboration::collaboration_service_server::SERVICE_NAME as COLLABORATION;
    use keel_proto::crm::crm_service_server::SERVICE_NAME as CRM;
    use keel_proto::documents::documents_service_server::SERVICE_NAME as DOCUMENTS;
    use keel_proto::erp::erp_service_server::SERVICE_NAME as ERP;
    use keel_proto::health::delivery_health_service_server::SERVICE_NAME as DELIVERY_HEALTH;
    use keel_proto::hris::hris_service_server::SERVICE_NAME as HRIS;
    use keel_proto::projectsetup::project_setup_service_server::ProjectSetupServiceServer;
    use keel_proto::psa::psa_service_server::SERVICE_NAME as PSA;
    use keel_proto::staffing::staffing_service_server::SERVICE_NAME as STAFFING;
    use keel_proto::support::support_service_server::SERVICE_NAME as SUPPORT;
    use keel_proto::timecapture::time_capture_service_server::SERVICE_NAME as TIME_CAPTURE;
    match service {
        ServiceName::Crm => CRM,
        ServiceName::Psa => PSA,
        ServiceName::Erp => ERP,
        ServiceName::Hris => HRIS,
        ServiceName::Documents => DOCUMENTS,
        ServiceName::Collaboration => COLLABORATION,
        ServiceName::Support => SUPPORT,
        ServiceName::TimeCapture => TIME_CAPTURE,
        ServiceName::Staffing => STAFFING,
        ServiceName::Billing => BILLING,
        ServiceName::DeliveryHealth => DELIVERY_HEALTH,
        ServiceName::ChangeOrders => CHANGE_ORDERS,
        ServiceName::CloseOut => CLOSE_OUT,
        ServiceName::ProjectSetup => {
            <ProjectSetupServiceServer<keel_project_setup::ProjectSetupGrpcService> as NamedService>::NAME
        }
    }
}

/// A running target.
#[derive(Debug)]
pub struct Platform {
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl Platform {
    /// Stops accepting work, lets in-flight requests finish (up to the grace period), and
    /// stops relays and workers; events not yet relayed stay in their outbox.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                grace_seconds = self.grace.as_secs(),
                "shutdown grace period over; stopping the rest"
            );
            self.tasks.abort_all();
        }
    }
}

/// Runs `task`, logging when it stops, so a slow shutdown shows what it waits for.
async fn named(name: &'static str, task: impl std::future::Future<Output = ()>) {
    task.await;
    tracing::info!(task = name, "stopped");
}

/// The store of one service.
pub fn store_options(config: &KeelConfig, service: ServiceName) -> StoreOptions {
    StoreOptions::for_service(
        service.as_str(),
        &config.server.data_dir,
        config.database.url.as_ref().map(|u| u.expose().as_str()),
        &config.database.schema_prefix,
        config.database.max_connections,
    )
}

/// Opens a service's store and brings its schema up to date.
pub async fn open_store(config: &KeelConfig, service: ServiceName) -> anyhow::Result<DatabaseConnection> {
    let options = store_options(config, service);
    let db = keel_store::connect(&options)
        .await
        .with_context(|| format!("opening the {} store ({})", service.as_str(), options.describe()))?;
    let migrated = match service {
        ServiceName::Crm => keel_crm::reference::Migrator::up(&db, None).await,
        ServiceName::Psa => keel_psa::reference::Migrator::up(&db, None).await,
        ServiceName::Erp => keel_erp::reference::Migrator::up(&db, None).await,
        ServiceName::Hris => keel_hris::reference::Migrator::up(&db, None).await,
        ServiceName::Documents => keel_documents::reference::Migrator::up(&db, None).await,
        ServiceName::Collaboration => keel_collaboration::reference::Migrator::up(&db, None).await,
        ServiceName::Support => keel_support::reference::Migrator::up(&db, None).await,
        ServiceName::ProjectSetup => keel_project_setup::Migrator::up(&db, None).await,
        ServiceName::TimeCapture => keel_time_capture::Migrator::up(&db, None).await,
        ServiceName::Staffing => keel_staffing::Migrator::up(&db, None).await,
        ServiceName::Billing => keel_billing::Migrator::up(&db, None).await,
        ServiceName::DeliveryHealth => keel_delivery_health::Migrator::up(&db, None).await,
        ServiceName::ChangeOrders => keel_change_orders::Migrator::up(&db, None).await,
        ServiceName::CloseOut => keel_close_out::Migrator::up(&db, None).await,
    };
    migrated.with_context(|| format!("migrating the {} store ({})", service.as_str(), options.describe()))?;
    tracing::info!(service = service.as_str(), store = %options.describe(), "store ready");
    Ok(db)
}

/// The stores of one process, opened and migrated together before anything is wired.
#[derive(Debug, Default)]
pub struct Stores {
    opened: HashMap<ServiceName, DatabaseConnection>,
    /// Every store handed out, for the tasks that look after all of them.
    taken: Vec<(ServiceName, DatabaseConnection)>,
}

impl Stores {
    /// Opens every store of `services` at once ([`open_store`] each): each checks its
    /// migrations on its own connections, so on PostgreSQL the round trips of fourteen stores
    /// overlap instead of adding up before the port listens.
    pub async fn open(config: &KeelConfig, services: &[ServiceName]) -> anyhow::Result<Stores> {
        let opened = futures::future::try_join_all(
            services
                .iter()
                .map(|service| async move { Ok::<_, anyhow::Error>((*service, open_store(config, *service).await?)) }),
        )
        .await?;
        Ok(Stores {
            opened: opened.into_iter().collect(),
            taken: Vec::new(),
        })
    }

    /// The store of `service`, as [`Stores::open`] opened it.
    pub fn take(&mut self, service: ServiceName) -> anyhow::Result<DatabaseConnection> {
        let db = self
            .opened
            .remove(&service)
            .with_context(|| format!("the {} store was not opened at start", service.as_str()))?;
        self.taken.push((service, db.clone()));
        Ok(db)
    }

    /// Every store taken so far, with its service.
    pub fn taken(&self) -> &[(ServiceName, DatabaseConnection)] {
        &self.taken
    }
}

/// The embedded signing key: the configured one, or the key file under the data directory.
pub fn local_key(config: &KeelConfig) -> anyhow::Result<LocalKey> {
    match &config.auth.local_key {
        Some(key) => Ok(LocalKey::from_bytes(key.expose().as_bytes().to_vec())?),
        None => Ok(LocalKey::load_or_create(&config.server.data_dir).with_context(|| {
            format!(
                "loading the local signing key under {}",
                config.server.data_dir.display()
            )
        })?),
    }
}

async fn verifier(config: &KeelConfig) -> anyhow::Result<(Arc<Verifier>, Option<LocalKey>)> {
    let (keys, local) = match config.auth.mode {
        AuthMode::Local => {
            let key = local_key(config)?;
            (key.key_source(), Some(key))
        }
        AuthMode::Jwks => {
            let algorithm = match config.auth.algorithm {
                JwtAlgorithm::Es256 => JwksAlgorithm::Es256,
                _ => JwksAlgorithm::Rs256,
            };
            let keys = match (&config.auth.jwks_url, &config.auth.jwks_file) {
                (Some(url), _) => KeySource::JwksUrl {
                    url: url.clone(),
                    algorithm,
                },
                (None, Some(path)) => KeySource::JwksFile {
                    path: path.clone(),
                    algorithm,
                },
                (None, None) => bail!("auth.jwks_url or auth.jwks_file is required in jwks mode"),
            };
            (keys, None)
        }
    };
    let verifier = Verifier::new(VerifierConfig {
        issuer: config.auth.issuer.clone(),
        audience: config.auth.audience.clone(),
        leeway_seconds: config.auth.leeway_seconds,
        keys,
    })
    .await
    .context("building the token verifier")?;
    Ok((Arc::new(verifier), local))
}

pub(crate) fn credentials(
    config: &KeelConfig,
    local: Option<&LocalKey>,
    service: &str,
) -> anyhow::Result<ServiceCredentials> {
    match (&config.auth.service_token, local) {
        (Some(token), _) => Ok(ServiceCredentials::fixed(token.expose().clone())),
        (None, Some(key)) => Ok(ServiceCredentials::minted(
            key.clone(),
            config.auth.issuer.clone(),
            config.auth.audience.clone(),
            service,
        )),
        (None, None) => bail!("auth.service_token is required in jwks mode: services need their own token"),
    }
}

async fn bus(config: &KeelConfig) -> anyhow::Result<Arc<dyn Bus>> {
    match &config.events.nats_url {
        Some(url) => {
            let mut options = NatsOptions::new(url.clone());
            options.stream_prefix = config.events.stream_prefix.clone();
            options.subject_prefix = config.events.subject_prefix.clone();
            options.max_age = days(config.events.outbox_retention_days);
            let bus = NatsBus::connect(options)
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?;
            Ok(Arc::new(bus))
        }
        None => Ok(Arc::new(InProcessBus::new())),
    }
}

pub(crate) fn channel(config: &KeelConfig, service: ServiceName) -> anyhow::Result<Channel> {
    let url = config.endpoint_for(service);
    Ok(Endpoint::from_shared(url.clone())
        .with_context(|| format!("services.{} is not a URL: {url}", service.config_key()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_keepalive(Some(Duration::from_secs(30)))
        .connect_lazy())
}

/// The services a target calls over gRPC.
fn calls(target: Target) -> &'static [ServiceName] {
    match target {
        Target::ProjectSetup => &[
            ServiceName::Crm,
            ServiceName::Psa,
            ServiceName::Erp,
            ServiceName::Collaboration,
            ServiceName::Documents,
        ],
        Target::TimeCapture => &[ServiceName::Psa, ServiceName::Erp, ServiceName::Hris],
        Target::Staffing => &[ServiceName::Psa, ServiceName::Hris],
        Target::Billing => &[ServiceName::Psa, ServiceName::Erp],
        Target::DeliveryHealth => &[ServiceName::Psa, ServiceName::Erp, ServiceName::Support],
        Target::ChangeOrders => &[ServiceName::Psa, ServiceName::Erp, ServiceName::Documents],
        // The process APIs only for their workflow admin's exception history (read-only).
        Target::CloseOut => &[
            ServiceName::Psa,
            ServiceName::Erp,
            ServiceName::Collaboration,
            ServiceName::Documents,
            ServiceName::TimeCapture,
            ServiceName::Staffing,
            ServiceName::Billing,
            ServiceName::ChangeOrders,
        ],
        Target::Gateway => &[
            ServiceName::Psa,
            ServiceName::Erp,
            ServiceName::ProjectSetup,
            ServiceName::TimeCapture,
            ServiceName::Staffing,
            ServiceName::Billing,
            ServiceName::ChangeOrders,
            ServiceName::CloseOut,
            ServiceName::DeliveryHealth,
        ],
        _ => &[],
    }
}

/// The process APIs that run workflows on the engine and serve its admin API.
pub(crate) const WORKFLOW_SERVICES: &[ServiceName] = &[
    ServiceName::TimeCapture,
    ServiceName::Staffing,
    ServiceName::Billing,
    ServiceName::ChangeOrders,
    ServiceName::CloseOut,
];

/// Refuses a distributed target whose configuration would make it fail quietly: services
/// that exchange events need NATS, and a service must know where the services it calls are.
fn check_distributed(config: &KeelConfig, target: Target) -> anyhow::Result<()> {
    if target == Target::All {
        return Ok(());
    }
    let name = target
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    if target != Target::Gateway && config.events.nats_url.is_none() {
        bail!(
            "events.nats_url is required for `keel run --target {name}`: services in separate processes exchange \
             events through NATS JetStream (KEEL__EVENTS__NATS_URL)"
        );
    }
    for service in calls(target) {
        if config.configured_endpoint(*service).is_none() {
            bail!(
                "services.{key} is required for `keel run --target {name}`: the gRPC URL of the {service} service \
                 (KEEL__SERVICES__{upper})",
                key = service.config_key(),
                service = service.as_str(),
                upper = service.config_key().to_uppercase(),
            );
        }
    }
    if config.auth.mode == AuthMode::Local && config.auth.local_key.is_none() {
        tracing::warn!(
            "auth.local_key is not set: this process signs and checks tokens with the key under its own data \
             directory, which other processes do not share"
        );
    }
    Ok(())
}

/// Starts `target`. Listeners are bound before anything else, so a port of 0 in the
/// configuration is replaced by the port actually taken.
pub async fn start(mut config: KeelConfig, target: Target) -> anyhow::Result<Platform> {
    check_distributed(&config, target)?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let metrics = Metrics::new();

    let grpc_listener = if target.serves_grpc() {
        let listener = tokio::net::TcpListener::bind(config.server.grpc_addr)
            .await
            .with_context(|| format!("binding gRPC to {} (server.grpc_addr)", config.server.grpc_addr))?;
        config.server.grpc_addr = listener.local_addr()?;
        Some(listener)
    } else {
        None
    };
    // The CRM serves HubSpot's webhooks over HTTP when a client secret is configured.
    let hubspot = config.webhooks.hubspot.client_secret.is_some() && target.includes(Target::Crm);
    let http_listener = if target.serves_http() || hubspot {
        let listener = tokio::net::TcpListener::bind(config.server.http_addr)
            .await
            .with_context(|| format!("binding HTTP to {} (server.http_addr)", config.server.http_addr))?;
        config.server.http_addr = listener.local_addr()?;
        Some(listener)
    } else {
        None
    };

    let (verifier, local) = verifier(&config).await?;
    let bus = bus(&config).await?;
    let relay_interval = Duration::from_millis(config.events.relay_interval_ms);
    let call_timeout = Duration::from_millis(config.services.call_timeout_ms);
    let max_message = config.limits.grpc_max_message_bytes;

    let mut routes = Routes::builder();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let mut relays = Vec::new();
    let mut outboxes = Vec::new();
    let mut served = Vec::new();

    let mut stores = Stores::open(&config, &target.stores()).await?;
    let mut webhooks: Option<axum::Router> = None;
    let retention = Retention {
        idempotency_keys: days(config.limits.idempotency_retention_days),
        events: days(config.events.outbox_retention_days),
    };
    for service in ServiceName::SYSTEMS {
        if !target.includes(Target::from(service)) {
            continue;
        }
        let db = stores.take(service)?;
        let relay = Relay::new(service.as_str(), db.clone(), bus.clone(), relay_interval).with_metrics(metrics.clone());
        outboxes.push((service.as_str().to_string(), db.clone()));
        let adapter = config.adapter_for(service).to_string();
        let cx = adapters::AdapterContext {
            db,
            relay_waker: relay.waker(),
        };
        match service {
            ServiceName::Crm => {
                let adapter = adapters::crm(&adapter, cx)?;
                if hubspot {
                    webhooks = Some(hubspot_router(&config, adapter.clone())?);
                }
                routes.add_service(keel_crm::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Psa => {
                let adapter = adapters::psa(&adapter, cx)?;
                routes.add_service(keel_psa::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Erp => {
                let adapter = adapters::erp(&adapter, cx)?;
                routes.add_service(keel_erp::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Hris => {
                let adapter = adapters::hris(&adapter, cx)?;
                routes.add_service(keel_hris::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Documents => {
                let adapter = adapters::documents(&adapter, cx)?;
                routes.add_service(keel_documents::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Collaboration => {
                let adapter = adapters::collaboration(&adapter, cx)?;
                routes.add_service(keel_collaboration::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::Support => {
                let adapter = adapters::support(&adapter, cx)?;
                routes.add_service(keel_support::service::server(adapter).max_decoding_message_size(max_message));
            }
            ServiceName::ProjectSetup
            | ServiceName::TimeCapture
            | ServiceName::Staffing
            | ServiceName::Billing
            | ServiceName::DeliveryHealth
            | ServiceName::ChangeOrders
            | ServiceName::CloseOut => unreachable!("not a system API"),
        }
        relays.push(relay);
        served.push(service);
    }
    if target.includes(Target::ProjectSetup) {
        let intake = keel_project_setup::Intake::new(crate::process_apis::insight_policy(&config)?);
        let db = stores.take(ServiceName::ProjectSetup)?;
        let downstream = keel_project_setup::Downstream::new(
            channel(&config, ServiceName::Crm)?,
            channel(&config, ServiceName::Psa)?,
            channel(&config, ServiceName::Erp)?,
            channel(&config, ServiceName::Collaboration)?,
            channel(&config, ServiceName::Documents)?,
            credentials(&config, local.as_ref(), keel_project_setup::SERVICE_NAME)?,
            call_timeout,
        );
        let worker = keel_project_setup::Worker::new(db.clone(), downstream.clone(), Default::default())
            .with_metrics(metrics.clone());
        let consumer = Arc::new(
            keel_project_setup::OpportunityWonConsumer::new(db.clone(), worker.waker()).with_metrics(metrics.clone()),
        );
        bus.subscribe(keel_project_setup::OpportunityWonConsumer::subscription(), consumer)
            .await
            .context("subscribing project setup to crm.opportunity.won")?;
        let service =
            keel_project_setup::ProjectSetupGrpcService::new(db, downstream, worker.waker()).with_intake(intake);
        routes.add_service(keel_project_setup::service::server(service).max_decoding_message_size(max_message));
        tasks.spawn(named("project-setup worker", worker.run(shutdown.clone())));
        served.push(ServiceName::ProjectSetup);
    }
    let mut engines = Vec::new();
    {
        let mut wiring = process_apis::Wiring {
            config: &config,
            local: local.as_ref(),
            bus: &bus,
            call_timeout,
            max_message,
            routes: &mut routes,
            engines: &mut engines,
            stores: &mut stores,
        };
        if target.includes(Target::TimeCapture) {
            process_apis::time_capture(&mut wiring).await?;
            served.push(ServiceName::TimeCapture);
        }
        if target.includes(Target::Staffing) {
            process_apis::staffing(&mut wiring).await?;
            served.push(ServiceName::Staffing);
        }
        if target.includes(Target::Billing) {
            process_apis::billing(&mut wiring).await?;
            served.push(ServiceName::Billing);
        }
        if target.includes(Target::ChangeOrders) {
            process_apis::change_orders(&mut wiring).await?;
            served.push(ServiceName::ChangeOrders);
        }
        if target.includes(Target::CloseOut) {
            process_apis::close_out(&mut wiring).await?;
            served.push(ServiceName::CloseOut);
        }
        if target.includes(Target::DeliveryHealth) {
            let mut background = Vec::new();
            process_apis::delivery_health(&mut wiring, &mut background, shutdown.clone()).await?;
            for handle in background {
                tasks.spawn(named("delivery health", async move {
                    let _ = handle.await;
                }));
            }
            served.push(ServiceName::DeliveryHealth);
        }
    }
    for (service, db) in stores.taken() {
        tasks.spawn(named(
            "idempotency key and event pruning",
            prune_kept_records(*service, db.clone(), retention, shutdown.clone()),
        ));
    }
    if !engines.is_empty() {
        routes.add_service(keel_workflow::admin::server_over(engines.clone()).max_decoding_message_size(max_message));
        for engine in engines {
            tasks.spawn(named("workflow engine", engine.run(shutdown.clone())));
        }
    }
    if !outboxes.is_empty() {
        let admin = keel_events::admin::OutboxAdminService::new(outboxes, bus.clone());
        routes.add_service(keel_events::admin::server(admin).max_decoding_message_size(max_message));
    }
    // Relays start once every consumer of this process has subscribed.
    for relay in relays {
        tasks.spawn(named("outbox relay", relay.run(shutdown.clone())));
    }

    let grpc_addr = match grpc_listener {
        Some(listener) => {
            for service in &served {
                health_reporter
                    .set_service_status(grpc_name(*service), tonic_health::ServingStatus::Serving)
                    .await;
            }
            let reflection = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(keel_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()
                .context("building gRPC reflection")?;
            // Older clients (grpcurl before 1.8.8, many GUIs) speak only v1alpha.
            let reflection_alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(keel_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1alpha()
                .context("building gRPC reflection")?;
            routes.add_service(health_service);
            routes.add_service(reflection);
            routes.add_service(reflection_alpha);
            let addr = listener.local_addr()?;
            let server = tonic::transport::Server::builder()
                .timeout(Duration::from_secs(30))
                .layer(GrpcTraceLayer::new(metrics.clone()))
                .layer(GrpcAuthLayer::new(verifier.clone()))
                .add_routes(routes.routes())
                // TCP_NODELAY on accepted connections: without it every answer waits ~40 ms
                // for the caller's delayed acknowledgement.
                .serve_with_incoming_shutdown(keel_core::grpc::incoming(listener), shutdown.clone().cancelled_owned());
            tasks.spawn(named("gRPC server", async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "gRPC server stopped with an error");
                }
            }));
            tracing::info!(grpc.addr = %addr, services = ?served.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "gRPC serving");
            Some(addr)
        }
        None => None,
    };

    let http_addr = match http_listener {
        Some(listener) if !target.serves_http() => {
            // A CRM on its own: the webhook endpoint and a liveness check.
            let addr = listener.local_addr()?;
            let router = webhooks
                .take()
                .unwrap_or_default()
                .route("/healthz", axum::routing::get(|| async { "ok" }));
            let stop = shutdown.clone();
            tasks.spawn(named("HTTP server", async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "HTTP server stopped with an error");
                }
            }));
            tracing::info!(http.addr = %addr, "HubSpot webhooks serving");
            Some(addr)
        }
        Some(listener) => {
            let addr = listener.local_addr()?;
            // Embedded, every service is this process's own; the gateway alone checks the
            // services it calls.
            let checked: Vec<ServiceName> = if target == Target::All {
                ServiceName::ALL.to_vec()
            } else {
                calls(Target::Gateway).to_vec()
            };
            let checks: Vec<(String, Channel)> = checked
                .into_iter()
                .map(|s| Ok((grpc_name(s).to_string(), channel(&config, s)?)))
                .collect::<anyhow::Result<_>>()?;
            let readiness = keel_gateway::Readiness::new(checks);
            // Every store this process owns was migrated above.
            readiness.mark_migrated();
            // Introspection, suggestions and call counts help a developer on their machine;
            // a deployed gateway keeps them off unless configured.
            let embedded = target == Target::All;
            let options = keel_gateway::GatewayOptions {
                max_body_bytes: config.limits.http_max_body_bytes,
                max_depth: config.limits.graphql_max_depth,
                max_complexity: config.limits.graphql_max_complexity,
                introspection: config.limits.graphql_introspection.unwrap_or(embedded),
                suggestions: config.limits.graphql_suggestions.unwrap_or(embedded),
                report_backend_calls: config.limits.graphql_report_backend_calls.unwrap_or(embedded),
            };
            let pm = keel_experience_project_manager::Backends {
                psa: keel_proto::psa::psa_service_client::PsaServiceClient::new(channel(&config, ServiceName::Psa)?),
                erp: keel_proto::erp::erp_service_client::ErpServiceClient::new(channel(&config, ServiceName::Erp)?),
                health: keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient::new(channel(
                    &config,
                    ServiceName::DeliveryHealth,
                )?),
                time_capture: keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient::new(
                    channel(&config, ServiceName::TimeCapture)?,
                ),
                change_orders: keel_proto::changeorders::change_order_service_client::ChangeOrderServiceClient::new(
                    channel(&config, ServiceName::ChangeOrders)?,
                ),
                project_setup: keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient::new(
                    channel(&config, ServiceName::ProjectSetup)?,
                ),
                timeout: call_timeout,
            };
            // Embedded, one workflow admin serves every engine of the process; distributed,
            // each process API that runs workflows serves its own.
            let workflow_services: &[ServiceName] = if embedded {
                &[ServiceName::TimeCapture]
            } else {
                WORKFLOW_SERVICES
            };
            let workflows = workflow_services
                .iter()
                .map(|&service| {
                    Ok(keel_experience_operations::WorkflowSource {
                        name: if embedded {
                            "keel".to_string()
                        } else {
                            service.to_string()
                        },
                        client: keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
                            channel(&config, service)?,
                        ),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ops = keel_experience_operations::Backends {
                project_setup: keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient::new(
                    channel(&config, ServiceName::ProjectSetup)?,
                ),
                workflows,
                timeout: call_timeout,
            };
            let consultant = keel_experience_consultant::Backends {
                psa: keel_proto::psa::psa_service_client::PsaServiceClient::new(channel(&config, ServiceName::Psa)?),
                time_capture: keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient::new(
                    channel(&config, ServiceName::TimeCapture)?,
                ),
                timeout: call_timeout,
            };
            let rm = keel_experience_resource_manager::Backends {
                psa: keel_proto::psa::psa_service_client::PsaServiceClient::new(channel(&config, ServiceName::Psa)?),
                hris: keel_proto::hris::hris_service_client::HrisServiceClient::new(channel(
                    &config,
                    ServiceName::Hris,
                )?),
                staffing: keel_proto::staffing::staffing_service_client::StaffingServiceClient::new(channel(
                    &config,
                    ServiceName::Staffing,
                )?),
                workflow: keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
                    channel(&config, ServiceName::Staffing)?,
                ),
                timeout: call_timeout,
            };
            let executive = keel_experience_executive::Backends {
                psa: keel_proto::psa::psa_service_client::PsaServiceClient::new(channel(&config, ServiceName::Psa)?),
                erp: keel_proto::erp::erp_service_client::ErpServiceClient::new(channel(&config, ServiceName::Erp)?),
                billing: keel_proto::billing::billing_service_client::BillingServiceClient::new(channel(
                    &config,
                    ServiceName::Billing,
                )?),
                workflows: workflow_services
                    .iter()
                    .map(|&service| {
                        Ok(keel_experience_executive::WorkflowSource {
                            name: if embedded {
                                "keel".to_string()
                            } else {
                                service.to_string()
                            },
                            client:
                                keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
                                    channel(&config, service)?,
                                ),
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
                policy: crate::process_apis::executive_policy(&config)?,
                timeout: call_timeout,
            };
            let finance = keel_experience_finance::Backends {
                psa: keel_proto::psa::psa_service_client::PsaServiceClient::new(channel(&config, ServiceName::Psa)?),
                erp: keel_proto::erp::erp_service_client::ErpServiceClient::new(channel(&config, ServiceName::Erp)?),
                billing: keel_proto::billing::billing_service_client::BillingServiceClient::new(channel(
                    &config,
                    ServiceName::Billing,
                )?),
                postings: keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
                    channel(&config, ServiceName::TimeCapture)?,
                ),
                timeout: call_timeout,
            };
            let schema = keel_gateway::build_schema(
                &options,
                keel_gateway::ViewBackends {
                    project_manager: pm,
                    operations: ops,
                    consultant,
                    resource_manager: rm,
                    executive,
                    finance,
                },
            );
            let mut router = keel_gateway::router(schema, verifier.clone(), metrics.clone(), readiness, &options);
            if let Some(webhooks) = webhooks.take() {
                router = router.merge(webhooks);
            }
            let stop = shutdown.clone();
            tasks.spawn(named("HTTP server", async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "HTTP server stopped with an error");
                }
            }));
            tracing::info!(http.addr = %addr, "GraphQL serving");
            Some(addr)
        }
        None => None,
    };

    Ok(Platform {
        grpc_addr,
        http_addr,
        shutdown,
        tasks,
        grace: Duration::from_secs(config.server.shutdown_grace_seconds),
    })
}

/// `POST /webhooks/hubspot` on the CRM adapter, from `[webhooks.hubspot]`.
fn hubspot_router(config: &KeelConfig, adapter: Arc<dyn keel_crm::CrmAdapter>) -> anyhow::Result<axum::Router> {
    let hubspot = &config.webhooks.hubspot;
    let (Some(secret), Some(public_url)) = (&hubspot.client_secret, &hubspot.public_url) else {
        bail!("webhooks.hubspot.public_url is required with webhooks.hubspot.client_secret");
    };
    let webhook = keel_crm::webhook::HubSpotWebhookConfig::new(
        keel_crm::webhook::ClientSecret::new(secret.expose().clone()),
        public_url.trim_end_matches('/'),
    );
    webhook.validate().context("webhooks.hubspot")?;
    Ok(keel_crm::webhook::router(adapter, webhook))
}

/// How long a service keeps what it records only for replays.
#[derive(Debug, Clone, Copy)]
struct Retention {
    /// `limits.idempotency_retention_days`.
    idempotency_keys: Duration,
    /// `events.outbox_retention_days`, from when the relay published the event (outbox and
    /// stream) or a consumer applied it (inbox).
    events: Duration,
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 3600)
}

/// Hourly, forgets a service's idempotency keys, the events its consumers applied, and a
/// system API's published outbox events, once they are older than their retention, so its
/// store does not grow with every call it ever answered and every event it ever saw.
async fn prune_kept_records(
    service: ServiceName,
    db: DatabaseConnection,
    retention: Retention,
    shutdown: CancellationToken,
) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every_hour.tick() => {}
        }
        match keel_store::idempotency::prune(&db, retention.idempotency_keys).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(service = service.as_str(), pruned, "idempotency keys pruned"),
            Err(error) => tracing::warn!(service = service.as_str(), %error, "pruning idempotency keys failed"),
        }
        let Some(cutoff) = keel_store::idempotency::retention_cutoff(retention.events) else {
            continue;
        };
        // Every store keeps an inbox (empty where nothing consumes); only a system API's
        // outbox holds events.
        match keel_events::inbox::prune_applied(&db, cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(service = service.as_str(), pruned, "applied event ids pruned"),
            Err(error) => tracing::warn!(service = service.as_str(), %error, "pruning applied event ids failed"),
        }
        if !ServiceName::SYSTEMS.contains(&service) {
            continue;
        }
        match keel_events::outbox::prune_published(&db, cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(service = service.as_str(), pruned, "published outbox events pruned"),
            Err(error) => tracing::warn!(service = service.as_str(), %error, "pruning published outbox events failed"),
        }
    }
}

/// A token for the demo seeding and the start-up hint.
pub fn admin_token(config: &KeelConfig) -> anyhow::Result<String> {
    let key = local_key(config)?;
    Ok(key.issue(
        &config.auth.issuer,
        &config.auth.audience,
        "keel-demo",
        &[Role::Admin],
        Duration::from_secs(600),
    ))
}
