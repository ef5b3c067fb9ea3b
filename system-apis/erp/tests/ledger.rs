//! The reference ledger over gRPC on a real database (SQLite, or PostgreSQL when
//! `KEEL_TEST_DATABASE_URL` is set): property tests that no accepted journal is unbalanced,
//! that a replay changes nothing and that amounts never pass through a float; then time
//! postings (once per entry, intercompany), invoices, revenue and exchange rates, with the
//! audit rows and outbox events the reference adapter writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, Role, Verifier, VerifierConfig};
use keel_conformance::erp::{credit, debit, journal_balances, trial_balance_balances};
use keel_erp::ReferenceErp;
use keel_erp::reference::Migrator;
use keel_proto::common::Money;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    ConvertAmountRequest, CreateBillingMilestoneRequest, CreateDraftInvoiceRequest, CreateLegalEntityRequest,
    CreateProjectCodeRequest, GetJournalRequest, GetRevenueScheduleRequest, GetTrialBalanceRequest, InvoiceStatus,
    IssueInvoiceRequest, Journal, JournalLine, MarkMilestoneReachedRequest, PostExpensesRequest, PostJournalRequest,
    PostTimeEntriesRequest, PostWorkResponse, RecognizeRevenueRequest, RevenueMethod, SetExchangeRateRequest,
    SetRevenueScheduleRequest, TimeEntryPosting, TrialBalance, create_draft_invoice_request,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Status};
use uuid::Uuid;

const ISSUER: &str = "https://id.keel.test";
const AUDIENCE: &str = "keel";
const SECRET: &[u8] = b"keel-erp-ledger-tests-0123456789abcdef-0123";

struct Erp {
    client: ErpServiceClient<Channel>,
    db: DatabaseConnection,
    _store: TestStore,
}

fn request<T>(message: T, role: Role) -> Request<T> {
    let token = keel_auth::issue_hs256(
        SECRET,
        ISSUER,
        AUDIENCE,
        "service:ledger-tests",
        &[role],
        Duration::from_secs(600),
    );
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn money(amount: &str, currency: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: currency.into(),
    })
}

