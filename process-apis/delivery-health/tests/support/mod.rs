//! The harness for delivery health's tests: the reference PSA, ERP and support each served by
//! a real tonic server on loopback behind the authentication layer (the conformance harness),
//! each on its own throwaway store (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`);
//! delivery health's store migrated; its evaluator and gRPC service wired over them.
//!
//! The PSA project is the conformance kit's: baseline solution-architect 100 h (18500.00 EUR)
//! and consultant 300 h (30003.00 EUR), an architect assigned for December 2026 at 185.00 EUR
//! an hour. A project manager is assigned too (PSA role `project-manager`). Today is
//! 2026-12-20.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::sync::Arc;
use std::time::Duration;

use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_delivery_health::{Downstream, Evaluator, HealthPolicy, InsightSettings, Migrator, Notifier};
use keel_proto::common::{Money, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, CreateBillingMilestoneRequest, CreateLegalEntityRequest, CreateProjectCodeRequest,
    PostTimeEntriesRequest, TimeEntryPosting,
};
use keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient;
use keel_proto::health::{Alert, ListAlertsRequest, ListNotificationsRequest, Notification};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveTimeEntryRequest, CreateAssignmentRequest, MarkTimeEntryPostedRequest, RecordTimeEntryRequest,
    SubmitTimeEntriesRequest, TimeEntry,
};
use keel_proto::support::support_service_client::SupportServiceClient;
use keel_proto::support::{OpenTicketRequest, Severity, Ticket};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key (issuer `keel-conformance`,
/// audience `keel`); delivery health mints its service tokens with the same.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_delivery_health::SERVICE_NAME)
}

pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 20).unwrap()
}

/// The shipped policy with the money threshold at 50%, so effort alone alerts in tests that
/// push hours over the baseline.
pub fn policy() -> HealthPolicy {
    let mut policy = HealthPolicy::shipped().expect("shipped policy");
    policy.thresholds.money_over_baseline_percent = "50".parse().unwrap();
    policy
}

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub staffed: keel_conformance::psa::Staffed,
    pub project_manager_id: String,
    pub erp: Harness,
    pub project_code: String,
    pub legal_entity: String,
    pub support: keel_conformance::support::Context,
    pub db: DatabaseConnection,
    pub downstream: Downstream,
    pub notifier: Notifier,
    pub evaluator: Evaluator,
    pub service: Harness,
    _stores: Vec<TestStore>,
}

impl Platform {
    /// Everything up, the webhook off.
    pub async fn start() -> Platform {
        Platform::start_with(policy(), false).await
    }

    pub async fn start_with(policy: HealthPolicy, webhook_enabled: bool) -> Platform {
        Platform::start_with_insight(policy, webhook_enabled, InsightSettings::default()).await
    }

