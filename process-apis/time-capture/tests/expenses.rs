//! Approved expenses posted to ERP exactly once, over the real PSA, HRIS and ERP reference
//! adapters on loopback gRPC, started by PSA's own approval event.

mod support;

use keel_events::outbox;
use keel_proto::common::Money;
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveExpenseRequest, ExpenseState, GetExpenseRequest, RecordExpenseRequest, SubmitExpensesRequest,
};
use keel_time_capture::ExpenseApprovedConsumer;
use keel_time_capture::consumer::{EXPENSE_APPROVED, Outcome};
use keel_workflow::Status;
use support::{Platform, count, settle};

#[tokio::test]
async fn an_approved_expense_posts_once_to_erp_and_psa_records_the_journal() {
    let platform = Platform::start().await;
    let mut psa = PsaServiceClient::new(platform.psa.harness.channel());
    let service = |m| platform.psa.harness.service(m);
    let recorded = psa
        .record_expense(service(RecordExpenseRequest {
            idempotency_key: "expense-1".into(),
            project_id: platform.staffed.project.id.clone(),
            employee_id: platform.staffed.employee_id.clone(),
            date: "2026-12-03".into(),
            category: "travel".into(),
            description: "Train to the client's site".into(),
            amount: Some(Money {
                amount: "84.50".into(),
                currency: "EUR".into(),
            }),
            billable: true,
            receipt_document_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let submitted = psa
        .submit_expenses(platform.psa.harness.service(SubmitExpensesRequest {
            idempotency_key: "submit-1".into(),
            ids: vec![recorded.id.clone()],
        }))
        .await
        .unwrap()
        .into_inner()
        .expenses
        .remove(0);
    psa.approve_expense(platform.psa.harness.service(ApproveExpenseRequest {
        idempotency_key: "approve-1".into(),
        id: submitted.id.clone(),
        approver_id: uuid::Uuid::now_v7().to_string(),
        expected_version: submitted.version,
    }))
    .await
    .unwrap();

    // PSA's approval event, as the bus would deliver it.
    let event = outbox::recent(&platform.psa_db, Some(EXPENSE_APPROVED), 10)
        .await
        .unwrap()
        .iter()
        .map(|e| outbox::to_envelope(e).unwrap())
        .find(|e| e.aggregate_id == recorded.id)
        .expect("the approval event");
    let engine = platform.engine("worker-a");
    let consumer = ExpenseApprovedConsumer::new(engine.clone());
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Started);
    assert_eq!(consumer.apply(&event).await.unwrap(), Outcome::Duplicate);
    settle(&engine).await;
    assert_eq!(count(&engine, Status::Done).await, 1);

    let journals = platform.journals().await;
    let source = format!("expense:{}", recorded.id);
    let mine: Vec<_> = journals.iter().filter(|j| j.source == source).collect();
    assert_eq!(mine.len(), 1, "one journal for the expense: {journals:?}");
    let cost = mine[0]
        .lines
        .iter()
        .find(|l| l.debit.is_some() && l.legal_entity == platform.legal_entity)
        .expect("the cost booked by the person's entity");
    assert_eq!(cost.debit.as_ref().unwrap().amount, "84.50");
    let posted = psa
        .get_expense(platform.psa.harness.service(GetExpenseRequest {
            id: recorded.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(posted.state, ExpenseState::Posted as i32);
    assert_eq!(posted.journal_reference, mine[0].id);

    // The same event delivered under another id (a replayed stream) posts nothing again.
    let mut again = event.clone();
    again.id = uuid::Uuid::now_v7();
    assert_eq!(consumer.apply(&again).await.unwrap(), Outcome::AlreadyPosted);
    settle(&engine).await;
    let journals = platform.journals().await;
    assert_eq!(journals.iter().filter(|j| j.source == source).count(), 1);
}
