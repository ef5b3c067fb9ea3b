//! The reference PSA through a real gRPC server on 127.0.0.1:0, with the authentication
//! layer in front, on SQLite by default and on PostgreSQL when `KEEL_TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, Role, Verifier, VerifierConfig};
use keel_proto::common::{Money as MoneyMessage, PageRequest};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    CreateProjectRequest, DeliveryTemplate, GetProjectRequest, ListDeliveryTemplatesRequest, ListProjectsRequest,
    ListProjectsResponse, Project, ProjectStatus, UpsertDeliveryTemplateRequest,
};
use keel_psa::reference::Migrator;
use keel_psa::{ReferencePsa, demo};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Status};

const SECRET: &[u8] = b"keel-psa-tests-0123456789abcdef-0123456789";
const ISSUER: &str = "https://id.keel.test";
const AUDIENCE: &str = "keel";
const SUBJECT: &str = "service:project-setup";

/// The PSA served on a free port over a fresh store.
struct App {
    channel: Channel,
    db: DatabaseConnection,
    _store: TestStore,
}

impl App {
    async fn spawn() -> App {
        let store = TestStore::new("psa");
        let db = keel_store::connect(&store.options).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let adapter = Arc::new(ReferencePsa::new(db.clone(), Arc::new(tokio::sync::Notify::new())));
        let verifier = Verifier::new(VerifierConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_seconds: 5,
            keys: KeySource::Hs256(SECRET.to_vec()),
        })
        .await
        .expect("verifier");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            Server::builder()
                .layer(GrpcAuthLayer::new(Arc::new(verifier)))
                .add_service(keel_psa::service::server(adapter))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        App {
            channel,
            db,
            _store: store,
        }
    }

    /// A caller holding `role`.
    fn with(&self, role: Role) -> Caller {
        let token = keel_auth::issue_hs256(SECRET, ISSUER, AUDIENCE, SUBJECT, &[role], Duration::from_secs(600));
        Caller {
            client: PsaServiceClient::new(self.channel.clone()),
            token: Some(token),
        }
    }

    /// The process APIs' role.
    fn service(&self) -> Caller {
        self.with(Role::Service)
    }

    /// A caller without a token.
    fn anonymous(&self) -> Caller {
        Caller {
            client: PsaServiceClient::new(self.channel.clone()),
            token: None,
        }
    }

    async fn audit_actions(&self, record_type: &str, record_id: &str) -> Vec<String> {
        audit::history(&self.db, record_type, record_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

/// A client calling as one caller.
struct Caller {
    client: PsaServiceClient<Channel>,
    token: Option<String>,
}

impl Caller {
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request.set_timeout(Duration::from_secs(30));
        request
    }

    async fn upsert(&mut self, key: &str, template: DeliveryTemplate) -> Result<DeliveryTemplate, Status> {
        let request = self.request(UpsertDeliveryTemplateRequest {
            idempotency_key: key.into(),
            template: Some(template),
        });
        self.client
            .upsert_delivery_template(request)
            .await
            .map(|r| r.into_inner())
    }

    async fn templates(&mut self) -> Result<Vec<DeliveryTemplate>, Status> {
        let request = self.request(ListDeliveryTemplatesRequest {});
        self.client
            .list_delivery_templates(request)
            .await
            .map(|r| r.into_inner().templates)
    }

    async fn create(&mut self, request: CreateProjectRequest) -> Result<Project, Status> {
        let request = self.request(request);
        self.client.create_project(request).await.map(|r| r.into_inner())
    }

    async fn get(&mut self, id: &str, opportunity_id: &str) -> Result<Project, Status> {
        let request = self.request(GetProjectRequest {
            id: id.into(),
            opportunity_id: opportunity_id.into(),
        });
        self.client.get_project(request).await.map(|r| r.into_inner())
    }

    async fn page(&mut self, page_size: u32, page_token: &str) -> Result<ListProjectsResponse, Status> {
        let request = self.request(ListProjectsRequest {
            page: Some(PageRequest {
                page_size,
                page_token: page_token.into(),
            }),
        });
        self.client.list_projects(request).await.map(|r| r.into_inner())
    }

    async fn all_projects(&mut self) -> Vec<Project> {
        self.page(500, "").await.unwrap().projects
    }
}

fn demo_template(id: &str) -> DeliveryTemplate {
    demo::templates().into_iter().find(|t| t.id == id).unwrap()
}

fn money(amount: &str, currency: &str) -> Option<MoneyMessage> {
    Some(MoneyMessage {
        amount: amount.into(),
        currency: currency.into(),
    })
}

fn new_project(key: &str, template_id: &str, amount: &str) -> CreateProjectRequest {
    CreateProjectRequest {
        idempotency_key: key.into(),
        opportunity_id: uuid::Uuid::now_v7().to_string(),
        account_id: uuid::Uuid::now_v7().to_string(),
        name: "Northwind ERP rollout".into(),
        template_id: template_id.into(),
        service_line: "erp-deployment".into(),
        contract_type: "fixed-fee".into(),
        region: "emea".into(),
        client_tier: "strategic".into(),
        contract_value: money(amount, "EUR"),
        start_date: "2026-12-01".into(),
    }
}

/// The fields an INVALID_ARGUMENT names.
fn fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    keel_core::Error::from(status.clone())
        .field_violations()
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn cents(money: &Option<MoneyMessage>) -> i64 {
    let amount: Decimal = money.as_ref().unwrap().amount.parse().unwrap();
    i64::try_from((amount * Decimal::from(100)).trunc()).unwrap()
}

#[tokio::test]
async fn templates_get_a_new_version_only_when_their_content_changes() {
    let app = App::spawn().await;
    let mut psa = app.service();
    let emea = demo_template("erp-fixed-fee-emea");

    let first = psa.upsert("t-1", emea.clone()).await.unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(
        DeliveryTemplate {
            version: 0,
            ..first.clone()
        },
        emea,
        "stored as given"
    );
    assert_eq!(
        psa.upsert("t-1", emea.clone()).await.unwrap(),
        first,
        "a replay returns the first result"
    );

    // The same content under another key, spelled differently, keeps its version.
    let mut respelled = emea.clone();
    respelled.name = format!("  {}  ", emea.name);
    respelled.phases[0].tasks[0].hours = "16.00".into();
    respelled.version = 41;
    assert_eq!(psa.upsert("t-2", respelled).await.unwrap(), first);
    assert_eq!(
        app.audit_actions("delivery_template", "erp-fixed-fee-emea").await,
        ["created"]
    );

    let mut changed = emea.clone();
    changed.milestones[3].due_after_days = 200;
    let second = psa.upsert("t-3", changed.clone()).await.unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(second.milestones[3].due_after_days, 200);
    assert_eq!(
        app.audit_actions("delivery_template", "erp-fixed-fee-emea").await,
        ["created", "updated"]
    );

    for template in demo::templates().into_iter().skip(1) {
        psa.upsert(&format!("demo-{}", template.id), template).await.unwrap();
    }
    let listed = app.with(Role::Consultant).templates().await.unwrap();
    let ids: Vec<(&str, u32)> = listed.iter().map(|t| (t.id.as_str(), t.version)).collect();
    assert_eq!(
        ids,
        [
            ("ams-tm-any", 1),
            ("cloud-fixed-fee-any", 1),
            ("crm-fixed-fee-any", 1),
            ("data-tm-na", 1),
            ("erp-fixed-fee-any", 1),
            ("erp-fixed-fee-emea", 2),
            ("security-tm-any", 1)
        ]
    );
    assert_eq!(listed[5], second);
}

#[tokio::test]
async fn a_bad_template_names_its_field_and_changes_nothing() {
    let app = App::spawn().await;
    let mut psa = app.service();
    type Change = fn(&mut DeliveryTemplate);
    let table: &[(Change, &[&str])] = &[
        (|t| t.id = "ERP Fixed Fee".into(), &["template.id"]),
        (|t| t.name.clear(), &["template.name"]),
        (|t| t.region = "EMEA".into(), &["template.region"]),
        (|t| t.phases.clear(), &["template.phases"]),
        (|t| t.phases[1].tasks.clear(), &["template.phases[1].tasks"]),
        (
            |t| t.phases[1].tasks[0].hours = "0".into(),
            &["template.phases[1].tasks[0].hours"],
        ),
        (
            |t| t.phases[1].tasks[0].hours = "2.555".into(),
            &["template.phases[1].tasks[0].hours"],
        ),
        (
            |t| t.phases[2].tasks[1].role = "Developer".into(),
            &["template.phases[2].tasks[1].role"],
        ),
        (|t| t.milestones.clear(), &["template.milestones"]),
        (
            |t| t.milestones[3].percent_of_fee = "0".into(),
            &["template.milestones[3].percent_of_fee"],
        ),
        (
            |t| {
                t.name.clear();
                t.phases[0].tasks[2].hours = "-8".into();
            },
            &["template.name", "template.phases[0].tasks[2].hours"],
        ),
    ];
    for (i, (change, expected)) in table.iter().enumerate() {
        let mut template = demo_template("erp-fixed-fee-emea");
        change(&mut template);
        let status = psa.upsert(&format!("bad-{i}"), template.clone()).await.unwrap_err();
        assert_eq!(fields(&status), *expected, "{template:?}");
    }

    let mut short = demo_template("erp-fixed-fee-emea");
    short.milestones.pop();
    let status = psa.upsert("short", short).await.unwrap_err();
    assert_eq!(fields(&status), ["template.milestones"]);
    assert!(
        status
            .message()
            .contains("percent_of_fee must sum to 100, they sum to 90"),
        "{}",
        status.message()
    );

    let status = psa
        .client
        .upsert_delivery_template(psa.request(UpsertDeliveryTemplateRequest {
            idempotency_key: String::new(),
            template: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["idempotency_key", "template"]);

    assert!(
        psa.templates().await.unwrap().is_empty(),
        "a refused template was stored"
    );
}

#[tokio::test]
async fn a_project_is_planned_from_the_current_template_version() {
    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("erp-fixed-fee-emea")).await.unwrap();

    let request = new_project("p-1", "erp-fixed-fee-emea", "1000000");
    let project = psa.create(request.clone()).await.unwrap();
    assert_eq!(project.status(), ProjectStatus::Planned);
    assert_eq!(
        (project.template_id.as_str(), project.template_version),
        ("erp-fixed-fee-emea", 1)
    );
    assert_eq!(project.opportunity_id, request.opportunity_id);
    assert_eq!(project.account_id, request.account_id);
    assert_eq!(project.name, "Northwind ERP rollout");
    assert_eq!(
        [
            &project.service_line,
            &project.contract_type,
            &project.region,
            &project.client_tier
        ],
        ["erp-deployment", "fixed-fee", "emea", "strategic"]
    );
    assert_eq!(project.contract_value, money("1000000.00", "EUR"));
    assert_eq!(project.start_date, "2026-12-01");
    assert_eq!(project.audit.as_ref().unwrap().created_by, SUBJECT);

    let phases: Vec<&str> = project.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(phases, ["Discover", "Design", "Build", "Deploy"]);
    let template = demo_template("erp-fixed-fee-emea");
    for (phase, template_phase) in project.phases.iter().zip(&template.phases) {
        let tasks: Vec<(&str, &str, &str)> = phase
            .tasks
            .iter()
            .map(|t| (t.name.as_str(), t.role.as_str(), t.planned_hours.as_str()))
            .collect();
        let expected: Vec<(&str, &str, &str)> = template_phase
            .tasks
            .iter()
            .map(|t| (t.name.as_str(), t.role.as_str(), t.hours.as_str()))
            .collect();
        assert_eq!(tasks, expected);
    }

    let milestones: Vec<(&str, String, &str)> = project
        .milestones
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.amount.as_ref().unwrap().amount.clone(),
                m.due_date.as_str(),
            )
        })
        .collect();
    assert_eq!(
        milestones,
        [
            ("Blueprint signed", "200000.00".to_string(), "2026-12-31"),
            ("Build complete", "400000.00".to_string(), "2027-03-01"),
            ("Go-live", "300000.00".to_string(), "2027-04-30"),
            ("Hypercare exit", "100000.00".to_string(), "2027-05-30"),
        ]
    );
    assert!(
        project
            .milestones
            .iter()
            .all(|m| m.amount.as_ref().unwrap().currency == "EUR")
    );

    // 1344 hours: engagement-manager 108, solution-architect 176, functional-consultant 520,
    // developer 540; the contract value split by hours, the remainder on the last line.
    let baseline = project.budget_baseline.as_ref().unwrap();
    let lines: Vec<(&str, &str, String)> = baseline
        .lines
        .iter()
        .map(|l| {
            (
                l.role.as_str(),
                l.hours.as_str(),
                l.amount.as_ref().unwrap().amount.clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("engagement-manager", "108", "80357.14".to_string()),
            ("solution-architect", "176", "130952.38".to_string()),
            ("functional-consultant", "520", "386904.76".to_string()),
            ("developer", "540", "401785.72".to_string()),
        ]
    );
    assert_eq!(baseline.total_hours, "1344");
    assert_eq!(baseline.total, money("1000000.00", "EUR"));

    assert_eq!(
        psa.get(&project.id, "").await.unwrap(),
        project,
        "read back from the store as created"
    );
    assert_eq!(psa.get("", &project.opportunity_id).await.unwrap(), project);
    assert_eq!(app.audit_actions("project", &project.id).await, ["created"]);

    // A new template version applies to new projects only.
    let mut revised = demo_template("erp-fixed-fee-emea");
    revised.phases[0].tasks[0].hours = "24".into();
    assert_eq!(psa.upsert("t-2", revised).await.unwrap().version, 2);
    let second = psa
        .create(new_project("p-2", "erp-fixed-fee-emea", "500000"))
        .await
        .unwrap();
    assert_eq!(second.template_version, 2);
    assert_eq!(second.phases[0].tasks[0].planned_hours, "24");
    assert_eq!(second.budget_baseline.unwrap().total_hours, "1352");
    assert_eq!(
        psa.get(&project.id, "").await.unwrap(),
        project,
        "an existing project keeps its plan"
    );
}