    /// Everything up under the firm's `[insight]` switches `insight`.
    pub async fn start_with_insight(policy: HealthPolicy, webhook_enabled: bool, insight: InsightSettings) -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa =
            keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(psa_db, Arc::new(Notify::new()))))
                .await;
        let staffed = psa.staffed().await.expect("staffed project");
        let project_manager_id = uuid::Uuid::now_v7().to_string();
        PsaServiceClient::new(psa.harness.channel())
            .create_assignment(psa.harness.service(CreateAssignmentRequest {
                idempotency_key: format!("pm-{project_manager_id}"),
                project_id: staffed.project.id.clone(),
                employee_id: project_manager_id.clone(),
                person_name: "Grace Hopper".into(),
                role: "project-manager".into(),
                bill_role: String::new(),
                start_date: "2026-12-01".into(),
                end_date: "2027-06-30".into(),
                allocation_percent: "20".into(),
            }))
            .await
            .expect("project manager assigned");

        let (erp_store, erp_db) = migrated_store::<keel_erp::reference::Migrator>("erp").await;
        let erp = Harness::serve(
            keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(erp_db, Arc::new(Notify::new()))))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;
        let legal_entity = format!(
            "KEEL-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        let mut erp_client = ErpServiceClient::new(erp.channel());
        erp_client
            .create_legal_entity(erp.service(CreateLegalEntityRequest {
                idempotency_key: format!("le-{legal_entity}"),
                code: legal_entity.clone(),
                name: "Keel Consulting Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            }))
            .await
            .expect("legal entity");
        let project_code = erp_client
            .create_project_code(erp.service(CreateProjectCodeRequest {
                idempotency_key: format!("pc-{}", staffed.project.id),
                project_id: staffed.project.id.clone(),
                name: "Conformance rollout".into(),
                legal_entity: legal_entity.clone(),
                currency: "EUR".into(),
            }))
            .await
            .expect("project code")
            .into_inner()
            .code;

        let (support_store, support_db) = migrated_store::<keel_support::reference::Migrator>("support").await;
        let support = keel_conformance::support::Context::new(Arc::new(keel_support::ReferenceSupport::new(
            support_db,
            Arc::new(Notify::new()),
        )))
        .await;

        let (store, db) = migrated_store::<Migrator>("delivery-health").await;
        let downstream = Downstream::new(
            psa.harness.channel(),
            erp.channel(),
            support.harness.channel(),
            credentials(),
            Duration::from_secs(5),
        );
        let notifier = Notifier::new(webhook_enabled);
        let evaluator = Evaluator::new(db.clone(), downstream.clone(), policy, notifier.clone())
            .with_today(today)
            .with_insight(insight);
        let service = Harness::serve(keel_delivery_health::service::server(evaluator.clone())).await;
        Platform {
            psa,
            staffed,
            project_manager_id,
            erp,
            project_code,
            legal_entity,
            support,
            db,
            downstream,
            notifier,
            evaluator,
            service,
            _stores: vec![psa_store, erp_store, support_store, store],
        }
    }

    pub fn project_id(&self) -> String {
        self.staffed.project.id.clone()
    }

    pub fn health(&self) -> DeliveryHealthServiceClient<Channel> {
        DeliveryHealthServiceClient::new(self.service.channel())
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as("alice", role, message)
    }

    fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    /// Architect entries of `hours` each, recorded and submitted; approved when `approve`.
    pub async fn time(&self, hours: &[&str], approve: bool) -> Vec<TimeEntry> {
        let mut psa = self.psa_client();
        let mut ids = Vec::new();
        for h in hours {
            let request = keel_conformance::psa::time_entry(&format!("rec-{}", uuid::Uuid::new_v4()), &self.staffed, h);
            let entry = psa
                .record_time_entry(self.psa.harness.service(request))
                .await
                .expect("record")
                .into_inner();
            ids.push(entry.id);
        }
        let submitted = psa
            .submit_time_entries(self.psa.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: format!("submit-{}", uuid::Uuid::new_v4()),
                ids,
            }))
            .await
            .expect("submit")
            .into_inner()
            .entries;
        if !approve {
            return submitted;
        }
        let approver = uuid::Uuid::now_v7().to_string();
        let mut approved = Vec::new();
        for entry in submitted {
            approved.push(
                psa.approve_time_entry(self.psa.harness.service(ApproveTimeEntryRequest {
                    idempotency_key: format!("approve-{}", entry.id),
                    id: entry.id.clone(),
                    approver_id: approver.clone(),
                    expected_version: entry.version,
                }))
                .await
                .expect("approve")
                .into_inner(),
            );
        }
        approved
    }

    /// A person assigned to the project in `role` at `allocation_percent` for December 2026 to
    /// March 2027; answers their employee id.
    pub async fn assign(&self, role: &str, allocation_percent: &str) -> String {
        let employee_id = uuid::Uuid::now_v7().to_string();
        self.psa_client()
            .create_assignment(self.psa.harness.service(CreateAssignmentRequest {
                idempotency_key: format!("assign-{employee_id}"),
                project_id: self.project_id(),
                employee_id: employee_id.clone(),
                person_name: format!("Consultant {}", &employee_id[..8]),
                role: role.into(),
                bill_role: String::new(),
                start_date: "2026-12-01".into(),
                end_date: "2027-03-01".into(),
                allocation_percent: allocation_percent.into(),
            }))
            .await
            .expect("assignment");
        employee_id
    }

    /// Billable entries of `employee_id`, each `(date, hours, narrative)`, recorded,
    /// submitted and approved.
    pub async fn log(&self, employee_id: &str, entries: &[(&str, &str, &str)]) -> Vec<TimeEntry> {
        let mut psa = self.psa_client();
        let mut ids = Vec::new();
        for (date, hours, narrative) in entries {
            let entry = psa
                .record_time_entry(self.psa.harness.service(RecordTimeEntryRequest {
                    idempotency_key: format!("rec-{}", uuid::Uuid::new_v4()),
                    project_id: self.project_id(),
                    employee_id: employee_id.into(),
                    task: String::new(),
                    date: (*date).into(),
                    hours: (*hours).into(),
                    narrative: (*narrative).into(),
                    billable: true,
                }))
                .await
                .expect("record")
                .into_inner();
            ids.push(entry.id);
        }
        let submitted = psa
            .submit_time_entries(self.psa.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: format!("submit-{}", uuid::Uuid::new_v4()),
                ids,
            }))
            .await
            .expect("submit")
            .into_inner()
            .entries;
        let mut approved = Vec::new();
        for entry in submitted {
            approved.push(
                psa.approve_time_entry(self.psa.harness.service(ApproveTimeEntryRequest {
                    idempotency_key: format!("approve-{}", entry.id),
                    id: entry.id.clone(),
                    approver_id: self.project_manager_id.clone(),
                    expected_version: entry.version,
                }))
                .await
                .expect("approve")
                .into_inner(),
            );
        }
        approved
    }

    /// Posts approved `entries` to ERP at `cost_rate` an hour (as time capture does: the bill
    /// amount PSA priced, the cost at the person's rate) and marks them posted in PSA.
    pub async fn post(&self, entries: &[TimeEntry], cost_rate: rust_decimal::Decimal) -> Vec<TimeEntry> {
        let mut erp = ErpServiceClient::new(self.erp.channel());
        let mut psa = self.psa_client();
        let mut posted = Vec::new();
        for entry in entries {
            let hours: rust_decimal::Decimal = entry.hours.parse().expect("hours");
            let response = erp
                .post_time_entries(self.erp.service(PostTimeEntriesRequest {
                    idempotency_key: format!("post-{}", entry.id),
                    entries: vec![TimeEntryPosting {
                        time_entry_id: entry.id.clone(),
                        person_id: entry.employee_id.clone(),
                        person_legal_entity: self.legal_entity.clone(),
                        project_code: self.project_code.clone(),
                        work_date: entry.date.clone(),
                        hours: entry.hours.clone(),
                        bill_amount: entry.amount.clone(),
                        cost_amount: Some(Money {
                            amount: (hours * cost_rate).round_dp(2).to_string(),
                            currency: "EUR".into(),
                        }),
                    }],
                }))
                .await
                .expect("posted to ERP")
                .into_inner();
            let journal = response.postings[0].journal_ids[0].clone();
            posted.push(
                psa.mark_time_entry_posted(self.psa.harness.service(MarkTimeEntryPostedRequest {
                    idempotency_key: format!("mark-{}", entry.id),
                    id: entry.id.clone(),
                    journal_reference: journal,
                    expected_version: entry.version,
                }))
                .await
                .expect("marked posted")
                .into_inner(),
            );
        }
        posted
    }

    /// A billing milestone in ERP for the project.
    pub async fn milestone(&self, name: &str, due_date: &str) -> BillingMilestone {
        ErpServiceClient::new(self.erp.channel())
            .create_billing_milestone(self.erp.service(CreateBillingMilestoneRequest {
                idempotency_key: format!("ms-{}", uuid::Uuid::new_v4()),
                project_code: self.project_code.clone(),
                name: name.into(),
                amount: Some(Money {
                    amount: "30000.00".into(),
                    currency: "EUR".into(),
                }),
                due_date: due_date.into(),
            }))
            .await
            .expect("billing milestone")
            .into_inner()
    }

    /// A ticket on the project.
    pub async fn ticket(&self, severity: Severity) -> Ticket {
        SupportServiceClient::new(self.support.harness.channel())
            .open_ticket(self.support.harness.service(OpenTicketRequest {
                idempotency_key: format!("t-{}", uuid::Uuid::new_v4()),
                account_id: self.staffed.project.account_id.clone(),
                project_id: self.project_id(),
                title: "Invoices fail to post after cut-over".into(),
                description: String::new(),
                severity: severity as i32,
            }))
            .await
            .expect("ticket")
            .into_inner()
    }

    /// Every alert of the project, newest first.
    pub async fn alerts(&self) -> Vec<Alert> {
        self.health()
            .list_alerts(self.as_role(
                Role::ProjectManager,
                ListAlertsRequest {
                    project_id: self.project_id(),
                    state: String::new(),
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }),
                },
            ))
            .await
            .expect("list alerts")
            .into_inner()
            .alerts
    }

    /// Every notification of the project, newest first.
    pub async fn notifications(&self) -> Vec<Notification> {
        self.health()
            .list_notifications(self.as_role(
                Role::Finance,
                ListNotificationsRequest {
                    project_id: self.project_id(),
                    page: None,
                },
            ))
            .await
            .expect("list notifications")
            .into_inner()
            .notifications
    }
}
