//! The harness for time capture's tests: the reference PSA and ERP each served by a real
//! tonic server on loopback behind the authentication layer (the conformance harness), each
//! on its own throwaway store (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`); time
//! capture's store migrated; its engine and gRPC service wired over them.
//!
//! ERP sits behind a switch: while `erp_down` is set it answers every call `UNAVAILABLE`,
//! as a stopped server behind a load balancer does.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_proto::common::Money;
use keel_proto::common::PageRequest;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{CreateLegalEntityRequest, CreateProjectCodeRequest, Journal, ListJournalsRequest};
use keel_proto::hris::CreateEmployeeRequest;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{ApproveTimeEntryRequest, CreateAssignmentRequest, SubmitTimeEntriesRequest, TimeEntry};
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use keel_store::testing::TestStore;
use keel_time_capture::{Downstream, Migrator, TimeCaptureGrpcService, TimePolicy, TimePosting};
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key (issuer `keel-conformance`,
/// audience `keel`); time capture mints its service tokens with the same.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

/// The posted person's cost per hour in HRIS, EUR.
pub const COST_RATE: &str = "92.50";

/// Fast retries, never exhausted during a test's outage.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(40),
    max_attempts: 1_000_000,
};

/// A service answering `UNAVAILABLE` while `down` is set, else passing to `inner`.
#[derive(Clone)]
pub struct Switch<S> {
    inner: S,
    down: Arc<AtomicBool>,
}

impl<S: NamedService> NamedService for Switch<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for Switch<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = futures_like::BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if self.down.load(Ordering::SeqCst) {
            let response = tonic::Status::unavailable("erp: connection refused").into_http();
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(request);
        Box::pin(future)
    }
}

mod futures_like {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub psa_db: DatabaseConnection,
    pub staffed: keel_conformance::psa::Staffed,
    pub erp: Harness,
    pub erp_db: DatabaseConnection,
    pub erp_down: Arc<AtomicBool>,
    pub project_code: String,
    pub legal_entity: String,
    pub db: DatabaseConnection,
    pub downstream: Downstream,
    pub service: Harness,
    _stores: Vec<TestStore>,
}

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_time_capture::SERVICE_NAME)
}

pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 20).unwrap()
}

impl Platform {
    /// PSA with a staffed project (architect assigned for December 2026, 185.00 EUR an hour),
    /// ERP with a legal entity and the project's code, time capture's store and service.
    pub async fn start() -> Platform {
        Platform::start_with(TimePolicy::default()).await
    }

