//! The CRM served for real on loopback: gRPC behind Keel's authentication and the HubSpot
//! webhook over HTTP, on a fresh reference store (SQLite, or PostgreSQL under
//! KEEL_TEST_DATABASE_URL).

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use keel_auth::{GrpcAuthLayer, KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_crm::reference::Migrator;
use keel_crm::webhook::{self, ClientSecret, HubSpotWebhook, HubSpotWebhookConfig, WebhookCounters};
use keel_crm::{CrmAdapter, ReferenceCrm};
use keel_proto::common::Money;
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{
    CreateAccountRequest, CreateOpportunityRequest, ExternalId, GetOpportunityRequest, Opportunity,
    UpdateOpportunityRequest,
};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use sha2::Sha256;
use tonic::Request;
use tonic::transport::Channel;

pub const CLIENT_SECRET: &str = "hubspot-app-client-secret-for-tests";

pub struct Crm {
    _store: TestStore,
    pub db: DatabaseConnection,
    pub adapter: Arc<ReferenceCrm>,
    key: LocalKey,
    channel: Channel,
}

impl Crm {
    pub async fn start() -> Crm {
        let store = TestStore::new("crm");
        let db = keel_store::connect(&store.options).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let key = LocalKey::from_bytes(b"crm-test-key-that-is-long-enough-for-hs256".to_vec()).unwrap();
        let verifier = Verifier::new(VerifierConfig {
            issuer: "keel-test".into(),
            audience: "keel".into(),
            leeway_seconds: 0,
            keys: KeySource::Hs256(key.secret().to_vec()),
        })
        .await
        .unwrap();
        let adapter = Arc::new(ReferenceCrm::new(db.clone(), Arc::new(tokio::sync::Notify::new())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(GrpcAuthLayer::new(Arc::new(verifier)))
                .add_service(keel_crm::service::server(adapter.clone()).max_decoding_message_size(64 * 1024))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Crm {
            _store: store,
            db,
            adapter,
            key,
            channel,
        }
    }

    pub fn client(&self) -> CrmServiceClient<Channel> {
        CrmServiceClient::new(self.channel.clone())
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> Request<T> {
        let token = self
            .key
            .issue("keel-test", "keel", "alice", &[role], Duration::from_secs(300));
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    pub fn service<T>(&self, message: T) -> Request<T> {
        self.as_role(Role::Service, message)
    }

    pub async fn account(&self) -> String {
        let request = CreateAccountRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            name: "Northwind Logistics".into(),
            tier: "enterprise".into(),
            region: "emea".into(),
        };
        self.client()
            .create_account(self.as_role(Role::Admin, request))
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// An open opportunity of a fresh account.
    pub async fn opportunity(&self) -> Opportunity {
        let account = self.account().await;
        self.client()
            .create_opportunity(self.service(CreateOpportunityRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                account_id: account,
                name: "S/4 finance rollout".into(),
                service_line: "erp-deployment".into(),
                contract_type: "fixed-fee".into(),
                region: String::new(),
                client_tier: String::new(),
                amount: Some(Money {
                    amount: "1250000.00".into(),
                    currency: "EUR".into(),
                }),
                close_date: "2026-11-20".into(),
                sow_reference: "SOW-2026-118".into(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    /// `opportunity` with its fields unchanged, as an update at its current version.
    pub fn update_of(opportunity: &Opportunity) -> UpdateOpportunityRequest {
        UpdateOpportunityRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            id: opportunity.id.clone(),
            expected_version: opportunity.version,
            name: opportunity.name.clone(),
            service_line: opportunity.service_line.clone(),
            contract_type: opportunity.contract_type.clone(),
            region: opportunity.region.clone(),
            client_tier: opportunity.client_tier.clone(),
            amount: opportunity.amount.clone(),
            close_date: opportunity.close_date.clone(),
            sow_reference: opportunity.sow_reference.clone(),
            external_ids: opportunity.external_ids.clone(),
        }
    }

    /// An open opportunity linked to HubSpot deal `deal_id`.
    pub async fn hubspot_deal(&self, deal_id: &str) -> Opportunity {
        let opportunity = self.opportunity().await;
        let mut update = Crm::update_of(&opportunity);
        update.external_ids = vec![ExternalId {
            source: "hubspot".into(),
            id: deal_id.into(),
        }];
        let linked = self
            .client()
            .update_opportunity(self.service(update))
            .await
            .unwrap()
            .into_inner();
        // As stored, so tests can compare it with later reads.
        self.get(&linked.id).await
    }

    pub async fn get(&self, id: &str) -> Opportunity {
        self.client()
            .get_opportunity(self.as_role(Role::Finance, GetOpportunityRequest { id: id.into() }))
            .await
            .unwrap()
            .into_inner()
    }

    /// Every event in the outbox, as `(type, aggregate id)`, oldest first.
    pub async fn outbox(&self) -> Vec<(String, String)> {
        let mut rows = keel_events::outbox::recent(&self.db, None, 10_000).await.unwrap();
        rows.reverse();
        rows.into_iter().map(|r| (r.event_type, r.aggregate_id)).collect()
    }
}

/// The webhook served on loopback over the CRM's adapter.
pub struct Hook {
    pub url: String,
    pub counters: Arc<WebhookCounters>,
    http: reqwest::Client,
}

impl Hook {
    pub async fn serve(adapter: Arc<dyn CrmAdapter>) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = HubSpotWebhookConfig::new(ClientSecret::new(CLIENT_SECRET), format!("http://{addr}"));
        config.validate().unwrap();
        let hook = HubSpotWebhook::new(adapter, config);
        let counters = hook.counters();
        let app = axum::Router::new().merge(hook.router());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook {
            url: format!("http://{addr}{}", webhook::WEBHOOK_PATH),
            counters,
            http: reqwest::Client::new(),
        }
    }

    /// Signs as HubSpot does, written out here rather than borrowed from the crate under test:
    /// base64(HMAC-SHA256(secret, "POST" + url + body + timestamp)).
    pub fn sign(&self, secret: &str, body: &str, timestamp_ms: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("POST{}{body}{timestamp_ms}", self.url).as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// POSTs `body` with the given signature headers; `None` leaves a header out.
    pub async fn post_raw(
        &self,
        body: &str,
        timestamp: Option<String>,
        signature: Option<String>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(ts) = timestamp {
            request = request.header("X-HubSpot-Request-Timestamp", ts);
        }
        if let Some(sig) = signature {
            request = request.header("X-HubSpot-Signature-v3", sig);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// POSTs `body` signed now with the right secret.
    pub async fn post(&self, body: &str) -> (u16, serde_json::Value) {
        let now = chrono::Utc::now().timestamp_millis();
        let signature = self.sign(CLIENT_SECRET, body, now);
        self.post_raw(body, Some(now.to_string()), Some(signature)).await
    }
}

/// A HubSpot delivery of one deal-stage change.
pub fn deal_stage_change(event_id: u64, deal_id: &str, stage: &str) -> String {
    serde_json::json!([{
        "eventId": event_id,
        "subscriptionId": 2_000_001,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": chrono::Utc::now().timestamp_millis(),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": deal_id.parse::<u64>().unwrap(),
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI"
    }])
    .to_string()
}
