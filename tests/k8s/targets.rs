//! Keel's deployable targets as the manifests must carry them: one Deployment per service of
//! `keel_config::ServiceName::ALL` plus the gateway, each in its layer.

use keel_config::ServiceName;
use tonic::server::NamedService;

/// Where every target reads its configuration file.
pub const CONFIG_PATH: &str = "/etc/keel/keel.toml";

/// One `keel run --target` of a Kubernetes deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A system or process API (it keeps a store and serves gRPC).
    Service(ServiceName),
    /// The GraphQL gateway (HTTP only, no store).
    Gateway,
}

impl Target {
    /// Every target, system APIs first.
    pub fn all() -> Vec<Target> {
        ServiceName::ALL
            .into_iter()
            .map(Target::Service)
            .chain([Target::Gateway])
            .collect()
    }

    /// The `--target` value.
    pub fn name(self) -> &'static str {
        match self {
            Target::Service(service) => service.as_str(),
            Target::Gateway => "gateway",
        }
    }

    /// The name of its Deployment, Service, PodDisruptionBudget (and autoscaler).
    pub fn object_name(self) -> String {
        format!("keel-{}", self.name())
    }

    /// The `keel.dev/layer` its pods carry.
    pub fn layer(self) -> &'static str {
        match self {
            Target::Gateway => "experience",
            Target::Service(service) if ServiceName::SYSTEMS.contains(&service) => "system",
            Target::Service(_) => "process",
        }
    }

    /// Whether a HorizontalPodAutoscaler owns its replica count (the gateway and process APIs).
    pub fn autoscaled(self) -> bool {
        self.layer() != "system"
    }

    /// The services it calls over gRPC (mirrors `calls` in src/platform.rs).
    pub fn calls(self) -> &'static [ServiceName] {
        match self {
            Target::Service(ServiceName::ProjectSetup) => &[
                ServiceName::Crm,
                ServiceName::Psa,
                ServiceName::Erp,
                ServiceName::Collaboration,
                ServiceName::Documents,
            ],
            Target::Service(ServiceName::TimeCapture) => &[ServiceName::Psa, ServiceName::Erp, ServiceName::Hris],
            Target::Service(ServiceName::ChangeOrders) => &[ServiceName::Psa, ServiceName::Erp, ServiceName::Documents],
            Target::Service(ServiceName::CloseOut) => &[
                ServiceName::Psa,
                ServiceName::Erp,
                ServiceName::Collaboration,
                ServiceName::Documents,
                ServiceName::TimeCapture,
                ServiceName::Staffing,
                ServiceName::Billing,
                ServiceName::ChangeOrders,
            ],
            // Besides its reads, delivery health's approval feed asks the workflow admin of each
            // process API that runs workflows for the decisions waiting there.
            Target::Service(ServiceName::DeliveryHealth) => &[
                ServiceName::Psa,
                ServiceName::Erp,
                ServiceName::Support,
                ServiceName::TimeCapture,
                ServiceName::Staffing,
                ServiceName::Billing,
                ServiceName::ChangeOrders,
                ServiceName::CloseOut,
            ],
            Target::Service(ServiceName::Billing) => &[ServiceName::Psa, ServiceName::Erp],
            Target::Service(ServiceName::Staffing) => &[ServiceName::Psa, ServiceName::Hris],
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
            Target::Service(_) => &[],
        }
    }

    /// The gRPC service its health check reports (the readiness probe asks for it).
    pub fn grpc_service(self) -> Option<&'static str> {
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
        let Target::Service(service) = self else {
            return None;
        };
        Some(match service {
            ServiceName::Crm => CRM,
            ServiceName::Psa => PSA,
            ServiceName::Erp => ERP,
            ServiceName::Hris => HRIS,
            ServiceName::Documents => DOCUMENTS,
            ServiceName::Collaboration => COLLABORATION,
            ServiceName::Support => SUPPORT,
            ServiceName::TimeCapture => TIME_CAPTURE,
            ServiceName::ChangeOrders => CHANGE_ORDERS,
            ServiceName::CloseOut => CLOSE_OUT,
            ServiceName::DeliveryHealth => DELIVERY_HEALTH,
            ServiceName::Billing => BILLING,
            ServiceName::Staffing => STAFFING,
            ServiceName::ProjectSetup => {
                <ProjectSetupServiceServer<keel_project_setup::ProjectSetupGrpcService> as NamedService>::NAME
            }
        })
    }
}
