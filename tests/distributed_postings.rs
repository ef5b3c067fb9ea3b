//! Exactly-once time posting across processes under SIGKILL: PSA, HRIS, ERP and two replicas of
//! time capture each run as their own `keel run --target` process on PostgreSQL and NATS
//! JetStream. N approved time entries (`KEEL_POSTINGS`, default 10,000) each start a posting
//! through PSA's approval event; while they post, the ERP service and one time-capture replica
//! are SIGKILLed and restarted at random points (a seeded RNG; `KEEL_CHAOS_SEED` replays a run).
//! Afterwards ERP holds exactly one journal per entry, PSA shows every entry posted in its
//! journal, nothing is in the exception queue, and every service's audit chain is intact.
//!
//! Runs where `KEEL_TEST_DATABASE_URL` and `KEEL_TEST_NATS_URL` are set (`.ci/run` sets both).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{KillOnDrop, keel_command, spawn_ready};
use futures::{StreamExt, TryStreamExt};
use keel_auth::{LocalKey, Role};
use keel_proto::common::{Money, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{CreateLegalEntityRequest, CreateProjectCodeRequest, Journal, ListJournalsRequest};
use keel_proto::hris::CreateEmployeeRequest;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveTimeEntryRequest, CreateAssignmentRequest, CreateProjectRequest, DeliveryTemplate, ListTimeEntriesRequest,
    ProjectStatus, RecordTimeEntryRequest, RoleRate, SetProjectRateCardRequest, SubmitTimeEntriesRequest,
    TemplateMilestone, TemplatePhase, TemplateTask, TimeEntry, TimeEntryState, UpdateProjectStatusRequest,
    UpsertDeliveryTemplateRequest,
};
use keel_proto::workflow::GetCountsRequest;
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_store::StoreOptions;
use keel_store::audit::ChainReport;
use keel_store::testing::{TempDir, test_database_url, test_nats_url, unique_prefix};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use tonic::Request;
use tonic::transport::Channel;

/// The key every process shares (what a Secret holds in a deployment).
const SHARED_KEY: &str = "distributed-postings-key-shared-by-every-service-0123456";
/// The architect's bill rate on the project's rate card and cost rate in HRIS, EUR an hour.
const BILL_RATE: &str = "185.00";
const COST_RATE: &str = "92.50";
const HOURS: &str = "1.5";
/// Kills of each kind during the postings, unless `KEEL_KILLS` says otherwise.
const KILLS: usize = 3;
/// Calls in flight at once while seeding.
const IN_FLIGHT: usize = 16;

/// One `keel run --target` process, restartable on the same gRPC address over the same store.
struct Process {
    target: &'static str,
    prefix: String,
    env: Vec<(&'static str, String)>,
    data_dir: TempDir,
    /// `127.0.0.1:<port>`, taken at the first start and kept across restarts.
    grpc_addr: String,
    child: Option<KillOnDrop>,
}

impl Process {
    async fn start(target: &'static str, prefix: &str, env: Vec<(&'static str, String)>) -> Process {
        let mut process = Process {
            target,
            prefix: prefix.to_string(),
            env,
            data_dir: TempDir::new(),
            grpc_addr: "127.0.0.1:0".into(),
            child: None,
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let mut command = keel_command(self.data_dir.path(), &self.prefix);
        command.env("KEEL__AUTH__LOCAL_KEY", SHARED_KEY);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let (child, grpc, _) = spawn_ready(
            command,
            &[
                "run",
                "--target",
                self.target,
                "--grpc-addr",
                &self.grpc_addr,
                "--http-addr",
                "127.0.0.1:0",
            ],
        )
        .await;
        self.grpc_addr = grpc.trim_start_matches("http://").to_string();
        self.child = Some(KillOnDrop(child));
    }

    fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect_lazy()
    }

    /// SIGKILL: no shutdown, no draining, whatever was in flight is lost.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("a running process");
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reaped");
    }

    /// Starts again on the same gRPC address and store.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.target);
        self.spawn().await;
    }
}

