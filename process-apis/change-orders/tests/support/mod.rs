//! The harness for the change-order tests: the reference PSA, ERP and documents each served by
//! a real tonic server on loopback behind the authentication layer (the conformance harness),
//! each on its own throwaway store (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`); the
//! change-order store migrated; its engine and gRPC service wired over them.
//!
//! Each system API sits behind a [`Faults`] layer: a test arms it to refuse (or to answer
//! `UNAVAILABLE`) a named RPC, after letting a number of calls through, a number of times, as
//! a system that says no would.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::convert::Infallible;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_change_orders::{ChangeOrder, ChangeOrderGrpcService, Downstream, Migrator};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_proto::changeorders::change_order_service_client::ChangeOrderServiceClient;
use keel_proto::common::{Money, PageRequest};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{Document, DocumentType, ListDocumentsRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BudgetLine, CreateBillingMilestoneRequest, CreateLegalEntityRequest, CreateProjectCodeRequest,
    GetProjectCodeRequest, GetRevenueScheduleRequest, ListBillingMilestonesRequest, PostBudgetRequest, RevenueMethod,
    SetRevenueScheduleRequest,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ChangeRequest, ChangeRequestState, ChangeRequestTransitionRequest, CreateChangeRequestRequest,
    GetChangeRequestRequest, GetProjectRequest, Project,
};
use keel_store::testing::TestStore;
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status};
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key (issuer `keel-conformance`,
/// audience `keel`); the change-order service mints its tokens with the same.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

/// Fast retries, never exhausted during a test's outage.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(40),
    max_attempts: 1_000_000,
};

/// One armed fault: `method` (the RPC name, `UpdateBudget`) answers `code` `times` times,
/// after `skip` calls went through.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub skip: u32,
    pub times: u32,
    pub code: tonic::Code,
}

/// The faults armed in front of one system API.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<Fault>>>);

impl Faults {
    /// Refuses `method` once with FAILED_PRECONDITION after `skip` calls.
    pub fn refuse(&self, method: &'static str, skip: u32) {
        self.arm(Fault {
            method,
            skip,
            times: 1,
            code: tonic::Code::FailedPrecondition,
        });
    }

    pub fn arm(&self, fault: Fault) {
        self.0.lock().unwrap().push(fault);
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The status to answer `path` with, if a fault fires.
    fn fire(&self, path: &str) -> Option<tonic::Status> {
        let mut faults = self.0.lock().unwrap();
        let method = path.rsplit('/').next().unwrap_or_default();
        let fault = faults.iter_mut().find(|f| f.method == method && f.times > 0)?;
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.times -= 1;
        Some(tonic::Status::new(fault.code, format!("{method}: refused by the test")))
    }
}

/// A system API behind its [`Faults`].
#[derive(Clone)]
pub struct Faulty<S> {
    inner: S,
    faults: Faults,
}

impl<S: NamedService> NamedService for Faulty<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Faulty<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(status) = self.faults.fire(request.uri().path()) {
            let response = status.into_http();
            return Box::pin(async move { Ok(response) });
        }
        Box::pin(self.inner.call(request))
    }
}

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_change_orders::SERVICE_NAME)
}

pub fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

/// Minor units of a money message.
pub fn minor(money: &Option<Money>) -> i64 {
    let amount = Decimal::from_str(&money.as_ref().expect("money").amount).expect("decimal");
    i64::try_from((amount * Decimal::from(100)).round()).expect("minor units")
}

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub psa_faults: Faults,
    pub erp: Harness,
    pub erp_faults: Faults,
    pub documents: Harness,
    pub documents_faults: Faults,
    pub legal_entity: String,
    pub db: DatabaseConnection,
    pub downstream: Downstream,
    pub service: Harness,
    _stores: Vec<TestStore>,
}

/// A project set up in PSA and posted to ERP (budget, billing milestones, revenue schedule),
/// and an approved change request on it.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub project: Project,
    pub project_code: String,
    pub change_request: ChangeRequest,
}

/// Everything a change order may touch, as the systems hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// PSA: baseline lines (role, hours, minor), milestone amounts, contract value.
    pub psa_lines: Vec<(String, String, i64)>,
    pub psa_milestones: Vec<i64>,
    pub psa_contract: i64,
    pub change_request_state: i32,
    /// ERP: budget lines (role, hours, minor), milestone amounts by name, contract value.
    pub erp_lines: Vec<(String, Decimal, i64)>,
    pub erp_milestones: Vec<(String, i64)>,
    pub erp_contract: i64,
    /// Documents: the project's change-order documents.
    pub documents: usize,
}

impl Platform {
    /// PSA, ERP (with a legal entity) and documents served; the change-order store and service.
    pub async fn start() -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa_faults = Faults::default();
        let psa_service =
            keel_psa::service::server(Arc::new(keel_psa::ReferencePsa::new(psa_db, Arc::new(Notify::new()))))
                .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let psa = keel_conformance::psa::Context {
            harness: Harness::serve(Faulty {
                inner: psa_service,
                faults: psa_faults.clone(),
            })
            .await,
        };

