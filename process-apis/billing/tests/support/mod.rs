//! The harness for billing's tests: the reference PSA and ERP each served by a real tonic
//! server on loopback behind the authentication layer (the conformance harness), each on its
//! own throwaway store (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`); billing's store
//! migrated; its engine and gRPC service wired over them.
//!
//! The project is the conformance kit's staffed project (100000.00 EUR; milestones "1"
//! Kickoff 30000.00 due 2026-12-01 and "2" Go-live 70000.00 due 2027-03-01), with its ERP
//! project code, its budget posted from PSA's baseline, and one ERP billing milestone per PSA
//! milestone (same name, amount and due date), as finance sets them up.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_billing::{Downstream, Migrator};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::common::{Money, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, BudgetLine, CreateBillingMilestoneRequest, CreateLegalEntityRequest, CreateProjectCodeRequest,
    Invoice, Journal, JournalLine, ListBillingMilestonesRequest, ListInvoicesRequest, ListJournalsRequest,
    MarkMilestoneReachedRequest, PostBudgetRequest, PostJournalRequest, PostTimeEntriesRequest, TimeEntryPosting,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveTimeEntryRequest, ChangeRequest, ChangeRequestTransitionRequest, CreateChangeRequestRequest,
    MarkTimeEntryPostedRequest, RejectTimeEntryRequest, SubmitTimeEntriesRequest, TimeEntry,
};
use keel_store::testing::TestStore;
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key (issuer `keel-conformance`,
/// audience `keel`); billing mints its service tokens with the same.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

/// Fast retries, never exhausted during a test.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(40),
    max_attempts: 1_000_000,
};

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub staffed: keel_conformance::psa::Staffed,
    pub erp: Harness,
    /// ERP's store: its outbox holds the events ERP emitted.
    pub erp_db: DatabaseConnection,
    pub project_code: String,
    pub legal_entity: String,
    pub db: DatabaseConnection,
    pub downstream: Downstream,
    pub engine: Engine,
    pub service: Harness,
    _stores: Vec<TestStore>,
}

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_billing::SERVICE_NAME)
}

pub fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

pub fn key(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4())
}

