//! The harness for the close-out tests: the reference PSA, ERP, documents and collaboration
//! each served by a real tonic server on loopback behind the authentication layer (the
//! conformance harness), each on its own throwaway store (SQLite, or PostgreSQL under
//! `KEEL_TEST_DATABASE_URL`); a stand-in "delivery" process API (a `time-posting` workflow on
//! the real engine, its real workflow admin served over loopback) that raises exceptions
//! about a project's time entries; the close-out store migrated, its engine, gRPC service and
//! workflow admin wired over them.
//!
//! [`Platform::delivered`] takes a project through delivery as the other process APIs would:
//! staffed, time and an expense recorded, approved and posted to ERP at cost, a change
//! request applied and one rejected, milestones reached, invoiced and issued, an exception
//! raised about a time entry and retried by operations.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keel_auth::{LocalKey, Role, ServiceCredentials};
use keel_close_out::{Channels, CloseOut, CloseOutGrpcService, CloseOutPolicy, Downstream, Migrator};
use keel_conformance::{Harness, MAX_MESSAGE_BYTES, migrated_store};
use keel_core::Error;
use keel_proto::closeout::close_out_service_client::CloseOutServiceClient;
use keel_proto::closeout::{CloseOut as CloseOutView, GetCloseOutRequest, GetReviewRequest, Review};
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::collaboration::{CreateWorkspaceRequest, GetWorkspaceByProjectRequest, Workspace};
use keel_proto::common::{Money, PageRequest};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{CreateDocumentRequest, Document, DocumentType, GetDocumentRequest, SetRetentionRequest};
use keel_proto::erp::create_draft_invoice_request::Source;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, BudgetLine, CreateBillingMilestoneRequest, CreateDraftInvoiceRequest, CreateLegalEntityRequest,
    CreateProjectCodeRequest, ExpensePosting, Invoice, IssueInvoiceRequest, ListBillingMilestonesRequest,
    MarkMilestoneReachedRequest, PostBudgetRequest, PostExpensesRequest, PostTimeEntriesRequest, RevenueMethod,
    SetRevenueScheduleRequest, TimeEntryPosting,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveExpenseRequest, ApproveTimeEntryRequest, ChangeRequestTransitionRequest, CreateAssignmentRequest,
    CreateChangeRequestRequest, Expense, GetProjectRequest, MarkExpensePostedRequest, MarkTimeEntryPostedRequest,
    Project, RecordExpenseRequest, RecordTimeEntryRequest, SubmitExpensesRequest, SubmitTimeEntriesRequest, TimeEntry,
};
use keel_store::testing::TestStore;
use keel_workflow::{Engine, EngineOptions, RetryPolicy, Status, StepContext, StepDef, StepOutcome, Workflow};
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::Notify;
use tonic::transport::Channel;

/// The conformance harness signs its tokens with this key (issuer `keel-conformance`,
/// audience `keel`); the close-out mints its tokens with the same.
const HARNESS_KEY: &[u8] = b"conformance-kit-key-long-enough-for-hs256";

/// Fast retries, never exhausted during a test.
pub const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(5),
    factor: 2.0,
    max_delay: Duration::from_millis(40),
    max_attempts: 1_000_000,
};

/// The cost rates the harness posts time at, per role (EUR an hour), and the roles.
pub const ARCHITECT: &str = "solution-architect";
pub const CONSULTANT: &str = "consultant";
pub const ARCHITECT_COST: &str = "90.00";
pub const CONSULTANT_COST: &str = "60.00";

pub fn credentials() -> ServiceCredentials {
    let key = LocalKey::from_bytes(HARNESS_KEY.to_vec()).expect("key");
    ServiceCredentials::minted(key, "keel-conformance", "keel", keel_close_out::SERVICE_NAME)
}

pub fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

