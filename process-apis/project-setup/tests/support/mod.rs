//! The harness for project setup's integration tests: the reference CRM, PSA and ERP each
//! served by a real tonic server on 127.0.0.1:0 behind the authentication layer, each on its
//! own throwaway store (SQLite, or PostgreSQL when `KEEL_TEST_DATABASE_URL` is set), PSA
//! seeded with the demo delivery templates; project setup's own store migrated; and the
//! real consumer, worker and gRPC service wired over them as `src/platform.rs` wires them.
//!
//! ERP can start up, down (a port nobody listens on) or hung (a port that accepts
//! connections and never answers), and be brought up later on the same port, so the worker's
//! own channel sees it come back.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, LocalKey, Role, ServiceCredentials, Verifier, VerifierConfig};
use keel_events::{EventEnvelope, EventHandler, outbox};
use keel_project_setup::setups;
use keel_project_setup::{Downstream, OpportunityWonConsumer, ProjectSetupGrpcService, Worker, WorkerOptions};
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{
    CreateAccountRequest, CreateOpportunityRequest, MarkOpportunityWonRequest, Opportunity, OpportunityWon,
};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{ListProjectCodesRequest, ProjectCode};
use keel_proto::projectsetup::Setup;
use keel_proto::projectsetup::project_setup_service_client::ProjectSetupServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{ListProjectsRequest, Project, UpsertDeliveryTemplateRequest};
use keel_store::testing::TestStore;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::Request;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};

pub const ISSUER: &str = "keel-test";
pub const AUDIENCE: &str = "keel";
const SECRET: &[u8] = b"project-setup-tests-0123456789abcdef-0123456789";

/// The deal every test starts from unless it edits it: Northwind's EMEA ERP rollout, which
/// the `erp-fixed-fee-emea` template fits.
pub const CONTRACT_VALUE: &str = "1250000.00";
pub const EMEA_TEMPLATE: &str = "erp-fixed-fee-emea";

/// Worker pacing for tests: retries due within tens of milliseconds, a lease long enough
/// that nothing in a test lapses by accident.
pub fn fast_options() -> WorkerOptions {
    WorkerOptions {
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_attempts: 20,
    }
}

/// How ERP starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erp {
    Up,
    /// Nothing listens on its port: connections are refused.
    Down,
    /// Its port accepts connections and never answers.
    Hung,
}

/// One system API: its store and where it listens.
pub struct System {
    pub db: DatabaseConnection,
    pub addr: SocketAddr,
    _store: TestStore,
}

pub struct Harness {
    pub key: LocalKey,
    verifier: Arc<Verifier>,
    pub crm: System,
    pub psa: System,
    pub collaboration: System,
    pub documents: System,
    erp: Option<System>,
    /// ERP's address, whether or not it is up.
    pub erp_addr: SocketAddr,
    black_hole: Option<TcpListener>,
    /// Project setup's own store.
    pub setups: DatabaseConnection,
    _setup_store: TestStore,
}

/// Serves `routes` on `listener` behind the authentication layer, until the test ends.
fn spawn(listener: TcpListener, verifier: Arc<Verifier>, routes: Routes) {
    tokio::spawn(
        Server::builder()
            .layer(GrpcAuthLayer::new(verifier))
            .add_routes(routes)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
}

/// A fresh store for `service`, not yet migrated.
async fn store(service: &str) -> (TestStore, DatabaseConnection) {
    let store = TestStore::new(service);
    let db = keel_store::connect(&store.options).await.expect("connect");
    (store, db)
}

/// A channel that connects on first use, as the platform's are.
pub fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy()
}

/// Binds `addr` again, retrying briefly while the old socket lets go of it.
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("could not bind {addr} again");
}

impl Harness {
    /// CRM, PSA (with the demo templates) and ERP all up.
    pub async fn start() -> Harness {
        Harness::start_with(Erp::Up).await
    }

