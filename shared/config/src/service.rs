//! The services one Keel process may call, and how their gRPC endpoints are found.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::KeelConfig;

/// A service reachable over gRPC, as named by `keel run --target <name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceName {
    /// The CRM system API.
    Crm,
    /// The PSA system API.
    Psa,
    /// The ERP system API.
    Erp,
    /// The HRIS system API.
    Hris,
    /// The documents and e-signature system API.
    Documents,
    /// The collaboration system API.
    Collaboration,
    /// The customer-support system API.
    Support,
    /// The project-setup process API.
    ProjectSetup,
    /// The time-capture process API.
    TimeCapture,
    /// The staffing process API.
    Staffing,
    /// The delivery-health process API.
    DeliveryHealth,
    /// The billing process API.
    Billing,
    /// The change-order process API.
    ChangeOrders,
    /// The close-out process API.
    CloseOut,
}

impl ServiceName {
    /// Every service, in layer order (system APIs first).
    pub const ALL: [Self; 14] = [
        Self::Crm,
        Self::Psa,
        Self::Erp,
        Self::Hris,
        Self::Documents,
        Self::Collaboration,
        Self::Support,
        Self::ProjectSetup,
        Self::TimeCapture,
        Self::Staffing,
        Self::Billing,
        Self::DeliveryHealth,
        Self::ChangeOrders,
        Self::CloseOut,
    ];

    /// The system APIs, each behind an adapter.
    pub const SYSTEMS: [Self; 7] = [
        Self::Crm,
        Self::Psa,
        Self::Erp,
        Self::Hris,
        Self::Documents,
        Self::Collaboration,
        Self::Support,
    ];

    /// The target name, e.g. `project-setup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Psa => "psa",
            Self::Erp => "erp",
            Self::Hris => "hris",
            Self::Documents => "documents",
            Self::Collaboration => "collaboration",
            Self::Support => "support",
            Self::ProjectSetup => "project-setup",
            Self::TimeCapture => "time-capture",
            Self::Staffing => "staffing",
            Self::Billing => "billing",
            Self::DeliveryHealth => "delivery-health",
            Self::ChangeOrders => "change-orders",
            Self::CloseOut => "close-out",
        }
    }

    /// The key under `[services]`, e.g. `project_setup`.
    pub fn config_key(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Psa => "psa",
            Self::Erp => "erp",
            Self::Hris => "hris",
            Self::Documents => "documents",
            Self::Collaboration => "collaboration",
            Self::Support => "support",
            Self::ProjectSetup => "project_setup",
            Self::TimeCapture => "time_capture",
            Self::Staffing => "staffing",
            Self::Billing => "billing",
            Self::DeliveryHealth => "delivery_health",
            Self::ChangeOrders => "change_orders",
            Self::CloseOut => "close_out",
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The text is not the name of a known service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown service `{0}`, expected one of crm, psa, erp, hris, documents, collaboration, support, project-setup, time-capture, staffing, billing, delivery-health, change-orders, close-out"
)]
pub struct UnknownService(pub String);

impl FromStr for ServiceName {
    type Err = UnknownService;

    /// Accepts the target name (`project-setup`) or the config key (`project_setup`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|service| service.as_str() == text || service.config_key() == text)
            .ok_or_else(|| UnknownService(text.to_owned()))
    }
}

impl KeelConfig {
    /// The gRPC URL of `service`: its `[services]` entry, or else this process's own
    /// `server.grpc_addr` as `http://<addr>` (an unspecified address such as `0.0.0.0` becomes
    /// loopback, since one cannot connect to it).
    pub fn endpoint_for(&self, service: ServiceName) -> String {
        match self.configured_endpoint(service) {
            Some(url) => url.clone(),
            None => format!("http://{}", connectable(self.server.grpc_addr)),
        }
    }
}

impl KeelConfig {
    /// The `[services]` entry of `service`, if set.
    pub fn configured_endpoint(&self, service: ServiceName) -> Option<&String> {
        let services = &self.services;
        match service {
            ServiceName::Crm => services.crm.as_ref(),
            ServiceName::Psa => services.psa.as_ref(),
            ServiceName::Erp => services.erp.as_ref(),
            ServiceName::Hris => services.hris.as_ref(),
            ServiceName::Documents => services.documents.as_ref(),
            ServiceName::Collaboration => services.collaboration.as_ref(),
            ServiceName::Support => services.support.as_ref(),
            ServiceName::ProjectSetup => services.project_setup.as_ref(),
            ServiceName::TimeCapture => services.time_capture.as_ref(),
            ServiceName::Staffing => services.staffing.as_ref(),
            ServiceName::DeliveryHealth => services.delivery_health.as_ref(),
            ServiceName::Billing => services.billing.as_ref(),
            ServiceName::ChangeOrders => services.change_orders.as_ref(),
            ServiceName::CloseOut => services.close_out.as_ref(),
        }
    }

    /// The adapter `[adapters]` selects for a system API (`reference` by default).
    pub fn adapter_for(&self, service: ServiceName) -> &str {
        let adapters = &self.adapters;
        match service {
            ServiceName::Crm => &adapters.crm,
            ServiceName::Psa => &adapters.psa,
            ServiceName::Erp => &adapters.erp,
            ServiceName::Hris => &adapters.hris,
            ServiceName::Documents => &adapters.documents,
            ServiceName::Collaboration => &adapters.collaboration,
            ServiceName::Support => &adapters.support,
            ServiceName::ProjectSetup
            | ServiceName::TimeCapture
            | ServiceName::Staffing
            | ServiceName::Billing
            | ServiceName::DeliveryHealth
            | ServiceName::ChangeOrders
            | ServiceName::CloseOut => "",
        }
    }
}

fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_defaults_to_own_grpc_addr_on_loopback() {
        let cases = [
            ("127.0.0.1:50051", "http://127.0.0.1:50051"),
            ("0.0.0.0:7000", "http://127.0.0.1:7000"),
            ("[::]:7000", "http://[::1]:7000"),
            ("10.1.2.3:7000", "http://10.1.2.3:7000"),
        ];
        for (grpc_addr, expected) in cases {
            let mut config = KeelConfig::default();
            config.server.grpc_addr = grpc_addr.parse().unwrap();
            for service in ServiceName::ALL {
                assert_eq!(config.endpoint_for(service), expected, "{grpc_addr} {service}");
            }
        }
    }

    #[test]
    fn configured_endpoint_wins() {
        let mut config = KeelConfig::default();
        config.services.erp = Some("http://keel-erp:50051".into());
        config.services.project_setup = Some("http://keel-project-setup:50051".into());
        assert_eq!(config.endpoint_for(ServiceName::Erp), "http://keel-erp:50051");
        assert_eq!(
            config.endpoint_for(ServiceName::ProjectSetup),
            "http://keel-project-setup:50051"
        );
        assert_eq!(config.endpoint_for(ServiceName::Crm), "http://127.0.0.1:50051");
    }

    #[test]
    fn service_names_parse_from_target_or_key() {
        assert_eq!("project-setup".parse(), Ok(ServiceName::ProjectSetup));
        assert_eq!("project_setup".parse(), Ok(ServiceName::ProjectSetup));
        assert_eq!("erp".parse(), Ok(ServiceName::Erp));
        assert_eq!("hr".parse::<ServiceName>(), Err(UnknownService("hr".into())));
    }
}