impl Platform {
    pub async fn start() -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa =
            keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(psa_db, Arc::new(Notify::new()))))
                .await;
        let staffed = psa.staffed().await.expect("staffed project");

        let (erp_store, erp_db) = migrated_store::<keel_erp::reference::Migrator>("erp").await;
        let erp_service = keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(
            erp_db.clone(),
            Arc::new(Notify::new()),
        )))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let erp = Harness::serve(erp_service).await;
        let legal_entity = format!(
            "KEEL-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        let mut erp_client = ErpServiceClient::new(erp.channel());
        erp_client
            .create_legal_entity(erp.service(CreateLegalEntityRequest {
                idempotency_key: key("le"),
                code: legal_entity.clone(),
                name: "Keel Consulting Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            }))
            .await
            .expect("legal entity");
        let project = &staffed.project;
        let project_code = erp_client
            .create_project_code(erp.service(CreateProjectCodeRequest {
                idempotency_key: key("pc"),
                project_id: project.id.clone(),
                name: project.name.clone(),
                legal_entity: legal_entity.clone(),
                currency: "EUR".into(),
            }))
            .await
            .expect("project code")
            .into_inner()
            .code;
        let baseline = project.budget_baseline.clone().expect("baseline");
        erp_client
            .post_budget(
                erp.service(PostBudgetRequest {
                    idempotency_key: key("budget"),
                    project_code: project_code.clone(),
                    lines: baseline
                        .lines
                        .iter()
                        .map(|l| BudgetLine {
                            role: l.role.clone(),
                            hours: l.hours.clone(),
                            amount: l.amount.clone(),
                        })
                        .collect(),
                }),
            )
            .await
            .expect("budget");
        for milestone in &project.milestones {
            erp_client
                .create_billing_milestone(erp.service(CreateBillingMilestoneRequest {
                    idempotency_key: key("ms"),
                    project_code: project_code.clone(),
                    name: milestone.name.clone(),
                    amount: milestone.amount.clone(),
                    due_date: milestone.due_date.clone(),
                }))
                .await
                .expect("billing milestone");
        }

        let (store, db) = migrated_store::<Migrator>("billing").await;
        let downstream = Downstream::new(
            psa.harness.channel(),
            erp.channel(),
            credentials(),
            Duration::from_secs(5),
        );
        let engine = engine(&db, &downstream, "rpc");
        let service = Harness::serve(keel_billing::service::server(engine.clone(), downstream.clone())).await;
        Platform {
            psa,
            staffed,
            erp,
            erp_db,
            project_code,
            legal_entity,
            db,
            downstream,
            engine,
            service,
            _stores: vec![psa_store, erp_store, store],
        }
    }

    pub fn project_id(&self) -> String {
        self.staffed.project.id.clone()
    }

    pub fn billing(&self) -> BillingServiceClient<Channel> {
        BillingServiceClient::new(self.service.channel())
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as("alice", role, message)
    }

    pub fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    pub fn erp_client(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.erp.channel())
    }

    /// A billable entry of `hours` on `date` (December 2026), recorded in PSA (DRAFT).
    pub async fn recorded(&self, date: &str, hours: &str) -> TimeEntry {
        let mut request = keel_conformance::psa::time_entry(&key("rec"), &self.staffed, hours);
        request.date = date.into();
        request.narrative = format!("Blueprint workshop {}", uuid::Uuid::new_v4());
        self.psa_client()
            .record_time_entry(self.psa.harness.service(request))
            .await
            .expect("record")
            .into_inner()
    }

    pub async fn submitted(&self, date: &str, hours: &str) -> TimeEntry {
        let entry = self.recorded(date, hours).await;
        self.psa_client()
            .submit_time_entries(self.psa.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: key("submit"),
                ids: vec![entry.id],
            }))
            .await
            .expect("submit")
            .into_inner()
            .entries
            .remove(0)
    }

    pub async fn approve(&self, entry: &TimeEntry) -> TimeEntry {
        self.psa_client()
            .approve_time_entry(self.psa.harness.service(ApproveTimeEntryRequest {
                idempotency_key: key("approve"),
                id: entry.id.clone(),
                approver_id: uuid::Uuid::now_v7().to_string(),
                expected_version: entry.version,
            }))
            .await
            .expect("approve")
            .into_inner()
    }

    pub async fn approved(&self, date: &str, hours: &str) -> TimeEntry {
        let entry = self.submitted(date, hours).await;
        self.approve(&entry).await
    }

    pub async fn rejected(&self, date: &str, hours: &str) -> TimeEntry {
        let entry = self.submitted(date, hours).await;
        self.psa_client()
            .reject_time_entry(self.psa.harness.service(RejectTimeEntryRequest {
                idempotency_key: key("reject"),
                id: entry.id.clone(),
                approver_id: uuid::Uuid::now_v7().to_string(),
                reason: "wrong task".into(),
                expected_version: entry.version,
            }))
            .await
            .expect("reject")
            .into_inner()
    }

    /// Posts an approved entry to ERP as time capture does, returning the journal ids.
    pub async fn post_in_erp(&self, entry: &TimeEntry) -> Vec<String> {
        let posted = self
            .erp_client()
            .post_time_entries(self.erp.service(PostTimeEntriesRequest {
                idempotency_key: key("post"),
                entries: vec![TimeEntryPosting {
                    time_entry_id: entry.id.clone(),
                    person_id: entry.employee_id.clone(),
                    person_legal_entity: self.legal_entity.clone(),
                    project_code: self.project_code.clone(),
                    work_date: entry.date.clone(),
                    hours: entry.hours.clone(),
                    bill_amount: entry.amount.clone(),
                    cost_amount: eur("0"),
                }],
            }))
            .await
            .expect("post time")
            .into_inner();
        posted.postings[0].journal_ids.clone()
    }

    /// Marks an entry POSTED in PSA with `journal_reference`.
    pub async fn mark_posted(&self, entry: &TimeEntry, journal_reference: &str) -> TimeEntry {
        self.psa_client()
            .mark_time_entry_posted(self.psa.harness.service(MarkTimeEntryPostedRequest {
                idempotency_key: key("mark"),
                id: entry.id.clone(),
                journal_reference: journal_reference.into(),
                expected_version: entry.version,
            }))
            .await
            .expect("mark posted")
            .into_inner()
    }

    /// Posts an approved entry to ERP and marks it POSTED in PSA.
    pub async fn post(&self, entry: &TimeEntry) -> TimeEntry {
        let journals = self.post_in_erp(entry).await;
        self.mark_posted(entry, &journals.join(",")).await
    }

    /// An approved entry, posted.
    pub async fn posted(&self, date: &str, hours: &str) -> TimeEntry {
        let entry = self.approved(date, hours).await;
        self.post(&entry).await
    }

    /// A change request on `milestones`, created and submitted.
    pub async fn submitted_change_request(&self, milestones: &[&str]) -> ChangeRequest {
        let mut psa = self.psa_client();
        let created = psa
            .create_change_request(self.psa.harness.service(CreateChangeRequestRequest {
                idempotency_key: key("cr"),
                project_id: self.project_id(),
                title: "Second legal entity".into(),
                description: "Adds the Dutch entity".into(),
                role: "consultant".into(),
                delta_hours: "10".into(),
                delta_amount: eur("1000.00"),
                affected_milestone_ids: milestones.iter().map(|m| m.to_string()).collect(),
            }))
            .await
            .expect("create change request")
            .into_inner();
        self.change_request_step("submit", &created).await
    }

    /// `submit`, `approve`, `reject` or `apply`.
    pub async fn change_request_step(&self, step: &str, request: &ChangeRequest) -> ChangeRequest {
        let message = ChangeRequestTransitionRequest {
            idempotency_key: key(step),
            id: request.id.clone(),
            expected_version: request.version,
            reason: "not this quarter".into(),
        };
        let mut psa = self.psa_client();
        let call = self.psa.harness.service(message);
        let answer = match step {
            "submit" => psa.submit_change_request(call).await,
            "approve" => psa.approve_change_request(call).await,
            "reject" => psa.reject_change_request(call).await,
            _ => psa.apply_change_request(call).await,
        };
        answer.expect("change request step").into_inner()
    }

    pub async fn erp_milestones(&self) -> Vec<BillingMilestone> {
        self.erp_client()
            .list_billing_milestones(self.erp.service(ListBillingMilestonesRequest {
                project_code: self.project_code.clone(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            }))
            .await
            .expect("milestones")
            .into_inner()
            .milestones
    }

    pub async fn erp_milestone(&self, name: &str) -> BillingMilestone {
        self.erp_milestones()
            .await
            .into_iter()
            .find(|m| m.name == name)
            .expect("ERP milestone")
    }

    pub async fn reach(&self, name: &str) -> BillingMilestone {
        let milestone = self.erp_milestone(name).await;
        self.erp_client()
            .mark_milestone_reached(self.erp.service(MarkMilestoneReachedRequest {
                idempotency_key: key("reach"),
                milestone_id: milestone.id,
                expected_version: milestone.version,
            }))
            .await
            .expect("reached")
            .into_inner()
    }

    pub async fn invoices(&self) -> Vec<Invoice> {
        self.erp_client()
            .list_invoices(self.erp.service(ListInvoicesRequest {
                project_code: self.project_code.clone(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            }))
            .await
            .expect("invoices")
            .into_inner()
            .invoices
    }

    pub async fn journals(&self) -> Vec<Journal> {
        self.erp_client()
            .list_journals(self.erp.service(ListJournalsRequest {
                legal_entity: String::new(),
                project_code: self.project_code.clone(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            }))
            .await
            .expect("journals")
            .into_inner()
            .journals
    }

    /// A journal posted by hand on the project: Dr unbilled WIP / Cr revenue `amount`, its
    /// lines' memo `memo`, its description `description`.
    pub async fn post_by_hand(&self, description: &str, memo: &str, amount: &str) -> Journal {
        let line = |account: &str, debit: bool| JournalLine {
            legal_entity: self.legal_entity.clone(),
            account_code: account.into(),
            cost_center: String::new(),
            project_code: self.project_code.clone(),
            debit: if debit { eur(amount) } else { None },
            credit: if debit { None } else { eur(amount) },
            memo: memo.into(),
        };
        self.erp_client()
            .post_journal(self.erp.service(PostJournalRequest {
                idempotency_key: key("manual"),
                journal_date: "2026-12-03".into(),
                description: description.into(),
                lines: vec![line("1250", true), line("4000", false)],
            }))
            .await
            .expect("manual journal")
            .into_inner()
    }

    pub async fn settle(&self) {
        settle(&self.engine).await
    }
}

pub fn engine(db: &DatabaseConnection, downstream: &Downstream, owner: &str) -> Engine {
    Engine::new(
        db.clone(),
        keel_billing::workflows_with_retry(downstream.clone(), db.clone(), FAST),
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