#[tokio::test]
async fn milestones_and_baseline_sum_exactly_to_awkward_contract_values() {
    let app = App::spawn().await;
    let mut psa = app.service();
    for template in demo::templates() {
        psa.upsert(&format!("demo-{}", template.id), template).await.unwrap();
    }
    for (i, amount) in ["1000.01", "0.01", "0", "333333.33", "9999999999.99"]
        .into_iter()
        .enumerate()
    {
        for template in ["erp-fixed-fee-emea", "erp-fixed-fee-any", "data-tm-na"] {
            let project = psa
                .create(new_project(&format!("p-{i}-{template}"), template, amount))
                .await
                .unwrap();
            let contract = cents(&project.contract_value);
            let by_milestones: i64 = project.milestones.iter().map(|m| cents(&m.amount)).sum();
            let baseline = project.budget_baseline.as_ref().unwrap();
            let by_lines: i64 = baseline.lines.iter().map(|l| cents(&l.amount)).sum();
            assert_eq!(
                (by_milestones, by_lines),
                (contract, contract),
                "{template} at {amount}"
            );
            assert_eq!(cents(&baseline.total), contract);
            assert_eq!(psa.get(&project.id, "").await.unwrap(), project);
        }
    }
}

#[tokio::test]
async fn one_project_per_opportunity() {
    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("erp-fixed-fee-emea")).await.unwrap();
    psa.upsert("t-2", demo_template("erp-fixed-fee-any")).await.unwrap();

    let request = new_project("p-1", "erp-fixed-fee-emea", "250000");
    let first = psa.create(request.clone()).await.unwrap();
    assert_eq!(
        psa.create(request.clone()).await.unwrap(),
        first,
        "a replay returns the first project"
    );

    let another_key = CreateProjectRequest {
        idempotency_key: "p-2".into(),
        template_id: "erp-fixed-fee-any".into(),
        ..request.clone()
    };
    let status = psa.create(another_key).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains(&first.id), "{}", status.message());

    let reused_key = CreateProjectRequest {
        name: "Something else".into(),
        ..request.clone()
    };
    assert_eq!(fields(&psa.create(reused_key).await.unwrap_err()), ["idempotency_key"]);

    assert_eq!(psa.all_projects().await, std::slice::from_ref(&first));
    assert_eq!(app.audit_actions("project", &first.id).await, ["created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_for_one_opportunity_make_one_project() {
    let app = App::spawn().await;
    app.service()
        .upsert("t-1", demo_template("erp-fixed-fee-emea"))
        .await
        .unwrap();
    let request = new_project("unused", "erp-fixed-fee-emea", "100000");
    let attempts = (0..4).map(|i| {
        let mut psa = app.service();
        let request = CreateProjectRequest {
            idempotency_key: format!("race-{i}"),
            ..request.clone()
        };
        async move { psa.create(request).await }
    });
    let results = futures_join_all(attempts).await;
    let created: Vec<&Project> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
        assert!(refused.message().contains(&created[0].id), "{}", refused.message());
    }
    assert_eq!(app.service().all_projects().await.len(), 1);
}