fn amount(money: &Option<Money>) -> &str {
    money.as_ref().map(|m| m.amount.as_str()).unwrap_or_default()
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

    fn c(&self) -> ErpServiceClient<Channel> {
        self.client.clone()
    }

    async fn entity(&self, code: &str, currency: &str) {
        self.c()
            .create_legal_entity(request(
                CreateLegalEntityRequest {
                    idempotency_key: format!("entity-{code}"),
                    code: code.into(),
                    name: format!("Keel {code}"),
                    functional_currency: currency.into(),
                    country: "GB".into(),
                },
                Role::Service,
            ))
            .await
            .expect("create legal entity");
    }

    async fn project(&self, entity: &str, currency: &str) -> String {
        self.c()
            .create_project_code(request(
                CreateProjectCodeRequest {
                    idempotency_key: format!("project-{}", Uuid::now_v7()),
                    project_id: Uuid::now_v7().to_string(),
                    name: "Ledger project".into(),
                    legal_entity: entity.into(),
                    currency: currency.into(),
                },
                Role::Service,
            ))
            .await
            .expect("create project code")
            .into_inner()
            .code
    }

    async fn post_journal(&self, key: &str, lines: Vec<JournalLine>) -> Result<Journal, Status> {
        self.c()
            .post_journal(request(
                PostJournalRequest {
                    idempotency_key: key.into(),
                    journal_date: "2026-11-30".into(),
                    description: "Property journal".into(),
                    lines,
                },
                Role::Finance,
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn journal(&self, id: &str) -> Journal {
        self.c()
            .get_journal(request(GetJournalRequest { id: id.into() }, Role::Consultant))
            .await
            .expect("get journal")
            .into_inner()
    }

    async fn trial_balance(&self, entity: &str) -> TrialBalance {
        self.c()
            .get_trial_balance(request(
                GetTrialBalanceRequest {
                    legal_entity: entity.into(),
                },
                Role::Executive,
            ))
            .await
            .expect("trial balance")
            .into_inner()
    }

    async fn post_time(&self, key: &str, entries: Vec<TimeEntryPosting>) -> Result<PostWorkResponse, Status> {
        self.c()
            .post_time_entries(request(
                PostTimeEntriesRequest {
                    idempotency_key: key.into(),
                    entries,
                },
                Role::Service,
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn events(&self, event_type: &str) -> usize {
        keel_events::outbox::recent(&self.db, Some(event_type), 10_000)
            .await
            .unwrap()
            .len()
    }

    async fn audit_entries(&self) -> u64 {
        match audit::verify(&self.db).await.unwrap() {
            ChainReport::Intact { entries } => entries,
            broken => panic!("the audit chain is broken: {broken:?}"),
        }
    }
}

fn time_entry(id: Uuid, person_entity: &str, project: &str, bill: &str, cost: &str) -> TimeEntryPosting {
    TimeEntryPosting {
        time_entry_id: id.to_string(),
        person_id: Uuid::now_v7().to_string(),
        person_legal_entity: person_entity.into(),
        project_code: project.into(),
        work_date: "2026-11-02".into(),
        hours: "8".into(),
        bill_amount: money(bill, "GBP"),
        cost_amount: money(cost, "GBP"),
    }
}

fn fields(status: &Status) -> Vec<String> {
    keel_core::Error::from(status.clone())
        .field_violations()
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

const ENTITIES: [&str; 2] = ["KEEL-UK", "KEEL-US"];
const CURRENCIES: [(&str, u32); 3] = [("GBP", 2), ("USD", 2), ("JPY", 0)];
const ACCOUNTS: [&str; 4] = ["1000", "1200", "3000", "4000"];

/// A random line: (entity, account, debit?, minor units, currency).
type RawLine = (usize, usize, bool, i64, usize);

fn decimal(minor: i64, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(digits);
    format!("{}.{:0width$}", minor / scale, minor % scale, width = digits as usize)
}

fn to_line(&(entity, account, is_debit, minor, currency): &RawLine) -> JournalLine {
    let (code, digits) = CURRENCIES[currency];
    let value = decimal(minor, digits);
    if is_debit {
        debit(ENTITIES[entity], ACCOUNTS[account], &value, code)
    } else {
        credit(ENTITIES[entity], ACCOUNTS[account], &value, code)
    }
}

/// Debits minus credits per (entity, currency), computed by the test itself.
fn net(lines: &[RawLine]) -> BTreeMap<(usize, usize), i128> {
    let mut sums = BTreeMap::new();
    for &(entity, _, is_debit, minor, currency) in lines {
        *sums.entry((entity, currency)).or_insert(0_i128) += if is_debit {
            i128::from(minor)
        } else {
            -i128::from(minor)
        };
    }
    sums
}

/// Random lines, and half the time a closing line per group that balances them.
fn journal_lines() -> impl Strategy<Value = Vec<RawLine>> {
    (
        prop::collection::vec(
            (
                0..2_usize,
                0..4_usize,
                any::<bool>(),
                1..1_000_000_000_000_i64,
                0..3_usize,
            ),
            1..7,
        ),
        any::<bool>(),
    )
        .prop_map(|(mut lines, close)| {
            if close {
                for ((entity, currency), sum) in net(&lines) {
                    if sum != 0 {
                        let minor = i64::try_from(sum.abs()).unwrap();
                        lines.push((entity, 0, sum < 0, minor, currency));
                    }
                }
            }
            lines
        })
}

async fn ledger_with_entities() -> Erp {
    let erp = Erp::spawn().await;
    erp.entity(ENTITIES[0], "GBP").await;
    erp.entity(ENTITIES[1], "USD").await;
    erp
}

#[test]
fn no_accepted_journal_is_ever_unbalanced_per_entity_and_currency() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let erp = runtime.block_on(ledger_with_entities());
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0_usize);
    runner
        .run(&journal_lines(), |lines| {
            let balanced = net(&lines).values().all(|sum| *sum == 0) && lines.len() >= 2;
            let wire: Vec<JournalLine> = lines.iter().map(to_line).collect();
            let answer = runtime.block_on(erp.post_journal(&format!("prop-{}", Uuid::now_v7()), wire.clone()));
            match answer {
                Ok(journal) => {
                    prop_assert!(balanced, "an unbalanced journal was accepted: {lines:?}");
                    journal_balances(&journal).map_err(TestCaseError::fail)?;
                    let stored = runtime.block_on(erp.journal(&journal.id));
                    prop_assert_eq!(&stored, &journal);
                    prop_assert_eq!(&stored.lines, &wire, "the stored lines differ from the posted ones");
                    accepted.set(accepted.get() + 1);
                }
                Err(status) => {
                    prop_assert!(!balanced, "a balanced journal was refused: {status:?}");
                    prop_assert_eq!(status.code(), Code::InvalidArgument);
                    prop_assert_eq!(fields(&status), vec!["lines".to_string()]);
                }
            }
            for entity in ENTITIES {
                let balance = runtime.block_on(erp.trial_balance(entity));
                trial_balance_balances(&balance).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })
        .unwrap();
    let accepted = accepted.get();
    assert!(
        accepted > 0,
        "no generated journal balanced; the property tested nothing accepted"
    );
    // Every accepted journal and nothing else was posted.
    let posted = runtime.block_on(erp.events("erp.journal.posted"));
    assert_eq!(posted, accepted);
}

#[test]
fn a_replay_with_one_key_changes_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let erp = runtime.block_on(ledger_with_entities());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&(journal_lines(), 1..4_usize), |(lines, replays)| {
            let key = format!("replay-{}", Uuid::now_v7());
            let wire: Vec<JournalLine> = lines.iter().map(to_line).collect();
            let first = runtime.block_on(erp.post_journal(&key, wire.clone()));
            let audit_before = runtime.block_on(erp.audit_entries());
            let events_before = runtime.block_on(erp.events("erp.journal.posted"));
            let balances_before: Vec<TrialBalance> = ENTITIES
                .iter()
                .map(|e| runtime.block_on(erp.trial_balance(e)))
                .collect();
            for _ in 0..replays {
                let again = runtime.block_on(erp.post_journal(&key, wire.clone()));
                match (&first, &again) {
                    (Ok(first), Ok(again)) => prop_assert_eq!(first, again),
                    (Err(first), Err(again)) => prop_assert_eq!(first.code(), again.code()),
                    _ => prop_assert!(false, "the replay answered {again:?}, the first call {first:?}"),
                }
            }
            prop_assert_eq!(runtime.block_on(erp.audit_entries()), audit_before);
            prop_assert_eq!(runtime.block_on(erp.events("erp.journal.posted")), events_before);
            let balances_after: Vec<TrialBalance> = ENTITIES
                .iter()
                .map(|e| runtime.block_on(erp.trial_balance(e)))
                .collect();
            prop_assert_eq!(balances_after, balances_before);
            Ok(())
        })
        .unwrap();
}

#[test]
fn amounts_round_trip_exactly_and_never_pass_through_a_float() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let erp = runtime.block_on(async {
        let erp = ledger_with_entities().await;
        erp.entity("KEEL-BH", "BHD").await;
        erp
    });
    // Up to Keel's largest amount (10^13 major units), with every minor-unit digit.
    let strategy = prop_oneof![
        (1..=1_000_000_000_000_000_i64).prop_map(|m| (m, "GBP", 2_u32)),
        (1..=10_000_000_000_000_i64).prop_map(|m| (m, "JPY", 0_u32)),
        (1..=10_000_000_000_000_000_i64).prop_map(|m| (m, "BHD", 3_u32)),
        // Values a binary float cannot hold exactly.
        prop::sample::select(vec![1_i64, 10, 30, 70, 999_999_999_999_999, 900_719_925_474_099])
            .prop_map(|m| (m, "GBP", 2_u32)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    runner
        .run(&strategy, |(minor, currency, digits)| {
            let value = decimal(minor, digits);
            let entity = if currency == "BHD" { "KEEL-BH" } else { ENTITIES[0] };
            let journal = runtime
                .block_on(erp.post_journal(
                    &format!("exact-{}", Uuid::now_v7()),
                    vec![
                        debit(entity, "1000", &value, currency),
                        credit(entity, "3000", &value, currency),
                    ],
                ))
                .map_err(|s| TestCaseError::fail(format!("{value} {currency}: {s:?}")))?;
            let stored = runtime.block_on(erp.journal(&journal.id));
            prop_assert_eq!(amount(&stored.lines[0].debit), value.as_str());
            prop_assert_eq!(amount(&stored.lines[1].credit), value.as_str());
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_time_entry_posted_twice_under_two_keys_posts_once() {
    let erp = Erp::spawn().await;
    erp.entity("KEEL-UK", "GBP").await;
    let project = erp.project("KEEL-UK", "GBP").await;
    let entry_id = Uuid::now_v7();
    let entry = time_entry(entry_id, "KEEL-UK", &project, "960.00", "400.00");

    let first = erp.post_time("batch-1", vec![entry.clone()]).await.unwrap();
    let posted = &first.postings[0];
    assert!(!posted.already_posted);
    assert_eq!(posted.journal_ids.len(), 1, "one entity: one journal");
    let journal = erp.journal(&posted.journal_ids[0]).await;
    journal_balances(&journal).unwrap();
    let accounts: Vec<(&str, &str, &str)> = journal
        .lines
        .iter()
        .map(|l| (l.account_code.as_str(), amount(&l.debit), amount(&l.credit)))
        .collect();
    assert_eq!(
        accounts,
        [
            ("5000", "400.00", ""),
            ("2100", "", "400.00"),
            ("1250", "960.00", ""),
            ("4000", "", "960.00")
        ]
    );
    assert_eq!(journal.source, format!("time:{entry_id}"));

    // Another key, the same entry, with another new one: the first is not posted again.
    let other = time_entry(Uuid::now_v7(), "KEEL-UK", &project, "120.00", "50.00");
    let second = erp.post_time("batch-2", vec![entry.clone(), other]).await.unwrap();
    assert!(second.postings[0].already_posted);
    assert_eq!(second.postings[0].journal_ids, posted.journal_ids);
    assert!(!second.postings[1].already_posted);

    // Concurrent batches under fresh keys never post it either.
    let erp = Arc::new(erp);
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let erp = Arc::clone(&erp);
            let entry = entry.clone();
            tokio::spawn(async move { erp.post_time(&format!("race-{n}"), vec![entry]).await })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        match task.unwrap() {
            Ok(answer) => {
                assert!(answer.postings[0].already_posted);
                assert_eq!(answer.postings[0].journal_ids, posted.journal_ids);
            }
            Err(status) => assert!(matches!(status.code(), Code::Unavailable | Code::Aborted), "{status:?}"),
        }
    }
    assert_eq!(erp.events("erp.time.posted").await, 2);
    assert_eq!(erp.events("erp.journal.posted").await, 2);
    let history = audit::history(&erp.db, "time_entry", &entry_id.to_string())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    trial_balance_balances(&erp.trial_balance("KEEL-UK").await).unwrap();

    // A refused batch writes nothing: an unknown project code is named by its field.
    let mut bad = time_entry(Uuid::now_v7(), "KEEL-UK", "PRJ-999999", "1.00", "1.00");
    let status = erp.post_time("batch-bad", vec![bad.clone()]).await.unwrap_err();
    assert_eq!(fields(&status), ["entries[0].project_code"]);
    bad.project_code = project.clone();
    bad.person_legal_entity = "KEEL-XX".into();
    let status = erp.post_time("batch-bad-2", vec![bad]).await.unwrap_err();
    assert_eq!(fields(&status), ["entries[0].person_legal_entity"]);
    assert_eq!(erp.events("erp.time.posted").await, 2);
}

#[tokio::test]
async fn intercompany_time_posts_two_journals_each_balanced_in_its_entity() {
    let erp = Erp::spawn().await;
    erp.entity("KEEL-UK", "GBP").await;
    erp.entity("KEEL-DE", "EUR").await;
    let project = erp.project("KEEL-DE", "GBP").await;
    let entry = time_entry(Uuid::now_v7(), "KEEL-UK", &project, "1500.00", "620.00");
    let answer = erp.post_time("ic-1", vec![entry]).await.unwrap();
    let ids = &answer.postings[0].journal_ids;
    assert_eq!(ids.len(), 2);

    let person = erp.journal(&ids[0]).await;
    let project_journal = erp.journal(&ids[1]).await;
    for journal in [&person, &project_journal] {
        journal_balances(journal).unwrap();
    }
    let shape = |journal: &Journal| -> Vec<(String, String, String, String)> {
        journal
            .lines
            .iter()
            .map(|l| {
                (
                    l.legal_entity.clone(),
                    l.account_code.clone(),
                    amount(&l.debit).to_string(),
                    amount(&l.credit).to_string(),
                )
            })
            .collect()
    };
    let row = |e: &str, a: &str, d: &str, c: &str| (e.to_string(), a.to_string(), d.to_string(), c.to_string());
    assert_eq!(
        shape(&person),
        [
            row("KEEL-UK", "1300", "620.00", ""),
            row("KEEL-UK", "2100", "", "620.00")
        ]
    );
    assert_eq!(
        shape(&project_journal),
        [
            row("KEEL-DE", "5000", "620.00", ""),
            row("KEEL-DE", "2300", "", "620.00"),
            row("KEEL-DE", "1250", "1500.00", ""),
            row("KEEL-DE", "4000", "", "1500.00"),
        ]
    );
    for entity in ["KEEL-UK", "KEEL-DE"] {
        let balance = erp.trial_balance(entity).await;
        trial_balance_balances(&balance).unwrap();
    }
    // The receivable in one entity matches the payable in the other.
    let uk = erp.trial_balance("KEEL-UK").await;
    let de = erp.trial_balance("KEEL-DE").await;
    let balance_of = |tb: &TrialBalance, account: &str| {
        tb.lines
            .iter()
            .find(|l| l.account_code == account)
            .map(|l| amount(&l.balance).to_string())
    };
    assert_eq!(balance_of(&uk, "1300"), Some("620.00".into()));
    assert_eq!(balance_of(&de, "2300"), Some("-620.00".into()));

    // Expenses cross entities the same way.
    let expense = erp
        .c()
        .post_expenses(request(
            PostExpensesRequest {
                idempotency_key: "ic-exp".into(),
                expenses: vec![keel_proto::erp::ExpensePosting {
                    expense_id: Uuid::now_v7().to_string(),
                    person_id: Uuid::now_v7().to_string(),
                    person_legal_entity: "KEEL-UK".into(),
                    project_code: project.clone(),
                    expense_date: "2026-11-03".into(),
                    category: "travel".into(),
                    amount: money("84.20", "GBP"),
                    bill_amount: None,
                }],
            },
            Role::Service,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(expense.postings[0].journal_ids.len(), 2);
    assert_eq!(erp.events("erp.expense.posted").await, 1);
}

#[tokio::test]
async fn an_invoice_is_drafted_issued_and_posted() {
    let erp = Erp::spawn().await;
    erp.entity("KEEL-UK", "GBP").await;
    let project = erp.project("KEEL-UK", "GBP").await;
    erp.post_time(
        "tm-1",
        vec![
            time_entry(Uuid::now_v7(), "KEEL-UK", &project, "960.00", "400.00"),
            time_entry(Uuid::now_v7(), "KEEL-UK", &project, "480.50", "200.00"),
        ],
    )
    .await
    .unwrap();

    let draft_request = |key: &str| CreateDraftInvoiceRequest {
        idempotency_key: key.into(),
        project_code: project.clone(),
        source: Some(create_draft_invoice_request::Source::TimeAndMaterials(true)),
    };
    let draft = erp
        .c()
        .create_draft_invoice(request(draft_request("draft-1"), Role::Finance))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(draft.status(), InvoiceStatus::Draft);
    assert_eq!(amount(&draft.total), "1440.50");
    assert_eq!(draft.lines.len(), 2);
    assert!(draft.number.is_empty());

    // Nothing is left to bill.
    let status = erp
        .c()
        .create_draft_invoice(request(draft_request("draft-2"), Role::Finance))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    let issue = |key: &str, version: i64| IssueInvoiceRequest {
        idempotency_key: key.into(),
        invoice_id: draft.id.clone(),
        expected_version: version,
        issue_date: "2026-11-30".into(),
    };
    let issued = erp
        .c()
        .issue_invoice(request(issue("issue-1", 1), Role::Finance))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.status(), InvoiceStatus::Issued);
    assert_eq!(issued.number, "INV-000001");
    assert_eq!(issued.version, 2);
    let journal = erp.journal(&issued.journal_id).await;
    journal_balances(&journal).unwrap();
    let lines: Vec<(&str, &str, &str)> = journal
        .lines
        .iter()
        .map(|l| (l.account_code.as_str(), amount(&l.debit), amount(&l.credit)))
        .collect();
    assert_eq!(lines, [("1200", "1440.50", ""), ("1250", "", "1440.50")]);
    // A replay answers the same; a stale version is ABORTED naming the invoice.
    let replay = erp
        .c()
        .issue_invoice(request(issue("issue-1", 1), Role::Finance))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, issued);
    let stale = erp
        .c()
        .issue_invoice(request(issue("issue-2", 1), Role::Finance))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert!(stale.message().contains("invoice"), "{}", stale.message());

    // Unbilled WIP is cleared to receivables.
    let balance = erp.trial_balance("KEEL-UK").await;
    trial_balance_balances(&balance).unwrap();
    let wip = balance.lines.iter().find(|l| l.account_code == "1250").unwrap();
    assert_eq!(amount(&wip.balance), "0.00");
    assert_eq!(erp.events("erp.invoice.drafted").await, 1);
    assert_eq!(erp.events("erp.invoice.issued").await, 1);
    let history: Vec<String> = audit::history(&erp.db, "invoice", &draft.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(history, ["drafted", "issued"]);
}

#[tokio::test]
async fn milestone_revenue_is_recognised_once_the_milestone_is_invoiced() {
    let erp = Erp::spawn().await;
    erp.entity("KEEL-UK", "GBP").await;
    let project = erp.project("KEEL-UK", "GBP").await;
    erp.c()
        .set_revenue_schedule(request(
            SetRevenueScheduleRequest {
                idempotency_key: "schedule".into(),
                project_code: project.clone(),
                method: RevenueMethod::FixedFeeMilestone as i32,
                contract_value: money("50000.00", "GBP"),
            },
            Role::Finance,
        ))
        .await
        .unwrap();
    // Time on a fixed-fee project posts its cost and no revenue.
    let posted = erp
        .post_time(
            "ff-time",
            vec![time_entry(Uuid::now_v7(), "KEEL-UK", &project, "900.00", "300.00")],
        )
        .await
        .unwrap();
    let journal = erp.journal(&posted.postings[0].journal_ids[0]).await;
    assert!(
        journal.lines.iter().all(|l| l.account_code != "4000"),
        "{:?}",
        journal.lines
    );

    let milestone = erp
        .c()
        .create_billing_milestone(request(
            CreateBillingMilestoneRequest {
                idempotency_key: "ms".into(),
                project_code: project.clone(),
                name: "Go-live".into(),
                amount: money("20000.00", "GBP"),
                due_date: "2026-12-01".into(),
            },
            Role::Finance,
        ))
        .await
        .unwrap()
        .into_inner();
    let recognize = |key: &str| RecognizeRevenueRequest {
        idempotency_key: key.into(),
        project_code: project.clone(),
        percent_complete: String::new(),
        as_of_date: "2026-12-31".into(),
    };
    let nothing = erp
        .c()
        .recognize_revenue(request(recognize("rec-0"), Role::Finance))
        .await
        .unwrap()
        .into_inner();
    assert!(nothing.journal.is_none());

    erp.c()
        .mark_milestone_reached(request(
            MarkMilestoneReachedRequest {
                idempotency_key: "reached".into(),
                milestone_id: milestone.id.clone(),
                expected_version: 1,
            },
            Role::Finance,
        ))
        .await
        .unwrap();
    let draft = erp
        .c()
        .create_draft_invoice(request(
            CreateDraftInvoiceRequest {
                idempotency_key: "ms-draft".into(),
                project_code: project.clone(),
                source: Some(create_draft_invoice_request::Source::MilestoneId(milestone.id.clone())),
            },
            Role::Finance,
        ))
        .await
        .unwrap()
        .into_inner();
    erp.c()
        .issue_invoice(request(
            IssueInvoiceRequest {
                idempotency_key: "ms-issue".into(),
                invoice_id: draft.id.clone(),
                expected_version: draft.version,
                issue_date: "2026-12-02".into(),
            },
            Role::Finance,
        ))
        .await
        .unwrap();
    let recognised = erp
        .c()
        .recognize_revenue(request(recognize("rec-1"), Role::Finance))
        .await
        .unwrap()
        .into_inner();
    let journal = recognised.journal.expect("a recognition journal");
    journal_balances(&journal).unwrap();
    let lines: Vec<(&str, &str, &str)> = journal
        .lines
        .iter()
        .map(|l| (l.account_code.as_str(), amount(&l.debit), amount(&l.credit)))
        .collect();
    assert_eq!(lines, [("2400", "20000.00", ""), ("4000", "", "20000.00")]);
    let schedule = erp
        .c()
        .get_revenue_schedule(request(
            GetRevenueScheduleRequest {
                project_code: project.clone(),
            },
            Role::ProjectManager,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(amount(&schedule.recognized), "20000.00");
    trial_balance_balances(&erp.trial_balance("KEEL-UK").await).unwrap();
}

#[tokio::test]
async fn conversions_round_half_even_to_the_target_minor_unit() {
    let erp = Erp::spawn().await;
    let set = |from: &str, to: &str, date: &str, rate: &str| SetExchangeRateRequest {
        idempotency_key: format!("rate-{from}-{to}-{date}"),
        from_currency: from.into(),
        to_currency: to.into(),
        rate_date: date.into(),
        rate: rate.into(),
    };
    for message in [
        set("GBP", "USD", "2026-11-01", "0.5"),
        set("GBP", "USD", "2026-11-15", "1.2345"),
        set("EUR", "JPY", "2026-11-01", "160.5"),
    ] {
        erp.c()
            .set_exchange_rate(request(message, Role::Finance))
            .await
            .unwrap();
    }
    let duplicate = erp
        .c()
        .set_exchange_rate(request(
            SetExchangeRateRequest {
                idempotency_key: "another".into(),
                ..set("GBP", "USD", "2026-11-01", "0.6")
            },
            Role::Finance,
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let convert = |value: &str, currency: &str, to: &str, on: &str| {
        let mut client = erp.c();
        let message = ConvertAmountRequest {
            amount: money(value, currency),
            to_currency: to.into(),
            on_date: on.into(),
        };
        async move {
            client
                .convert_amount(request(message, Role::Consultant))
                .await
                .map(|r| amount(&r.into_inner().converted).to_string())
        }
    };
    // 0.01 * 0.5 = 0.005 → 0.00 (half to even); 0.03 * 0.5 = 0.015 → 0.02.
    assert_eq!(convert("0.01", "GBP", "USD", "2026-11-10").await.unwrap(), "0.00");
    assert_eq!(convert("0.03", "GBP", "USD", "2026-11-10").await.unwrap(), "0.02");
    // The latest rate on or before the date: 10.05 * 1.2345 = 12.406725 → 12.41.
    assert_eq!(convert("10.05", "GBP", "USD", "2026-11-20").await.unwrap(), "12.41");
    // Into a currency without minor units: 3.01 * 160.5 = 483.105 → 483.
    assert_eq!(convert("3.01", "EUR", "JPY", "2026-11-02").await.unwrap(), "483");
    // The inverse of a stored rate: 100 USD / 1.2345 = 81.004455... → 81.00.
    assert_eq!(convert("100.00", "USD", "GBP", "2026-11-20").await.unwrap(), "81.00");
    let missing = convert("1.00", "GBP", "USD", "2026-10-01").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn the_money_of_many_projects_comes_in_one_call_from_their_invoices_ledger_and_schedule() {
    use keel_proto::erp::ListProjectCodesOfProjectsRequest;

    let erp = Erp::spawn().await;
    erp.entity("KEEL-UK", "GBP").await;
    let open = |name: &str| {
        let mut client = erp.c();
        let name = name.to_string();
        async move {
            client
                .create_project_code(request(
                    CreateProjectCodeRequest {
                        idempotency_key: format!("project-{name}"),
                        project_id: Uuid::now_v7().to_string(),
                        name,
                        legal_entity: "KEEL-UK".into(),
                        currency: "GBP".into(),
                    },
                    Role::Service,
                ))
                .await
                .expect("create project code")
                .into_inner()
        }
    };
    let busy = open("busy").await;
    let quiet = open("quiet").await;
    erp.c()
        .set_revenue_schedule(request(
            SetRevenueScheduleRequest {
                idempotency_key: "busy-schedule".into(),
                project_code: busy.code.clone(),
                method: RevenueMethod::FixedFeeMilestone as i32,
                contract_value: money("50000.00", "GBP"),
            },
            Role::Finance,
        ))
        .await
        .unwrap();
    // Two days of time at cost 300.00 and 450.50: cost of services 750.50.
    erp.post_time(
        "busy-time",
        vec![
            time_entry(Uuid::now_v7(), "KEEL-UK", &busy.code, "900.00", "300.00"),
            time_entry(Uuid::now_v7(), "KEEL-UK", &busy.code, "1200.00", "450.50"),
        ],
    )
    .await
    .unwrap();
    let mut drafts = Vec::new();
    for (name, amount_due) in [("Kickoff", "20000.00"), ("Go-live", "5000.00")] {
        let milestone = erp
            .c()
            .create_billing_milestone(request(
                CreateBillingMilestoneRequest {
                    idempotency_key: format!("ms-{name}"),
                    project_code: busy.code.clone(),
                    name: name.into(),
                    amount: money(amount_due, "GBP"),
                    due_date: "2026-12-01".into(),
                },
                Role::Finance,
            ))
            .await
            .unwrap()
            .into_inner();
        erp.c()
            .mark_milestone_reached(request(
                MarkMilestoneReachedRequest {
                    idempotency_key: format!("reached-{name}"),
                    milestone_id: milestone.id.clone(),
                    expected_version: 1,
                },
                Role::Finance,
            ))
            .await
            .unwrap();
        let draft = erp
            .c()
            .create_draft_invoice(request(
                CreateDraftInvoiceRequest {
                    idempotency_key: format!("draft-{name}"),
                    project_code: busy.code.clone(),
                    source: Some(create_draft_invoice_request::Source::MilestoneId(milestone.id.clone())),
                },
                Role::Finance,
            ))
            .await
            .unwrap()
            .into_inner();
        drafts.push(draft);
    }
    // The kickoff invoice is issued; the go-live one stays a draft.
    erp.c()
        .issue_invoice(request(
            IssueInvoiceRequest {
                idempotency_key: "issue-kickoff".into(),
                invoice_id: drafts[0].id.clone(),
                expected_version: drafts[0].version,
                issue_date: "2026-12-02".into(),
            },
            Role::Finance,
        ))
        .await
        .unwrap();
    erp.c()
        .recognize_revenue(request(
            RecognizeRevenueRequest {
                idempotency_key: "recognise".into(),
                project_code: busy.code.clone(),
                percent_complete: String::new(),
                as_of_date: "2026-12-31".into(),
            },
            Role::Finance,
        ))
        .await
        .unwrap();

    let batch = |ids: Vec<String>, role: Role| {
        let mut client = erp.c();
        async move {
            client
                .list_project_financials_of_projects(request(
                    ListProjectCodesOfProjectsRequest { project_ids: ids },
                    role,
                ))
                .await
                .map(|r| r.into_inner().financials)
        }
    };
    let found = batch(
        vec![
            quiet.project_id.clone(),
            Uuid::now_v7().to_string(),
            busy.project_id.clone(),
        ],
        Role::Finance,
    )
    .await
    .unwrap();
    let codes: Vec<&str> = found.iter().map(|f| f.project_code.as_str()).collect();
    assert_eq!(
        codes,
        [busy.code.as_str(), quiet.code.as_str()],
        "id order, unknown left out"
    );
    let busy_money = &found[0];
    assert_eq!(busy_money.project_id, busy.project_id);
    assert_eq!(
        (busy_money.legal_entity.as_str(), busy_money.currency.as_str()),
        ("KEEL-UK", "GBP")
    );
    assert_eq!(
        (amount(&busy_money.invoiced), busy_money.invoices_issued),
        ("20000.00", 1)
    );
    assert_eq!(
        (amount(&busy_money.drafted), busy_money.invoices_drafted),
        ("5000.00", 1)
    );
    assert_eq!(busy_money.revenue_method, RevenueMethod::FixedFeeMilestone as i32);
    assert_eq!(amount(&busy_money.contract_value), "50000.00");
    assert_eq!(amount(&busy_money.recognized), "20000.00");
    assert_eq!(amount(&busy_money.time_cost), "750.50");
    assert_eq!(amount(&busy_money.expense_cost), "0.00");
    let quiet_money = &found[1];
    assert_eq!(
        (amount(&quiet_money.invoiced), amount(&quiet_money.time_cost)),
        ("0.00", "0.00")
    );
    assert_eq!(quiet_money.revenue_method, RevenueMethod::Unspecified as i32);

    let refused = batch(vec![busy.project_id.clone(), "p-1".into()], Role::Finance)
        .await
        .unwrap_err();
    assert_eq!(fields(&refused), ["project_ids[1]"]);
    assert_eq!(
        batch(vec![], Role::Finance).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}