    /// As [`Platform::start`], time capture's service under `policy`.
    pub async fn start_with(policy: TimePolicy) -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa = keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(
            psa_db.clone(),
            Arc::new(Notify::new()),
        )))
        .await;
        let staffed = psa.staffed().await.expect("staffed project");

        let (erp_store, erp_db) = migrated_store::<keel_erp::reference::Migrator>("erp").await;
        let erp_down = Arc::new(AtomicBool::new(false));
        let erp_service = keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(
            erp_db.clone(),
            Arc::new(Notify::new()),
        )))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let erp = Harness::serve(Switch {
            inner: erp_service,
            down: erp_down.clone(),
        })
        .await;
        let legal_entity = format!(
            "KEEL-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        let mut erp_client = ErpServiceClient::new(erp.channel());
        erp_client
            .create_legal_entity(erp.service(CreateLegalEntityRequest {
                idempotency_key: format!("le-{legal_entity}"),
                code: legal_entity.clone(),
                name: "Keel Consulting Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            }))
            .await
            .expect("legal entity");
        let project_code = erp_client
            .create_project_code(erp.service(CreateProjectCodeRequest {
                idempotency_key: format!("pc-{}", staffed.project.id),
                project_id: staffed.project.id.clone(),
                name: "Conformance rollout".into(),
                legal_entity: legal_entity.clone(),
                currency: "EUR".into(),
            }))
            .await
            .expect("project code")
            .into_inner()
            .code;

        // The person whose time is posted: in HRIS, employed by the project's legal entity at
        // 92.50 EUR an hour, and assigned in PSA as the project's architect for December.
        let (hris_store, hris_db) = migrated_store::<keel_hris::reference::Migrator>("hris").await;
        let hris = Harness::serve(
            keel_hris::service::server(Arc::new(keel_hris::ReferenceHris::new(
                hris_db,
                Arc::new(Notify::new()),
            )))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;
        let employee = HrisServiceClient::new(hris.channel())
            .create_employee(hris.service(CreateEmployeeRequest {
                idempotency_key: format!("emp-{}", uuid::Uuid::new_v4()),
                employee_number: format!("E-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                name: "Ada Lovelace".into(),
                email: "ada@keel.example".into(),
                legal_entity: legal_entity.clone(),
                location: "London".into(),
                region: "emea".into(),
                labor_category: "solution-architect".into(),
                cost_rate: Some(Money {
                    amount: COST_RATE.into(),
                    currency: "EUR".into(),
                }),
                utilization_target: "0.8".into(),
                weekly_capacity_hours: "40".into(),
                ..Default::default()
            }))
            .await
            .expect("employee")
            .into_inner();
        let assignment = PsaServiceClient::new(psa.harness.channel())
            .create_assignment(psa.harness.service(CreateAssignmentRequest {
                idempotency_key: format!("assign-{}", employee.id),
                project_id: staffed.project.id.clone(),
                employee_id: employee.id.clone(),
                person_name: employee.name.clone(),
                role: staffed.assignment.role.clone(),
                bill_role: String::new(),
                start_date: "2026-12-01".into(),
                end_date: "2026-12-31".into(),
                allocation_percent: "50".into(),
            }))
            .await
            .expect("assignment")
            .into_inner();
        let staffed = keel_conformance::psa::Staffed {
            project: staffed.project,
            employee_id: employee.id,
            assignment,
        };

        let (store, db) = migrated_store::<Migrator>("time-capture").await;
        let downstream = Downstream::new(
            psa.harness.channel(),
            erp.channel(),
            hris.channel(),
            credentials(),
            Duration::from_secs(5),
        );
        let service_engine = engine(&db, &downstream, "rpc");
        let service = Harness::serve(
            TimeCaptureGrpcService::new(service_engine, downstream.clone(), policy)
                .with_today(today)
                .into_server(),
        )
        .await;
        Platform {
            psa,
            psa_db,
            staffed,
            erp,
            erp_db,
            erp_down,
            project_code,
            legal_entity,
            db,
            downstream,
            service,
            _stores: vec![psa_store, erp_store, hris_store, store],
        }
    }

    pub fn engine(&self, owner: &str) -> Engine {
        engine(&self.db, &self.downstream, owner)
    }

    pub fn time_capture(&self) -> TimeCaptureServiceClient<Channel> {
        TimeCaptureServiceClient::new(self.service.channel())
    }

    pub fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    /// `n` billable entries of 1.5 hours recorded, submitted and approved in PSA.
    pub async fn approved_entries(&self, n: usize) -> Vec<TimeEntry> {
        let mut psa = self.psa_client();
        let mut recorded = Vec::with_capacity(n);
        for i in 0..n {
            let mut request =
                keel_conformance::psa::time_entry(&format!("rec-{}", uuid::Uuid::new_v4()), &self.staffed, "1.5");
            request.narrative = format!("Chart of accounts workshop, session {i}");
            let entry = psa
                .record_time_entry(self.psa.harness.service(request))
                .await
                .expect("record")
                .into_inner();
            recorded.push(entry);
        }
        let mut submitted = Vec::with_capacity(n);
        for chunk in recorded.chunks(100) {
            let entries = psa
                .submit_time_entries(self.psa.harness.service(SubmitTimeEntriesRequest {
                    idempotency_key: format!("submit-{}", uuid::Uuid::new_v4()),
                    ids: chunk.iter().map(|e| e.id.clone()).collect(),
                }))
                .await
                .expect("submit")
                .into_inner()
                .entries;
            submitted.extend(entries);
        }
        let approver = uuid::Uuid::now_v7().to_string();
        let mut approved = Vec::with_capacity(n);
        for entry in submitted {
            let entry = psa
                .approve_time_entry(self.psa.harness.service(ApproveTimeEntryRequest {
                    idempotency_key: format!("approve-{}", entry.id),
                    id: entry.id.clone(),
                    approver_id: approver.clone(),
                    expected_version: entry.version,
                }))
                .await
                .expect("approve")
                .into_inner();
            approved.push(entry);
        }
        approved
    }

    pub async fn entry(&self, id: &str) -> TimeEntry {
        self.psa_client()
            .get_time_entry(
                self.psa
                    .harness
                    .service(keel_proto::psa::GetTimeEntryRequest { id: id.to_string() }),
            )
            .await
            .expect("get entry")
            .into_inner()
    }

    /// Every journal ERP holds for the project code.
    pub async fn journals(&self) -> Vec<Journal> {
        let mut client = ErpServiceClient::new(self.erp.channel());
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_journals(self.erp.service(ListJournalsRequest {
                    legal_entity: String::new(),
                    project_code: self.project_code.clone(),
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: token.clone(),
                    }),
                }))
                .await
                .expect("list journals")
                .into_inner();
            all.extend(page.journals);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return all;
            }
        }
    }

    pub fn reader<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as("alice", role, message)
    }
}

pub fn engine(db: &DatabaseConnection, downstream: &Downstream, owner: &str) -> Engine {
    Engine::new(
        db.clone(),
        vec![
            Arc::new(TimePosting::with_retry(downstream.clone(), FAST)),
            Arc::new(keel_time_capture::expenses::ExpensePostingWorkflow::with_retry(
                downstream.clone(),
                FAST,
            )),
        ],
        EngineOptions {
            owner: owner.to_string(),
            lease: Duration::from_millis(800),
            batch: 64,
            poll_interval: Duration::from_millis(10),
        },
    )
}

/// Runs rounds until nothing is running (across lease expiries).
pub async fn settle(engine: &Engine) {
    for _ in 0..20_000 {
        let worked = engine.tick().await.unwrap_or(1);
        if worked == 0 {
            let running: u64 = engine
                .counts()
                .await
                .unwrap()
                .into_iter()
                .filter(|(s, _)| *s == Status::Running)
                .map(|(_, n)| n)
                .sum();
            if running == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the engine did not settle");
}

pub async fn count(engine: &Engine, status: Status) -> u64 {
    engine
        .counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == status)
        .map(|(_, n)| n)
        .unwrap_or(0)
}