/// Runs the futures concurrently on the runtime and collects their results in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_bad_project_request_names_its_field_and_changes_nothing() {
    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("erp-fixed-fee-emea")).await.unwrap();
    type Change = fn(&mut CreateProjectRequest);
    let table: &[(Change, &[&str])] = &[
        (|r| r.idempotency_key.clear(), &["idempotency_key"]),
        (|r| r.opportunity_id = "opp-1".into(), &["opportunity_id"]),
        (|r| r.account_id.clear(), &["account_id"]),
        (|r| r.name.clear(), &["name"]),
        (|r| r.template_id.clear(), &["template_id"]),
        (|r| r.region = "EMEA".into(), &["region"]),
        (|r| r.contract_value = None, &["contract_value"]),
        (|r| r.contract_value = money("-5", "EUR"), &["contract_value.amount"]),
        (|r| r.contract_value = money("5", "EURO"), &["contract_value.currency"]),
        (|r| r.start_date = "2026-02-30".into(), &["start_date"]),
        (
            |r| {
                r.opportunity_id.clear();
                r.start_date.clear();
            },
            &["opportunity_id", "start_date"],
        ),
    ];
    for (i, (change, expected)) in table.iter().enumerate() {
        let mut request = new_project(&format!("bad-{i}"), "erp-fixed-fee-emea", "1000");
        change(&mut request);
        let status = psa.create(request.clone()).await.unwrap_err();
        assert_eq!(fields(&status), *expected, "{request:?}");
    }

    let status = psa
        .create(new_project("no-template", "sap-rise-apac", "1000"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("\"sap-rise-apac\""), "{}", status.message());

    assert!(psa.all_projects().await.is_empty(), "a refused request made a project");
    // The key of a refused request is free for the corrected one.
    psa.create(new_project("no-template", "erp-fixed-fee-emea", "1000"))
        .await
        .unwrap();
}