pub fn d(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

/// The amount of a money message.
pub fn amount(money: &Option<Money>) -> Decimal {
    d(&money.as_ref().expect("money").amount)
}

fn key(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::now_v7())
}

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 100,
        page_token: String::new(),
    })
}

// ---- the stand-in delivery process API ----

/// A `time-posting` workflow of one step that refuses (a business error) while `refusing`
/// holds: the exceptions a delivery process API raises about a time entry.
pub struct StandInPosting {
    pub refusing: AtomicBool,
    steps: [StepDef; 1],
}

#[async_trait]
impl Workflow for StandInPosting {
    fn kind(&self) -> &'static str {
        "time-posting"
    }

    fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    async fn run_step(&self, _cx: &StepContext) -> Result<StepOutcome, Error> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(Error::FailedPrecondition(
                "the ERP period of the entry's date is closed".into(),
            ));
        }
        Ok(StepOutcome::Done(json!({ "posted": true })))
    }
}

/// The pieces of a project a test set up, with what it set them up with.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub project: Project,
    pub project_code: String,
    pub workspace: Workspace,
    pub sow: Document,
    /// Posted time entries with the cost they were posted at.
    pub time: Vec<(TimeEntry, Decimal)>,
    pub expenses: Vec<(Expense, Decimal)>,
    pub milestones: Vec<BillingMilestone>,
    pub invoices: Vec<Invoice>,
    /// The delivery instance that raised an exception about the first time entry.
    pub exception_instance: Option<uuid::Uuid>,
}

/// What to leave undone when delivering a project.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leave {
    /// One more architect entry approved but not posted.
    pub unposted_entry: bool,
    /// The second milestone reached but not invoiced.
    pub uninvoiced_milestone: bool,
    /// Skip the delivery exception.
    pub no_exception: bool,
}

pub struct Platform {
    pub psa: keel_conformance::psa::Context,
    pub erp: Harness,
    pub documents: Harness,
    pub collaboration: Harness,
    pub legal_entity: String,
    pub delivery: Engine,
    pub delivery_posting: Arc<StandInPosting>,
    pub delivery_admin: Harness,
    pub db: DatabaseConnection,
    pub downstream: Downstream,
    pub policy: Arc<CloseOutPolicy>,
    pub service: Harness,
    pub admin: Harness,
    _stores: Vec<TestStore>,
}

fn options(owner: &str) -> EngineOptions {
    EngineOptions {
        owner: owner.to_string(),
        // Short: the engine claims an instance's next step once its lease has passed.
        lease: Duration::from_millis(250),
        batch: 64,
        poll_interval: Duration::from_millis(10),
    }
}

