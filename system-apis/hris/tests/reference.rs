//! The HRIS system API through a real gRPC server on loopback, on the reference adapter
//! (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set): the 10,000-row
//! import, candidate search, and what the reference writes beside its records.

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_events::outbox;
use keel_hris::ReferenceHris;
use keel_hris::reference::Migrator;
use keel_proto::common::{Money, PageRequest};
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{
    Certification, CreateEmployeeRequest, Employee, FindCandidatesRequest, ImportEmployeesRequest, ImportReport,
    ListEmployeesRequest, SetAvailabilityRequest, SetCertificationsRequest, Skill, SkillRequirement, TimeOff,
    UpdateEmployeeRequest,
};
use keel_store::testing::TestStore;
use prost::Message;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::transport::Channel;
use tonic::{Code, Request};

struct Hris {
    _store: TestStore,
    db: DatabaseConnection,
    key: LocalKey,
    channel: Channel,
}

impl Hris {
    async fn start() -> Hris {
        let store = TestStore::new("hris");
        let db = keel_store::connect(&store.options).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let key = LocalKey::from_bytes(b"hris-test-key-that-is-long-enough-for-hs256".to_vec()).unwrap();
        let verifier = Verifier::new(VerifierConfig {
            issuer: "keel-test".into(),
            audience: "keel".into(),
            leeway_seconds: 0,
            keys: KeySource::Hs256(key.secret().to_vec()),
        })
        .await
        .unwrap();
        let adapter = Arc::new(ReferenceHris::new(db.clone(), Arc::new(tokio::sync::Notify::new())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(GrpcAuthLayer::new(Arc::new(verifier)))
                .add_service(keel_hris::service::server(adapter).max_decoding_message_size(16 * 1024 * 1024))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Hris {
            _store: store,
            db,
            key,
            channel,
        }
    }

    fn client(&self) -> HrisServiceClient<Channel> {
        HrisServiceClient::new(self.channel.clone()).max_decoding_message_size(16 * 1024 * 1024)
    }

    fn as_role<T>(&self, role: Role, message: T) -> Request<T> {
        let token = self
            .key
            .issue("keel-test", "keel", "hr-sync", &[role], Duration::from_secs(600));
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    async fn import(&self, key: &str, csv: &str) -> (Vec<(u64, u64)>, ImportReport) {
        let mut stream = self
            .client()
            .import_employees(self.as_role(
                Role::Service,
                ImportEmployeesRequest {
                    idempotency_key: key.into(),
                    csv: csv.as_bytes().to_vec(),
                    source: "workday-export.csv".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let mut progress = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            match message.report {
                Some(report) => return (progress, report),
                None => progress.push((message.rows_processed, message.rows_total)),
            }
        }
        panic!("the import stream ended without a report");
    }

    async fn count(&self) -> usize {
        let mut total = 0;
        let mut token = String::new();
        loop {
            let page = self
                .client()
                .list_employees(self.as_role(
                    Role::Finance,
                    ListEmployeesRequest {
                        page: Some(PageRequest {
                            page_size: 100,
                            page_token: token,
                        }),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            total += page.employees.len();
            token = page.page.unwrap().next_page_token;
            if token.is_empty() {
                return total;
            }
        }
    }

    async fn create(&self, number: &str) -> Employee {
        self.client()
            .create_employee(self.as_role(Role::Admin, employee(number)))
            .await
            .unwrap()
            .into_inner()
    }
}

fn employee(number: &str) -> CreateEmployeeRequest {
    CreateEmployeeRequest {
        idempotency_key: format!("create-{number}"),
        employee_number: number.into(),
        name: "Jonas Weber".into(),
        email: "jonas.weber@keel.example".into(),
        legal_entity: "KEEL-DE".into(),
        location: "Munich".into(),
        region: "emea".into(),
        labor_category: "senior-consultant".into(),
        cost_rate: Some(Money {
            amount: "88.00".into(),
            currency: "EUR".into(),
        }),
        utilization_target: "0.75".into(),
        manager_employee_number: String::new(),
        skills: vec![Skill {
            name: "sap-fico".into(),
            proficiency: 4,
        }],
        certifications: vec![],
        languages: vec![],
        weekly_capacity_hours: "40".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_with_three_bad_ones_import_9997_and_report_the_three() {
    let hris = Hris::start().await;
    let bad = [41, 5_000, 9_998];
    let csv = keel_hris::demo::csv(10_000, &bad);

    let (progress, report) = hris.import("import-1", &csv).await;
    assert_eq!(report.rows_total, 10_000);
    assert_eq!((report.created, report.updated, report.unchanged), (9_997, 0, 0));
    let rejected: Vec<(u64, String, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.errors[0].field.clone(), r.errors[0].reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert_eq!(
        rejected.iter().map(|(l, f, _)| (*l, f.as_str())).collect::<Vec<_>>(),
        [(43, "email"), (5_002, "cost_rate"), (10_000, "region")]
    );
    assert!(rejected[0].2.contains("not an email"), "{rejected:?}");
    assert!(rejected[1].2.contains("negative"), "{rejected:?}");
    assert!(rejected[2].2.contains("mars"), "{rejected:?}");
    assert_eq!(
        report.rejected[1].employee_number,
        keel_hris::demo::employee_number(5_000)
    );

    // Progress at least every 1,000 rows, climbing to the total.
    assert!(progress.len() >= 10, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[1].0 > w[0].0 && w[1].0 - w[0].0 <= 1_000));
    assert_eq!(progress.last().copied(), Some((10_000, 10_000)));
    assert!(progress.iter().all(|(_, total)| *total == 10_000));
    assert_eq!(hris.count().await, 9_997);

    // A replay streams the stored report and writes nothing.
    let events_before = outbox::pending_count(&hris.db).await.unwrap();
    let (_, replayed) = hris.import("import-1", &csv).await;
    assert_eq!(replayed, report);
    assert_eq!(outbox::pending_count(&hris.db).await.unwrap(), events_before);
    assert_eq!(events_before, 9_997);

    // A new key with new rates updates in place; the same file again changes nothing.
    let raised = csv.replace(",80.00,", ",84.00,");
    let raised_rows = raised.lines().filter(|l| l.contains(",84.00,")).count() as u64;
    assert!(raised_rows > 1_000);
    let (_, second) = hris.import("import-2", &raised).await;
    assert_eq!(second.created, 0);
    assert_eq!(second.updated + second.unchanged, 9_997);
    assert!(
        second.updated >= raised_rows - 3 && second.updated <= raised_rows,
        "{second:?}"
    );
    assert_eq!(second.rejected.len(), 3);
    assert_eq!(hris.count().await, 9_997);
    let (_, third) = hris.import("import-3", &raised).await;
    assert_eq!((third.created, third.updated, third.unchanged), (0, 0, 9_997));

    // Updated employees moved to version 2, with an audit entry naming the change.
    let updated = outbox::recent(&hris.db, Some(keel_hris::EMPLOYEE_UPDATED), 1)
        .await
        .unwrap();
    let employee = Employee::decode(updated[0].payload.as_slice()).unwrap();
    assert_eq!(employee.version, 2);
    assert_eq!(employee.cost_rate.as_ref().unwrap().amount, "84.00");
    let history = keel_store::audit::history(&hris.db, "employee", &employee.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[1].detail.contains("\"cost_rate\"") && history[1].detail.contains("84.00"));
    assert!(matches!(
        keel_store::audit::verify(&hris.db).await.unwrap(),
        keel_store::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_refuses_the_whole_file() {
    let hris = Hris::start().await;
    let csv = keel_hris::demo::csv(3, &[]).replacen("utilization_target,", "", 1);
    let status = hris
        .client()
        .import_employees(hris.as_role(
            Role::Service,
            ImportEmployeesRequest {
                idempotency_key: "bad-header".into(),
                csv: csv.into_bytes(),
                source: String::new(),
            },
        ))
        .await
        .expect_err("refused before streaming");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(hris.count().await, 0);
}

async fn search(hris: &Hris, certifications: &[&str]) -> Vec<(String, String)> {
    let request = FindCandidatesRequest {
        skills: vec![SkillRequirement {
            name: "sap-fico".into(),
            min_proficiency: 3,
        }],
        certifications: certifications.iter().map(|c| c.to_string()).collect(),
        region: "emea".into(),
        start_date: "2027-02-01".into(),
        end_date: "2027-02-28".into(),
        ..Default::default()
    };
    hris.client()
        .find_candidates(hris.as_role(Role::ResourceManager, request))
        .await
        .unwrap()
        .into_inner()
        .candidates
        .into_iter()
        .map(|c| (c.employee.unwrap().employee_number, c.available_hours))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certifications_never_match_and_time_off_reduces_hours() {
    let hris = Hris::start().await;
    let valid = hris.create("DE-1").await;
    let expired = hris.create("DE-2").await;
    for (e, expires_on) in [(&valid, "2027-02-28"), (&expired, "2027-02-27")] {
        hris.client()
            .set_certifications(hris.as_role(
                Role::Service,
                SetCertificationsRequest {
                    idempotency_key: format!("cert-{}", e.employee_number),
                    id: e.id.clone(),
                    expected_version: 1,
                    certifications: vec![Certification {
                        name: "sap-s4-fin".into(),
                        issued_on: "2024-01-01".into(),
                        expires_on: expires_on.into(),
                    }],
                },
            ))
            .await
            .unwrap();
    }
    // February 2027: twenty weekdays at eight hours.
    assert_eq!(
        search(&hris, &["sap-s4-fin"]).await,
        [("DE-1".to_string(), "160".to_string())]
    );
    assert_eq!(search(&hris, &[]).await.len(), 2);

    let away = hris
        .client()
        .set_availability(hris.as_role(
            Role::Service,
            SetAvailabilityRequest {
                idempotency_key: "away".into(),
                id: valid.id.clone(),
                expected_version: 2,
                weekly_capacity_hours: "37.5".into(),
                time_off: vec![TimeOff {
                    start_date: "2027-02-10".into(),
                    end_date: "2027-02-16".into(),
                    kind: "vacation".into(),
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(away.version, 3);
    // Five weekdays off (Wed 10th to Tue 16th): fifteen at 7.5 hours.
    assert_eq!(
        search(&hris, &["sap-s4-fin"]).await,
        [("DE-1".to_string(), "112.5".to_string())]
    );

    // Each change was audited and announced.
    let events = outbox::recent(&hris.db, None, 10).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == keel_hris::EMPLOYEE_UPDATED).count(),
        3,
        "{types:?}"
    );
    assert_eq!(types.iter().filter(|t| **t == keel_hris::EMPLOYEE_CREATED).count(), 2);
    let history = keel_store::audit::history(&hris.db, "employee", &valid.id)
        .await
        .unwrap();
    let actions: Vec<&str> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["created", "certifications_set", "availability_set"]);
    assert!(history[2].detail.contains("\"before\":\"40\"") && history[2].detail.contains("37.5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_update_changes_nothing_and_writes_nothing() {
    let hris = Hris::start().await;
    let e = hris.create("DE-9").await;
    let update = |key: &str, version: i64, category: &str| UpdateEmployeeRequest {
        idempotency_key: key.into(),
        id: e.id.clone(),
        expected_version: version,
        name: e.name.clone(),
        email: e.email.clone(),
        legal_entity: e.legal_entity.clone(),
        location: e.location.clone(),
        region: e.region.clone(),
        labor_category: category.into(),
        cost_rate: e.cost_rate.clone(),
        utilization_target: e.utilization_target.clone(),
        manager_employee_number: String::new(),
        active: true,
    };
    let v2 = hris
        .client()
        .update_employee(hris.as_role(Role::Service, update("u1", 1, "manager")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    let status = hris
        .client()
        .update_employee(hris.as_role(Role::Service, update("u2", 1, "director")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(status.message().contains("employee"));
    let history = keel_store::audit::history(&hris.db, "employee", &e.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        outbox::recent(&hris.db, Some(keel_hris::EMPLOYEE_UPDATED), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