        let (erp_store, erp_db) = migrated_store::<keel_erp::reference::Migrator>("erp").await;
        let erp_faults = Faults::default();
        let erp_service =
            keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(erp_db, Arc::new(Notify::new()))))
                .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let erp = Harness::serve(Faulty {
            inner: erp_service,
            faults: erp_faults.clone(),
        })
        .await;

        let (documents_store, documents_db) = migrated_store::<keel_documents::reference::Migrator>("documents").await;
        let documents_faults = Faults::default();
        let documents_service = keel_documents::service::server(Arc::new(keel_documents::ReferenceDocuments::new(
            documents_db,
            Arc::new(Notify::new()),
        )))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let documents = Harness::serve(Faulty {
            inner: documents_service,
            faults: documents_faults.clone(),
        })
        .await;

        let legal_entity = format!(
            "KEEL-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        ErpServiceClient::new(erp.channel())
            .create_legal_entity(erp.service(CreateLegalEntityRequest {
                idempotency_key: format!("le-{legal_entity}"),
                code: legal_entity.clone(),
                name: "Keel Consulting Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            }))
            .await
            .expect("legal entity");

        let (store, db) = migrated_store::<Migrator>("change-orders").await;
        let downstream = Downstream::new(
            psa.harness.channel(),
            erp.channel(),
            documents.channel(),
            credentials(),
            Duration::from_secs(5),
        );
        let service = Harness::serve(
            ChangeOrderGrpcService::new(engine(&db, &downstream, "rpc"), downstream.clone()).into_server(),
        )
        .await;
        Platform {
            psa,
            psa_faults,
            erp,
            erp_faults,
            documents,
            documents_faults,
            legal_entity,
            db,
            downstream,
            service,
            _stores: vec![psa_store, erp_store, documents_store, store],
        }
    }

    pub fn engine(&self, owner: &str) -> Engine {
        engine(&self.db, &self.downstream, owner)
    }

    pub fn change_orders(&self) -> ChangeOrderServiceClient<Channel> {
        ChangeOrderServiceClient::new(self.service.channel())
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as("alice", role, message)
    }

    fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    fn erp_client(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.erp.channel())
    }

    /// A staffed PSA project (milestones Kickoff 30000.00 and Go-live 70000.00 EUR), posted to
    /// ERP: project code, the baseline as budget, both milestones, a fixed-fee milestone revenue
    /// schedule for the contract value. Then a change request moving `role` by `hours` and
    /// `amount` over `milestones` (PSA ids), submitted and approved.
    pub async fn scenario(&self, role: &str, hours: &str, amount: &str, milestones: &[&str]) -> Scenario {
        let staffed = self.psa.staffed().await.expect("staffed project");
        let project = staffed.project;
        let mut erp = self.erp_client();
        let code = erp
            .create_project_code(self.erp.service(CreateProjectCodeRequest {
                idempotency_key: format!("pc-{}", project.id),
                project_id: project.id.clone(),
                name: project.name.clone(),
                legal_entity: self.legal_entity.clone(),
                currency: "EUR".into(),
            }))
            .await
            .expect("project code")
            .into_inner()
            .code;
        let baseline = project.budget_baseline.clone().expect("baseline");
        erp.post_budget(
            self.erp.service(PostBudgetRequest {
                idempotency_key: format!("budget-{}", project.id),
                project_code: code.clone(),
                lines: baseline
                    .lines
                    .iter()
                    .map(|l| BudgetLine {
                        role: l.role.clone(),
                        hours: l.hours.clone(),
                        amount: l.amount.clone(),
                    })
                    .collect(),
            }),
        )
        .await
        .expect("budget");
        for milestone in &project.milestones {
            erp.create_billing_milestone(self.erp.service(CreateBillingMilestoneRequest {
                idempotency_key: format!("ms-{}-{}", project.id, milestone.id),
                project_code: code.clone(),
                name: milestone.name.clone(),
                amount: milestone.amount.clone(),
                due_date: milestone.due_date.clone(),
            }))
            .await
            .expect("billing milestone");
        }
        erp.set_revenue_schedule(self.erp.service(SetRevenueScheduleRequest {
            idempotency_key: format!("rev-{}", project.id),
            project_code: code.clone(),
            method: RevenueMethod::FixedFeeMilestone as i32,
            contract_value: project.contract_value.clone(),
        }))
        .await
        .expect("revenue schedule");

        let mut psa = self.psa_client();
        let created = psa
            .create_change_request(self.psa.harness.service(CreateChangeRequestRequest {
                idempotency_key: format!("cr-{}", uuid::Uuid::new_v4()),
                project_id: project.id.clone(),
                title: "Second legal entity".into(),
                description: "Adds the Dutch entity".into(),
                role: role.into(),
                delta_hours: hours.into(),
                delta_amount: eur(amount),
                affected_milestone_ids: milestones.iter().map(|m| m.to_string()).collect(),
            }))
            .await
            .expect("change request")
            .into_inner();
        let mut current = created;
        for step in ["submit", "approve"] {
            let message = self.psa.harness.service(ChangeRequestTransitionRequest {
                idempotency_key: format!("{step}-{}", current.id),
                id: current.id.clone(),
                expected_version: current.version,
                reason: String::new(),
            });
            current = match step {
                "submit" => psa.submit_change_request(message).await,
                _ => psa.approve_change_request(message).await,
            }
            .expect(step)
            .into_inner();
        }
        assert_eq!(current.state, ChangeRequestState::Approved as i32);
        Scenario {
            project,
            project_code: code,
            change_request: current,
        }
    }

    /// What PSA, ERP and documents hold for the scenario's project.
    pub async fn snapshot(&self, scenario: &Scenario) -> Snapshot {
        let mut psa = self.psa_client();
        let project = psa
            .get_project(self.psa.harness.service(GetProjectRequest {
                id: scenario.project.id.clone(),
                opportunity_id: String::new(),
            }))
            .await
            .expect("project")
            .into_inner();
        let request = psa
            .get_change_request(self.psa.harness.service(GetChangeRequestRequest {
                id: scenario.change_request.id.clone(),
            }))
            .await
            .expect("change request")
            .into_inner();
        let baseline = project.budget_baseline.clone().unwrap_or_default();
        let mut erp = self.erp_client();
        let code = erp
            .get_project_code(self.erp.service(GetProjectCodeRequest {
                code: scenario.project_code.clone(),
                project_id: String::new(),
            }))
            .await
            .expect("project code")
            .into_inner();
        let budget = code.budget.unwrap_or_default();
        let milestones = erp
            .list_billing_milestones(self.erp.service(ListBillingMilestonesRequest {
                project_code: scenario.project_code.clone(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            }))
            .await
            .expect("milestones")
            .into_inner()
            .milestones;
        let schedule = erp
            .get_revenue_schedule(self.erp.service(GetRevenueScheduleRequest {
                project_code: scenario.project_code.clone(),
            }))
            .await
            .expect("revenue schedule")
            .into_inner();
        Snapshot {
            psa_lines: baseline
                .lines
                .iter()
                .map(|l| (l.role.clone(), l.hours.clone(), minor(&l.amount)))
                .collect(),
            psa_milestones: project.milestones.iter().map(|m| minor(&m.amount)).collect(),
            psa_contract: minor(&project.contract_value),
            change_request_state: request.state,
            erp_lines: budget
                .lines
                .iter()
                .map(|l| {
                    (
                        l.role.clone(),
                        Decimal::from_str(&l.hours).unwrap().normalize(),
                        minor(&l.amount),
                    )
                })
                .collect(),
            erp_milestones: milestones.iter().map(|m| (m.name.clone(), minor(&m.amount))).collect(),
            erp_contract: minor(&schedule.contract_value),
            documents: self.documents_of(&scenario.project.id).await.len(),
        }
    }

    /// The project's change-order documents.
    pub async fn documents_of(&self, project_id: &str) -> Vec<Document> {
        DocumentsServiceClient::new(self.documents.channel())
            .list_documents(self.documents.service(ListDocumentsRequest {
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
                project_id: project_id.to_string(),
                client_id: String::new(),
                r#type: DocumentType::ChangeOrder as i32,
            }))
            .await
            .expect("documents")
            .into_inner()
            .documents
    }

    /// Starts the scenario's change order straight on the engine.
    pub async fn start_change_order(&self, engine: &Engine, scenario: &Scenario) -> uuid::Uuid {
        let id = &scenario.change_request.id;
        engine
            .start(
                keel_change_orders::workflow::KIND,
                id,
                ChangeOrder::input(id, &format!("test-{id}")),
                serde_json::json!({}),
                "test",
            )
            .await
            .expect("start")
            .id
    }
}

pub fn engine(db: &DatabaseConnection, downstream: &Downstream, owner: &str) -> Engine {
    Engine::new(
        db.clone(),
        vec![Arc::new(ChangeOrder::with_retry(downstream.clone(), FAST))],
        EngineOptions {
            owner: owner.to_string(),
            // Short: the engine claims an instance's next step once its lease has passed.
            lease: Duration::from_millis(250),
            batch: 64,
            poll_interval: Duration::from_millis(10),
        },
    )
}

/// Runs rounds until nothing is running or compensating (across lease expiries).
pub async fn settle(engine: &Engine) {
    for _ in 0..20_000 {
        let worked = engine.tick().await.unwrap_or(1);
        if worked == 0 {
            let busy: u64 = engine
                .counts()
                .await
                .unwrap()
                .into_iter()
                .filter(|(s, _)| matches!(s, Status::Running | Status::Compensating))
                .map(|(_, n)| n)
                .sum();
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the engine did not settle");
}
