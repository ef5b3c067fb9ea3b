//! The CRM system API through a real gRPC server on loopback, on the reference adapter
//! (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_crm::ReferenceCrm;
use keel_crm::reference::Migrator;
use keel_events::outbox;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{
    CreateAccountRequest, CreateOpportunityRequest, GetOpportunityRequest, ListOpportunitiesRequest,
    MarkOpportunityWonRequest, OpportunityStage, OpportunityWon,
};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::transport::Channel;
use tonic::{Code, Request};

struct Crm {
    _store: TestStore,
    db: DatabaseConnection,
    key: LocalKey,
    channel: Channel,
}

impl Crm {
    async fn start() -> Crm {
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
                .add_service(keel_crm::service::server(adapter).max_decoding_message_size(64 * 1024))
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
            key,
            channel,
        }
    }

    fn client(&self) -> CrmServiceClient<Channel> {
        CrmServiceClient::new(self.channel.clone())
    }

    fn as_role<T>(&self, role: Role, message: T) -> Request<T> {
        let token = self
            .key
            .issue("keel-test", "keel", "alice", &[role], Duration::from_secs(300));
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    async fn account(&self) -> String {
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

    async fn opportunity_count(&self) -> usize {
        let list = ListOpportunitiesRequest {
            page: Some(PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
            stage: 0,
        };
        self.client()
            .list_opportunities(self.as_role(Role::Finance, list))
            .await
            .unwrap()
            .into_inner()
            .opportunities
            .len()
    }
}

fn opportunity(account_id: &str, key: &str) -> CreateOpportunityRequest {
    CreateOpportunityRequest {
        idempotency_key: key.into(),
        account_id: account_id.into(),
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
    }
}

#[tokio::test]
async fn winning_an_opportunity_emits_one_won_event_with_the_deal() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    let created = crm
        .client()
        .create_opportunity(crm.as_role(Role::Service, opportunity(&account, "o1")))
        .await
        .unwrap()
        .into_inner();
    // Region and tier come from the account.
    assert_eq!(
        (created.region.as_str(), created.client_tier.as_str()),
        ("emea", "enterprise")
    );
    assert_eq!(created.amount.as_ref().unwrap().amount, "1250000.00");

    let won_request = MarkOpportunityWonRequest {
        idempotency_key: "w1".into(),
        id: created.id.clone(),
    };
    let won = crm
        .client()
        .mark_opportunity_won(crm.as_role(Role::Service, won_request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(won.stage, OpportunityStage::Won as i32);

    // Winning again, by replay or by a new key, emits nothing more.
    let replay = MarkOpportunityWonRequest {
        idempotency_key: "w1".into(),
        id: created.id.clone(),
    };
    crm.client()
        .mark_opportunity_won(crm.as_role(Role::Service, replay))
        .await
        .unwrap();
    let again = MarkOpportunityWonRequest {
        idempotency_key: "w2".into(),
        id: created.id.clone(),
    };
    crm.client()
        .mark_opportunity_won(crm.as_role(Role::Service, again))
        .await
        .unwrap();

    let events = outbox::recent(&crm.db, Some(keel_crm::OPPORTUNITY_WON), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let payload: OpportunityWon = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    let deal = payload.opportunity.unwrap();
    assert_eq!(deal.id, created.id);
    assert_eq!(deal.sow_reference, "SOW-2026-118");
    assert_eq!(deal.stage, OpportunityStage::Won as i32);
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    type Edit = fn(&mut CreateOpportunityRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.name = String::new(), "name"),
        (
            |r| {
                r.amount = Some(Money {
                    amount: "-10.00".into(),
                    currency: "EUR".into(),
                })
            },
            "amount.amount",
        ),
        (
            |r| {
                r.amount = Some(Money {
                    amount: "10.00".into(),
                    currency: "ZZZ".into(),
                })
            },
            "amount.currency",
        ),
        (|r| r.account_id = "not-an-id".into(), "account_id"),
        (|r| r.account_id = uuid::Uuid::now_v7().to_string(), "account_id"),
        (|r| r.sow_reference = "x".repeat(10_000), "sow_reference"),
    ];
    for (index, (edit, field)) in table.iter().enumerate() {
        let mut request = opportunity(&account, &format!("bad-{index}"));
        edit(&mut request);
        let status = crm
            .client()
            .create_opportunity(crm.as_role(Role::Service, request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let violations = keel_core::Error::from(status);
        assert_eq!(violations.field_violations()[0].field, *field);
    }
    assert_eq!(crm.opportunity_count().await, 0);

    let status = crm
        .client()
        .get_opportunity(crm.as_role(Role::Finance, GetOpportunityRequest { id: "42".into() }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("id"));
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_changes_nothing() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    let mut request = opportunity(&account, "big");
    request.name = "n".repeat(100 * 1024);
    let status = crm
        .client()
        .create_opportunity(crm.as_role(Role::Service, request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(crm.opportunity_count().await, 0);
}

#[tokio::test]
async fn a_replay_returns_the_first_result_and_a_reused_key_is_refused() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    let first = crm
        .client()
        .create_opportunity(crm.as_role(Role::Service, opportunity(&account, "k")))
        .await
        .unwrap()
        .into_inner();
    let replay = crm
        .client()
        .create_opportunity(crm.as_role(Role::Service, opportunity(&account, "k")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, replay.id);
    let mut other = opportunity(&account, "k");
    other.name = "Another deal".into();
    let status = crm
        .client()
        .create_opportunity(crm.as_role(Role::Service, other))
        .await
        .unwrap_err();
    assert_eq!(
        keel_core::Error::from(status).field_violations()[0].field,
        "idempotency_key"
    );
    assert_eq!(crm.opportunity_count().await, 1);
}

#[tokio::test]
async fn callers_are_authenticated_and_authorized() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    let status = crm
        .client()
        .create_opportunity(Request::new(opportunity(&account, "a")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = crm
        .client()
        .create_opportunity(crm.as_role(Role::Consultant, opportunity(&account, "a")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(crm.opportunity_count().await, 0);
}

#[tokio::test]
async fn lists_page_through_every_opportunity_once() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    for i in 0..5 {
        crm.client()
            .create_opportunity(crm.as_role(Role::Service, opportunity(&account, &format!("p{i}"))))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let list = ListOpportunitiesRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: token.clone(),
            }),
            stage: 0,
        };
        let page = crm
            .client()
            .list_opportunities(crm.as_role(Role::Finance, list))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.opportunities.into_iter().map(|o| o.id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
}