fn authorized<T>(message: T) -> Request<T> {
    let key = LocalKey::from_bytes(SHARED_KEY.as_bytes().to_vec()).unwrap();
    let token = key.issue("keel-local", "keel", "ada", &[Role::Admin], Duration::from_secs(600));
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

/// What the postings go to: a staffed, active project in PSA whose architect is employed in
/// HRIS at a cost rate by the legal entity that owns the project's ERP code.
struct Seeded {
    project_id: String,
    employee_id: String,
    project_code: String,
    legal_entity: String,
}

async fn seed_project(psa: &mut PsaServiceClient<Channel>, hris: Channel, erp: Channel) -> Seeded {
    let legal_entity = "KEEL-UK".to_string();
    ErpServiceClient::new(erp.clone())
        .create_legal_entity(authorized(CreateLegalEntityRequest {
            idempotency_key: "le".into(),
            code: legal_entity.clone(),
            name: "Keel Consulting Ltd".into(),
            functional_currency: "EUR".into(),
            country: "GB".into(),
        }))
        .await
        .expect("legal entity");
    let employee = HrisServiceClient::new(hris)
        .create_employee(authorized(CreateEmployeeRequest {
            idempotency_key: "emp".into(),
            employee_number: "E-1001".into(),
            name: "Ada Lovelace".into(),
            email: "ada@keel.example".into(),
            legal_entity: legal_entity.clone(),
            location: "London".into(),
            region: "emea".into(),
            labor_category: "solution-architect".into(),
            cost_rate: eur(COST_RATE),
            utilization_target: "0.8".into(),
            weekly_capacity_hours: "40".into(),
            ..Default::default()
        }))
        .await
        .expect("employee")
        .into_inner();
    let task = |name: &str, hours: &str| TemplateTask {
        name: name.into(),
        role: "solution-architect".into(),
        hours: hours.into(),
    };
    psa.upsert_delivery_template(authorized(UpsertDeliveryTemplateRequest {
        idempotency_key: "template".into(),
        template: Some(DeliveryTemplate {
            id: "ledger-rollout".into(),
            name: "Ledger rollout".into(),
            phases: vec![TemplatePhase {
                name: "Design".into(),
                tasks: vec![task("Blueprint", "8000")],
            }],
            milestones: vec![TemplateMilestone {
                name: "Go-live".into(),
                percent_of_fee: "100".into(),
                due_after_days: 90,
            }],
            ..Default::default()
        }),
    }))
    .await
    .expect("template");
    let project = psa
        .create_project(authorized(CreateProjectRequest {
            idempotency_key: "project".into(),
            opportunity_id: uuid::Uuid::now_v7().to_string(),
            account_id: uuid::Uuid::now_v7().to_string(),
            name: "Northwind ledger rollout".into(),
            template_id: "ledger-rollout".into(),
            service_line: "erp-deployment".into(),
            contract_type: "fixed-fee".into(),
            region: "emea".into(),
            client_tier: "enterprise".into(),
            contract_value: eur("5000000.00"),
            start_date: "2026-12-01".into(),
        }))
        .await
        .expect("project")
        .into_inner();
    psa.set_project_rate_card(authorized(SetProjectRateCardRequest {
        idempotency_key: "rates".into(),
        project_id: project.id.clone(),
        rates: vec![RoleRate {
            role: "solution-architect".into(),
            bill_rate: eur(BILL_RATE),
        }],
        expected_version: 0,
    }))
    .await
    .expect("rate card");
    psa.update_project_status(authorized(UpdateProjectStatusRequest {
        idempotency_key: "activate".into(),
        project_id: project.id.clone(),
        status: ProjectStatus::Active as i32,
        expected_version: project.version,
    }))
    .await
    .expect("activate");
    psa.create_assignment(authorized(CreateAssignmentRequest {
        idempotency_key: "assign".into(),
        project_id: project.id.clone(),
        employee_id: employee.id.clone(),
        person_name: employee.name.clone(),
        role: "solution-architect".into(),
        bill_role: String::new(),
        start_date: "2026-12-01".into(),
        end_date: "2026-12-31".into(),
        allocation_percent: "100".into(),
    }))
    .await
    .expect("assignment");
    let project_code = ErpServiceClient::new(erp)
        .create_project_code(authorized(CreateProjectCodeRequest {
            idempotency_key: "code".into(),
            project_id: project.id.clone(),
            name: "Northwind ledger rollout".into(),
            legal_entity: legal_entity.clone(),
            currency: "EUR".into(),
        }))
        .await
        .expect("project code")
        .into_inner()
        .code;
    Seeded {
        project_id: project.id,
        employee_id: employee.id,
        project_code,
        legal_entity,
    }
}

/// `n` entries of 1.5 hours recorded, submitted in hundreds, and approved: each approval is the
/// event that starts the entry's posting in time capture.
async fn approve_entries(psa: &PsaServiceClient<Channel>, seeded: &Seeded, n: usize) -> Vec<String> {
    let started = Instant::now();
    let recorded: Vec<TimeEntry> = futures::stream::iter(0..n)
        .map(|i| {
            let mut psa = psa.clone();
            let request = RecordTimeEntryRequest {
                idempotency_key: format!("record-{i}"),
                project_id: seeded.project_id.clone(),
                employee_id: seeded.employee_id.clone(),
                task: "Blueprint".into(),
                date: format!("2026-12-{:02}", 1 + i % 31),
                hours: HOURS.into(),
                narrative: format!("Chart of accounts workshop, session {i}"),
                billable: true,
            };
            async move { psa.record_time_entry(authorized(request)).await.map(|r| r.into_inner()) }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
        .expect("record");
    // 1.5 h at the architect's 185.00 EUR.
    assert!(recorded.iter().all(|e| e.amount == eur("277.50")), "{:?}", recorded[0]);
    eprintln!("recorded {n} entries in {:?}", started.elapsed());
    let submitted: Vec<Vec<TimeEntry>> = futures::stream::iter(recorded.chunks(100).enumerate())
        .map(|(i, chunk)| {
            let mut psa = psa.clone();
            let request = SubmitTimeEntriesRequest {
                idempotency_key: format!("submit-{i}"),
                ids: chunk.iter().map(|e| e.id.clone()).collect(),
            };
            async move {
                psa.submit_time_entries(authorized(request))
                    .await
                    .map(|r| r.into_inner().entries)
            }
        })
        .buffered(4)
        .try_collect()
        .await
        .expect("submit");
    let approver = uuid::Uuid::now_v7().to_string();
    let approved: Vec<TimeEntry> = futures::stream::iter(submitted.into_iter().flatten())
        .map(|entry| {
            let mut psa = psa.clone();
            let request = ApproveTimeEntryRequest {
                idempotency_key: format!("approve-{}", entry.id),
                id: entry.id.clone(),
                approver_id: approver.clone(),
                expected_version: entry.version,
            };
            async move {
                psa.approve_time_entry(authorized(request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
        .expect("approve");
    assert!(approved.iter().all(|e| e.state == TimeEntryState::Approved as i32));
    eprintln!(
        "recorded, submitted and approved {n} entries in {:?}",
        started.elapsed()
    );
    approved.into_iter().map(|e| e.id).collect()
}

/// Time capture's instances of `time-posting` by status, from a replica's workflow admin (the
/// replicas share one store, so either answers for both).
async fn postings_by_status(admin: &mut WorkflowAdminServiceClient<Channel>) -> BTreeMap<String, u64> {
    let counts = admin
        .get_counts(authorized(GetCountsRequest {}))
        .await
        .expect("workflow counts")
        .into_inner();
    counts
        .by_kind
        .into_iter()
        .filter(|c| c.kind == "time-posting")
        .map(|c| (c.status, c.count))
        .collect()
}

async fn journals_of(erp: Channel, project_code: &str) -> Vec<Journal> {
    let mut client = ErpServiceClient::new(erp);
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_journals(authorized(ListJournalsRequest {
                legal_entity: String::new(),
                project_code: project_code.to_string(),
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

async fn entries_of(psa: &mut PsaServiceClient<Channel>, project_id: &str) -> Vec<TimeEntry> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = psa
            .list_time_entries(authorized(ListTimeEntriesRequest {
                project_id: project_id.to_string(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("list time entries")
            .into_inner();
        all.extend(page.entries);
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return all;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Erp,
    Replica,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn time_posts_exactly_once_while_erp_and_a_replica_are_killed() {
    let (Some(database_url), Some(_)) = (test_database_url(), test_nats_url()) else {
        eprintln!(
            "the postings-under-kill test needs PostgreSQL and NATS: set KEEL_TEST_DATABASE_URL and \
             KEEL_TEST_NATS_URL (.ci/run does); not run here"
        );
        return;
    };
    let n: usize = std::env::var("KEEL_POSTINGS")
        .ok()
        .map(|v| v.parse().expect("KEEL_POSTINGS is a number of postings"))
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("KEEL_CHAOS_SEED")
        .ok()
        .map(|v| v.parse().expect("KEEL_CHAOS_SEED is a number"))
        .unwrap_or_else(rand::random);
    let kills: usize = std::env::var("KEEL_KILLS")
        .ok()
        .map(|v| v.parse().expect("KEEL_KILLS is a number of kills of each kind"))
        .unwrap_or(KILLS);
    eprintln!("{n} postings; chaos seed {seed} (KEEL_CHAOS_SEED={seed} replays the kill plan)");
    let mut rng = StdRng::seed_from_u64(seed);

    let prefix = unique_prefix();
    let psa = Process::start("psa", &prefix, vec![]).await;
    let hris = Process::start("hris", &prefix, vec![]).await;
    let erp = Process::start("erp", &prefix, vec![]).await;
    let downstream = vec![
        ("KEEL__SERVICES__PSA", psa.url()),
        ("KEEL__SERVICES__ERP", erp.url()),
        ("KEEL__SERVICES__HRIS", hris.url()),
    ];
    // Two replicas of time capture: one store (the same schema prefix), one durable consumer.
    let replica = Process::start("time-capture", &prefix, downstream.clone()).await;
    let survivor = Process::start("time-capture", &prefix, downstream).await;
    let mut admin = WorkflowAdminServiceClient::new(survivor.channel());

    let mut psa_client = PsaServiceClient::new(psa.channel());
    let seeded = seed_project(&mut psa_client, hris.channel(), erp.channel()).await;

    // The kill plan: each kill at a random share of the postings done, each outage of random
    // length.
    let mut plan: Vec<(u64, Victim, Duration)> = [Victim::Erp, Victim::Replica]
        .into_iter()
        .flat_map(|victim| std::iter::repeat_n(victim, kills))
        .map(|victim| {
            let at = (n as f64 * rng.random_range(0.05..0.9)) as u64;
            (at, victim, Duration::from_millis(rng.random_range(200..3000)))
        })
        .collect();
    plan.sort_by_key(|(at, _, _)| *at);
    eprintln!("kill plan (postings done, victim, outage): {plan:?}");
    let chaos_admin = admin.clone();
    let chaos = tokio::spawn(async move {
        let (mut erp, mut replica, mut admin) = (erp, replica, chaos_admin);
        for (at, victim, outage) in plan {
            loop {
                let done = postings_by_status(&mut admin).await.get("done").copied().unwrap_or(0);
                if done >= at {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let process = match victim {
                Victim::Erp => &mut erp,
                Victim::Replica => &mut replica,
            };
            process.kill();
            eprintln!(
                "SIGKILLed {} at {at} postings done; down for {outage:?}",
                process.target
            );
            tokio::time::sleep(outage).await;
            process.restart().await;
            eprintln!("restarted {} on {}", process.target, process.grpc_addr);
        }
        (erp, replica)
    });

    let started = Instant::now();
    let ids = approve_entries(&psa_client, &seeded, n).await;
    let seeding = started.elapsed();

    // Every entry posted, within a bound, with progress.
    let bound = Duration::from_secs(300) + Duration::from_millis(150) * n as u32;
    let mut last_report = Instant::now();
    loop {
        let counts = postings_by_status(&mut admin).await;
        let done = counts.get("done").copied().unwrap_or(0);
        if done >= n as u64 || counts.get("exception").is_some_and(|&e| e > 0) {
            eprintln!("postings after {:?}: {counts:?}", started.elapsed());
            break;
        }
        assert!(
            started.elapsed() < bound,
            "{done} of {n} posted within {bound:?}: {counts:?}"
        );
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!("postings after {:?}: {counts:?}", started.elapsed());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let total = started.elapsed();
    eprintln!("{n} entries seeded in {seeding:?}; postings settled {total:?} after seeding began");
    // Nothing in the exception queue, nothing still running: each entry's one instance is done.
    let counts = postings_by_status(&mut admin).await;
    assert_eq!(counts, BTreeMap::from([("done".to_string(), n as u64)]), "{counts:?}");
    let (erp, _replica) = chaos.await.expect("every kill and restart went through");

    // ERP: exactly one journal per entry, none twice, each costing 1.5 h at 92.50 EUR by the
    // person's legal entity.
    let journals = journals_of(erp.channel(), &seeded.project_code).await;
    assert_eq!(journals.len(), n, "one journal per entry");
    let by_entry: BTreeMap<String, String> = journals
        .iter()
        .map(|j| {
            let entry = j
                .source
                .strip_prefix("time:")
                .unwrap_or_else(|| panic!("a time journal: {j:?}"));
            (entry.to_ascii_lowercase(), j.id.clone())
        })
        .collect();
    assert_eq!(by_entry.len(), n, "no entry posted twice");
    let entries: BTreeSet<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    assert_eq!(by_entry.keys().cloned().collect::<BTreeSet<_>>(), entries);
    let mut cost = Decimal::ZERO;
    for journal in &journals {
        let line = journal
            .lines
            .iter()
            .find(|l| l.account_code == "5000" && l.debit.is_some())
            .unwrap_or_else(|| panic!("a cost line in {journal:?}"));
        assert_eq!(line.debit.as_ref().unwrap().amount, "138.75", "{journal:?}");
        assert_eq!(line.legal_entity, seeded.legal_entity);
        cost += Decimal::from_str(&line.debit.as_ref().unwrap().amount).unwrap();
    }
    assert_eq!(cost, Decimal::from_str("138.75").unwrap() * Decimal::from(n as u64));

    // PSA: every entry POSTED, in the journal ERP holds for it.
    let entries = entries_of(&mut psa_client, &seeded.project_id).await;
    assert_eq!(entries.len(), n);
    for entry in &entries {
        assert_eq!(entry.state, TimeEntryState::Posted as i32, "{entry:?}");
        assert_eq!(
            Some(&entry.journal_reference),
            by_entry.get(&entry.id.to_ascii_lowercase()),
            "{entry:?}"
        );
    }

    // Every service's audit chain verifies, across the kills.
    for service in ["psa", "hris", "erp", "time-capture"] {
        let options = StoreOptions::for_service(service, psa.data_dir.path(), Some(&database_url), &prefix, 2);
        let db = keel_store::connect(&options).await.expect("the service's store");
        let report = keel_store::audit::verify(&db).await.expect("audit chain read");
        match report {
            ChainReport::Intact { entries } => {
                eprintln!("{service}: audit chain intact over {entries} entries");
                if service != "hris" {
                    assert!(
                        entries >= n as u64,
                        "{service}: {entries} audit entries for {n} postings"
                    );
                }
            }
            broken => panic!("{service}: audit chain {broken:?}"),
        }
    }
}
