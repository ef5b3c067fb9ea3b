//! The ERP side of a change order on the reference adapter over gRPC (SQLite, or PostgreSQL
//! when `KEEL_TEST_DATABASE_URL` is set): a billing milestone moved while planned or reached and
//! never once it is on an invoice; a revenue schedule revised, never below what is recognised.
//! Every move is versioned, replayable under its key, audited and announced.

use std::sync::Arc;

use keel_auth::Role;
use keel_conformance::{Harness, migrated_store};
use keel_erp::ReferenceErp;
use keel_erp::reference::Migrator;
use keel_proto::common::Money;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, CreateBillingMilestoneRequest, CreateDraftInvoiceRequest, CreateLegalEntityRequest,
    CreateProjectCodeRequest, MarkMilestoneReachedRequest, RecognizeRevenueRequest, RevenueMethod,
    ReviseRevenueScheduleRequest, SetRevenueScheduleRequest, UpdateBillingMilestoneRequest,
    create_draft_invoice_request,
};
use keel_store::audit::{self, ChainReport};
use tokio::sync::Notify;
use tonic::transport::Channel;
use tonic::{Code, Status};

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

struct Erp {
    harness: Harness,
    db: sea_orm::DatabaseConnection,
    _store: keel_store::testing::TestStore,
}

impl Erp {
    async fn start() -> Erp {
        let (store, db) = migrated_store::<Migrator>("erp").await;
        let harness = Harness::serve(keel_erp::service::server(Arc::new(ReferenceErp::new(
            db.clone(),
            Arc::new(Notify::new()),
        ))))
        .await;
        let erp = Erp {
            harness,
            db,
            _store: store,
        };
        erp.c()
            .create_legal_entity(erp.harness.service(CreateLegalEntityRequest {
                idempotency_key: "entity".into(),
                code: "KEEL-NL".into(),
                name: "Keel Nederland BV".into(),
                functional_currency: "EUR".into(),
                country: "NL".into(),
            }))
            .await
            .unwrap();
        erp
    }

    fn c(&self) -> ErpServiceClient<Channel> {
        ErpServiceClient::new(self.harness.channel())
    }