#[tokio::test]
async fn get_project_needs_exactly_one_key_and_says_what_is_missing() {
    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("erp-fixed-fee-emea")).await.unwrap();
    let project = psa
        .create(new_project("p-1", "erp-fixed-fee-emea", "1000"))
        .await
        .unwrap();

    assert_eq!(fields(&psa.get("", "").await.unwrap_err()), ["id"]);
    assert_eq!(
        fields(&psa.get(&project.id, &project.opportunity_id).await.unwrap_err()),
        ["id"]
    );
    assert_eq!(fields(&psa.get("p-1", "").await.unwrap_err()), ["id"]);
    assert_eq!(fields(&psa.get("", "o-1").await.unwrap_err()), ["opportunity_id"]);

    let unknown = uuid::Uuid::now_v7().to_string();
    let status = psa.get(&unknown, "").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&unknown));
    assert_eq!(psa.get("", &unknown).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn projects_page_in_creation_order() {
    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("data-tm-na")).await.unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            psa.create(new_project(&format!("p-{i}"), "data-tm-na", "1000"))
                .await
                .unwrap()
                .id,
        );
    }

    let mut reader = app.with(Role::Finance);
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = reader.page(2, &token).await.unwrap();
        pages += 1;
        seen.extend(page.projects.iter().map(|p| p.id.clone()));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
    assert_eq!(
        reader.page(0, "").await.unwrap().projects.len(),
        5,
        "0 means the default size"
    );

    assert_eq!(
        fields(&reader.page(2, "not-a-token!").await.unwrap_err()),
        ["page.page_token"]
    );
    let capped = reader.page(501, "").await.unwrap();
    assert_eq!(capped.projects.len(), 5, "a size above 100 is capped, not refused");
}

