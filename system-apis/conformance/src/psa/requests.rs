//! PSA checks for the records a person raises against a project: expenses and resource
//! requests.

use keel_auth::Role;
use keel_proto::common::{Money, PageRequest};
use keel_proto::psa::{
    ApproveExpenseRequest, CreateAssignmentRequest, CreateResourceRequestRequest, Expense, ExpenseState,
    FillResourceRequestRequest, GetExpenseRequest, GetResourceRequestRequest, ListExpensesRequest,
    ListResourceRequestsRequest, MarkExpensePostedRequest, ProposeCandidateRequest, RecordExpenseRequest,
    RejectExpenseRequest, RequiredLanguage, RequiredSkill, ResourceRequest, ResourceRequestState,
    ResourceRequestTransitionRequest, SubmitExpensesRequest, UpdateExpenseRequest,
};
use tonic::Code;

use super::{Call, Context, Staffed, dec};
use crate::rules::{self, ensure, expect_code, expect_field, expect_stale, ok, refused};

impl Context {
    async fn record_expense(&self, request: RecordExpenseRequest) -> Call<Expense> {
        self.client()
            .record_expense(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn submit_expense(&self, expense: &Expense) -> Call<Expense> {
        self.client()
            .submit_expenses(self.harness.service(SubmitExpensesRequest {
                idempotency_key: rules::key("submit-expense"),
                ids: vec![expense.id.clone()],
            }))
            .await
            .map(|r| r.into_inner().expenses.remove(0))
    }

    async fn approve_expense(&self, expense: &Expense, approver_id: &str) -> Call<Expense> {
        self.client()
            .approve_expense(self.harness.service(ApproveExpenseRequest {
                idempotency_key: rules::key("approve-expense"),
                id: expense.id.clone(),
                approver_id: approver_id.to_string(),
                expected_version: expense.version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn get_expense(&self, id: &str) -> Call<Expense> {
        self.client()
            .get_expense(
                self.harness
                    .reader(Role::Finance, GetExpenseRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn expenses_of(&self, project_id: &str) -> Call<Vec<Expense>> {
        self.client()
            .list_expenses(self.harness.reader(
                Role::Finance,
                ListExpensesRequest {
                    project_id: project_id.to_string(),
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().expenses)
    }

    async fn open_request(&self, staffed: &Staffed, key: &str) -> Call<ResourceRequest> {
        self.client()
            .create_resource_request(self.harness.service(resource_request(key, staffed)))
            .await
            .map(|r| r.into_inner())
    }

    async fn get_request(&self, id: &str) -> Call<ResourceRequest> {
        self.client()
            .get_resource_request(
                self.harness
                    .reader(Role::ResourceManager, GetResourceRequestRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

/// A billable 84.50 EUR train ticket on 3 December 2026.
fn expense(key: &str, staffed: &Staffed) -> RecordExpenseRequest {
    RecordExpenseRequest {
        idempotency_key: key.into(),
        project_id: staffed.project.id.clone(),
        employee_id: staffed.employee_id.clone(),
        date: "2026-12-03".into(),
        category: "travel".into(),
        description: "Train to the client's site".into(),
        amount: eur("84.50"),
        billable: true,
        receipt_document_id: String::new(),
    }
}

/// A consultant wanted for December 2026 with SAP FI/CO at 4 and German at B2.
fn resource_request(key: &str, staffed: &Staffed) -> CreateResourceRequestRequest {
    CreateResourceRequestRequest {
        idempotency_key: key.into(),
        project_id: staffed.project.id.clone(),
        role: super::CONSULTANT.into(),
        bill_role: String::new(),
        start_date: "2026-12-01".into(),
        end_date: "2026-12-31".into(),
        allocation_percent: "80".into(),
        skills: vec![RequiredSkill {
            name: "sap-fico".into(),
            min_proficiency: 4,
        }],
        certifications: vec!["sap-s4-finance".into()],
        languages: vec![RequiredLanguage {
            code: "de".into(),
            min_level: "b2".into(),
        }],
        region: "emea".into(),
        location: String::new(),
        requested_by: staffed.employee_id.clone(),
        notes: "Finance stream lead".into(),
    }
}

fn expense_state(expense: &Expense) -> ExpenseState {
    ExpenseState::try_from(expense.state).unwrap_or(ExpenseState::Unspecified)
}

fn request_state(request: &ResourceRequest) -> ResourceRequestState {
    ResourceRequestState::try_from(request.state).unwrap_or(ResourceRequestState::Unspecified)
}

/// Record → submit → approve → posted, exact amounts; self-approval refused; a rejected
/// expense edits back to DRAFT; a submitted one is locked; a replay returns the first.
pub(super) async fn expense_lifecycle(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("expense");
    let recorded = rules::replay_returns_first(|| c.record_expense(expense(&key, &staffed)), "RecordExpense").await?;
    ensure(
        expense_state(&recorded) == ExpenseState::Draft
            && recorded.assignment_id == staffed.assignment.id
            && recorded.amount.as_ref().map(|m| (dec(&m.amount), m.currency.as_str())) == Some((845_000, "EUR")),
        || format!("a recorded expense is DRAFT on the assignment, 84.50 EUR: {recorded:?}"),
    )?;
    let listed = ok(c.expenses_of(&staffed.project.id).await, "ListExpenses")?;
    ensure(listed.len() == 1, || {
        format!("a replayed RecordExpense made {} expenses", listed.len())
    })?;
    let submitted = ok(c.submit_expense(&recorded).await, "SubmitExpenses")?;
    let status = refused(
        c.client()
            .update_expense(c.harness.service(UpdateExpenseRequest {
                idempotency_key: rules::key("edit-submitted"),
                id: submitted.id.clone(),
                expected_version: submitted.version,
                date: submitted.date.clone(),
                category: "meals".into(),
                description: submitted.description.clone(),
                amount: eur("10"),
                billable: false,
                receipt_document_id: String::new(),
            }))
            .await,
        "UpdateExpense of a submitted expense",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "UpdateExpense of a submitted expense",
    )?;
    let status = refused(
        c.approve_expense(&submitted, &staffed.employee_id).await,
        "ApproveExpense by the expense's own person",
    )?;
    expect_code(&status, Code::FailedPrecondition, "self-approval of an expense")?;
    let unchanged = ok(c.get_expense(&submitted.id).await, "GetExpense")?;
    ensure(unchanged == submitted, || {
        format!("a refused self-approval changed the expense: {unchanged:?}")
    })?;
    let approver = uuid::Uuid::now_v7().to_string();
    let approved = ok(c.approve_expense(&submitted, &approver).await, "ApproveExpense")?;
    ensure(
        expense_state(&approved) == ExpenseState::Approved && approved.approver_id == approver,
        || format!("an approved expense records its approver: {approved:?}"),
    )?;
    let posted = ok(
        c.client()
            .mark_expense_posted(c.harness.service(MarkExpensePostedRequest {
                idempotency_key: rules::key("post-expense"),
                id: approved.id.clone(),
                journal_reference: "JE-2026-000456".into(),
                expected_version: approved.version,
            }))
            .await,
        "MarkExpensePosted",
    )?
    .into_inner();
    ensure(
        expense_state(&posted) == ExpenseState::Posted && posted.journal_reference == "JE-2026-000456",
        || format!("a posted expense carries its journal: {posted:?}"),
    )?;

    // A rejected expense goes back to the person with the reason, and an edit makes it DRAFT.
    let second = ok(
        c.record_expense(expense(&rules::key("expense"), &staffed)).await,
        "RecordExpense",
    )?;
    let submitted = ok(c.submit_expense(&second).await, "SubmitExpenses")?;
    let rejected = ok(
        c.client()
            .reject_expense(c.harness.service(RejectExpenseRequest {
                idempotency_key: rules::key("reject-expense"),
                id: submitted.id.clone(),
                approver_id: approver.clone(),
                reason: "No receipt attached".into(),
                expected_version: submitted.version,
            }))
            .await,
        "RejectExpense",
    )?
    .into_inner();
    ensure(
        expense_state(&rejected) == ExpenseState::Rejected && rejected.rejection_reason == "No receipt attached",
        || format!("a rejected expense carries its reason: {rejected:?}"),
    )?;
    let receipt = uuid::Uuid::now_v7().to_string();
    let edited = ok(
        c.client()
            .update_expense(c.harness.service(UpdateExpenseRequest {
                idempotency_key: rules::key("edit-rejected"),
                id: rejected.id.clone(),
                expected_version: rejected.version,
                date: rejected.date.clone(),
                category: rejected.category.clone(),
                description: rejected.description.clone(),
                amount: eur("84.50"),
                billable: true,
                receipt_document_id: receipt.clone(),
            }))
            .await,
        "UpdateExpense of a rejected expense",
    )?
    .into_inner();
    ensure(
        expense_state(&edited) == ExpenseState::Draft
            && edited.receipt_document_id == receipt
            && edited.rejection_reason.is_empty(),
        || format!("an edited rejected expense is DRAFT with its receipt: {edited:?}"),
    )?;
    let status = refused(
        c.client()
            .update_expense(c.harness.service(UpdateExpenseRequest {
                idempotency_key: rules::key("edit-stale"),
                id: rejected.id.clone(),
                expected_version: rejected.version,
                date: rejected.date.clone(),
                category: rejected.category.clone(),
                description: rejected.description.clone(),
                amount: eur("1"),
                billable: true,
                receipt_document_id: String::new(),
            }))
            .await,
        "UpdateExpense at an old version",
    )?;
    expect_stale(&status, "expense")
}

/// Bad expense input names the field and records nothing; an expense outside the person's
/// assignment is FAILED_PRECONDITION.
pub(super) async fn expense_bad_input(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    type Change = fn(&mut RecordExpenseRequest);
    let table: &[(Change, &str)] = &[
        (|r| r.category = "yacht".into(), "category"),
        (|r| r.amount = eur("0"), "amount.amount"),
        (|r| r.amount = eur("12.345"), "amount.amount"),
        (|r| r.description.clear(), "description"),
        (|r| r.date = "2026-12-32".into(), "date"),
    ];
    for (change, field) in table {
        let mut request = expense(&rules::key("bad-expense"), &staffed);
        change(&mut request);
        let status = refused(c.record_expense(request).await, "RecordExpense with bad input")?;
        expect_field(&status, field)?;
    }
    let mut outside = expense(&rules::key("outside"), &staffed);
    outside.date = "2027-01-15".into();
    let status = refused(c.record_expense(outside).await, "RecordExpense outside the assignment")?;
    expect_code(&status, Code::FailedPrecondition, "an expense outside the assignment")?;
    let stored = ok(c.expenses_of(&staffed.project.id).await, "ListExpenses")?;
    ensure(stored.is_empty(), || {
        format!("refused expenses were recorded: {stored:?}")
    })
}

/// Open → propose → fill with the proposed person's assignment; a wrong assignment, a stale
/// version and a cancelled request's fill are refused; lists filter by state.
pub(super) async fn resource_request_lifecycle(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("request");
    let opened = rules::replay_returns_first(|| c.open_request(&staffed, &key), "CreateResourceRequest").await?;
    ensure(
        request_state(&opened) == ResourceRequestState::Open
            && opened.skills.len() == 1
            && opened.skills[0].min_proficiency == 4
            && opened.languages.len() == 1
            && opened.certifications == ["sap-s4-finance"]
            && opened.bill_role == super::CONSULTANT
            && opened.version == 1,
        || format!("an opened request keeps its requirements: {opened:?}"),
    )?;
    let candidate = uuid::Uuid::now_v7().to_string();
    let proposed = ok(
        c.client()
            .propose_candidate(c.harness.service(ProposeCandidateRequest {
                idempotency_key: rules::key("propose"),
                id: opened.id.clone(),
                employee_id: candidate.clone(),
                expected_version: opened.version,
            }))
            .await,
        "ProposeCandidate",
    )?
    .into_inner();
    ensure(
        request_state(&proposed) == ResourceRequestState::Proposed && proposed.proposed_employee_id == candidate,
        || format!("a proposal names the candidate: {proposed:?}"),
    )?;
    let status = refused(
        c.client()
            .propose_candidate(c.harness.service(ProposeCandidateRequest {
                idempotency_key: rules::key("propose-stale"),
                id: opened.id.clone(),
                employee_id: candidate.clone(),
                expected_version: opened.version,
            }))
            .await,
        "ProposeCandidate at an old version",
    )?;
    expect_stale(&status, "resource request")?;

    // The existing assignment is someone else's: it cannot fill the request.
    let fill = |assignment_id: &str, version: i64| FillResourceRequestRequest {
        idempotency_key: rules::key("fill"),
        id: opened.id.clone(),
        assignment_id: assignment_id.to_string(),
        expected_version: version,
    };
    let status = refused(
        c.client()
            .fill_resource_request(c.harness.service(fill(&staffed.assignment.id, proposed.version)))
            .await,
        "FillResourceRequest with another person's assignment",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "a fill with another person's assignment",
    )?;
    let assignment = ok(
        c.client()
            .create_assignment(c.harness.service(CreateAssignmentRequest {
                idempotency_key: rules::key("assign-candidate"),
                project_id: staffed.project.id.clone(),
                employee_id: candidate.clone(),
                person_name: "Grace Hopper".into(),
                role: super::CONSULTANT.into(),
                bill_role: String::new(),
                start_date: "2026-12-01".into(),
                end_date: "2026-12-31".into(),
                allocation_percent: "80".into(),
            }))
            .await,
        "CreateAssignment for the candidate",
    )?
    .into_inner();
    let filled = ok(
        c.client()
            .fill_resource_request(c.harness.service(fill(&assignment.id, proposed.version)))
            .await,
        "FillResourceRequest",
    )?
    .into_inner();
    ensure(
        request_state(&filled) == ResourceRequestState::Filled && filled.assignment_id == assignment.id,
        || format!("a filled request names its assignment: {filled:?}"),
    )?;
    let status = refused(
        c.client()
            .cancel_resource_request(c.harness.service(ResourceRequestTransitionRequest {
                idempotency_key: rules::key("cancel-filled"),
                id: filled.id.clone(),
                expected_version: filled.version,
                reason: "Budget cut".into(),
            }))
            .await,
        "CancelResourceRequest of a filled request",
    )?;
    expect_code(&status, Code::FailedPrecondition, "cancelling a filled request")?;

    // A second request, cancelled; the open list no longer holds either.
    let second = ok(
        c.open_request(&staffed, &rules::key("request")).await,
        "CreateResourceRequest",
    )?;
    let cancelled = ok(
        c.client()
            .cancel_resource_request(c.harness.service(ResourceRequestTransitionRequest {
                idempotency_key: rules::key("cancel"),
                id: second.id.clone(),
                expected_version: second.version,
                reason: "Scope moved to phase two".into(),
            }))
            .await,
        "CancelResourceRequest",
    )?
    .into_inner();
    ensure(
        request_state(&cancelled) == ResourceRequestState::Cancelled && cancelled.reason == "Scope moved to phase two",
        || format!("a cancelled request carries its reason: {cancelled:?}"),
    )?;
    let stored = ok(c.get_request(&filled.id).await, "GetResourceRequest")?;
    ensure(stored == filled, || format!("GetResourceRequest answered {stored:?}"))?;
    let list = |state: ResourceRequestState| {
        let mut client = c.client();
        let request = c.harness.reader(
            Role::ResourceManager,
            ListResourceRequestsRequest {
                project_id: staffed.project.id.clone(),
                state: state as i32,
                page: None,
            },
        );
        async move { client.list_resource_requests(request).await.map(|r| r.into_inner()) }
    };
    let open = ok(list(ResourceRequestState::Open).await, "ListResourceRequests OPEN")?;
    let all = ok(list(ResourceRequestState::Unspecified).await, "ListResourceRequests")?;
    ensure(
        open.resource_requests.is_empty() && all.resource_requests.len() == 2,
        || {
            format!(
                "one filled and one cancelled request: {} open, {} in all",
                open.resource_requests.len(),
                all.resource_requests.len()
            )
        },
    )
}

/// Bad resource request input names each field and opens nothing.
pub(super) async fn resource_request_bad_input(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    type Change = fn(&mut CreateResourceRequestRequest);
    let table: &[(Change, &str)] = &[
        (|r| r.role.clear(), "role"),
        (|r| r.end_date = "2026-11-30".into(), "end_date"),
        (|r| r.allocation_percent = "0".into(), "allocation_percent"),
        (|r| r.skills[0].min_proficiency = 0, "skills[0].min_proficiency"),
        (|r| r.languages[0].min_level = "fluent".into(), "languages[0].min_level"),
        (|r| r.region = "mars".into(), "region"),
        (|r| r.requested_by = "me".into(), "requested_by"),
    ];
    for (change, field) in table {
        let mut request = resource_request(&rules::key("bad-request"), &staffed);
        change(&mut request);
        let status = refused(
            c.client().create_resource_request(c.harness.service(request)).await,
            "CreateResourceRequest with bad input",
        )?;
        expect_field(&status, field)?;
    }
    let listed = ok(
        c.client()
            .list_resource_requests(c.harness.reader(
                Role::ResourceManager,
                ListResourceRequestsRequest {
                    project_id: staffed.project.id.clone(),
                    ..Default::default()
                },
            ))
            .await,
        "ListResourceRequests",
    )?
    .into_inner();
    ensure(listed.resource_requests.is_empty(), || {
        format!("refused requests were opened: {:?}", listed.resource_requests)
    })
}
