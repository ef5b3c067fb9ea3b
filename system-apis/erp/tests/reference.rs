//! The reference ERP on a real database (SQLite, or PostgreSQL when `KEEL_TEST_DATABASE_URL`
//! is set) behind a real gRPC server on 127.0.0.1:0, with the authentication layer in front,
//! called through the generated client with bearer tokens.

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, Role, Verifier, VerifierConfig};
use keel_erp::ReferenceErp;
use keel_erp::reference::Migrator;
use keel_proto::common::{Money as MoneyMessage, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    Budget, BudgetLine, CreateProjectCodeRequest, GetProjectCodeRequest, ListProjectCodesRequest,
    ListProjectCodesResponse, PostBudgetRequest, ProjectCode, ProjectCodeStatus,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Status};
use uuid::Uuid;

const ISSUER: &str = "https://id.keel.test";
const AUDIENCE: &str = "keel";
const SECRET: &[u8] = b"keel-erp-tests-0123456789abcdef-0123456789";

/// One ERP service on its own fresh database.
struct Erp {
    client: ErpServiceClient<Channel>,
    db: DatabaseConnection,
    _store: TestStore,
}

/// The subject a role's token carries: `service:project-setup` for the service role,
/// `u-<role>` for people.
fn subject(role: Role) -> String {
    match role {
        Role::Service => "service:project-setup".to_string(),
        other => format!("u-{other}"),
    }
}

fn token(role: Role) -> String {
    keel_auth::issue_hs256(
        SECRET,
        ISSUER,
        AUDIENCE,
        &subject(role),
        &[role],
        Duration::from_secs(600),
    )
}

/// `message` with a bearer token for `role`, or none.
fn request<T>(message: T, role: Option<Role>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(role) = role {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", token(role)).parse().unwrap());
    }
    request
}

impl Erp {
    async fn spawn() -> Erp {
        let store = TestStore::new("erp");
        let db = keel_store::connect(&store.options).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let adapter = Arc::new(ReferenceErp::new(db.clone(), Arc::new(tokio::sync::Notify::new())));
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
                .add_service(keel_erp::service::server(adapter))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to ERP");
        Erp {
            client: ErpServiceClient::new(channel),
            db,
            _store: store,
        }
    }

    async fn create_as(&self, role: Option<Role>, message: CreateProjectCodeRequest) -> Result<ProjectCode, Status> {
        self.client
            .clone()
            .create_project_code(request(message, role))
            .await
            .map(|r| r.into_inner())
    }

    async fn create(&self, message: CreateProjectCodeRequest) -> Result<ProjectCode, Status> {
        self.create_as(Some(Role::Service), message).await
    }

    async fn post_budget_as(&self, role: Option<Role>, message: PostBudgetRequest) -> Result<Budget, Status> {
        self.client
            .clone()
            .post_budget(request(message, role))
            .await
            .map(|r| r.into_inner())
    }

    async fn post_budget(&self, message: PostBudgetRequest) -> Result<Budget, Status> {
        self.post_budget_as(Some(Role::Service), message).await
    }

    async fn get_as(&self, role: Option<Role>, code: &str, project_id: &str) -> Result<ProjectCode, Status> {
        let message = GetProjectCodeRequest {
            code: code.into(),
            project_id: project_id.into(),
        };
        self.client
            .clone()
            .get_project_code(request(message, role))
            .await
            .map(|r| r.into_inner())
    }

    async fn get(&self, code: &str) -> ProjectCode {
        self.get_as(Some(Role::Consultant), code, "")
            .await
            .expect("get project code")
    }

    async fn list_page_as(&self, role: Option<Role>, page: PageRequest) -> Result<ListProjectCodesResponse, Status> {
        let message = ListProjectCodesRequest { page: Some(page) };
        self.client
            .clone()
            .list_project_codes(request(message, role))
            .await
            .map(|r| r.into_inner())
    }

