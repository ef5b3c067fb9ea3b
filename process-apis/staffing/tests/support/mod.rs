//! The harness for staffing's tests: the reference PSA and HRIS each served by a real tonic
//! server on loopback behind the authentication layer (the conformance harness), on their own
//! throwaway stores (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`); staffing's store
//! migrated; its engine and gRPC service wired over them.
//!
//! The people: Ada (Berlin, SAP FI/CO 5, certified, German C1, 90 EUR an hour), Bruno (Munich,
//! SAP FI/CO 4, certified, German B2, 95 EUR), Cleo (Berlin, SAP FI/CO 5, German native, but her
//! certification expires mid-December) and Dan (Berlin, SAP FI/CO 5, certified, no German).

#![allow(dead_code)] // each test file uses its own part of the harness

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_proto::common::Money;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{Certification, CreateEmployeeRequest, Employee, Language, Skill};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{CreateResourceRequestRequest, RequiredLanguage, RequiredSkill, ResourceRequest};
use keel_proto::staffing::staffing_service_client::StaffingServiceClient;
use keel_staffing::{Downstream, InsightSwitches, Migrator, Risks, Staffing, StaffingPolicy};
use keel_store::testing::TestStore;
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key; staffing mints its own with it too.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

/// Fast retries.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(40),
    max_attempts: 50,
};

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub psa_db: DatabaseConnection,
    pub staffed: keel_conformance::psa::Staffed,
    pub hris: Harness,
    pub people: Vec<Employee>,
    pub db: DatabaseConnection,
    pub engine: Engine,
    pub workflow: Arc<Staffing>,
    pub risks: Risks,
    pub service: Harness,
    _stores: Vec<TestStore>,
}

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_staffing::SERVICE_NAME)
}