    pub async fn start_with(erp: Erp) -> Harness {
        let key = LocalKey::from_bytes(SECRET.to_vec()).unwrap();
        let verifier = Arc::new(
            Verifier::new(VerifierConfig {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                leeway_seconds: 5,
                keys: key.key_source(),
            })
            .await
            .unwrap(),
        );

        let (crm_store, crm_db) = store("crm").await;
        keel_crm::reference::Migrator::up(&crm_db, None).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crm_addr = listener.local_addr().unwrap();
        let adapter = Arc::new(keel_crm::ReferenceCrm::new(crm_db.clone(), Arc::new(Notify::new())));
        spawn(
            listener,
            verifier.clone(),
            Routes::new(keel_crm::service::server(adapter)),
        );

        let (psa_store, psa_db) = store("psa").await;
        keel_psa::reference::Migrator::up(&psa_db, None).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let psa_addr = listener.local_addr().unwrap();
        let adapter = Arc::new(keel_psa::ReferencePsa::new(psa_db.clone(), Arc::new(Notify::new())));
        spawn(
            listener,
            verifier.clone(),
            Routes::new(keel_psa::service::server(adapter)),
        );

        let (collaboration_store, collaboration_db) = store("collaboration").await;
        keel_collaboration::reference::Migrator::up(&collaboration_db, None)
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let collaboration_addr = listener.local_addr().unwrap();
        let adapter = Arc::new(keel_collaboration::ReferenceCollaboration::new(
            collaboration_db.clone(),
            Arc::new(Notify::new()),
        ));
        spawn(
            listener,
            verifier.clone(),
            Routes::new(keel_collaboration::service::server(adapter)),
        );

        let (documents_store, documents_db) = store("documents").await;
        keel_documents::reference::Migrator::up(&documents_db, None)
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let documents_addr = listener.local_addr().unwrap();
        let adapter = Arc::new(keel_documents::ReferenceDocuments::new(
            documents_db.clone(),
            Arc::new(Notify::new()),
        ));
        spawn(
            listener,
            verifier.clone(),
            Routes::new(keel_documents::service::server(adapter)),
        );

        let (setup_store, setup_db) = store("project-setup").await;
        keel_project_setup::Migrator::up(&setup_db, None).await.unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let erp_addr = listener.local_addr().unwrap();
        let mut harness = Harness {
            key,
            verifier,
            crm: System {
                db: crm_db,
                addr: crm_addr,
                _store: crm_store,
            },
            psa: System {
                db: psa_db,
                addr: psa_addr,
                _store: psa_store,
            },
            collaboration: System {
                db: collaboration_db,
                addr: collaboration_addr,
                _store: collaboration_store,
            },
            documents: System {
                db: documents_db,
                addr: documents_addr,
                _store: documents_store,
            },
            erp: None,
            erp_addr,
            black_hole: None,
            setups: setup_db,
            _setup_store: setup_store,
        };
        match erp {
            Erp::Up => harness.serve_erp(listener).await,
            Erp::Down => drop(listener),
            Erp::Hung => harness.black_hole = Some(listener),
        }
        harness.seed_templates().await;
        harness
    }

    async fn serve_erp(&mut self, listener: TcpListener) {
        let (erp_store, erp_db) = store("erp").await;
        keel_erp::reference::Migrator::up(&erp_db, None).await.unwrap();
        let adapter = Arc::new(keel_erp::ReferenceErp::new(erp_db.clone(), Arc::new(Notify::new())));
        spawn(
            listener,
            self.verifier.clone(),
            Routes::new(keel_erp::service::server(adapter)),
        );
        self.erp = Some(System {
            db: erp_db,
            addr: self.erp_addr,
            _store: erp_store,
        });
    }

    /// ERP comes (back) up on the address every downstream channel already points at.
    pub async fn erp_comes_up(&mut self) {
        assert!(self.erp.is_none(), "ERP is already up");
        drop(self.black_hole.take());
        let listener = rebind(self.erp_addr).await;
        self.serve_erp(listener).await;
    }

    pub fn erp(&self) -> &System {
        self.erp.as_ref().expect("ERP is up")
    }

    async fn seed_templates(&self) {
        let mut psa = PsaServiceClient::new(channel(self.psa.addr));
        for template in keel_psa::demo::templates() {
            let request = UpsertDeliveryTemplateRequest {
                idempotency_key: format!("seed-{}", template.id),
                template: Some(template),
            };
            psa.upsert_delivery_template(self.as_role(Role::Admin, request))
                .await
                .expect("seed a delivery template");
        }
    }

    // --- callers -------------------------------------------------------------------------

    pub fn token(&self, role: Role) -> String {
        self.key.issue(
            ISSUER,
            AUDIENCE,
            &format!("test-{}", role.as_str()),
            &[role],
            Duration::from_secs(600),
        )
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", self.token(role)).parse().unwrap());
        request
    }

