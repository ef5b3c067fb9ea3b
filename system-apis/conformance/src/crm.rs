//! The CRM kit: accounts, opportunities (versioned updates, stages, won and lost) and contacts
//! through `keel.crm.v1.CrmService`.

use std::sync::Arc;

use keel_auth::Role;
use keel_crm::CrmAdapter;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::crm_service_client::CrmServiceClient;
use keel_proto::crm::{
    Account, AdvanceOpportunityStageRequest, CreateAccountRequest, CreateContactRequest, CreateOpportunityRequest,
    GetAccountRequest, GetOpportunityRequest, ListAccountsRequest, ListContactsRequest, MarkOpportunityLostRequest,
    MarkOpportunityWonRequest, Opportunity, OpportunityStage, UpdateOpportunityRequest,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// What every CRM check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

impl Context {
    pub async fn new(adapter: Arc<dyn CrmAdapter>) -> Context {
        let service = keel_crm::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> CrmServiceClient<Channel> {
        CrmServiceClient::new(self.harness.channel())
    }

    async fn account(&self, key: &str, name: &str) -> Result<Account, tonic::Status> {
        self.client()
            .create_account(self.harness.service(new_account(key, name)))
            .await
            .map(|r| r.into_inner())
    }

    /// An open opportunity of a fresh account.
    async fn open_opportunity(&self) -> Result<Opportunity, String> {
        let account = ok(
            self.account(&rules::key("acct"), "Pipeline GmbH").await,
            "CreateAccount",
        )?;
        Ok(ok(
            self.client()
                .create_opportunity(self.harness.service(new_opportunity(
                    &rules::key("opp"),
                    &account.id,
                    "250000.00",
                    "EUR",
                )))
                .await,
            "CreateOpportunity",
        )?
        .into_inner())
    }

    async fn get_opportunity(&self, id: &str) -> Result<Opportunity, String> {
        Ok(ok(
            self.client()
                .get_opportunity(
                    self.harness
                        .reader(Role::Finance, GetOpportunityRequest { id: id.to_string() }),
                )
                .await,
            "GetOpportunity",
        )?
        .into_inner())
    }

    async fn advance(&self, id: &str, version: i64, stage: OpportunityStage) -> Result<Opportunity, tonic::Status> {
        self.client()
            .advance_opportunity_stage(self.harness.service(AdvanceOpportunityStageRequest {
                idempotency_key: rules::key("advance"),
                id: id.to_string(),
                expected_version: version,
                stage: stage as i32,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn lose(&self, id: &str, version: i64) -> Result<Opportunity, tonic::Status> {
        self.client()
            .mark_opportunity_lost(self.harness.service(MarkOpportunityLostRequest {
                idempotency_key: rules::key("lose"),
                id: id.to_string(),
                reason: "budget moved to next year".into(),
                expected_version: version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn win(&self, id: &str) -> Result<Opportunity, tonic::Status> {
        self.client()
            .mark_opportunity_won(self.harness.service(MarkOpportunityWonRequest {
                idempotency_key: rules::key("win"),
                id: id.to_string(),
            }))
            .await
            .map(|r| r.into_inner())
    }
}

/// `opportunity` unchanged, as an update at the version it was read at.
fn update_of(opportunity: &Opportunity) -> UpdateOpportunityRequest {
    UpdateOpportunityRequest {
        idempotency_key: rules::key("update"),
        id: opportunity.id.clone(),
        expected_version: opportunity.version,
        name: opportunity.name.clone(),
        service_line: opportunity.service_line.clone(),
        contract_type: opportunity.contract_type.clone(),
        region: opportunity.region.clone(),
        client_tier: opportunity.client_tier.clone(),
        amount: opportunity.amount.clone(),
        close_date: opportunity.close_date.clone(),
        sow_reference: opportunity.sow_reference.clone(),
        external_ids: opportunity.external_ids.clone(),
    }
}

fn new_contact(account_id: &str, name: &str) -> CreateContactRequest {
    CreateContactRequest {
        idempotency_key: rules::key("contact"),
        account_id: account_id.to_string(),
        name: name.to_string(),
        email: "buyer@client.example".into(),
        role: "economic buyer".into(),
    }
}

fn new_account(key: &str, name: &str) -> CreateAccountRequest {
    CreateAccountRequest {
        idempotency_key: key.to_string(),
        name: name.to_string(),
        tier: "enterprise".into(),
        region: "emea".into(),
    }
}

fn new_opportunity(key: &str, account_id: &str, amount: &str, currency: &str) -> CreateOpportunityRequest {
    CreateOpportunityRequest {
        idempotency_key: key.to_string(),
        account_id: account_id.to_string(),
        name: "Finance platform rollout".into(),
        service_line: "erp-deployment".into(),
        contract_type: "fixed-fee".into(),
        region: "emea".into(),
        client_tier: "enterprise".into(),
        amount: Some(Money {
            amount: amount.into(),
            currency: currency.into(),
        }),
        close_date: "2026-12-15".into(),
        sow_reference: "SOW-CONF-1".into(),
    }
}

/// Every CRM check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("crm")
        .check("a replayed create returns the first record", |c| Box::pin(replay(c)))
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent creates with one key make one record", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("winning an opportunity is idempotent", |c| Box::pin(win(c)))
        .check("accounts page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
        .check("records start at version 1 and an update raises it", |c| {
            Box::pin(versions(c))
        })
        .check(
            "a stale update is ABORTED naming the opportunity and changes nothing",
            |c| Box::pin(stale_update(c)),
        )
        .check("an update names each bad field and changes nothing", |c| {
            Box::pin(bad_update(c))
        })
        .check("stages advance one step at a time, with the version", |c| {
            Box::pin(stages(c))
        })
        .check("a won opportunity cannot be lost; a lost one cannot be won", |c| {
            Box::pin(closed(c))
        })
        .check("losing is idempotent and keeps the reason", |c| Box::pin(lost(c)))
        .check("changes to an unknown opportunity are NOT_FOUND", |c| {
            Box::pin(unknown_opportunity(c))
        })
        .check("readers cannot change opportunities or contacts", |c| {
            Box::pin(readers_cannot_change(c))
        })
        .check("contacts name each bad field; an unknown account is refused", |c| {
            Box::pin(bad_contact(c))
        })
        .check(
            "contacts of an account page by token: 50 by default, 100 at most",
            |c| Box::pin(contact_paging(c)),
        )
}

/// Runs the CRM kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn CrmAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    {
        let key = rules::key("account");
        let first = rules::replay_returns_first(|| c.account(&key, "Replay GmbH"), "CreateAccount").await?;
        let stored = ok(
            c.client()
                .get_account(
                    c.harness
                        .reader(Role::Finance, GetAccountRequest { id: first.id.clone() }),
                )
                .await,
            "GetAccount",
        )?
        .into_inner();
        ensure(stored.name == "Replay GmbH", || {
            format!("the stored account is {stored:?}")
        })
    }
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("account");
    ok(c.account(&key, "First AG").await, "CreateAccount")?;
    let status = refused(c.account(&key, "Second AG").await, "CreateAccount with a reused key")?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let key = rules::key("account");
    let client = c.client();
    let harness = &c.harness;
    let requests: Vec<_> = (0..6)
        .map(|_| harness.service(new_account(&key, "Concurrent SA")))
        .collect();
    let requests = std::sync::Mutex::new(requests);
    let account = rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.create_account(request).await.map(|r| r.into_inner().id) }
        },
        "CreateAccount",
    )
    .await?;
    ensure(!account.is_empty(), || "CreateAccount returned no id".to_string())
}

async fn bad_input(c: &Context) -> rules::Outcome {
    let status = refused(c.account(&rules::key("bad"), "").await, "CreateAccount without a name")?;
    expect_field(&status, "name")?;
    let status = refused(
        c.client()
            .create_account(c.harness.service(CreateAccountRequest {
                idempotency_key: String::new(),
                ..new_account("", "No Key Ltd")
            }))
            .await,
        "CreateAccount without an idempotency key",
    )?;
    expect_field(&status, "idempotency_key")?;

    let account = ok(c.account(&rules::key("acct"), "Valid Ltd").await, "CreateAccount")?;
    let mut client = c.client();
    for (amount, currency, field) in [
        ("-5", "EUR", "amount.amount"),
        ("10", "XYZ", "amount.currency"),
        ("1.2.3", "EUR", "amount.amount"),
    ] {
        let status = refused(
            client
                .create_opportunity(c.harness.service(new_opportunity(
                    &rules::key("opp"),
                    &account.id,
                    amount,
                    currency,
                )))
                .await,
            &format!("CreateOpportunity with amount {amount} {currency}"),
        )?;
        expect_field(&status, field)?;
    }
    let status = refused(
        client
            .create_opportunity(
                c.harness
                    .service(new_opportunity(&rules::key("opp"), "not-a-uuid", "10", "EUR")),
            )
            .await,
        "CreateOpportunity with a malformed account id",
    )?;
    expect_field(&status, "account_id")
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refused(
        c.client()
            .get_opportunity(
                c.harness
                    .reader(Role::ProjectManager, GetOpportunityRequest { id: missing.clone() }),
            )
            .await,
        "GetOpportunity of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "GetOpportunity of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    for role in [Role::Consultant, Role::ProjectManager, Role::Finance] {
        let status = refused(
            c.client()
                .create_account(c.harness.reader(role, new_account(&rules::key("reader"), "Reader Ltd")))
                .await,
            &format!("CreateAccount as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("CreateAccount as {role}"))?;
    }
    Ok(())
}

async fn win(c: &Context) -> rules::Outcome {
    let account = ok(c.account(&rules::key("acct"), "Winner plc").await, "CreateAccount")?;
    let mut client = c.client();
    let opportunity = ok(
        client
            .create_opportunity(c.harness.service(new_opportunity(
                &rules::key("opp"),
                &account.id,
                "1250000.00",
                "EUR",
            )))
            .await,
        "CreateOpportunity",
    )?
    .into_inner();
    ensure(
        opportunity
            .amount
            .as_ref()
            .is_some_and(|m| m.amount == "1250000.00" && m.currency == "EUR"),
        || {
            format!(
                "the amount came back as {:?}, not 1250000.00 EUR exactly",
                opportunity.amount
            )
        },
    )?;
    let key = rules::key("win");
    let won = rules::replay_returns_first(
        || {
            let mut client = client.clone();
            let request = c.harness.service(MarkOpportunityWonRequest {
                idempotency_key: key.clone(),
                id: opportunity.id.clone(),
            });
            async move { client.mark_opportunity_won(request).await.map(|r| r.into_inner()) }
        },
        "MarkOpportunityWon",
    )
    .await?;
    ensure(won.stage == OpportunityStage::Won as i32, || {
        format!("the won opportunity is at stage {}", won.stage)
    })?;
    let again = ok(
        client
            .mark_opportunity_won(c.harness.service(MarkOpportunityWonRequest {
                idempotency_key: rules::key("win-again"),
                id: opportunity.id.clone(),
            }))
            .await,
        "MarkOpportunityWon of a won opportunity with a new key",
    )?
    .into_inner();
    ensure(again.stage == OpportunityStage::Won as i32, || {
        "winning twice changed the stage".to_string()
    })
}

async fn paging(c: &Context) -> rules::Outcome {
    let mut seeded = Vec::new();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        seeded.push(
            ok(
                c.account(&rules::key("page"), &format!("Paged {i}")).await,
                "CreateAccount",
            )?
            .id,
        );
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListAccountsRequest {
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

async fn versions(c: &Context) -> rules::Outcome {
    let account = ok(c.account(&rules::key("acct"), "Versioned BV").await, "CreateAccount")?;
    ensure(account.version == 1, || {
        format!("a new account is at version {}, not 1", account.version)
    })?;
    let opportunity = c.open_opportunity().await?;
    ensure(opportunity.version == 1, || {
        format!("a new opportunity is at version {}, not 1", opportunity.version)
    })?;
    let mut update = update_of(&opportunity);
    update.sow_reference = "SOW-CONF-2".into();
    let updated = rules::replay_returns_first(
        || {
            let mut client = c.client();
            let request = c.harness.service(update.clone());
            async move { client.update_opportunity(request).await.map(|r| r.into_inner()) }
        },
        "UpdateOpportunity",
    )
    .await?;
    ensure(updated.version == 2 && updated.sow_reference == "SOW-CONF-2", || {
        format!("after one update the opportunity is {updated:?}; expected version 2 and the new SOW")
    })?;
    let stored = c.get_opportunity(&opportunity.id).await?;
    ensure(stored.version == 2, || {
        format!("a replayed update moved the version to {}", stored.version)
    })
}

async fn stale_update(c: &Context) -> rules::Outcome {
    let opportunity = c.open_opportunity().await?;
    let mut client = c.client();
    let mut first = update_of(&opportunity);
    first.name = "First writer".into();
    ok(
        client.update_opportunity(c.harness.service(first)).await,
        "UpdateOpportunity",
    )?;
    let mut second = update_of(&opportunity);
    second.name = "Second writer".into();
    let status = refused(
        client.update_opportunity(c.harness.service(second)).await,
        "UpdateOpportunity at a version already replaced",
    )?;
    rules::expect_stale(&status, "opportunity")?;
    let stored = c.get_opportunity(&opportunity.id).await?;
    ensure(stored.name == "First writer" && stored.version == 2, || {
        format!("after a stale update the opportunity is {stored:?}")
    })?;
    // Concurrent writers holding one version: one wins, the rest are told to re-read.
    let fresh = c.get_opportunity(&opportunity.id).await?;
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let mut client = c.client();
            let mut update = update_of(&fresh);
            update.name = format!("Racer {i}");
            let request = c.harness.service(update);
            tokio::spawn(async move { client.update_opportunity(request).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(_)) => winners += 1,
            Ok(Err(status)) if matches!(status.code(), Code::Aborted | Code::Unavailable) => {}
            Ok(Err(status)) => return Err(format!("a racing UpdateOpportunity failed: {status:?}")),
            Err(join) => return Err(format!("a racing UpdateOpportunity panicked: {join}")),
        }
    }
    ensure(winners == 1, || {
        format!("{winners} of 4 updates at one version succeeded; expected exactly 1")
    })
}

async fn bad_update(c: &Context) -> rules::Outcome {
    let opportunity = c.open_opportunity().await?;
    type Edit = fn(&mut UpdateOpportunityRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.name = " ".into(), "name"),
        (|r| r.expected_version = 0, "expected_version"),
        (|r| r.id = "not-a-uuid".into(), "id"),
        (
            |r| {
                r.amount = Some(Money {
                    amount: "-1".into(),
                    currency: "EUR".into(),
                })
            },
            "amount.amount",
        ),
        (|r| r.contract_type = "barter".into(), "contract_type"),
        (|r| r.close_date = "31/12/2026".into(), "close_date"),
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (
            |r| {
                r.external_ids = vec![keel_proto::crm::ExternalId {
                    source: "hubspot".into(),
                    id: String::new(),
                }]
            },
            "external_ids[0].id",
        ),
    ];
    let mut client = c.client();
    for (edit, field) in table {
        let mut request = update_of(&opportunity);
        edit(&mut request);
        let status = refused(
            client.update_opportunity(c.harness.service(request)).await,
            &format!("UpdateOpportunity with a bad {field}"),
        )?;
        expect_field(&status, field)?;
    }
    let stored = c.get_opportunity(&opportunity.id).await?;
    ensure(stored.version == 1, || {
        format!("refused updates moved the version to {}", stored.version)
    })
}

async fn stages(c: &Context) -> rules::Outcome {
    let opportunity = c.open_opportunity().await?;
    let status = refused(
        c.advance(&opportunity.id, 1, OpportunityStage::Negotiating).await,
        "skipping from QUALIFYING to NEGOTIATING",
    )?;
    expect_code(&status, Code::FailedPrecondition, "skipping a stage")?;
    let proposing = ok(
        c.advance(&opportunity.id, 1, OpportunityStage::Proposing).await,
        "AdvanceOpportunityStage to PROPOSING",
    )?;
    ensure(
        proposing.stage == OpportunityStage::Proposing as i32 && proposing.version == 2,
        || {
            format!(
                "after advancing, the opportunity is at stage {} version {}",
                proposing.stage, proposing.version
            )
        },
    )?;
    let status = refused(
        c.advance(&opportunity.id, 1, OpportunityStage::Negotiating).await,
        "AdvanceOpportunityStage at a stale version",
    )?;
    rules::expect_stale(&status, "opportunity")?;
    ok(
        c.advance(&opportunity.id, 2, OpportunityStage::Negotiating).await,
        "AdvanceOpportunityStage to NEGOTIATING",
    )?;
    let status = refused(
        c.advance(&opportunity.id, 3, OpportunityStage::Proposing).await,
        "moving back from NEGOTIATING to PROPOSING",
    )?;
    expect_code(&status, Code::FailedPrecondition, "moving a stage back")?;
    let status = refused(
        c.advance(&opportunity.id, 3, OpportunityStage::Won).await,
        "AdvanceOpportunityStage to WON",
    )?;
    expect_field(&status, "stage")
}

async fn closed(c: &Context) -> rules::Outcome {
    let won = c.open_opportunity().await?;
    ok(c.win(&won.id).await, "MarkOpportunityWon")?;
    let status = refused(c.lose(&won.id, 0).await, "MarkOpportunityLost of a won opportunity")?;
    expect_code(&status, Code::FailedPrecondition, "losing a won opportunity")?;
    let status = refused(
        c.advance(&won.id, 2, OpportunityStage::Proposing).await,
        "AdvanceOpportunityStage of a won opportunity",
    )?;
    expect_code(&status, Code::FailedPrecondition, "advancing a won opportunity")?;
    let stored = c.get_opportunity(&won.id).await?;
    let status = refused(
        c.client()
            .update_opportunity(c.harness.service(update_of(&stored)))
            .await,
        "UpdateOpportunity of a won opportunity",
    )?;
    expect_code(&status, Code::FailedPrecondition, "updating a won opportunity")?;

    let lost = c.open_opportunity().await?;
    ok(c.lose(&lost.id, 1).await, "MarkOpportunityLost")?;
    let status = refused(c.win(&lost.id).await, "MarkOpportunityWon of a lost opportunity")?;
    expect_code(&status, Code::FailedPrecondition, "winning a lost opportunity")?;
    let stored = c.get_opportunity(&lost.id).await?;
    ensure(stored.stage == OpportunityStage::Lost as i32, || {
        format!("a refused win left the opportunity at stage {}", stored.stage)
    })
}

async fn lost(c: &Context) -> rules::Outcome {
    let opportunity = c.open_opportunity().await?;
    let status = refused(
        c.lose(&opportunity.id, 5).await,
        "MarkOpportunityLost at a stale version",
    )?;
    rules::expect_stale(&status, "opportunity")?;
    let lost = ok(c.lose(&opportunity.id, 0).await, "MarkOpportunityLost")?;
    ensure(
        lost.stage == OpportunityStage::Lost as i32 && lost.lost_reason == "budget moved to next year",
        || {
            format!(
                "the lost opportunity is at stage {} with reason {:?}",
                lost.stage, lost.lost_reason
            )
        },
    )?;
    let again = ok(
        c.lose(&opportunity.id, 0).await,
        "MarkOpportunityLost of a lost opportunity",
    )?;
    ensure(again.version == lost.version, || {
        format!(
            "losing twice moved the version from {} to {}",
            lost.version, again.version
        )
    })?;
    let status = refused(
        c.client()
            .mark_opportunity_lost(c.harness.service(MarkOpportunityLostRequest {
                idempotency_key: rules::key("lose"),
                id: opportunity.id.clone(),
                reason: String::new(),
                expected_version: 0,
            }))
            .await,
        "MarkOpportunityLost without a reason",
    )?;
    expect_field(&status, "reason")
}

async fn unknown_opportunity(c: &Context) -> rules::Outcome {
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refused(
        c.advance(&missing, 1, OpportunityStage::Proposing).await,
        "AdvanceOpportunityStage of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "AdvanceOpportunityStage of an unknown id")?;
    let status = refused(c.lose(&missing, 0).await, "MarkOpportunityLost of an unknown id")?;
    expect_code(&status, Code::NotFound, "MarkOpportunityLost of an unknown id")?;
    let opportunity = c.open_opportunity().await?;
    let mut update = update_of(&opportunity);
    update.id = missing.clone();
    let status = refused(
        c.client().update_opportunity(c.harness.service(update)).await,
        "UpdateOpportunity of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "UpdateOpportunity of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })
}

async fn readers_cannot_change(c: &Context) -> rules::Outcome {
    let opportunity = c.open_opportunity().await?;
    let mut client = c.client();
    for role in [Role::Consultant, Role::Finance, Role::Executive] {
        let status = refused(
            client
                .update_opportunity(c.harness.reader(role, update_of(&opportunity)))
                .await,
            &format!("UpdateOpportunity as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("UpdateOpportunity as {role}"))?;
        let status = refused(
            client
                .mark_opportunity_lost(c.harness.reader(
                    role,
                    MarkOpportunityLostRequest {
                        idempotency_key: rules::key("lose"),
                        id: opportunity.id.clone(),
                        reason: "no".into(),
                        expected_version: 0,
                    },
                ))
                .await,
            &format!("MarkOpportunityLost as {role}"),
        )?;
        expect_code(
            &status,
            Code::PermissionDenied,
            &format!("MarkOpportunityLost as {role}"),
        )?;
        let status = refused(
            client
                .create_contact(c.harness.reader(role, new_contact(&opportunity.account_id, "Reader")))
                .await,
            &format!("CreateContact as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("CreateContact as {role}"))?;
    }
    let stored = c.get_opportunity(&opportunity.id).await?;
    ensure(stored.version == 1, || {
        format!("refused writes moved the version to {}", stored.version)
    })
}

async fn bad_contact(c: &Context) -> rules::Outcome {
    let account = ok(c.account(&rules::key("acct"), "Contacts AG").await, "CreateAccount")?;
    let mut client = c.client();
    type Edit = fn(&mut CreateContactRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.name.clear(), "name"),
        (|r| r.email = "buyer-at-client".into(), "email"),
        (|r| r.account_id = "42".into(), "account_id"),
        (|r| r.idempotency_key.clear(), "idempotency_key"),
    ];
    for (edit, field) in table {
        let mut request = new_contact(&account.id, "Ana Silva");
        edit(&mut request);
        let status = refused(
            client.create_contact(c.harness.service(request)).await,
            &format!("CreateContact with a bad {field}"),
        )?;
        expect_field(&status, field)?;
    }
    let status = refused(
        client
            .create_contact(
                c.harness
                    .service(new_contact(&uuid::Uuid::now_v7().to_string(), "Nobody")),
            )
            .await,
        "CreateContact for an unknown account",
    )?;
    expect_field(&status, "account_id")?;
    let status = refused(
        client
            .list_contacts(c.harness.reader(
                Role::Consultant,
                ListContactsRequest {
                    page: None,
                    account_id: uuid::Uuid::now_v7().to_string(),
                },
            ))
            .await,
        "ListContacts of an unknown account",
    )?;
    expect_code(&status, Code::NotFound, "ListContacts of an unknown account")
}

async fn contact_paging(c: &Context) -> rules::Outcome {
    let account = ok(
        c.account(&rules::key("acct"), "Many Contacts plc").await,
        "CreateAccount",
    )?;
    let mut seeded = Vec::new();
    let mut client = c.client();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        let contact = ok(
            client
                .create_contact(c.harness.service(new_contact(&account.id, &format!("Contact {i}"))))
                .await,
            "CreateContact",
        )?
        .into_inner();
        seeded.push(contact.id);
    }
    let account_id = account.id.clone();
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::ProjectManager,
                ListContactsRequest {
                    page: Some(PageRequest { page_size, page_token }),
                    account_id: account_id.clone(),
                },
            );
            async move {
                let page = client.list_contacts(request).await?.into_inner();
                Ok((
                    page.contacts.into_iter().map(|c| c.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}