fn person(
    number: &str,
    name: &str,
    location: &str,
    cost: &str,
    fico: i32,
    cert_expiry: Option<&str>,
    german: Option<&str>,
) -> CreateEmployeeRequest {
    CreateEmployeeRequest {
        idempotency_key: format!("emp-{number}-{}", uuid::Uuid::new_v4()),
        employee_number: format!("{number}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        name: name.into(),
        email: format!("{}@keel.example", name.to_ascii_lowercase()),
        legal_entity: "KEEL-DE".into(),
        location: location.into(),
        region: "emea".into(),
        labor_category: "senior-consultant".into(),
        cost_rate: Some(Money {
            amount: cost.into(),
            currency: "EUR".into(),
        }),
        utilization_target: "0.8".into(),
        manager_employee_number: String::new(),
        skills: vec![
            Skill {
                name: "sap-fico".into(),
                proficiency: fico,
            },
            Skill {
                name: "sql".into(),
                proficiency: 3,
            },
        ],
        certifications: cert_expiry
            .map(|expires| Certification {
                name: "sap-s4-finance".into(),
                issued_on: "2025-01-10".into(),
                expires_on: expires.into(),
            })
            .into_iter()
            .collect(),
        languages: german
            .map(|level| Language {
                code: "de".into(),
                level: level.into(),
            })
            .into_iter()
            .chain([Language {
                code: "en".into(),
                level: "c1".into(),
            }])
            .collect(),
        weekly_capacity_hours: "40".into(),
    }
}

impl Platform {
    /// PSA with a staffed project (rate card: solution-architect 185.00, consultant 100.01
    /// EUR), HRIS with the four people, staffing under `policy`.
    pub async fn start(policy: StaffingPolicy) -> Platform {
        Platform::start_with(policy, InsightSwitches::default()).await
    }

    /// As [`Platform::start`], under the insight policy's `switches`.
    pub async fn start_with(policy: StaffingPolicy, switches: InsightSwitches) -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa = keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(
            psa_db.clone(),
            Arc::new(Notify::new()),
        )))
        .await;
        let staffed = psa.staffed().await.expect("staffed project");

        let (hris_store, hris_db) = migrated_store::<keel_hris::reference::Migrator>("hris").await;
        let hris = Harness::serve(
            keel_hris::service::server(Arc::new(keel_hris::ReferenceHris::new(
                hris_db,
                Arc::new(Notify::new()),
            )))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;
        let mut client = HrisServiceClient::new(hris.channel());
        let mut people = Vec::new();
        for request in [
            person("E1", "Ada", "Berlin", "90.00", 5, Some("2027-06-30"), Some("c1")),
            person("E2", "Bruno", "Munich", "95.00", 4, Some("2027-06-30"), Some("b2")),
            person("E3", "Cleo", "Berlin", "80.00", 5, Some("2026-12-15"), Some("native")),
            person("E4", "Dan", "Berlin", "70.00", 5, Some("2027-06-30"), None),
        ] {
            let employee = client
                .create_employee(hris.service(request))
                .await
                .expect("employee")
                .into_inner();
            people.push(employee);
        }

        let (store, db) = migrated_store::<Migrator>("staffing").await;
        let downstream = Downstream::new(
            psa.harness.channel(),
            hris.channel(),
            credentials(),
            Duration::from_secs(5),
        );
        let risks = Risks::new(downstream.clone(), switches, policy.critical_skill_proficiency);
        let workflow = Arc::new(Staffing::with_retry(downstream, Arc::new(policy), FAST));
        let engine = Engine::new(
            db.clone(),
            vec![workflow.clone()],
            EngineOptions {
                owner: "staffing-test".into(),
                lease: Duration::from_millis(800),
                batch: 16,
                poll_interval: Duration::from_millis(10),
            },
        );
        let service = Harness::serve(keel_staffing::service::server(
            engine.clone(),
            workflow.clone(),
            risks.clone(),
        ))
        .await;
        Platform {
            psa,
            psa_db,
            staffed,
            hris,
            people,
            db,
            engine,
            workflow,
            risks,
            service,
            _stores: vec![psa_store, hris_store, store],
        }
    }

    pub fn staffing(&self) -> StaffingServiceClient<Channel> {
        StaffingServiceClient::new(self.service.channel())
    }

    pub fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    pub fn employee(&self, name: &str) -> &Employee {
        self.people.iter().find(|p| p.name == name).expect("a known person")
    }

    /// A request for December 2026 at 50%: SAP FI/CO 4, certified, German B2, EMEA, Berlin,
    /// billed at `bill_role`.
    pub async fn open_request(&self, bill_role: &str) -> ResourceRequest {
        self.psa_client()
            .create_resource_request(self.psa.harness.service(CreateResourceRequestRequest {
                idempotency_key: format!("rr-{}", uuid::Uuid::new_v4()),
                project_id: self.staffed.project.id.clone(),
                role: "consultant".into(),
                bill_role: bill_role.into(),
                start_date: "2026-12-01".into(),
                end_date: "2026-12-31".into(),
                allocation_percent: "50".into(),
                skills: vec![RequiredSkill {
                    name: "sap-fico".into(),
                    min_proficiency: 4,
                }],
                certifications: vec!["sap-s4-finance".into()],
                languages: vec![RequiredLanguage {
                    code: "de".into(),
                    min_level: "b2".into(),
                }],
                region: "emea".into(),
                location: "Berlin".into(),
                requested_by: self.staffed.employee_id.clone(),
                notes: "Finance stream".into(),
            }))
            .await
            .expect("resource request")
            .into_inner()
    }

    pub async fn request(&self, id: &str) -> ResourceRequest {
        self.psa_client()
            .get_resource_request(
                self.psa
                    .harness
                    .service(keel_proto::psa::GetResourceRequestRequest { id: id.to_string() }),
            )
            .await
            .expect("get resource request")
            .into_inner()
    }

    pub fn as_role<T>(&self, subject: &str, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as(subject, role, message)
    }

    /// Runs rounds until nothing is running.
    pub async fn settle(&self) {
        for _ in 0..2_000 {
            let worked = self.engine.tick().await.unwrap_or(1);
            if worked == 0 {
                let running: u64 = self
                    .engine
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
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        panic!("the engine did not settle");
    }
}