#[tokio::test]
async fn only_services_and_admins_change_records_and_every_caller_needs_a_token() {
    let app = App::spawn().await;
    let template = demo_template("erp-fixed-fee-emea");

    for role in [Role::Consultant, Role::ProjectManager, Role::Finance, Role::Operations] {
        let mut caller = app.with(role);
        let status = caller.upsert("t-1", template.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        let status = caller
            .create(new_project("p-1", "erp-fixed-fee-emea", "1000"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    assert!(app.service().templates().await.unwrap().is_empty());

    let mut admin = app.with(Role::Admin);
    admin.upsert("t-1", template.clone()).await.unwrap();
    let project = admin
        .create(new_project("p-1", "erp-fixed-fee-emea", "1000"))
        .await
        .unwrap();

    let mut consultant = app.with(Role::Consultant);
    assert_eq!(consultant.templates().await.unwrap().len(), 1);
    assert_eq!(consultant.get(&project.id, "").await.unwrap(), project);
    assert_eq!(consultant.all_projects().await, std::slice::from_ref(&project));

    let mut anonymous = app.anonymous();
    let refusals = [
        anonymous.upsert("t-2", template.clone()).await.unwrap_err(),
        anonymous.templates().await.unwrap_err(),
        anonymous
            .create(new_project("p-2", "erp-fixed-fee-emea", "1000"))
            .await
            .unwrap_err(),
        anonymous.get(&project.id, "").await.unwrap_err(),
        anonymous.page(10, "").await.unwrap_err(),
    ];
    for status in refusals {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    assert_eq!(app.service().all_projects().await.len(), 1);
    assert!(matches!(
        audit::verify(&app.db).await.unwrap(),
        ChainReport::Intact { entries: 2 }
    ));
}

#[tokio::test]
async fn batch_reads_answer_the_projects_named_in_id_order_and_refuse_an_empty_or_bad_list() {
    use keel_proto::psa::{ListTimeEntriesOfProjectsRequest, ProjectIdsRequest};

    let app = App::spawn().await;
    let mut psa = app.service();
    psa.upsert("t-1", demo_template("data-tm-na")).await.unwrap();
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(
            psa.create(new_project(&format!("p-{i}"), "data-tm-na", "1000"))
                .await
                .unwrap()
                .id,
        );
    }
    let unknown = "0190f2a0-0000-7000-8000-0000000000ff".to_string();
    let named = vec![
        created[2].clone(),
        unknown.clone(),
        created[0].clone(),
        created[2].clone(),
    ];
    let reader = app.with(Role::Finance);
    let mut client = reader.client.clone();

    let projects = client
        .batch_get_projects(reader.request(ProjectIdsRequest {
            project_ids: named.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .projects;
    let ids: Vec<&str> = projects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [created[0].as_str(), created[2].as_str()],
        "id order, the unknown left out"
    );
    assert!(
        projects.iter().all(|p| p.budget_baseline.is_some()),
        "with their children"
    );

    let actuals = client
        .list_actuals_of_projects(reader.request(ProjectIdsRequest {
            project_ids: named.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .actuals;
    let ids: Vec<&str> = actuals.iter().map(|a| a.project_id.as_str()).collect();
    assert_eq!(ids, [created[2].as_str(), created[0].as_str()], "the order named");
    for (one, id) in actuals.iter().zip([&created[2], &created[0]]) {
        let single = client
            .get_project_actuals(reader.request(keel_proto::psa::GetProjectActualsRequest { project_id: id.clone() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(*one, single, "the same as GetProjectActuals");
    }

    // Nothing recorded yet: no assignments, time or change requests.
    let ids = ProjectIdsRequest {
        project_ids: created.clone(),
    };
    let assignments = client
        .list_assignments_of_projects(reader.request(ids.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(assignments.assignments.is_empty());
    let changes = client
        .list_change_requests_of_projects(reader.request(ids))
        .await
        .unwrap()
        .into_inner();
    assert!(changes.change_requests.is_empty());
    let entries = client
        .list_time_entries_of_projects(reader.request(ListTimeEntriesOfProjectsRequest {
            project_ids: created.clone(),
            state: keel_proto::psa::TimeEntryState::Submitted as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(entries.entries.is_empty());

    let empty = client
        .batch_get_projects(reader.request(ProjectIdsRequest { project_ids: vec![] }))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(fields(&empty), ["project_ids"]);
    let bad = client
        .list_assignments_of_projects(reader.request(ProjectIdsRequest {
            project_ids: vec![created[0].clone(), "p-1".into()],
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&bad), ["project_ids[1]"]);
    let too_many = client
        .list_actuals_of_projects(reader.request(ProjectIdsRequest {
            project_ids: vec![created[0].clone(); 101],
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&too_many), ["project_ids"]);
    let anonymous = app.anonymous();
    let mut client = anonymous.client.clone();
    let refused = client
        .batch_get_projects(anonymous.request(ProjectIdsRequest { project_ids: created }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}