    /// A call as the named person holding `role`.
    pub fn as_person<T>(&self, subject: &str, role: Role, message: T) -> Request<T> {
        let token = self
            .key
            .issue(ISSUER, AUDIENCE, subject, &[role], Duration::from_secs(600));
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    // --- project setup's pieces, wired as the platform wires them --------------------------

    /// Clients of CRM, PSA and ERP as project setup holds them (fresh channels: a new
    /// process).
    pub fn downstream(&self) -> Downstream {
        self.downstream_with_timeout(Duration::from_secs(5))
    }

    pub fn downstream_with_timeout(&self, timeout: Duration) -> Downstream {
        Downstream::new(
            channel(self.crm.addr),
            channel(self.psa.addr),
            channel(self.erp_addr),
            channel(self.collaboration.addr),
            channel(self.documents.addr),
            ServiceCredentials::minted(self.key.clone(), ISSUER, AUDIENCE, keel_project_setup::SERVICE_NAME),
            timeout,
        )
    }

    pub fn worker(&self, options: WorkerOptions) -> Worker {
        Worker::new(self.setups.clone(), self.downstream(), options)
    }

    pub fn consumer(&self) -> OpportunityWonConsumer {
        OpportunityWonConsumer::new(self.setups.clone(), Arc::new(Notify::new()))
    }

    /// Delivers `event` to the consumer as the bus would.
    pub async fn deliver(&self, event: &EventEnvelope) {
        self.consumer()
            .handle(event)
            .await
            .expect("the consumer takes the event");
    }

    /// Project setup's gRPC service on its own port, behind the authentication layer.
    pub async fn serve_project_setup(&self) -> ProjectSetupServiceClient<Channel> {
        self.serve_project_setup_with(keel_project_setup::Intake::default())
            .await
    }

    /// The service with intake under the given policy.
    pub async fn serve_project_setup_with(
        &self,
        intake: keel_project_setup::Intake,
    ) -> ProjectSetupServiceClient<Channel> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = ProjectSetupGrpcService::new(self.setups.clone(), self.downstream(), Arc::new(Notify::new()))
            .with_intake(intake);
        spawn(
            listener,
            self.verifier.clone(),
            Routes::new(keel_project_setup::service::server(service)),
        );
        ProjectSetupServiceClient::new(channel(addr))
    }

    // --- CRM ------------------------------------------------------------------------------

    fn crm_client(&self) -> CrmServiceClient<Channel> {
        CrmServiceClient::new(channel(self.crm.addr))
    }