    /// Every project code, one default-sized page at a time.
    async fn list_all(&self) -> Vec<ProjectCode> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .list_page_as(
                    Some(Role::Executive),
                    PageRequest {
                        page_size: 0,
                        page_token,
                    },
                )
                .await
                .expect("list project codes");
            all.extend(page.project_codes);
            page_token = page.page.unwrap_or_default().next_page_token;
            if page_token.is_empty() {
                return all;
            }
        }
    }

    async fn audit_actions(&self, record_id: &str) -> Vec<String> {
        audit::history(&self.db, "project_code", record_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    async fn audit_entries(&self) -> u64 {
        match audit::verify(&self.db).await.unwrap() {
            ChainReport::Intact { entries } => entries,
            broken => panic!("the audit chain is broken: {broken:?}"),
        }
    }
}

fn create_request(key: &str, project_id: Uuid) -> CreateProjectCodeRequest {
    CreateProjectCodeRequest {
        idempotency_key: key.into(),
        project_id: project_id.to_string(),
        name: "Northwind ERP rollout".into(),
        legal_entity: "US01".into(),
        currency: "USD".into(),
    }
}

fn line(role: &str, hours: &str, amount: &str, currency: &str) -> BudgetLine {
    BudgetLine {
        role: role.into(),
        hours: hours.into(),
        amount: Some(MoneyMessage {
            amount: amount.into(),
            currency: currency.into(),
        }),
    }
}

fn budget_request(key: &str, code: &str) -> PostBudgetRequest {
    PostBudgetRequest {
        idempotency_key: key.into(),
        project_code: code.into(),
        lines: vec![
            line("engagement-lead", "40", "12000.00", "USD"),
            line("senior-consultant", "120.5", "30125.00", "USD"),
            line("consultant", "200", "35000.10", "USD"),
        ],
    }
}

/// The fields an `INVALID_ARGUMENT` names.
fn fields(status: &Status) -> Vec<String> {
    keel_core::Error::from(status.clone())
        .field_violations()
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn codes(project_codes: &[ProjectCode]) -> Vec<&str> {
    project_codes.iter().map(|c| c.code.as_str()).collect()
}

#[tokio::test]
async fn a_project_code_is_opened_budgeted_and_read_back() {
    let erp = Erp::spawn().await;
    let project_id = Uuid::now_v7();

    let opened = erp.create(create_request("open-1", project_id)).await.unwrap();
    assert_eq!(opened.code, "PRJ-000001");
    assert_eq!(opened.project_id, project_id.to_string());
    assert_eq!(opened.name, "Northwind ERP rollout");
    assert_eq!(opened.legal_entity, "US01");
    assert_eq!(opened.currency, "USD");
    assert_eq!(opened.status(), ProjectCodeStatus::Open);
    assert!(opened.budget.is_none());
    let audit = opened.audit.clone().unwrap();
    assert_eq!(audit.created_by, "service:project-setup");
    assert_eq!(audit.updated_by, "service:project-setup");
    assert!(Uuid::parse_str(&opened.id).is_ok());

    // Finance may open codes too; the next code is the next number.
    let second = erp
        .create_as(Some(Role::Finance), create_request("open-2", Uuid::now_v7()))
        .await
        .unwrap();
    assert_eq!(second.code, "PRJ-000002");
    assert_eq!(second.audit.unwrap().created_by, "u-finance");

    assert_eq!(erp.get("PRJ-000001").await, opened);
    assert_eq!(
        erp.get_as(Some(Role::Consultant), "", &project_id.to_string())
            .await
            .unwrap(),
        opened
    );
    assert_eq!(
        erp.get_as(Some(Role::Consultant), " prj-000001 ", "").await.unwrap(),
        opened
    );

    let budget = erp
        .post_budget_as(Some(Role::Finance), budget_request("budget-1", "PRJ-000001"))
        .await
        .unwrap();
    assert_eq!(budget.project_code, "PRJ-000001");
    assert_eq!(
        budget.total,
        Some(MoneyMessage {
            amount: "77125.10".into(),
            currency: "USD".into()
        })
    );
    let lines: Vec<(&str, &str, &str)> = budget
        .lines
        .iter()
        .map(|l| {
            (
                l.role.as_str(),
                l.hours.as_str(),
                l.amount.as_ref().unwrap().amount.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("engagement-lead", "40", "12000.00"),
            ("senior-consultant", "120.5", "30125.00"),
            ("consultant", "200", "35000.10")
        ]
    );

    let budgeted = erp.get("PRJ-000001").await;
    assert_eq!(budgeted.budget, Some(budget.clone()));
    let audit = budgeted.audit.unwrap();
    assert_eq!(audit.created_by, "service:project-setup");
    assert_eq!(
        audit.updated_by, "u-finance",
        "posting the budget updates the project code"
    );
    assert_eq!(
        erp.get_as(Some(Role::ProjectManager), "", &project_id.to_string())
            .await
            .unwrap()
            .budget,
        Some(budget.clone())
    );

    let listed = erp.list_all().await;
    assert_eq!(codes(&listed), ["PRJ-000001", "PRJ-000002"]);
    assert_eq!(listed[0].budget, Some(budget));
    assert!(listed[1].budget.is_none());

    assert_eq!(erp.audit_actions(&opened.id).await, ["opened", "budget_posted"]);
    assert_eq!(erp.audit_actions(&second.id).await, ["opened"]);
    assert_eq!(erp.audit_entries().await, 3);
}

#[tokio::test]
async fn bad_project_code_input_names_its_field_and_changes_nothing() {
    let erp = Erp::spawn().await;
    let project_id = Uuid::now_v7();
    type Change = fn(&mut CreateProjectCodeRequest);
    let table: &[(Change, &str)] = &[
        (|r| r.idempotency_key = String::new(), "idempotency_key"),
        (|r| r.project_id = String::new(), "project_id"),
        (|r| r.project_id = "psa-project-7".into(), "project_id"),
        (|r| r.name = "  ".into(), "name"),
        (|r| r.name = "n".repeat(201), "name"),
        (|r| r.legal_entity = String::new(), "legal_entity"),
        (|r| r.legal_entity = "us01".into(), "legal_entity"),
        (|r| r.legal_entity = "UNITED-STATES-0001".into(), "legal_entity"),
        (|r| r.currency = String::new(), "currency"),
        (|r| r.currency = "usd".into(), "currency"),
        (|r| r.currency = "XYZ".into(), "currency"),
    ];
    for (change, field) in table {
        let mut message = create_request("bad-1", project_id);
        change(&mut message);
        let status = erp.create(message.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message:?}: {status:?}");
        assert_eq!(fields(&status), [*field], "{message:?}");
    }
    assert!(erp.list_all().await.is_empty());
    assert_eq!(erp.audit_entries().await, 0);

    // No number was used up, and the key is still free.
    let opened = erp.create(create_request("bad-1", project_id)).await.unwrap();
    assert_eq!(opened.code, "PRJ-000001");
}

#[tokio::test]
async fn bad_budget_input_names_its_field_and_changes_nothing() {
    let erp = Erp::spawn().await;
    let opened = erp.create(create_request("open-1", Uuid::now_v7())).await.unwrap();
    type Change = fn(&mut PostBudgetRequest);
    let table: &[(Change, &[&str])] = &[
        (|r| r.idempotency_key = String::new(), &["idempotency_key"]),
        (|r| r.project_code = String::new(), &["project_code"]),
        (|r| r.project_code = "PRJ-1".into(), &["project_code"]),
        (|r| r.lines.clear(), &["lines"]),
        (|r| r.lines[0].role = "Engagement Lead".into(), &["lines[0].role"]),
        (|r| r.lines[2].role = "engagement-lead".into(), &["lines[2].role"]),
        (|r| r.lines[1].hours = "-1".into(), &["lines[1].hours"]),
        (|r| r.lines[1].hours = "many".into(), &["lines[1].hours"]),
        (|r| r.lines[1].amount = None, &["lines[1].amount"]),
        (
            |r| r.lines[2].amount.as_mut().unwrap().amount = "-5.00".into(),
            &["lines[2].amount.amount"],
        ),
        (
            |r| r.lines[2].amount.as_mut().unwrap().amount = "5.001".into(),
            &["lines[2].amount.amount"],
        ),
        (
            |r| r.lines[2].amount.as_mut().unwrap().currency = "XYZ".into(),
            &["lines[2].amount.currency"],
        ),
        // Mixed currencies within the budget.
        (
            |r| r.lines[1].amount.as_mut().unwrap().currency = "EUR".into(),
            &["lines[1].amount.currency"],
        ),
        // One currency, but not the project code's (checked against the stored code).
        (
            |r| {
                for line in &mut r.lines {
                    line.amount.as_mut().unwrap().currency = "EUR".into();
                }
            },
            &[
                "lines[0].amount.currency",
                "lines[1].amount.currency",
                "lines[2].amount.currency",
            ],
        ),
    ];
    for (change, expected) in table {
        let mut message = budget_request("budget-1", "PRJ-000001");
        change(&mut message);
        let status = erp.post_budget(message.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message:?}: {status:?}");
        assert_eq!(fields(&status), *expected, "{message:?}");
    }

    let missing = erp
        .post_budget(budget_request("budget-1", "PRJ-000099"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("PRJ-000099"), "{}", missing.message());

    // Nothing changed: no budget, not even the project code's update stamp.
    assert_eq!(erp.get("PRJ-000001").await, opened);
    assert_eq!(erp.audit_actions(&opened.id).await, ["opened"]);
    assert_eq!(erp.audit_entries().await, 1);

    // The key is still free for the corrected budget.
    let budget = erp.post_budget(budget_request("budget-1", "PRJ-000001")).await.unwrap();
    assert_eq!(budget.total.unwrap().amount, "77125.10");
}

#[tokio::test]
async fn get_needs_exactly_one_of_code_and_project_id() {
    let erp = Erp::spawn().await;
    let project_id = Uuid::now_v7();
    erp.create(create_request("open-1", project_id)).await.unwrap();

    for (code, project) in [("", ""), ("PRJ-000001", project_id.to_string().as_str()), ("PRJ-1", "")] {
        let status = erp.get_as(Some(Role::Consultant), code, project).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{code:?} {project:?}");
        assert_eq!(fields(&status), ["code"], "{code:?} {project:?}");
    }
    let status = erp.get_as(Some(Role::Consultant), "", "not-a-uuid").await.unwrap_err();
    assert_eq!(fields(&status), ["project_id"]);

    let status = erp.get_as(Some(Role::Consultant), "PRJ-000002", "").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("PRJ-000002"), "{}", status.message());
    let other = Uuid::now_v7().to_string();
    let status = erp.get_as(Some(Role::Consultant), "", &other).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&other), "{}", status.message());
}

#[tokio::test]
async fn a_replayed_project_code_returns_the_first_result() {
    let erp = Erp::spawn().await;
    let project_id = Uuid::now_v7();
    let first = erp.create(create_request("open-1", project_id)).await.unwrap();
    let replay = erp.create(create_request("open-1", project_id)).await.unwrap();
    assert_eq!(replay, first);

    // The same change spelled with extra blanks is the same request.
    let mut spaced = create_request("open-1", project_id);
    spaced.name = format!("  {}  ", spaced.name);
    assert_eq!(erp.create(spaced).await.unwrap(), first);

    // Even after the budget is posted, the replay answers what the first call answered.
    erp.post_budget(budget_request("budget-1", &first.code)).await.unwrap();
    assert_eq!(erp.create(create_request("open-1", project_id)).await.unwrap(), first);

    // The key reused for another request is refused by name.
    let mut other = create_request("open-1", project_id);
    other.name = "Another name".into();
    let status = erp.create(other).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["idempotency_key"]);

    assert_eq!(codes(&erp.list_all().await), ["PRJ-000001"]);
    assert_eq!(erp.audit_actions(&first.id).await, ["opened", "budget_posted"]);
}

