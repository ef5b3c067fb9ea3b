//! The test harness: the gateway served on 127.0.0.1:0 over real tonic stand-ins for its
//! backends, tokens for each role, and small request helpers.

#![allow(dead_code)] // not every test binary uses every helper

pub mod backends;
/// The graphql-ws client the platform's own tests use.
#[path = "../../../tests/common/ws.rs"]
pub mod ws_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keel_auth::{KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_experience_operations as operations;
use keel_experience_project_manager as project_manager;
use keel_gateway::{GatewayOptions, Readiness};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient;
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_telemetry::Metrics;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

pub use backends::Backends;

pub const ISSUER: &str = "keel-test";
pub const AUDIENCE: &str = "keel-gateway";
const SECRET: [u8; 32] = *b"gateway-tests-hs256-secret-32byt";
/// The deadline of downstream calls in these tests.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A token for `roles`, valid for ten minutes.
pub fn token(roles: &[Role]) -> String {
    token_as("u-test", roles)
}

/// A token for `roles` whose subject is `subject`, valid for ten minutes.
pub fn token_as(subject: &str, roles: &[Role]) -> String {
    let key = LocalKey::from_bytes(SECRET.to_vec()).unwrap();
    key.issue(ISSUER, AUDIENCE, subject, roles, Duration::from_secs(600))
}

/// A token signed with another key: well-formed, but not ours.
pub fn foreign_token() -> String {
    let key = LocalKey::from_bytes(b"another-key-another-key-32-bytes".to_vec()).unwrap();
    key.issue(ISSUER, AUDIENCE, "u-test", &[Role::Admin], Duration::from_secs(600))
}

/// Options small enough to hit in tests, introspection on.
pub fn options() -> GatewayOptions {
    GatewayOptions {
        max_body_bytes: 16 * 1024,
        max_depth: 8,
        max_complexity: 200,
        introspection: true,
        suggestions: true,
        report_backend_calls: true,
    }
}

fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_lazy()
}

/// The gateway listening on 127.0.0.1:0.
pub struct Gateway {
    pub url: String,
    pub addr: SocketAddr,
    pub backends: Backends,
    pub readiness: Readiness,
    pub http: reqwest::Client,
}

impl Gateway {
    /// The gateway over fresh stand-ins, migrated (ready).
    pub async fn spawn(options: GatewayOptions) -> Gateway {
        let gateway = Gateway::spawn_unmigrated(options).await;
        gateway.readiness.mark_migrated();
        gateway
    }

    /// The gateway over fresh stand-ins, before `mark_migrated`.
    pub async fn spawn_unmigrated(options: GatewayOptions) -> Gateway {
        let backends = Backends::spawn().await;
        let channel = channel(backends.addr);
        Gateway::spawn_over(options, backends, channel.clone(), channel).await
    }

    /// The gateway whose project manager view reads PSA and ERP through `pm_channel`.
    pub async fn spawn_over(
        options: GatewayOptions,
        backends: Backends,
        pm_channel: Channel,
        ops_channel: Channel,
    ) -> Gateway {
        let verifier = Verifier::new(VerifierConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_seconds: 5,
            keys: KeySource::Hs256(SECRET.to_vec()),
        })
        .await
        .unwrap();
        let readiness = Readiness::new(
            [
                backends::PSA_SERVICE,
                backends::ERP_SERVICE,
                backends::PROJECT_SETUP_SERVICE,
            ]
            .into_iter()
            .map(|name| (name.to_string(), channel(backends.addr)))
            .collect(),
        );
        let schema = keel_gateway::build_schema(&options, view_backends(&pm_channel, &ops_channel));
        let router = keel_gateway::router(schema, Arc::new(verifier), Metrics::new(), readiness.clone(), &options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Gateway {
            url: format!("http://{addr}"),
            addr,
            backends,
            readiness,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `query` to `/graphql` as the holder of `token` (none if `None`); the status and
    /// the JSON body.
    pub async fn graphql(&self, token: Option<&str>, query: &str) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// GETs `path`; the status, content type and text.
    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, String, String) {
        let response = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, content_type, response.text().await.unwrap())
    }
}

/// `errors[0].extensions.code` of a GraphQL answer.
pub fn first_error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The views' backends: the project manager's and the read views' system APIs on
/// `pm_channel`, the process APIs on `ops_channel`.
pub fn view_backends(pm_channel: &Channel, ops_channel: &Channel) -> keel_gateway::ViewBackends {
    let pm = project_manager::Backends {
        psa: PsaServiceClient::new(pm_channel.clone()),
        erp: ErpServiceClient::new(pm_channel.clone()),
        health: DeliveryHealthServiceClient::new(pm_channel.clone()),
        time_capture: keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient::new(
            ops_channel.clone(),
        ),
        change_orders: keel_proto::changeorders::change_order_service_client::ChangeOrderServiceClient::new(
            ops_channel.clone(),
        ),
        project_setup: ProjectSetupServiceClient::new(ops_channel.clone()),
        timeout: CALL_TIMEOUT,
    };
    let ops = operations::Backends {
        workflows: Vec::new(),
        project_setup: ProjectSetupServiceClient::new(ops_channel.clone()),
        timeout: CALL_TIMEOUT,
    };
    let consultant = keel_experience_consultant::Backends {
        psa: PsaServiceClient::new(pm_channel.clone()),
        time_capture: keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient::new(
            ops_channel.clone(),
        ),
        timeout: CALL_TIMEOUT,
    };
    let rm = keel_experience_resource_manager::Backends {
        psa: PsaServiceClient::new(pm_channel.clone()),
        hris: keel_proto::hris::hris_service_client::HrisServiceClient::new(pm_channel.clone()),
        staffing: keel_proto::staffing::staffing_service_client::StaffingServiceClient::new(ops_channel.clone()),
        workflow: keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
            ops_channel.clone(),
        ),
        timeout: CALL_TIMEOUT,
    };
    let executive = keel_experience_executive::Backends {
        psa: PsaServiceClient::new(pm_channel.clone()),
        erp: ErpServiceClient::new(pm_channel.clone()),
        billing: keel_proto::billing::billing_service_client::BillingServiceClient::new(pm_channel.clone()),
        workflows: Vec::new(),
        policy: keel_experience_executive::ExecutivePolicy::default(),
        timeout: CALL_TIMEOUT,
    };
    let finance = keel_experience_finance::Backends {
        psa: PsaServiceClient::new(pm_channel.clone()),
        erp: keel_proto::erp::erp_service_client::ErpServiceClient::new(pm_channel.clone()),
        billing: keel_proto::billing::billing_service_client::BillingServiceClient::new(pm_channel.clone()),
        postings: keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient::new(
            pm_channel.clone(),
        ),
        timeout: CALL_TIMEOUT,
    };
    keel_gateway::ViewBackends {
        project_manager: pm,
        operations: ops,
        consultant,
        resource_manager: rm,
        executive,
        finance,
    }
}