impl Platform {
    /// Everything served; the close-out store, engine, service and admin.
    pub async fn start() -> Platform {
        let (psa_store, psa_db) = migrated_store::<keel_psa::reference::Migrator>("psa").await;
        let psa =
            keel_conformance::psa::Context::new(Arc::new(keel_psa::ReferencePsa::new(psa_db, Arc::new(Notify::new()))))
                .await;
        let (erp_store, erp_db) = migrated_store::<keel_erp::reference::Migrator>("erp").await;
        let erp = Harness::serve(
            keel_erp::service::server(Arc::new(keel_erp::ReferenceErp::new(erp_db, Arc::new(Notify::new()))))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;
        let (documents_store, documents_db) = migrated_store::<keel_documents::reference::Migrator>("documents").await;
        let documents = Harness::serve(
            keel_documents::service::server(Arc::new(keel_documents::ReferenceDocuments::new(
                documents_db,
                Arc::new(Notify::new()),
            )))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;
        let (collaboration_store, collaboration_db) =
            migrated_store::<keel_collaboration::reference::Migrator>("collaboration").await;
        let collaboration = Harness::serve(
            keel_collaboration::service::server(Arc::new(keel_collaboration::ReferenceCollaboration::new(
                collaboration_db,
                Arc::new(Notify::new()),
            )))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .await;

        let legal_entity = format!(
            "KEEL-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        ErpServiceClient::new(erp.channel())
            .create_legal_entity(erp.service(CreateLegalEntityRequest {
                idempotency_key: format!("le-{legal_entity}"),
                code: legal_entity.clone(),
                name: "Keel Consulting Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            }))
            .await
            .expect("legal entity");

        // The stand-in delivery process API and its workflow admin.
        let (delivery_store, delivery_db) = migrated_store::<keel_close_out::Migrator>("delivery").await;
        let delivery_posting = Arc::new(StandInPosting {
            refusing: AtomicBool::new(false),
            steps: [StepDef::new("post").calls("erp").with_retry(FAST)],
        });
        let delivery = Engine::new(delivery_db, vec![delivery_posting.clone()], options("delivery"));
        let delivery_admin =
            Harness::serve(keel_workflow::admin::server(delivery.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES))
                .await;

        let (store, db) = migrated_store::<Migrator>("close-out").await;
        let downstream = Downstream::new(
            Channels {
                psa: psa.harness.channel(),
                erp: erp.channel(),
                collaboration: collaboration.channel(),
                documents: documents.channel(),
                admins: vec![("time-capture".into(), delivery_admin.channel())],
            },
            credentials(),
            Duration::from_secs(5),
        );
        let policy = Arc::new(CloseOutPolicy {
            version: "test-policy-7".into(),
            ..CloseOutPolicy::default()
        });
        let service_engine = engine_over(&db, &downstream, &policy, "rpc");
        let service = Harness::serve(
            CloseOutGrpcService::new(service_engine.clone(), downstream.clone(), policy.clone()).into_server(),
        )
        .await;
        let admin = Harness::serve(keel_workflow::admin::server(service_engine.clone())).await;
        Platform {
            psa,
            erp,
            documents,
            collaboration,
            legal_entity,
            delivery,
            delivery_posting,
            delivery_admin,
            db,
            downstream,
            policy,
            service,
            admin,
            _stores: vec![
                psa_store,
                erp_store,
                documents_store,
                collaboration_store,
                delivery_store,
                store,
            ],
        }
    }

    /// A close-out engine (a replica) named `owner`, over the close-out store.
    pub fn engine(&self, owner: &str) -> Engine {
        engine_over(&self.db, &self.downstream, &self.policy, owner)
    }

    pub fn close_outs(&self) -> CloseOutServiceClient<Channel> {
        CloseOutServiceClient::new(self.service.channel())
    }

    pub fn as_role<T>(&self, role: Role, message: T) -> tonic::Request<T> {
        self.service.request_as("fiona", role, message)
    }

    pub fn psa_client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.psa.harness.channel())
    }

    pub fn erp_client(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.erp.channel())
    }

    pub async fn get(&self, project_id: &str) -> CloseOutView {
        self.close_outs()
            .get_close_out(self.as_role(
                Role::Finance,
                GetCloseOutRequest {
                    project_id: project_id.into(),
                },
            ))
            .await
            .expect("close-out")
            .into_inner()
    }

    pub async fn review(&self, project_id: &str) -> Review {
        self.close_outs()
            .get_review(self.as_role(
                Role::Executive,
                GetReviewRequest {
                    project_id: project_id.into(),
                },
            ))
            .await
            .expect("review")
            .into_inner()
    }

    pub async fn project(&self, id: &str) -> Project {
        self.psa_client()
            .get_project(self.psa.harness.service(GetProjectRequest {
                id: id.into(),
                opportunity_id: String::new(),
            }))
            .await
            .expect("project")
            .into_inner()
    }

    pub async fn workspace(&self, project_id: &str) -> Workspace {
        CollaborationServiceClient::new(self.collaboration.channel())
            .get_workspace_by_project(self.collaboration.service(GetWorkspaceByProjectRequest {
                project_id: project_id.into(),
            }))
            .await
            .expect("workspace")
            .into_inner()
    }

    pub async fn document(&self, id: &str) -> Document {
        DocumentsServiceClient::new(self.documents.channel())
            .get_document(self.documents.service(GetDocumentRequest { id: id.into() }))
            .await
            .expect("document")
            .into_inner()
    }

    pub async fn milestones(&self, code: &str) -> Vec<BillingMilestone> {
        self.erp_client()
            .list_billing_milestones(self.erp.service(ListBillingMilestonesRequest {
                project_code: code.into(),
                page: page(),
            }))
            .await
            .expect("milestones")
            .into_inner()
            .milestones
    }

    /// A project taken through delivery (see the module docs), leaving what `leave` says.
    pub async fn delivered(&self, leave: Leave) -> Delivered {
        let mut psa = self.psa_client();
        let staffed = self.psa.staffed().await.expect("staffed project");
        let architect = staffed.employee_id.clone();
        let consultant = uuid::Uuid::now_v7().to_string();
        let approver = uuid::Uuid::now_v7().to_string();
        psa.create_assignment(self.psa.harness.service(CreateAssignmentRequest {
            idempotency_key: key("assign"),
            project_id: staffed.project.id.clone(),
            employee_id: consultant.clone(),
            person_name: "Grace Hopper".into(),
            role: CONSULTANT.into(),
            bill_role: String::new(),
            start_date: "2026-12-01".into(),
            end_date: "2026-12-31".into(),
            allocation_percent: "100".into(),
        }))
        .await
        .expect("consultant assignment");
        let project_id = staffed.project.id.clone();

        // ERP: the project code, its budget, a milestone per PSA milestone, a fixed-fee
        // milestone revenue schedule.
        let mut erp = self.erp_client();
        let code = erp
            .create_project_code(self.erp.service(CreateProjectCodeRequest {
                idempotency_key: key("pc"),
                project_id: project_id.clone(),
                name: staffed.project.name.clone(),
                legal_entity: self.legal_entity.clone(),
                currency: "EUR".into(),
            }))
            .await
            .expect("project code")
            .into_inner()
            .code;
        let baseline = staffed.project.budget_baseline.clone().expect("baseline");
        erp.post_budget(
            self.erp.service(PostBudgetRequest {
                idempotency_key: key("budget"),
                project_code: code.clone(),
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
        let mut milestones = Vec::new();
        for milestone in &staffed.project.milestones {
            milestones.push(
                erp.create_billing_milestone(self.erp.service(CreateBillingMilestoneRequest {
                    idempotency_key: key("ms"),
                    project_code: code.clone(),
                    name: milestone.name.clone(),
                    amount: milestone.amount.clone(),
                    due_date: milestone.due_date.clone(),
                }))
                .await
                .expect("billing milestone")
                .into_inner(),
            );
        }
        erp.set_revenue_schedule(self.erp.service(SetRevenueScheduleRequest {
            idempotency_key: key("rev"),
            project_code: code.clone(),
            method: RevenueMethod::FixedFeeMilestone as i32,
            contract_value: staffed.project.contract_value.clone(),
        }))
        .await
        .expect("revenue schedule");

        // The workspace, and the SOW filed with seven years' retention from the deal.
        let workspace = CollaborationServiceClient::new(self.collaboration.channel())
            .create_workspace(self.collaboration.service(CreateWorkspaceRequest {
                idempotency_key: key("ws"),
                project_id: project_id.clone(),
                name: "Conformance rollout".into(),
                channels: Vec::new(),
            }))
            .await
            .expect("workspace")
            .into_inner();
        let mut documents = DocumentsServiceClient::new(self.documents.channel());
        let sow = documents
            .create_document(self.documents.service(CreateDocumentRequest {
                idempotency_key: key("sow"),
                r#type: DocumentType::Sow as i32,
                title: "Statement of work".into(),
                client_id: staffed.project.account_id.clone(),
                project_id: project_id.clone(),
            }))
            .await
            .expect("sow")
            .into_inner();
        let sow = documents
            .set_retention(self.documents.service(SetRetentionRequest {
                idempotency_key: key("sow-retention"),
                id: sow.id.clone(),
                expected_version: sow.version,
                // Seven years from the deal, closed before delivery began.
                retain_until: "2033-06-01".into(),
            }))
            .await
            .expect("sow retention")
            .into_inner();

        // A change request applied (20 more consultant hours, 2000.00 on the go-live) and one
        // rejected.
        let applied = self
            .change_request(&project_id, "20", "2000.00", &["submit", "approve", "apply"])
            .await;
        assert_eq!(applied, keel_proto::psa::ChangeRequestState::Applied as i32);
        let rejected = self
            .change_request(&project_id, "8", "800.00", &["submit", "reject"])
            .await;
        assert_eq!(rejected, keel_proto::psa::ChangeRequestState::Rejected as i32);

        // Time: the architect 7.5 h and 4 h, the consultant 10 h; approved and posted at cost.
        let mut time = Vec::new();
        for (person, hours, cost_rate, date) in [
            (&architect, "7.5", ARCHITECT_COST, "2026-12-02"),
            (&architect, "4", ARCHITECT_COST, "2026-12-03"),
            (&consultant, "10", CONSULTANT_COST, "2026-12-04"),
        ] {
            let entry = self.approved_entry(&project_id, person, &approver, hours, date).await;
            time.push(self.post_entry(&code, entry, cost_rate).await);
        }
        if leave.unposted_entry {
            let entry = self
                .approved_entry(&project_id, &architect, &approver, "2", "2026-12-05")
                .await;
            time.push((entry, Decimal::ZERO));
        }

        // An expense: 245.50 of travel, approved and posted at cost.
        let expense = psa
            .record_expense(self.psa.harness.service(RecordExpenseRequest {
                idempotency_key: key("expense"),
                project_id: project_id.clone(),
                employee_id: consultant.clone(),
                date: "2026-12-04".into(),
                category: "travel".into(),
                description: "Train to the client".into(),
                amount: eur("245.50"),
                billable: false,
                receipt_document_id: String::new(),
            }))
            .await
            .expect("expense")
            .into_inner();
        let expense = psa
            .submit_expenses(self.psa.harness.service(SubmitExpensesRequest {
                idempotency_key: key("submit-expense"),
                ids: vec![expense.id.clone()],
            }))
            .await
            .expect("submit expense")
            .into_inner()
            .expenses
            .remove(0);
        let expense = psa
            .approve_expense(self.psa.harness.service(ApproveExpenseRequest {
                idempotency_key: key("approve-expense"),
                id: expense.id.clone(),
                approver_id: approver.clone(),
                expected_version: expense.version,
            }))
            .await
            .expect("approve expense")
            .into_inner();
        let posted = erp
            .post_expenses(self.erp.service(PostExpensesRequest {
                idempotency_key: key("post-expense"),
                expenses: vec![ExpensePosting {
                    expense_id: expense.id.clone(),
                    person_id: consultant.clone(),
                    person_legal_entity: self.legal_entity.clone(),
                    project_code: code.clone(),
                    expense_date: expense.date.clone(),
                    category: expense.category.clone(),
                    amount: eur("245.50"),
                    bill_amount: eur("0.00"),
                }],
            }))
            .await
            .expect("post expense")
            .into_inner();
        let expense = psa
            .mark_expense_posted(self.psa.harness.service(MarkExpensePostedRequest {
                idempotency_key: key("expense-posted"),
                id: expense.id.clone(),
                journal_reference: posted.postings[0].journal_ids.join(","),
                expected_version: expense.version,
            }))
            .await
            .expect("expense posted")
            .into_inner();
        let expenses = vec![(expense, d("245.50"))];

        // Milestones reached, invoiced and issued (the second only reached, if asked).
        let mut invoices = Vec::new();
        for (n, milestone) in milestones.clone().iter().enumerate() {
            let reached = erp
                .mark_milestone_reached(self.erp.service(MarkMilestoneReachedRequest {
                    idempotency_key: key("reached"),
                    milestone_id: milestone.id.clone(),
                    expected_version: milestone.version,
                }))
                .await
                .expect("reached")
                .into_inner();
            if n == 1 && leave.uninvoiced_milestone {
                continue;
            }
            invoices.push(self.invoice(&code, &reached.id).await);
        }

        let exception_instance = if leave.no_exception {
            None
        } else {
            Some(self.delivery_exception(&time[0].0.id).await)
        };
        Delivered {
            project: self.project(&project_id).await,
            project_code: code.clone(),
            workspace,
            sow,
            time,
            expenses,
            milestones: self.milestones(&code).await,
            invoices,
            exception_instance,
        }
    }

    /// A change request on the consultant's line, taken through `steps`; its final state.
    async fn change_request(&self, project_id: &str, hours: &str, amount: &str, steps: &[&str]) -> i32 {
        let mut psa = self.psa_client();
        let mut current = psa
            .create_change_request(self.psa.harness.service(CreateChangeRequestRequest {
                idempotency_key: key("cr"),
                project_id: project_id.into(),
                title: format!("{hours} more hours"),
                description: "Scope grew".into(),
                role: CONSULTANT.into(),
                delta_hours: hours.into(),
                delta_amount: eur(amount),
                affected_milestone_ids: vec!["2".into()],
            }))
            .await
            .expect("change request")
            .into_inner();
        for step in steps {
            let message = self.psa.harness.service(ChangeRequestTransitionRequest {
                idempotency_key: key(step),
                id: current.id.clone(),
                expected_version: current.version,
                reason: if *step == "reject" {
                    "not in the contract".into()
                } else {
                    String::new()
                },
            });
            current = match *step {
                "submit" => psa.submit_change_request(message).await,
                "approve" => psa.approve_change_request(message).await,
                "reject" => psa.reject_change_request(message).await,
                _ => psa.apply_change_request(message).await,
            }
            .expect(step)
            .into_inner();
        }
        current.state
    }

    /// A billable time entry recorded, submitted and approved.
    pub async fn approved_entry(
        &self,
        project_id: &str,
        employee_id: &str,
        approver: &str,
        hours: &str,
        date: &str,
    ) -> TimeEntry {
        let mut psa = self.psa_client();
        let entry = psa
            .record_time_entry(self.psa.harness.service(RecordTimeEntryRequest {
                idempotency_key: key("time"),
                project_id: project_id.into(),
                employee_id: employee_id.into(),
                task: "Blueprint".into(),
                date: date.into(),
                hours: hours.into(),
                narrative: "Workshop".into(),
                billable: true,
            }))
            .await
            .expect("record time")
            .into_inner();
        let submitted = psa
            .submit_time_entries(self.psa.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: key("submit"),
                ids: vec![entry.id.clone()],
            }))
            .await
            .expect("submit time")
            .into_inner()
            .entries
            .remove(0);
        psa.approve_time_entry(self.psa.harness.service(ApproveTimeEntryRequest {
            idempotency_key: key("approve"),
            id: submitted.id.clone(),
            approver_id: approver.into(),
            expected_version: submitted.version,
        }))
        .await
        .expect("approve time")
        .into_inner()
    }

    /// An approved entry posted to ERP at `cost_rate` an hour and marked posted in PSA, as
    /// time capture does; with the cost it was posted at.
    pub async fn post_entry(&self, code: &str, entry: TimeEntry, cost_rate: &str) -> (TimeEntry, Decimal) {
        let cost = (d(&entry.hours) * d(cost_rate)).round_dp(2);
        let posted = self
            .erp_client()
            .post_time_entries(self.erp.service(PostTimeEntriesRequest {
                idempotency_key: key("post-time"),
                entries: vec![TimeEntryPosting {
                    time_entry_id: entry.id.clone(),
                    person_id: entry.employee_id.clone(),
                    person_legal_entity: self.legal_entity.clone(),
                    project_code: code.into(),
                    work_date: entry.date.clone(),
                    hours: entry.hours.clone(),
                    bill_amount: entry.amount.clone(),
                    cost_amount: eur(&cost.to_string()),
                }],
            }))
            .await
            .expect("post time")
            .into_inner();
        let marked = self
            .psa_client()
            .mark_time_entry_posted(self.psa.harness.service(MarkTimeEntryPostedRequest {
                idempotency_key: key("time-posted"),
                id: entry.id.clone(),
                journal_reference: posted.postings[0].journal_ids.join(","),
                expected_version: entry.version,
            }))
            .await
            .expect("mark posted")
            .into_inner();
        (marked, cost)
    }

    /// A reached milestone's draft invoice, issued.
    pub async fn invoice(&self, code: &str, milestone_id: &str) -> Invoice {
        let mut erp = self.erp_client();
        let draft = erp
            .create_draft_invoice(self.erp.service(CreateDraftInvoiceRequest {
                idempotency_key: key("draft"),
                project_code: code.into(),
                source: Some(Source::MilestoneId(milestone_id.into())),
            }))
            .await
            .expect("draft invoice")
            .into_inner();
        erp.issue_invoice(self.erp.service(IssueInvoiceRequest {
            idempotency_key: key("issue"),
            invoice_id: draft.id.clone(),
            expected_version: draft.version,
            issue_date: "2026-12-20".into(),
        }))
        .await
        .expect("issue invoice")
        .into_inner()
    }

    /// The delivery process API refuses to post `entry_id` (the exception queue), operations
    /// retries it 60 ms later, and it goes through. The instance's id.
    pub async fn delivery_exception(&self, entry_id: &str) -> uuid::Uuid {
        self.delivery_posting.refusing.store(true, Ordering::SeqCst);
        let started = self
            .delivery
            .start(
                "time-posting",
                entry_id,
                json!({ "time_entry_id": entry_id }),
                json!({}),
                "test",
            )
            .await
            .expect("delivery start");
        settle(&self.delivery).await;
        assert_eq!(
            self.delivery.instance(started.id).await.unwrap().status,
            Status::Exception
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        self.delivery_posting.refusing.store(false, Ordering::SeqCst);
        self.delivery.retry(started.id, "olga").await.expect("retry");
        settle(&self.delivery).await;
        started.id
    }

    /// Starts a project's close-out straight on an engine.
    pub async fn start_close_out(&self, engine: &Engine, project_id: &str) -> uuid::Uuid {
        engine
            .start(
                keel_close_out::workflow::KIND,
                project_id,
                CloseOut::input(project_id, &format!("test-{project_id}")),
                self.policy.versions(),
                "test",
            )
            .await
            .expect("start")
            .id
    }
}

pub fn engine_over(
    db: &DatabaseConnection,
    downstream: &Downstream,
    policy: &Arc<CloseOutPolicy>,
    owner: &str,
) -> Engine {
    let own_history = Engine::new(db.clone(), Vec::new(), options(&format!("{owner}-history")));
    Engine::new(
        db.clone(),
        vec![Arc::new(CloseOut::with_retry(
            downstream.clone(),
            policy.clone(),
            Some(own_history),
            FAST,
        ))],
        options(owner),
    )
}

/// Runs rounds until nothing is running (across lease expiries).
pub async fn settle(engine: &Engine) {
    for _ in 0..20_000 {
        let worked = engine.tick().await.unwrap_or(1);
        if worked == 0 {
            let busy: u64 = engine
                .counts()
                .await
                .unwrap()
                .into_iter()
                .filter(|(s, _)| matches!(s, Status::Running | Status::Compensating))
                .map(|(_, n)| n)
                .sum();
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("the engine did not settle");
}