#[tokio::test]
async fn a_second_code_for_the_same_project_already_exists() {
    let erp = Erp::spawn().await;
    let project_id = Uuid::now_v7();
    let first = erp.create(create_request("open-1", project_id)).await.unwrap();

    let mut again = create_request("open-2", project_id);
    again.name = "Northwind ERP rollout, phase 2".into();
    let status = erp.create(again).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("PRJ-000001"), "{}", status.message());

    assert_eq!(erp.list_all().await, [first]);
    assert_eq!(erp.audit_entries().await, 1);
    // The refused call used no number.
    assert_eq!(
        erp.create(create_request("open-3", Uuid::now_v7())).await.unwrap().code,
        "PRJ-000002"
    );
}

#[tokio::test]
async fn a_code_has_one_budget() {
    let erp = Erp::spawn().await;
    let opened = erp.create(create_request("open-1", Uuid::now_v7())).await.unwrap();
    let first = erp.post_budget(budget_request("budget-1", "PRJ-000001")).await.unwrap();

    for lines in [
        budget_request("x", "").lines,
        vec![line("architect", "10", "2500.00", "USD")],
    ] {
        let message = PostBudgetRequest {
            idempotency_key: "budget-2".into(),
            project_code: "PRJ-000001".into(),
            lines,
        };
        let status = erp.post_budget(message).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "budget already posted for PRJ-000001");
    }

    // A replay of the first budget answers as the first time.
    assert_eq!(
        erp.post_budget(budget_request("budget-1", "PRJ-000001")).await.unwrap(),
        first
    );
    assert_eq!(erp.get("PRJ-000001").await.budget, Some(first));
    assert_eq!(erp.audit_actions(&opened.id).await, ["opened", "budget_posted"]);
}