    /// An open opportunity of a fresh EMEA enterprise account, edited by `edit` before
    /// it is created.
    pub async fn open_deal(&self, edit: impl FnOnce(&mut CreateOpportunityRequest)) -> Opportunity {
        let mut crm = self.crm_client();
        let account = crm
            .create_account(self.as_role(
                Role::Admin,
                CreateAccountRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    name: "Northwind Logistics GmbH".into(),
                    tier: "enterprise".into(),
                    region: "emea".into(),
                },
            ))
            .await
            .expect("create an account")
            .into_inner();
        let mut request = CreateOpportunityRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            account_id: account.id,
            name: "Northwind S/4 finance rollout".into(),
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: String::new(),
            client_tier: String::new(),
            amount: Some(Money {
                amount: CONTRACT_VALUE.into(),
                currency: "EUR".into(),
            }),
            close_date: "2026-11-20".into(),
            sow_reference: "SOW-2026-118".into(),
        };
        edit(&mut request);
        crm.create_opportunity(self.as_role(Role::Admin, request))
            .await
            .expect("create an opportunity")
            .into_inner()
    }

    /// Marks the opportunity won in CRM and returns the `crm.opportunity.won` event CRM
    /// wrote to its outbox for it.
    pub async fn win(&self, opportunity_id: &str) -> EventEnvelope {
        self.crm_client()
            .mark_opportunity_won(self.as_role(
                Role::Admin,
                MarkOpportunityWonRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    id: opportunity_id.to_string(),
                },
            ))
            .await
            .expect("mark the opportunity won");
        let rows = outbox::recent(&self.crm.db, Some(keel_crm::OPPORTUNITY_WON), 500)
            .await
            .unwrap();
        let row = rows
            .iter()
            .find(|r| r.aggregate_id == opportunity_id)
            .expect("CRM wrote the won event");
        outbox::to_envelope(row).unwrap()
    }

    /// An opportunity opened and won in CRM, with CRM's won event.
    pub async fn won_deal(&self, edit: impl FnOnce(&mut CreateOpportunityRequest)) -> (Opportunity, EventEnvelope) {
        let opportunity = self.open_deal(edit).await;
        let event = self.win(&opportunity.id).await;
        let won: OpportunityWon = event.decode().unwrap();
        (won.opportunity.expect("the event carries the deal"), event)
    }

    // --- what a user sees -----------------------------------------------------------------

    /// The setup of an opportunity, as the service reports it.
    pub async fn setup(&self, opportunity_id: &str) -> Setup {
        let row = setups::by_opportunity(&self.setups, opportunity_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no setup for opportunity {opportunity_id}"));
        setups::to_proto(&row)
    }

    pub async fn setup_count(&self) -> i64 {
        count(&self.setups, "setups").await
    }

    /// Every PSA project.
    pub async fn projects(&self) -> Vec<Project> {
        PsaServiceClient::new(channel(self.psa.addr))
            .list_projects(self.as_role(
                Role::Admin,
                ListProjectsRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .projects
    }

    /// Every ERP project code, with its budget.
    pub async fn project_codes(&self) -> Vec<ProjectCode> {
        ErpServiceClient::new(channel(self.erp().addr))
            .list_project_codes(self.as_role(
                Role::Finance,
                ListProjectCodesRequest {
                    page: Some(PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .project_codes
    }

    /// Budgets stored in ERP, counted in its tables (not through the contract, which shows
    /// one per code however many were written).
    pub async fn billing_milestones(&self, project_code: &str) -> Vec<keel_proto::erp::BillingMilestone> {
        let mut erp = ErpServiceClient::new(channel(self.erp_addr));
        erp.list_billing_milestones(self.as_role(
            Role::Finance,
            keel_proto::erp::ListBillingMilestonesRequest {
                project_code: project_code.to_string(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            },
        ))
        .await
        .expect("billing milestones")
        .into_inner()
        .milestones
    }

    pub async fn workspace(&self, project_id: &str) -> keel_proto::collaboration::Workspace {
        let mut collaboration =
            keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient::new(channel(
                self.collaboration.addr,
            ));
        collaboration
            .get_workspace_by_project(self.as_role(
                Role::ProjectManager,
                keel_proto::collaboration::GetWorkspaceByProjectRequest {
                    project_id: project_id.to_string(),
                },
            ))
            .await
            .expect("the project's workspace")
            .into_inner()
    }

    pub async fn documents_of(&self, project_id: &str) -> Vec<keel_proto::documents::Document> {
        let mut documents =
            keel_proto::documents::documents_service_client::DocumentsServiceClient::new(channel(self.documents.addr));
        documents
            .list_documents(self.as_role(
                Role::ProjectManager,
                keel_proto::documents::ListDocumentsRequest {
                    page: None,
                    project_id: project_id.to_string(),
                    ..Default::default()
                },
            ))
            .await
            .expect("the project's documents")
            .into_inner()
            .documents
    }

    pub async fn erp_budget_rows(&self) -> i64 {
        count(&self.erp().db, "budgets").await
    }

    // --- driving the worker ---------------------------------------------------------------

    /// Waits until the opportunity's setup is due, then runs one pass of `worker`. Returns
    /// how many setups the pass took.
    pub async fn run_when_due(&self, worker: &Worker, opportunity_id: &str) -> usize {
        let row = setups::by_opportunity(&self.setups, opportunity_id)
            .await
            .unwrap()
            .expect("a setup");
        let wait = (row.next_attempt_at - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(5)).await;
        worker.run_due().await.expect("a worker pass")
    }

    /// Runs `worker` until the opportunity's setup leaves RUNNING (at most `passes` passes).
    pub async fn settle(&self, worker: &Worker, opportunity_id: &str, passes: usize) -> Setup {
        for _ in 0..passes {
            let setup = self.setup(opportunity_id).await;
            if setup.state() != keel_proto::projectsetup::SetupState::Running {
                return setup;
            }
            self.run_when_due(worker, opportunity_id).await;
        }
        let setup = self.setup(opportunity_id).await;
        assert_ne!(
            setup.state(),
            keel_proto::projectsetup::SetupState::Running,
            "still running after {passes} passes: {setup:?}"
        );
        setup
    }
}

/// A `crm.opportunity.won` event built as CRM builds it, with a fresh event id.
pub fn won_event(opportunity: &Opportunity) -> EventEnvelope {
    EventEnvelope::new(
        keel_crm::OPPORTUNITY_WON,
        "crm",
        &opportunity.id,
        &OpportunityWon {
            opportunity: Some(opportunity.clone()),
        },
    )
}

/// Rows in `table`.
pub async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// An amount as an exact decimal, so `"1250000.00"` and `"1250000"` compare equal.
pub fn decimal(money: Option<&Money>) -> rust_decimal::Decimal {
    money.expect("an amount").amount.parse().expect("a decimal amount")
}
