//! The ERP kit: project codes and the double-entry ledger through `keel.erp.v1.ErpService`.
//!
//! Every check makes its own legal entities (random codes) and project codes, so the checks
//! hold on an ERP that already keeps other books.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_auth::Role;
use keel_erp::ErpAdapter;
use keel_proto::common::{Money, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    AccountType, BudgetLine, CreateAccountRequest, CreateBillingMilestoneRequest, CreateDraftInvoiceRequest,
    CreateLegalEntityRequest, CreateProjectCodeRequest, GetJournalRequest, GetLegalEntityRequest,
    GetTrialBalanceRequest, InvoiceStatus, IssueInvoiceRequest, Journal, JournalLine, LegalEntity, ListAccountsRequest,
    ListJournalsRequest, MarkMilestoneReachedRequest, PostBudgetRequest, PostJournalRequest, PostTimeEntriesRequest,
    RecognizeRevenueRequest, RevenueMethod, ReverseJournalRequest, SetRevenueScheduleRequest, TimeEntryPosting,
    TrialBalance, UpdateBillingMilestoneRequest, UpdateBudgetRequest, UpdateLegalEntityRequest,
    create_draft_invoice_request,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// What every ERP check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

type Answer<T> = Result<T, Status>;

impl Context {
    pub async fn new(adapter: Arc<dyn ErpAdapter>) -> Context {
        let service = keel_erp::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.harness.channel())
    }

    async fn create_entity(&self, request: CreateLegalEntityRequest) -> Answer<LegalEntity> {
        self.client()
            .create_legal_entity(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    /// A new legal entity with a random code starting `prefix`, in `currency`.
    async fn entity(&self, prefix: &str, currency: &str) -> Result<String, String> {
        let code = entity_code(prefix);
        ok(
            self.create_entity(entity_request(&rules::key("entity"), &code, currency))
                .await,
            "CreateLegalEntity",
        )?;
        Ok(code)
    }

    /// A new project code booked in `entity`.
    async fn project(&self, entity: &str, currency: &str) -> Result<String, String> {
        let code = ok(
            self.client()
                .create_project_code(self.harness.service(CreateProjectCodeRequest {
                    idempotency_key: rules::key("project"),
                    project_id: uuid::Uuid::now_v7().to_string(),
                    name: "Ledger rollout".into(),
                    legal_entity: entity.into(),
                    currency: currency.into(),
                }))
                .await,
            "CreateProjectCode",
        )?
        .into_inner()
        .code;
        Ok(code)
    }

    async fn post_journal(&self, request: PostJournalRequest) -> Answer<Journal> {
        self.client()
            .post_journal(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn get_journal(&self, id: &str) -> Answer<Journal> {
        self.client()
            .get_journal(self.harness.reader(Role::Finance, GetJournalRequest { id: id.into() }))
            .await
            .map(|r| r.into_inner())
    }

    async fn trial_balance(&self, entity: &str) -> Answer<TrialBalance> {
        self.client()
            .get_trial_balance(self.harness.reader(
                Role::Executive,
                GetTrialBalanceRequest {
                    legal_entity: entity.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn post_time(&self, key: &str, entries: Vec<TimeEntryPosting>) -> Answer<keel_proto::erp::PostWorkResponse> {
        self.client()
            .post_time_entries(self.harness.service(PostTimeEntriesRequest {
                idempotency_key: key.into(),
                entries,
            }))
            .await
            .map(|r| r.into_inner())
    }
}

fn entity_code(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", random[..8].to_ascii_uppercase())
}

fn entity_request(key: &str, code: &str, currency: &str) -> CreateLegalEntityRequest {
    CreateLegalEntityRequest {
        idempotency_key: key.into(),
        code: code.into(),
        name: format!("Keel {code} Ltd"),
        functional_currency: currency.into(),
        country: "GB".into(),
    }
}

fn money(amount: &str, currency: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: currency.into(),
    })
}

/// A debit line.
pub fn debit(entity: &str, account: &str, amount: &str, currency: &str) -> JournalLine {
    JournalLine {
        legal_entity: entity.into(),
        account_code: account.into(),
        debit: money(amount, currency),
        ..Default::default()
    }
}

/// A credit line.
pub fn credit(entity: &str, account: &str, amount: &str, currency: &str) -> JournalLine {
    JournalLine {
        legal_entity: entity.into(),
        account_code: account.into(),
        credit: money(amount, currency),
        ..Default::default()
    }
}

fn journal_request(key: &str, lines: Vec<JournalLine>) -> PostJournalRequest {
    PostJournalRequest {
        idempotency_key: key.into(),
        journal_date: "2026-11-30".into(),
        description: "Conformance journal".into(),
        lines,
    }
}

fn time_entry(entity: &str, project: &str, bill: &str, cost: &str, currency: &str) -> TimeEntryPosting {
    TimeEntryPosting {
        time_entry_id: uuid::Uuid::now_v7().to_string(),
        person_id: uuid::Uuid::now_v7().to_string(),
        person_legal_entity: entity.into(),
        project_code: project.into(),
        work_date: "2026-11-02".into(),
        hours: "7.5".into(),
        bill_amount: money(bill, currency),
        cost_amount: money(cost, currency),
    }
}

/// The amount of a money message as text ("" when absent).
fn amount(money: &Option<Money>) -> String {
    money.as_ref().map(|m| m.amount.clone()).unwrap_or_default()
}

/// Exact minor units of a money message (`None` when it does not parse).
fn minor_units(money: &Money) -> Option<i128> {
    keel_core::Money::parse("amount", &money.amount, &money.currency)
        .ok()
        .map(|m| i128::from(m.to_minor_units()))
}

/// Per (legal entity, currency), debits minus credits in exact minor units, from a journal;
/// only the groups that do not net to zero.
fn imbalances(journal: &Journal) -> BTreeMap<(String, String), i128> {
    let mut sums: BTreeMap<(String, String), i128> = BTreeMap::new();
    for line in &journal.lines {
        let (money, sign) = match (&line.debit, &line.credit) {
            (Some(m), None) => (m, 1),
            (None, Some(m)) => (m, -1),
            _ => continue,
        };
        *sums
            .entry((line.legal_entity.clone(), money.currency.clone()))
            .or_default() += minor_units(money).unwrap_or(i128::MAX / 4) * sign;
    }
    sums.retain(|_, v| *v != 0);
    sums
}

/// `Err` unless every journal line has exactly one side and the journal balances per legal
/// entity and currency.
pub fn journal_balances(journal: &Journal) -> rules::Outcome {
    ensure(
        journal.lines.iter().all(|l| l.debit.is_some() != l.credit.is_some()),
        || format!("journal {} has a line with both or neither sides", journal.number),
    )?;
    let off = imbalances(journal);
    ensure(off.is_empty(), || {
        format!(
            "journal {} does not balance per legal entity and currency: {off:?}",
            journal.number
        )
    })
}

/// `Err` unless the trial balance's debits equal its credits in every currency.
pub fn trial_balance_balances(balance: &TrialBalance) -> rules::Outcome {
    for totals in &balance.totals {
        ensure(amount(&totals.debits) == amount(&totals.credits), || {
            format!(
                "the trial balance of {} does not balance: debits {:?}, credits {:?}",
                balance.legal_entity, totals.debits, totals.credits
            )
        })?;
    }
    Ok(())
}

/// Every ERP check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("erp")
        .check("a replayed create returns the first record", |c| Box::pin(replay(c)))
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent journals with one key post one journal", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("a stale update is ABORTED naming the record", |c| Box::pin(stale(c)))
        .check("accounts page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
        .check("a legal entity starts with the default chart", |c| {
            Box::pin(default_chart(c))
        })
        .check("an unbalanced journal is refused; the trial balance balances", |c| {
            Box::pin(balancing(c))
        })
        .check("amounts round-trip exactly", |c| Box::pin(exact_amounts(c)))
        .check("a posted journal is reversed, never changed", |c| Box::pin(reversal(c)))
        .check("a time entry is posted once under two keys", |c| Box::pin(time_once(c)))
        .check("intercompany time posts a balanced journal in each entity", |c| {
            Box::pin(intercompany(c))
        })
        .check("a reached milestone is invoiced and issued", |c| {
            Box::pin(invoice_flow(c))
        })
        .check("percent-complete revenue recognises the cumulative share", |c| {
            Box::pin(percent_complete(c))
        })
        .check("a budget change order needs the current version", |c| {
            Box::pin(budget_change(c))
        })
        .check(
            "a milestone change order needs the current version and stops at the invoice",
            |c| Box::pin(milestone_change(c)),
        )
}

/// Runs the ERP kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn ErpAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let key = rules::key("entity");
    let code = entity_code("RP");
    let first = rules::replay_returns_first(
        || c.create_entity(entity_request(&key, &code, "GBP")),
        "CreateLegalEntity",
    )
    .await?;
    ensure(first.code == code && first.version == 1, || {
        format!("the created legal entity is {first:?}; expected code {code} at version 1")
    })?;
    let stored = ok(
        c.client()
            .get_legal_entity(
                c.harness
                    .reader(Role::Consultant, GetLegalEntityRequest { code: code.clone() }),
            )
            .await,
        "GetLegalEntity",
    )?
    .into_inner();
    ensure(stored == first, || {
        format!("GetLegalEntity returned {stored:?}, not {first:?}")
    })
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("entity");
    ok(
        c.create_entity(entity_request(&key, &entity_code("MM"), "GBP")).await,
        "CreateLegalEntity",
    )?;
    let status = refused(
        c.create_entity(entity_request(&key, &entity_code("MM"), "GBP")).await,
        "CreateLegalEntity with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let entity = c.entity("CC", "GBP").await?;
    let key = rules::key("journal");
    let client = c.client();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            c.harness.service(journal_request(
                &key,
                vec![
                    debit(&entity, "1000", "10.00", "GBP"),
                    credit(&entity, "3000", "10.00", "GBP"),
                ],
            ))
        })
        .collect();
    let requests = std::sync::Mutex::new(requests);
    let id = rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.post_journal(request).await.map(|r| r.into_inner().id) }
        },
        "PostJournal",
    )
    .await?;
    let listed = ok(
        c.client()
            .list_journals(c.harness.reader(
                Role::Finance,
                ListJournalsRequest {
                    legal_entity: entity.clone(),
                    ..Default::default()
                },
            ))
            .await,
        "ListJournals",
    )?
    .into_inner();
    ensure(listed.journals.len() == 1 && listed.journals[0].id == id, || {
        format!(
            "concurrent calls with one key posted {} journals",
            listed.journals.len()
        )
    })
}

async fn bad_input(c: &Context) -> rules::Outcome {
    type Change = fn(&mut CreateLegalEntityRequest);
    let table: &[(Change, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.code = "keel uk".into(), "code"),
        (|r| r.name = " ".into(), "name"),
        (|r| r.functional_currency = "XYZ".into(), "functional_currency"),
        (|r| r.country = "Britain".into(), "country"),
    ];
    for (change, field) in table {
        let mut request = entity_request(&rules::key("bad"), &entity_code("BAD"), "GBP");
        change(&mut request);
        let status = refused(
            c.create_entity(request).await,
            &format!("CreateLegalEntity with a bad {field}"),
        )?;
        expect_field(&status, field)?;
    }
    let entity = c.entity("BJ", "GBP").await?;
    type LineChange = fn(&mut Vec<JournalLine>);
    let lines: &[(LineChange, &str)] = &[
        (|l| l[1].credit = money("9.99", "GBP"), "lines"),
        (|l| l.truncate(1), "lines"),
        (|l| l[0].credit = money("10.00", "GBP"), "lines[0]"),
        (|l| l[0].debit = None, "lines[0]"),
        (|l| l[0].debit = money("-10.00", "GBP"), "lines[0].debit.amount"),
        (|l| l[0].debit = money("10.001", "GBP"), "lines[0].debit.amount"),
        (|l| l[1].account_code = "12".into(), "lines[1].account_code"),
        (|l| l[1].account_code = "9999".into(), "lines[1].account_code"),
        (
            |l| {
                for line in l.iter_mut() {
                    line.legal_entity = "NO-SUCH-ENTITY".into();
                }
            },
            "lines[1].legal_entity",
        ),
        (|l| l[0].project_code = "PRJ-999999999".into(), "lines[0].project_code"),
        (|l| l[0].cost_center = "CC-NOWHERE".into(), "lines[0].cost_center"),
    ];
    for (change, field) in lines {
        let mut request = journal_request(
            &rules::key("bad-journal"),
            vec![
                debit(&entity, "1000", "10.00", "GBP"),
                credit(&entity, "3000", "10.00", "GBP"),
            ],
        );
        change(&mut request.lines);
        let status = refused(
            c.post_journal(request).await,
            &format!("PostJournal with a bad {field}"),
        )?;
        expect_field(&status, field)?;
    }
    let balance = ok(c.trial_balance(&entity).await, "GetTrialBalance")?;
    ensure(balance.lines.is_empty(), || {
        format!("refused journals left lines in the trial balance: {:?}", balance.lines)
    })
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refused(c.get_journal(&missing).await, "GetJournal of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetJournal of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })?;
    let code = entity_code("NF");
    let status = refused(
        c.client()
            .get_legal_entity(
                c.harness
                    .reader(Role::Finance, GetLegalEntityRequest { code: code.clone() }),
            )
            .await,
        "GetLegalEntity of an unknown code",
    )?;
    expect_code(&status, Code::NotFound, "GetLegalEntity of an unknown code")?;
    ensure(status.message().contains(&code), || {
        format!("NOT_FOUND should name the code: {:?}", status.message())
    })
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    let entity = c.entity("RD", "GBP").await?;
    for role in [Role::Consultant, Role::ProjectManager, Role::Executive] {
        let status = refused(
            c.client()
                .create_legal_entity(
                    c.harness
                        .reader(role, entity_request(&rules::key("reader"), &entity_code("RD"), "GBP")),
                )
                .await,
            &format!("CreateLegalEntity as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("CreateLegalEntity as {role}"))?;
        let status = refused(
            c.client()
                .post_journal(c.harness.reader(
                    role,
                    journal_request(
                        &rules::key("reader"),
                        vec![
                            debit(&entity, "1000", "1.00", "GBP"),
                            credit(&entity, "3000", "1.00", "GBP"),
                        ],
                    ),
                ))
                .await,
            &format!("PostJournal as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("PostJournal as {role}"))?;
    }
    Ok(())
}

async fn stale(c: &Context) -> rules::Outcome {
    let code = c.entity("ST", "GBP").await?;
    let update = |version: i64, name: &str| UpdateLegalEntityRequest {
        idempotency_key: rules::key("update"),
        code: code.clone(),
        expected_version: version,
        name: name.into(),
    };
    let renamed = ok(
        c.client()
            .update_legal_entity(c.harness.service(update(1, "Renamed Ltd")))
            .await,
        "UpdateLegalEntity at version 1",
    )?
    .into_inner();
    ensure(renamed.version == 2 && renamed.name == "Renamed Ltd", || {
        format!("the updated legal entity is {renamed:?}; expected version 2")
    })?;
    let status = refused(
        c.client()
            .update_legal_entity(c.harness.service(update(1, "Stale Ltd")))
            .await,
        "UpdateLegalEntity at the stale version 1",
    )?;
    rules::expect_stale(&status, "legal entity")?;
    let stored = ok(
        c.client()
            .get_legal_entity(
                c.harness
                    .reader(Role::Finance, GetLegalEntityRequest { code: code.clone() }),
            )
            .await,
        "GetLegalEntity",
    )?
    .into_inner();
    ensure(stored.name == "Renamed Ltd" && stored.version == 2, || {
        format!("a stale update changed the record: {stored:?}")
    })
}

async fn paging(c: &Context) -> rules::Outcome {
    let entity = c.entity("PG", "GBP").await?;
    let mut seeded = Vec::new();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        let account = ok(
            c.client()
                .create_account(c.harness.service(CreateAccountRequest {
                    idempotency_key: rules::key("account"),
                    legal_entity: entity.clone(),
                    code: format!("{}", 600_000 + i),
                    name: format!("Paged account {i}"),
                    r#type: AccountType::Expense as i32,
                }))
                .await,
            "CreateAccount",
        )?
        .into_inner();
        seeded.push(account.id);
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Finance,
                ListAccountsRequest {
                    legal_entity: entity.clone(),
                    page: Some(PageRequest { page_size, page_token }),
                },
            );
            async move {
                let page = client.list_accounts(request).await?.into_inner();
                Ok((
                    page.accounts.into_iter().map(|a| a.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}

async fn default_chart(c: &Context) -> rules::Outcome {
    let entity = c.entity("CH", "EUR").await?;
    let page = ok(
        c.client()
            .list_accounts(c.harness.reader(
                Role::Finance,
                ListAccountsRequest {
                    legal_entity: entity.clone(),
                    page: None,
                },
            ))
            .await,
        "ListAccounts",
    )?
    .into_inner();
    let codes: Vec<(String, i32)> = page.accounts.iter().map(|a| (a.code.clone(), a.r#type)).collect();
    for (code, kind) in [
        ("1200", AccountType::Asset),
        ("1250", AccountType::Asset),
        ("1300", AccountType::Asset),
        ("2300", AccountType::Liability),
        ("2400", AccountType::Liability),
        ("4000", AccountType::Revenue),
        ("5000", AccountType::Expense),
    ] {
        ensure(codes.contains(&(code.to_string(), kind as i32)), || {
            format!("a new legal entity lacks account {code} ({kind:?}): it has {codes:?}")
        })?;
    }
    Ok(())
}

async fn balancing(c: &Context) -> rules::Outcome {
    let uk = c.entity("BU", "GBP").await?;
    let us = c.entity("BS", "USD").await?;
    // Balanced per entity and per currency across two entities and two currencies.
    let journal = ok(
        c.post_journal(journal_request(
            &rules::key("journal"),
            vec![
                debit(&uk, "1000", "100.00", "GBP"),
                credit(&uk, "3000", "60.00", "GBP"),
                credit(&uk, "3000", "40.00", "GBP"),
                debit(&us, "1000", "7.5", "USD"),
                credit(&us, "3000", "7.50", "USD"),
                debit(&us, "1000", "1000", "JPY"),
                credit(&us, "3000", "1000", "JPY"),
            ],
        ))
        .await,
        "PostJournal balanced per entity and currency",
    )?;
    journal_balances(&journal)?;
    // Balanced in total but not per entity; balanced per entity but not per currency.
    for (lines, what) in [
        (
            vec![debit(&uk, "1000", "5.00", "GBP"), credit(&us, "3000", "5.00", "GBP")],
            "balanced across entities only",
        ),
        (
            vec![debit(&uk, "1000", "5.00", "GBP"), credit(&uk, "3000", "5.00", "USD")],
            "balanced across currencies only",
        ),
    ] {
        let status = refused(
            c.post_journal(journal_request(&rules::key("journal"), lines)).await,
            what,
        )?;
        expect_field(&status, "lines")?;
    }
    for entity in [&uk, &us] {
        let balance = ok(c.trial_balance(entity).await, "GetTrialBalance")?;
        trial_balance_balances(&balance)?;
        ensure(balance.totals.len() == if entity == &uk { 1 } else { 2 }, || {
            format!("the trial balance of {entity} has totals {:?}", balance.totals)
        })?;
    }
    Ok(())
}

async fn exact_amounts(c: &Context) -> rules::Outcome {
    let entity = c.entity("EX", "GBP").await?;
    let amounts = ["9999999999999.99", "0.01", "1234567890123.45", "0.10", "33.33"];
    for value in amounts {
        let posted = ok(
            c.post_journal(journal_request(
                &rules::key("exact"),
                vec![
                    debit(&entity, "1000", value, "GBP"),
                    credit(&entity, "3000", value, "GBP"),
                ],
            ))
            .await,
            &format!("PostJournal of {value}"),
        )?;
        let read = ok(c.get_journal(&posted.id).await, "GetJournal")?;
        ensure(read == posted, || {
            format!("GetJournal returned {read:?}, not the posted {posted:?}")
        })?;
        ensure(
            amount(&read.lines[0].debit) == value && amount(&read.lines[1].credit) == value,
            || {
                format!(
                    "{value} came back as {:?} / {:?}",
                    read.lines[0].debit, read.lines[1].credit
                )
            },
        )?;
    }
    Ok(())
}

async fn reversal(c: &Context) -> rules::Outcome {
    let entity = c.entity("RV", "GBP").await?;
    let original = ok(
        c.post_journal(journal_request(
            &rules::key("journal"),
            vec![
                debit(&entity, "1000", "250.00", "GBP"),
                credit(&entity, "3000", "250.00", "GBP"),
            ],
        ))
        .await,
        "PostJournal",
    )?;
    let reversal = ok(
        c.client()
            .reverse_journal(c.harness.service(ReverseJournalRequest {
                idempotency_key: rules::key("reverse"),
                journal_id: original.id.clone(),
                journal_date: "2026-12-01".into(),
            }))
            .await,
        "ReverseJournal",
    )?
    .into_inner();
    ensure(
        reversal.id != original.id && reversal.reverses_journal_id == original.id,
        || format!("the reversal {reversal:?} does not point at {}", original.id),
    )?;
    journal_balances(&reversal)?;
    let again = ok(c.get_journal(&original.id).await, "GetJournal of the reversed journal")?;
    ensure(again == original, || "reversing a journal changed it".to_string())?;
    let balance = ok(c.trial_balance(&entity).await, "GetTrialBalance")?;
    ensure(
        balance
            .lines
            .iter()
            .all(|line| line.balance.as_ref().and_then(minor_units) == Some(0)),
        || format!("a journal and its reversal do not net to zero: {:?}", balance.lines),
    )
}

async fn time_once(c: &Context) -> rules::Outcome {
    let entity = c.entity("TM", "GBP").await?;
    let project = c.project(&entity, "GBP").await?;
    let entry = time_entry(&entity, &project, "900.00", "412.50", "GBP");
    let first = ok(
        c.post_time(&rules::key("time"), vec![entry.clone()]).await,
        "PostTimeEntries",
    )?;
    let second = ok(
        c.post_time(&rules::key("time"), vec![entry.clone()]).await,
        "PostTimeEntries of the same entry under another key",
    )?;
    let (first, second) = (&first.postings[0], &second.postings[0]);
    ensure(!first.already_posted && !first.journal_ids.is_empty(), || {
        format!("the first posting is {first:?}")
    })?;
    ensure(second.already_posted && second.journal_ids == first.journal_ids, || {
        format!(
            "posting the entry again answered {second:?}, not the first journals {:?}",
            first.journal_ids
        )
    })?;
    let listed = ok(
        c.client()
            .list_journals(c.harness.reader(
                Role::Finance,
                ListJournalsRequest {
                    project_code: project.clone(),
                    ..Default::default()
                },
            ))
            .await,
        "ListJournals by project code",
    )?
    .into_inner();
    ensure(listed.journals.len() == first.journal_ids.len(), || {
        format!("the time entry was posted {} times", listed.journals.len())
    })?;
    for journal in &listed.journals {
        journal_balances(journal)?;
    }
    trial_balance_balances(&ok(c.trial_balance(&entity).await, "GetTrialBalance")?)
}

async fn intercompany(c: &Context) -> rules::Outcome {
    let person_entity = c.entity("IP", "GBP").await?;
    let project_entity = c.entity("IJ", "GBP").await?;
    let project = c.project(&project_entity, "GBP").await?;
    let posted = ok(
        c.post_time(
            &rules::key("time"),
            vec![time_entry(&person_entity, &project, "1200.00", "500.00", "GBP")],
        )
        .await,
        "PostTimeEntries across legal entities",
    )?;
    let ids = &posted.postings[0].journal_ids;
    ensure(ids.len() == 2, || {
        format!("intercompany time posted {} journals, not 2", ids.len())
    })?;
    let mut accounts_by_entity: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in ids {
        let journal = ok(c.get_journal(id).await, "GetJournal")?;
        journal_balances(&journal)?;
        let entities: std::collections::BTreeSet<&str> =
            journal.lines.iter().map(|l| l.legal_entity.as_str()).collect();
        ensure(entities.len() == 1, || {
            format!("an intercompany journal spans entities {entities:?}")
        })?;
        for line in &journal.lines {
            accounts_by_entity
                .entry(line.legal_entity.clone())
                .or_default()
                .push(line.account_code.clone());
        }
    }
    let person_accounts = accounts_by_entity.get(&person_entity).cloned().unwrap_or_default();
    let project_accounts = accounts_by_entity.get(&project_entity).cloned().unwrap_or_default();
    ensure(person_accounts.contains(&"1300".to_string()), || {
        format!("the person's entity has no intercompany receivable: {person_accounts:?}")
    })?;
    ensure(
        project_accounts.contains(&"2300".to_string()) && project_accounts.contains(&"5000".to_string()),
        || format!("the project's entity lacks the intercompany payable or the cost: {project_accounts:?}"),
    )?;
    for entity in [&person_entity, &project_entity] {
        trial_balance_balances(&ok(c.trial_balance(entity).await, "GetTrialBalance")?)?;
    }
    Ok(())
}

async fn invoice_flow(c: &Context) -> rules::Outcome {
    let entity = c.entity("IV", "GBP").await?;
    let project = c.project(&entity, "GBP").await?;
    let mut client = c.client();
    let milestone = ok(
        client
            .create_billing_milestone(c.harness.service(CreateBillingMilestoneRequest {
                idempotency_key: rules::key("milestone"),
                project_code: project.clone(),
                name: "Blueprint signed".into(),
                amount: money("25000.00", "GBP"),
                due_date: "2026-12-15".into(),
            }))
            .await,
        "CreateBillingMilestone",
    )?
    .into_inner();
    let draft_request = || CreateDraftInvoiceRequest {
        idempotency_key: rules::key("draft"),
        project_code: project.clone(),
        source: Some(create_draft_invoice_request::Source::MilestoneId(milestone.id.clone())),
    };
    let status = refused(
        client.create_draft_invoice(c.harness.service(draft_request())).await,
        "CreateDraftInvoice from a planned milestone",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "CreateDraftInvoice from a planned milestone",
    )?;
    ok(
        client
            .mark_milestone_reached(c.harness.service(MarkMilestoneReachedRequest {
                idempotency_key: rules::key("reached"),
                milestone_id: milestone.id.clone(),
                expected_version: milestone.version,
            }))
            .await,
        "MarkMilestoneReached",
    )?;
    let draft = ok(
        client.create_draft_invoice(c.harness.service(draft_request())).await,
        "CreateDraftInvoice",
    )?
    .into_inner();
    ensure(
        draft.status == InvoiceStatus::Draft as i32 && draft.number.is_empty() && amount(&draft.total) == "25000.00",
        || format!("the draft invoice is {draft:?}"),
    )?;
    let status = refused(
        client.create_draft_invoice(c.harness.service(draft_request())).await,
        "a second draft for the same milestone",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "a second draft for the same milestone",
    )?;
    let issue = |version: i64| IssueInvoiceRequest {
        idempotency_key: rules::key("issue"),
        invoice_id: draft.id.clone(),
        expected_version: version,
        issue_date: "2026-12-16".into(),
    };
    let issued = ok(
        client.issue_invoice(c.harness.service(issue(draft.version))).await,
        "IssueInvoice",
    )?
    .into_inner();
    ensure(
        issued.status == InvoiceStatus::Issued as i32
            && issued.number.starts_with("INV-")
            && !issued.journal_id.is_empty()
            && issued.version == draft.version + 1,
        || format!("the issued invoice is {issued:?}"),
    )?;
    let journal = ok(c.get_journal(&issued.journal_id).await, "GetJournal of the invoice")?;
    journal_balances(&journal)?;
    ensure(
        journal
            .lines
            .iter()
            .any(|l| l.account_code == "1200" && amount(&l.debit) == "25000.00"),
        || {
            format!(
                "the invoice journal does not debit receivables 25000.00: {:?}",
                journal.lines
            )
        },
    )?;
    let status = refused(
        client.issue_invoice(c.harness.service(issue(draft.version))).await,
        "IssueInvoice at the draft's version again",
    )?;
    rules::expect_stale(&status, "invoice")
}

async fn percent_complete(c: &Context) -> rules::Outcome {
    let entity = c.entity("PC", "GBP").await?;
    let project = c.project(&entity, "GBP").await?;
    let mut client = c.client();
    ok(
        client
            .set_revenue_schedule(c.harness.service(SetRevenueScheduleRequest {
                idempotency_key: rules::key("schedule"),
                project_code: project.clone(),
                method: RevenueMethod::FixedFeePercentComplete as i32,
                contract_value: money("100000.00", "GBP"),
            }))
            .await,
        "SetRevenueSchedule",
    )?;
    let recognize = |percent: &str| RecognizeRevenueRequest {
        idempotency_key: rules::key("recognize"),
        project_code: project.clone(),
        percent_complete: percent.into(),
        as_of_date: "2026-12-31".into(),
    };
    for (percent, recognized, journal_amount) in [
        ("25", "25000.00", "25000.00"),
        ("60.5", "60500.00", "35500.00"),
        ("60.5", "60500.00", ""),
    ] {
        let answer = ok(
            client.recognize_revenue(c.harness.service(recognize(percent))).await,
            &format!("RecognizeRevenue at {percent}%"),
        )?
        .into_inner();
        let schedule = answer.schedule.unwrap_or_default();
        ensure(amount(&schedule.recognized) == recognized, || {
            format!(
                "at {percent}% the schedule recognised {:?}, not {recognized}",
                schedule.recognized
            )
        })?;
        match (&answer.journal, journal_amount) {
            (None, "") => {}
            (Some(journal), expected) if !expected.is_empty() => {
                journal_balances(journal)?;
                ensure(
                    journal
                        .lines
                        .iter()
                        .any(|l| l.account_code == "4000" && amount(&l.credit) == expected),
                    || {
                        format!(
                            "at {percent}% the journal does not credit revenue {expected}: {:?}",
                            journal.lines
                        )
                    },
                )?;
            }
            (journal, expected) => {
                return Err(format!(
                    "at {percent}% expected a journal of {expected:?}, got {journal:?}"
                ));
            }
        }
    }
    let status = refused(
        client.recognize_revenue(c.harness.service(recognize("101"))).await,
        "RecognizeRevenue at 101%",
    )?;
    expect_field(&status, "percent_complete")
}

async fn budget_change(c: &Context) -> rules::Outcome {
    let entity = c.entity("BG", "GBP").await?;
    let project = c.project(&entity, "GBP").await?;
    let mut client = c.client();
    let line = |amount: &str| BudgetLine {
        role: "consultant".into(),
        hours: "100".into(),
        amount: money(amount, "GBP"),
    };
    let posted = ok(
        client
            .post_budget(c.harness.service(PostBudgetRequest {
                idempotency_key: rules::key("budget"),
                project_code: project.clone(),
                lines: vec![line("15000.00")],
            }))
            .await,
        "PostBudget",
    )?
    .into_inner();
    ensure(posted.version == 1, || {
        format!("a posted budget is at version {}", posted.version)
    })?;
    let update = |version: i64, amount: &str| UpdateBudgetRequest {
        idempotency_key: rules::key("change-order"),
        project_code: project.clone(),
        expected_version: version,
        lines: vec![line(amount)],
    };
    let changed = ok(
        client.update_budget(c.harness.service(update(1, "18000.00"))).await,
        "UpdateBudget",
    )?
    .into_inner();
    ensure(changed.version == 2 && amount(&changed.total) == "18000.00", || {
        format!("the changed budget is {changed:?}")
    })?;
    let status = refused(
        client.update_budget(c.harness.service(update(1, "99.00"))).await,
        "UpdateBudget at the stale version 1",
    )?;
    rules::expect_stale(&status, "budget")
}

async fn milestone_change(c: &Context) -> rules::Outcome {
    let entity = c.entity("MC", "GBP").await?;
    let project = c.project(&entity, "GBP").await?;
    let mut client = c.client();
    let milestone = ok(
        client
            .create_billing_milestone(c.harness.service(CreateBillingMilestoneRequest {
                idempotency_key: rules::key("milestone"),
                project_code: project.clone(),
                name: "Go-live".into(),
                amount: money("70000.00", "GBP"),
                due_date: "2027-03-01".into(),
            }))
            .await,
        "CreateBillingMilestone",
    )?
    .into_inner();
    let update = |version: i64, amount: &str| UpdateBillingMilestoneRequest {
        idempotency_key: rules::key("change-order"),
        milestone_id: milestone.id.clone(),
        expected_version: version,
        amount: money(amount, "GBP"),
        due_date: String::new(),
    };
    let changed = ok(
        client
            .update_billing_milestone(c.harness.service(update(milestone.version, "72800.01")))
            .await,
        "UpdateBillingMilestone",
    )?
    .into_inner();
    ensure(
        changed.version == milestone.version + 1
            && amount(&changed.amount) == "72800.01"
            && changed.due_date == milestone.due_date,
        || format!("the changed milestone is {changed:?}"),
    )?;
    let status = refused(
        client
            .update_billing_milestone(c.harness.service(update(milestone.version, "1.00")))
            .await,
        "UpdateBillingMilestone at a stale version",
    )?;
    rules::expect_stale(&status, "billing milestone")?;
    let reached = ok(
        client
            .mark_milestone_reached(c.harness.service(MarkMilestoneReachedRequest {
                idempotency_key: rules::key("reached"),
                milestone_id: milestone.id.clone(),
                expected_version: changed.version,
            }))
            .await,
        "MarkMilestoneReached",
    )?
    .into_inner();
    ok(
        client
            .create_draft_invoice(c.harness.service(CreateDraftInvoiceRequest {
                idempotency_key: rules::key("draft"),
                project_code: project.clone(),
                source: Some(create_draft_invoice_request::Source::MilestoneId(milestone.id.clone())),
            }))
            .await,
        "CreateDraftInvoice",
    )?;
    let status = refused(
        client
            .update_billing_milestone(c.harness.service(update(reached.version, "1.00")))
            .await,
        "UpdateBillingMilestone of a milestone on an invoice",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "UpdateBillingMilestone of a milestone on an invoice",
    )
}