    async fn project(&self) -> String {
        self.c()
            .create_project_code(self.harness.service(CreateProjectCodeRequest {
                idempotency_key: format!("pc-{}", uuid::Uuid::now_v7()),
                project_id: uuid::Uuid::now_v7().to_string(),
                name: "Change order project".into(),
                legal_entity: "KEEL-NL".into(),
                currency: "EUR".into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .code
    }

    async fn update(
        &self,
        key: &str,
        id: &str,
        version: i64,
        amount: &str,
        due: &str,
    ) -> Result<BillingMilestone, Status> {
        self.c()
            .update_billing_milestone(self.harness.service(UpdateBillingMilestoneRequest {
                idempotency_key: key.into(),
                milestone_id: id.into(),
                expected_version: version,
                amount: if amount.is_empty() { None } else { eur(amount) },
                due_date: due.into(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn events(&self, event_type: &str) -> usize {
        keel_events::outbox::recent(&self.db, Some(event_type), 1000)
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn a_milestone_moves_while_planned_or_reached_and_never_once_on_an_invoice() {
    let erp = Erp::start().await;
    let project = erp.project().await;
    let milestone = erp
        .c()
        .create_billing_milestone(erp.harness.service(CreateBillingMilestoneRequest {
            idempotency_key: "ms".into(),
            project_code: project.clone(),
            name: "Go-live".into(),
            amount: eur("20000.00"),
            due_date: "2027-03-01".into(),
        }))
        .await
        .unwrap()
        .into_inner();

    let moved = erp.update("co-1", &milestone.id, 1, "22800.01", "").await.unwrap();
    assert_eq!(
        (moved.amount.clone().unwrap().amount.as_str(), moved.version),
        ("22800.01", 2)
    );
    assert_eq!(moved.due_date, "2027-03-01", "kept");
    assert_eq!(
        erp.update("co-1", &milestone.id, 1, "22800.01", "").await.unwrap(),
        moved,
        "a replay"
    );
    let stale = erp.update("co-2", &milestone.id, 1, "1.00", "").await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let later = erp.update("co-3", &milestone.id, 2, "", "2027-04-15").await.unwrap();
    assert_eq!((later.due_date.as_str(), later.version), ("2027-04-15", 3));
    assert_eq!(later.amount.unwrap().amount, "22800.01");

    let nothing = erp.update("co-4", &milestone.id, 3, "", "").await.unwrap_err();
    assert_eq!(nothing.code(), Code::InvalidArgument);
    let zero = erp.update("co-5", &milestone.id, 3, "0.00", "").await.unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
    let dollars = erp
        .c()
        .update_billing_milestone(erp.harness.service(UpdateBillingMilestoneRequest {
            idempotency_key: "co-6".into(),
            milestone_id: milestone.id.clone(),
            expected_version: 3,
            amount: Some(Money {
                amount: "10.00".into(),
                currency: "USD".into(),
            }),
            due_date: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(dollars.code(), Code::InvalidArgument);
    let consultant = erp
        .c()
        .update_billing_milestone(erp.harness.reader(
            Role::Consultant,
            UpdateBillingMilestoneRequest {
                idempotency_key: "co-7".into(),
                milestone_id: milestone.id.clone(),
                expected_version: 3,
                amount: eur("1.00"),
                due_date: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(consultant.code(), Code::PermissionDenied);

    // Reached: still movable. On a draft invoice: refused.
    erp.c()
        .mark_milestone_reached(erp.harness.service(MarkMilestoneReachedRequest {
            idempotency_key: "reached".into(),
            milestone_id: milestone.id.clone(),
            expected_version: 3,
        }))
        .await
        .unwrap();
    let reached = erp.update("co-8", &milestone.id, 4, "21000.00", "").await.unwrap();
    assert_eq!(reached.version, 5);
    erp.c()
        .create_draft_invoice(erp.harness.service(CreateDraftInvoiceRequest {
            idempotency_key: "draft".into(),
            project_code: project.clone(),
            source: Some(create_draft_invoice_request::Source::MilestoneId(milestone.id.clone())),
        }))
        .await
        .unwrap();
    let invoiced = erp.update("co-9", &milestone.id, 5, "1.00", "").await.unwrap_err();
    assert_eq!(invoiced.code(), Code::FailedPrecondition, "{invoiced:?}");

    assert_eq!(erp.events("erp.milestone.updated").await, 3);
    assert!(matches!(
        audit::verify(&erp.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn a_revenue_schedule_is_revised_never_below_what_is_recognised() {
    let erp = Erp::start().await;
    let revise = |project: &str, key: &str, version: i64, amount: &str| ReviseRevenueScheduleRequest {
        idempotency_key: key.into(),
        project_code: project.into(),
        expected_version: version,
        contract_value: eur(amount),
    };
    let project = erp.project().await;
    let missing = erp
        .c()
        .revise_revenue_schedule(erp.harness.service(revise(&project, "r-0", 1, "1.00")))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    erp.c()
        .set_revenue_schedule(erp.harness.service(SetRevenueScheduleRequest {
            idempotency_key: "schedule".into(),
            project_code: project.clone(),
            method: RevenueMethod::FixedFeePercentComplete as i32,
            contract_value: eur("100000.00"),
        }))
        .await
        .unwrap();
    let revised = erp
        .c()
        .revise_revenue_schedule(erp.harness.service(revise(&project, "r-1", 1, "104000.01")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revised.contract_value.unwrap().amount, "104000.01");
    assert_eq!(revised.version, 2);
    assert_eq!(
        revised.method,
        RevenueMethod::FixedFeePercentComplete as i32,
        "the method is kept"
    );
    let stale = erp
        .c()
        .revise_revenue_schedule(erp.harness.service(revise(&project, "r-2", 1, "90000.00")))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let bad = erp
        .c()
        .revise_revenue_schedule(erp.harness.service(revise(&project, "r-3", 0, "-1.00")))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    let recognised = erp
        .c()
        .recognize_revenue(erp.harness.service(RecognizeRevenueRequest {
            idempotency_key: "recognise".into(),
            project_code: project.clone(),
            percent_complete: "50".into(),
            as_of_date: "2026-12-31".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let version = recognised.schedule.unwrap().version;
    let below = erp
        .c()
        .revise_revenue_schedule(erp.harness.service(revise(&project, "r-4", version, "50000.00")))
        .await
        .unwrap_err();
    assert_eq!(below.code(), Code::FailedPrecondition, "{below:?}");
    assert_eq!(erp.events("erp.revenue_schedule.revised").await, 1);
    assert!(matches!(
        audit::verify(&erp.db).await.unwrap(),
        ChainReport::Intact { .. }
    ));
}