#[tokio::test]
async fn changes_need_service_finance_or_admin_and_reads_any_role() {
    let erp = Erp::spawn().await;
    for role in [
        Role::ProjectManager,
        Role::ResourceManager,
        Role::Executive,
        Role::Consultant,
        Role::Operations,
    ] {
        let status = erp
            .create_as(Some(role), create_request("open-1", Uuid::now_v7()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role} opened a project code");
    }
    // A wrong role is refused before its input is looked at.
    let status = erp
        .create_as(Some(Role::Consultant), CreateProjectCodeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(erp.list_all().await.is_empty());

    let opened = erp
        .create_as(Some(Role::Admin), create_request("open-1", Uuid::now_v7()))
        .await
        .unwrap();
    assert_eq!(opened.code, "PRJ-000001");

    for role in [Role::ProjectManager, Role::Executive, Role::Consultant] {
        let status = erp
            .post_budget_as(Some(role), budget_request("budget-1", "PRJ-000001"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role} posted a budget");
    }
    assert!(erp.get("PRJ-000001").await.budget.is_none());
    erp.post_budget_as(Some(Role::Admin), budget_request("budget-1", "PRJ-000001"))
        .await
        .unwrap();

    for role in Role::ALL {
        assert_eq!(
            erp.get_as(Some(role), "PRJ-000001", "").await.unwrap().code,
            "PRJ-000001",
            "{role}"
        );
        let page = erp.list_page_as(Some(role), PageRequest::default()).await.unwrap();
        assert_eq!(codes(&page.project_codes), ["PRJ-000001"], "{role}");
    }
}

#[tokio::test]
async fn no_token_is_unauthenticated() {
    let erp = Erp::spawn().await;
    let statuses = [
        erp.create_as(None, create_request("open-1", Uuid::now_v7()))
            .await
            .unwrap_err(),
        erp.post_budget_as(None, budget_request("budget-1", "PRJ-000001"))
            .await
            .unwrap_err(),
        erp.get_as(None, "PRJ-000001", "").await.unwrap_err(),
        erp.list_page_as(None, PageRequest::default()).await.unwrap_err(),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    assert!(erp.list_all().await.is_empty());
}

#[tokio::test]
async fn paging_walks_every_code_once_in_order() {
    let erp = Erp::spawn().await;
    for n in 1..=5 {
        erp.create(create_request(&format!("open-{n}"), Uuid::now_v7()))
            .await
            .unwrap();
    }
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = erp
            .list_page_as(
                Some(Role::Consultant),
                PageRequest {
                    page_size: 2,
                    page_token,
                },
            )
            .await
            .unwrap();
        pages.push(
            codes(&page.project_codes)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
        page_token = page.page.unwrap().next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["PRJ-000001", "PRJ-000002"],
            vec!["PRJ-000003", "PRJ-000004"],
            vec!["PRJ-000005"]
        ]
    );

    let status = erp
        .list_page_as(
            Some(Role::Consultant),
            PageRequest {
                page_size: 2,
                page_token: "%%".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["page.page_token"]);
    // A page larger than the cap of 100 is served capped, not refused.
    let capped = erp
        .list_page_as(
            Some(Role::Consultant),
            PageRequest {
                page_size: 501,
                page_token: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(capped.project_codes.len(), 5);
}

#[tokio::test]
async fn concurrent_codes_for_different_projects_are_distinct() {
    let erp = Arc::new(Erp::spawn().await);
    let calls = 16;
    let mut tasks = Vec::new();
    for n in 0..calls {
        let erp = Arc::clone(&erp);
        tasks.push(tokio::spawn(async move {
            erp.create(create_request(&format!("open-{n}"), Uuid::now_v7())).await
        }));
    }
    let mut assigned = Vec::new();
    for task in futures::future::join_all(tasks).await {
        assigned.push(task.unwrap().expect("a concurrent create failed").code);
    }
    assigned.sort();
    let expected: Vec<String> = (1..=calls).map(|n| format!("PRJ-{n:06}")).collect();
    assert_eq!(assigned, expected);
    // List order (id order) is code order.
    let listed = erp.list_all().await;
    assert_eq!(codes(&listed), expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(erp.audit_entries().await, calls as u64);
}

#[tokio::test]
async fn concurrent_codes_for_one_project_open_it_once() {
    let erp = Arc::new(Erp::spawn().await);
    let project_id = Uuid::now_v7();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let erp = Arc::clone(&erp);
        tasks.push(tokio::spawn(async move {
            erp.create(create_request(&format!("open-{n}"), project_id)).await
        }));
    }
    let mut opened = Vec::new();
    let mut refused = Vec::new();
    for task in futures::future::join_all(tasks).await {
        match task.unwrap() {
            Ok(code) => opened.push(code),
            Err(status) => refused.push(status),
        }
    }
    assert_eq!(opened.len(), 1, "refused: {refused:?}");
    assert_eq!(opened[0].code, "PRJ-000001");
    for status in &refused {
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert!(status.message().contains("PRJ-000001"), "{}", status.message());
    }
    assert_eq!(erp.list_all().await, opened);
}

#[tokio::test]
async fn concurrent_budgets_for_one_code_post_it_once() {
    let erp = Arc::new(Erp::spawn().await);
    let opened = erp.create(create_request("open-1", Uuid::now_v7())).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let erp = Arc::clone(&erp);
        tasks.push(tokio::spawn(async move {
            erp.post_budget(budget_request(&format!("budget-{n}"), "PRJ-000001"))
                .await
        }));
    }
    let mut posted = Vec::new();
    for task in futures::future::join_all(tasks).await {
        match task.unwrap() {
            Ok(budget) => posted.push(budget),
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(status.message(), "budget already posted for PRJ-000001");
            }
        }
    }
    assert_eq!(posted.len(), 1);
    assert_eq!(erp.get("PRJ-000001").await.budget.as_ref(), posted.first());
    assert_eq!(erp.audit_actions(&opened.id).await, ["opened", "budget_posted"]);
}

#[tokio::test]
async fn the_codes_of_many_projects_come_in_one_call_with_their_budgets() {
    use keel_proto::erp::ListProjectCodesOfProjectsRequest;

    let erp = Erp::spawn().await;
    let (budgeted, open, without) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let first = erp.create(create_request("open-1", budgeted)).await.unwrap();
    erp.post_budget(budget_request("budget-1", &first.code)).await.unwrap();
    let second = erp.create(create_request("open-2", open)).await.unwrap();
    let batch = |ids: Vec<String>, role: Option<Role>| {
        let mut client = erp.client.clone();
        async move {
            client
                .list_project_codes_of_projects(request(ListProjectCodesOfProjectsRequest { project_ids: ids }, role))
                .await
                .map(|r| r.into_inner().project_codes)
        }
    };

    let found = batch(
        vec![open.to_string(), without.to_string(), budgeted.to_string()],
        Some(Role::ProjectManager),
    )
    .await
    .unwrap();
    assert_eq!(codes(&found), [first.code.as_str(), second.code.as_str()], "id order");
    assert!(found[0].budget.is_some(), "with its budget");
    assert!(found[1].budget.is_none());
    assert_eq!(found[0], erp.get(&first.code).await, "as GetProjectCode answers");

    let empty = batch(vec![], Some(Role::ProjectManager)).await.unwrap_err();
    assert_eq!(fields(&empty), ["project_ids"]);
    let bad = batch(vec![open.to_string(), "p-1".into()], Some(Role::ProjectManager))
        .await
        .unwrap_err();
    assert_eq!(fields(&bad), ["project_ids[1]"]);
    let anonymous = batch(vec![open.to_string()], None).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
}
