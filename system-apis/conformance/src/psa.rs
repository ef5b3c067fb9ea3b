//! The PSA kit: projects, rate cards, assignments, time entries, expenses, resource requests,
//! change requests and actuals through `keel.psa.v1.PsaService`, gRPC only.

use std::sync::Arc;

use keel_auth::Role;
use keel_proto::common::{Money, PageRequest};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveTimeEntryRequest, Assignment, ChangeRequest, ChangeRequestState, ChangeRequestTransitionRequest,
    CreateAssignmentRequest, CreateChangeRequestRequest, CreateProjectRequest, DeliveryTemplate,
    GetChangeRequestRequest, GetProjectActualsRequest, GetProjectRequest, GetTimeEntryRequest, ListTimeEntriesRequest,
    MarkTimeEntryPostedRequest, Project, ProjectStatus, RecordTimeEntryRequest, RejectTimeEntryRequest, RoleRate,
    SetProjectRateCardRequest, SubmitTimeEntriesRequest, TemplateMilestone, TemplatePhase, TemplateTask, TimeEntry,
    TimeEntryState, UpdateProjectStatusRequest, UpdateTimeEntryRequest, UpsertDeliveryTemplateRequest,
};
use keel_psa::PsaAdapter;
use tonic::transport::Channel;
use tonic::{Code, Status};

mod batches;
mod requests;

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// The template every check's project is planned from.
const TEMPLATE_ID: &str = "conformance-erp";
/// The roles of that template, and their rates on the kit's rate card.
const ARCHITECT: &str = "solution-architect";
const CONSULTANT: &str = "consultant";

/// What every PSA check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

/// A project with a rate card and one person assigned to it.
#[derive(Debug, Clone)]
pub struct Staffed {
    pub project: Project,
    pub employee_id: String,
    pub assignment: Assignment,
}

type Call<T> = Result<T, Status>;

impl Context {
    pub async fn new(adapter: Arc<dyn PsaAdapter>) -> Context {
        let service = keel_psa::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> PsaServiceClient<Channel> {
        PsaServiceClient::new(self.harness.channel())
    }

    /// A project planned from the kit's template for 100000.00 EUR, rate card set
    /// (architect 185.00, consultant 100.01), status ACTIVE, one architect assigned for
    /// December 2026.
    pub async fn staffed(&self) -> Result<Staffed, String> {
        let mut client = self.client();
        ok(
            client
                .upsert_delivery_template(self.harness.service(UpsertDeliveryTemplateRequest {
                    idempotency_key: rules::key("template"),
                    template: Some(template()),
                }))
                .await,
            "UpsertDeliveryTemplate",
        )?;
        let project = ok(
            client
                .create_project(self.harness.service(new_project(&rules::key("project"), "100000.00")))
                .await,
            "CreateProject",
        )?
        .into_inner();
        ensure(project.version == 1, || {
            format!("a new project has version {}, not 1", project.version)
        })?;
        let card = ok(
            client
                .set_project_rate_card(self.harness.service(rate_card(&project.id, 0, "185.00", "100.01")))
                .await,
            "SetProjectRateCard",
        )?
        .into_inner();
        ensure(card.version == 1, || {
            format!("a new rate card has version {}, not 1", card.version)
        })?;
        let project = ok(
            client
                .update_project_status(self.harness.service(UpdateProjectStatusRequest {
                    idempotency_key: rules::key("activate"),
                    project_id: project.id.clone(),
                    status: ProjectStatus::Active as i32,
                    expected_version: project.version,
                }))
                .await,
            "UpdateProjectStatus to ACTIVE",
        )?
        .into_inner();
        let employee_id = uuid::Uuid::now_v7().to_string();
        let assignment = ok(
            client
                .create_assignment(self.harness.service(assignment(&project.id, &employee_id, ARCHITECT)))
                .await,
            "CreateAssignment",
        )?
        .into_inner();
        Ok(Staffed {
            project,
            employee_id,
            assignment,
        })
    }

    async fn record(&self, request: RecordTimeEntryRequest) -> Call<TimeEntry> {
        self.client()
            .record_time_entry(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn submit(&self, ids: &[&str]) -> Call<Vec<TimeEntry>> {
        self.client()
            .submit_time_entries(self.harness.service(SubmitTimeEntriesRequest {
                idempotency_key: rules::key("submit"),
                ids: ids.iter().map(|id| id.to_string()).collect(),
            }))
            .await
            .map(|r| r.into_inner().entries)
    }

    async fn approve(&self, entry: &TimeEntry, approver_id: &str) -> Call<TimeEntry> {
        self.client()
            .approve_time_entry(self.harness.service(ApproveTimeEntryRequest {
                idempotency_key: rules::key("approve"),
                id: entry.id.clone(),
                approver_id: approver_id.to_string(),
                expected_version: entry.version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn post(&self, entry: &TimeEntry) -> Call<TimeEntry> {
        self.client()
            .mark_time_entry_posted(self.harness.service(MarkTimeEntryPostedRequest {
                idempotency_key: rules::key("post"),
                id: entry.id.clone(),
                journal_reference: "JE-2026-000123".into(),
                expected_version: entry.version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn get_entry(&self, id: &str) -> Call<TimeEntry> {
        self.client()
            .get_time_entry(
                self.harness
                    .reader(Role::ProjectManager, GetTimeEntryRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn entries_of(&self, employee_id: &str) -> Call<Vec<TimeEntry>> {
        self.client()
            .list_time_entries(self.harness.reader(
                Role::Finance,
                ListTimeEntriesRequest {
                    employee_id: employee_id.to_string(),
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().entries)
    }

    async fn project(&self, id: &str) -> Call<Project> {
        self.client()
            .get_project(self.harness.reader(
                Role::Executive,
                GetProjectRequest {
                    id: id.to_string(),
                    opportunity_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn change_request_step(&self, step: &str, request: &ChangeRequest, reason: &str) -> Call<ChangeRequest> {
        let message = ChangeRequestTransitionRequest {
            idempotency_key: rules::key(step),
            id: request.id.clone(),
            expected_version: request.version,
            reason: reason.to_string(),
        };
        let mut client = self.client();
        let request = self.harness.service(message);
        let answer = match step {
            "submit" => client.submit_change_request(request).await,
            "approve" => client.approve_change_request(request).await,
            "reject" => client.reject_change_request(request).await,
            _ => client.apply_change_request(request).await,
        };
        answer.map(|r| r.into_inner())
    }
}

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

fn template() -> DeliveryTemplate {
    let task = |name: &str, role: &str, hours: &str| TemplateTask {
        name: name.into(),
        role: role.into(),
        hours: hours.into(),
    };
    DeliveryTemplate {
        id: TEMPLATE_ID.into(),
        name: "Conformance ERP rollout".into(),
        version: 0,
        service_line: String::new(),
        contract_type: String::new(),
        region: String::new(),
        client_tier: String::new(),
        phases: vec![
            TemplatePhase {
                name: "Design".into(),
                tasks: vec![task("Blueprint", ARCHITECT, "100")],
            },
            TemplatePhase {
                name: "Build".into(),
                tasks: vec![task("Configure", CONSULTANT, "300")],
            },
        ],
        milestones: vec![
            TemplateMilestone {
                name: "Kickoff".into(),
                percent_of_fee: "30".into(),
                due_after_days: 0,
            },
            TemplateMilestone {
                name: "Go-live".into(),
                percent_of_fee: "70".into(),
                due_after_days: 90,
            },
        ],
    }
}

fn new_project(key: &str, amount: &str) -> CreateProjectRequest {
    CreateProjectRequest {
        idempotency_key: key.into(),
        opportunity_id: uuid::Uuid::now_v7().to_string(),
        account_id: uuid::Uuid::now_v7().to_string(),
        name: "Conformance rollout".into(),
        template_id: TEMPLATE_ID.into(),
        service_line: "erp-deployment".into(),
        contract_type: "fixed-fee".into(),
        region: "emea".into(),
        client_tier: "enterprise".into(),
        contract_value: money(amount),
        start_date: "2026-12-01".into(),
    }
}

fn rate_card(project_id: &str, expected_version: i64, architect: &str, consultant: &str) -> SetProjectRateCardRequest {
    SetProjectRateCardRequest {
        idempotency_key: rules::key("rates"),
        project_id: project_id.into(),
        rates: vec![
            RoleRate {
                role: ARCHITECT.into(),
                bill_rate: money(architect),
            },
            RoleRate {
                role: CONSULTANT.into(),
                bill_rate: money(consultant),
            },
        ],
        expected_version,
    }
}

fn assignment(project_id: &str, employee_id: &str, role: &str) -> CreateAssignmentRequest {
    CreateAssignmentRequest {
        idempotency_key: rules::key("assign"),
        project_id: project_id.into(),
        employee_id: employee_id.into(),
        person_name: "Ada Lovelace".into(),
        role: role.into(),
        bill_role: String::new(),
        start_date: "2026-12-01".into(),
        end_date: "2026-12-31".into(),
        allocation_percent: "50".into(),
    }
}

/// A billable entry of `hours` on 3 December 2026.
pub fn time_entry(key: &str, staffed: &Staffed, hours: &str) -> RecordTimeEntryRequest {
    RecordTimeEntryRequest {
        idempotency_key: key.into(),
        project_id: staffed.project.id.clone(),
        employee_id: staffed.employee_id.clone(),
        task: "Blueprint".into(),
        date: "2026-12-03".into(),
        hours: hours.into(),
        narrative: "Chart of accounts workshop".into(),
        billable: true,
    }
}

/// A decimal string in ten-thousandths, so amounts compare and add exactly whatever their
/// formatting ("1387.5" and "1387.50" are equal); `i128::MIN` when it is not a decimal with
/// at most 4 places.
fn dec(text: &str) -> i128 {
    const SCALE: usize = 4;
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    let valid = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
        && fraction.len() <= SCALE;
    if !valid {
        return i128::MIN;
    }
    let padded = format!("{whole}{fraction:0<SCALE$}");
    match padded.parse::<i128>() {
        Ok(value) if negative => -value,
        Ok(value) => value,
        Err(_) => i128::MIN,
    }
}

fn amount(money: &Option<Money>) -> i128 {
    money.as_ref().map_or(i128::MIN, |m| dec(&m.amount))
}

fn state_of(entry: &TimeEntry) -> TimeEntryState {
    TimeEntryState::try_from(entry.state).unwrap_or(TimeEntryState::Unspecified)
}

/// Every PSA check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("psa")
        .check("a replayed RecordTimeEntry returns the first entry", |c| {
            Box::pin(replay(c))
        })
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent records with one key make one entry", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("a stale update is ABORTED naming the record", |c| Box::pin(stale(c)))
        .check("time entries page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
        .check(
            "time entries filter by work date, both ends inclusive; a bad date names its field",
            |c| Box::pin(by_work_date(c)),
        )
        .check("the rate card prices recorded time: hours x rate, exact", |c| {
            Box::pin(rate_applied(c))
        })
        .check("time needs the person's assignment covering its date", |c| {
            Box::pin(needs_assignment(c))
        })
        .check(
            "time entry transitions are enforced; the first submission time is kept",
            |c| Box::pin(transitions(c)),
        )
        .check("self-approval is refused and changes nothing", |c| {
            Box::pin(self_approval(c))
        })
        .check("an approved entry is locked until re-approval", |c| Box::pin(locked(c)))
        .check(
            "a timesheet is recorded whole or not at all, priced as single entries are",
            |c| Box::pin(batches::timesheet(c)),
        )
        .check("a bad batch names the entry and its field and changes nothing", |c| {
            Box::pin(batches::bad_batches(c))
        })
        .check("approvals and postings of many entries move all of them or none", |c| {
            Box::pin(batches::approve_and_post_batches(c))
        })
        .check("an applied change request moves baseline and milestones exactly", |c| {
            Box::pin(change_request(c))
        })
        .check("project status moves, and a closed project stays closed", |c| {
            Box::pin(project_status(c))
        })
        .check("actuals count approved and posted time by role", |c| {
            Box::pin(actuals(c))
        })
        .check(
            "expenses move draft to posted; self-approval refused; rejected ones edit back",
            |c| Box::pin(requests::expense_lifecycle(c)),
        )
        .check("bad expense input names the field and records nothing", |c| {
            Box::pin(requests::expense_bad_input(c))
        })
        .check(
            "resource requests open, propose, fill with the proposed person, cancel",
            |c| Box::pin(requests::resource_request_lifecycle(c)),
        )
        .check("bad resource request input names the field and opens nothing", |c| {
            Box::pin(requests::resource_request_bad_input(c))
        })
}

/// Runs the PSA kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn PsaAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("time");
    let first = rules::replay_returns_first(|| c.record(time_entry(&key, &staffed, "8")), "RecordTimeEntry").await?;
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.len() == 1 && stored[0].id == first.id, || {
        format!(
            "after a replay the person has {} entries, not the one first recorded",
            stored.len()
        )
    })
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("time");
    ok(c.record(time_entry(&key, &staffed, "8")).await, "RecordTimeEntry")?;
    let status = refused(
        c.record(time_entry(&key, &staffed, "6")).await,
        "RecordTimeEntry with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let key = rules::key("time");
    let requests: Vec<_> = (0..6)
        .map(|_| c.harness.service(time_entry(&key, &staffed, "4")))
        .collect();
    let requests = std::sync::Mutex::new(requests);
    let client = c.client();
    rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.record_time_entry(request).await.map(|r| r.into_inner().id) }
        },
        "RecordTimeEntry",
    )
    .await?;
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.len() == 1, || {
        format!("6 concurrent calls with one key made {} entries", stored.len())
    })
}

async fn bad_input(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    type Edit = fn(&mut RecordTimeEntryRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.hours = "0".into(), "hours"),
        (|r| r.hours = "24.5".into(), "hours"),
        (|r| r.hours = "7.125".into(), "hours"),
        (|r| r.hours = "eight".into(), "hours"),
        (|r| r.date = "2026-02-30".into(), "date"),
        (|r| r.project_id = "not-a-uuid".into(), "project_id"),
        (|r| r.employee_id.clear(), "employee_id"),
        (|r| r.narrative = " ".into(), "narrative"),
    ];
    for (edit, field) in table {
        let mut request = time_entry(&rules::key("bad"), &staffed, "8");
        edit(&mut request);
        let status = refused(c.record(request).await, &format!("RecordTimeEntry with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    let mut client = c.client();
    let mut bad = assignment(&staffed.project.id, &staffed.employee_id, ARCHITECT);
    bad.allocation_percent = "150".into();
    let status = refused(
        client.create_assignment(c.harness.service(bad)).await,
        "CreateAssignment at 150%",
    )?;
    expect_field(&status, "allocation_percent")?;
    let status = refused(
        client
            .set_project_rate_card(c.harness.service(rate_card(&staffed.project.id, 1, "-5", "100")))
            .await,
        "SetProjectRateCard with a negative rate",
    )?;
    expect_field(&status, "rates[0].bill_rate.amount")?;
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.is_empty(), || {
        format!("refused requests wrote {} entries", stored.len())
    })
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refused(c.get_entry(&missing).await, "GetTimeEntry of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetTimeEntry of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })?;
    let status = refused(
        c.client()
            .get_change_request(
                c.harness
                    .reader(Role::Executive, GetChangeRequestRequest { id: missing.clone() }),
            )
            .await,
        "GetChangeRequest of an unknown id",
    )?;
    expect_code(&status, Code::NotFound, "GetChangeRequest of an unknown id")?;
    let staffed = c.staffed().await?;
    let mut request = time_entry(&rules::key("time"), &staffed, "8");
    request.project_id = missing;
    let status = refused(c.record(request).await, "RecordTimeEntry on an unknown project")?;
    expect_code(&status, Code::NotFound, "RecordTimeEntry on an unknown project")
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    for role in [Role::Consultant, Role::ProjectManager, Role::Finance] {
        let what = format!("RecordTimeEntry as {role}");
        let status = refused(
            c.client()
                .record_time_entry(c.harness.reader(role, time_entry(&rules::key("reader"), &staffed, "8")))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
        let what = format!("SetProjectRateCard as {role}");
        let status = refused(
            c.client()
                .set_project_rate_card(c.harness.reader(role, rate_card(&staffed.project.id, 1, "1", "1")))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
    }
    let stored = ok(c.entries_of(&staffed.employee_id).await, "ListTimeEntries")?;
    ensure(stored.is_empty(), || {
        "a reader's refused call wrote an entry".to_string()
    })
}

async fn stale(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let entry = ok(
        c.record(time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry",
    )?;
    ensure(entry.version == 1, || {
        format!("a new entry has version {}, not 1", entry.version)
    })?;
    let mut client = c.client();
    let edit = |expected_version: i64, hours: &str| UpdateTimeEntryRequest {
        idempotency_key: rules::key("edit"),
        id: entry.id.clone(),
        expected_version,
        task: entry.task.clone(),
        date: entry.date.clone(),
        hours: hours.into(),
        narrative: entry.narrative.clone(),
        billable: true,
        request_reapproval: false,
    };
    let edited = ok(
        client.update_time_entry(c.harness.service(edit(1, "6"))).await,
        "UpdateTimeEntry at the current version",
    )?
    .into_inner();
    ensure(edited.version == 2 && edited.hours == "6", || {
        format!("an edit gave version {} and hours {}", edited.version, edited.hours)
    })?;
    let status = refused(
        client.update_time_entry(c.harness.service(edit(1, "5"))).await,
        "UpdateTimeEntry at a stale version",
    )?;
    rules::expect_stale(&status, "time entry")?;
    let status = refused(
        client
            .update_project_status(c.harness.service(UpdateProjectStatusRequest {
                idempotency_key: rules::key("status"),
                project_id: staffed.project.id.clone(),
                status: ProjectStatus::OnHold as i32,
                expected_version: staffed.project.version + 5,
            }))
            .await,
        "UpdateProjectStatus at a stale version",
    )?;
    rules::expect_stale(&status, "project")?;
    let status = refused(
        client
            .set_project_rate_card(c.harness.service(rate_card(&staffed.project.id, 0, "1", "1")))
            .await,
        "SetProjectRateCard as if the project had none",
    )?;
    rules::expect_stale(&status, "rate card")?;
    let stored = ok(c.get_entry(&entry.id).await, "GetTimeEntry")?;
    ensure(stored.hours == "6" && stored.version == 2, || {
        format!("a stale edit changed the entry: {stored:?}")
    })
}

async fn paging(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let mut seeded = Vec::new();
    for _ in 0..(rules::MAX_PAGE_SIZE + 5) {
        seeded.push(
            ok(
                c.record(time_entry(&rules::key("page"), &staffed, "0.25")).await,
                "RecordTimeEntry",
            )?
            .id,
        );
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListTimeEntriesRequest {
                    project_id: staffed.project.id.clone(),
                    page: Some(PageRequest { page_size, page_token }),
                    ..Default::default()
                },
            );
            async move {
                let page = client.list_time_entries(request).await?.into_inner();
                Ok((
                    page.entries.into_iter().map(|e| e.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}

async fn by_work_date(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let mut recorded = Vec::new();
    for date in ["2026-12-02", "2026-12-03", "2026-12-04"] {
        let mut request = time_entry(&rules::key("dated"), &staffed, "1");
        request.date = date.into();
        recorded.push(ok(c.record(request).await, "RecordTimeEntry")?.id);
    }
    let list = |date_from: &str, date_to: &str| {
        let request = c.harness.reader(
            Role::Finance,
            ListTimeEntriesRequest {
                employee_id: staffed.employee_id.clone(),
                date_from: date_from.into(),
                date_to: date_to.into(),
                ..Default::default()
            },
        );
        let mut client = c.client();
        async move { client.list_time_entries(request).await.map(|r| r.into_inner().entries) }
    };
    for (from, to, want) in [
        ("2026-12-03", "2026-12-04", &recorded[1..]),
        ("2026-12-03", "2026-12-03", &recorded[1..2]),
        ("", "2026-12-02", &recorded[..1]),
        ("2026-12-03", "", &recorded[1..]),
        ("2026-12-05", "2026-12-31", &recorded[..0]),
    ] {
        let listed: Vec<String> = ok(list(from, to).await, "ListTimeEntries by date")?
            .into_iter()
            .map(|e| e.id)
            .collect();
        ensure(listed == want, || {
            format!("ListTimeEntries from {from:?} to {to:?} answered {listed:?}, not {want:?}")
        })?;
    }
    for (from, to, field) in [
        ("2026-02-30", "", "date_from"),
        ("", "03/12/2026", "date_to"),
        ("2026-12-04", "2026-12-02", "date_to"),
    ] {
        let status = refused(
            list(from, to).await,
            &format!("ListTimeEntries from {from:?} to {to:?}"),
        )?;
        expect_field(&status, field)?;
    }
    Ok(())
}

async fn rate_applied(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let entry = ok(
        c.record(time_entry(&rules::key("time"), &staffed, "7.5")).await,
        "RecordTimeEntry",
    )?;
    ensure(entry.role == ARCHITECT, || {
        format!("the entry was billed as {:?}", entry.role)
    })?;
    ensure(amount(&entry.rate) == dec("185"), || {
        format!("the rate is {:?}, not 185.00", entry.rate)
    })?;
    ensure(
        amount(&entry.amount) == dec("1387.50") && dec(&entry.exact_amount) == dec("1387.5"),
        || {
            format!(
                "7.5 h x 185.00 came to {:?} ({}), not 1387.50",
                entry.amount, entry.exact_amount
            )
        },
    )?;
    ensure(state_of(&entry) == TimeEntryState::Draft, || {
        format!("a new entry is {:?}", entry.state)
    })?;

    // A consultant billed at 100.01: 1.25 h is 125.0125 exactly, 125.01 in cents.
    let consultant = uuid::Uuid::now_v7().to_string();
    ok(
        c.client()
            .create_assignment(
                c.harness
                    .service(assignment(&staffed.project.id, &consultant, CONSULTANT)),
            )
            .await,
        "CreateAssignment",
    )?;
    let mut request = time_entry(&rules::key("time"), &staffed, "1.25");
    request.employee_id = consultant;
    let entry = ok(c.record(request).await, "RecordTimeEntry")?;
    ensure(
        dec(&entry.exact_amount) == dec("125.0125") && amount(&entry.amount) == dec("125.01"),
        || format!("1.25 h x 100.01 came to {:?} ({})", entry.amount, entry.exact_amount),
    )?;

    let mut request = time_entry(&rules::key("time"), &staffed, "3");
    request.billable = false;
    let entry = ok(c.record(request).await, "RecordTimeEntry (not billable)")?;
    ensure(amount(&entry.amount) == 0, || {
        format!("non-billable time cost {:?}", entry.amount)
    })
}

async fn needs_assignment(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let mut stranger = time_entry(&rules::key("time"), &staffed, "8");
    stranger.employee_id = uuid::Uuid::now_v7().to_string();
    let status = refused(
        c.record(stranger.clone()).await,
        "RecordTimeEntry by someone not assigned",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "RecordTimeEntry by someone not assigned",
    )?;
    ensure(status.message().contains(&stranger.employee_id), || {
        format!("FAILED_PRECONDITION should name the person: {:?}", status.message())
    })?;
    let mut late = time_entry(&rules::key("time"), &staffed, "8");
    late.date = "2027-01-04".into();
    let status = refused(c.record(late).await, "RecordTimeEntry after the assignment ends")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "RecordTimeEntry after the assignment ends",
    )
}

async fn transitions(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let approver = uuid::Uuid::now_v7().to_string();
    let draft = ok(
        c.record(time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry",
    )?;
    ensure(draft.submitted_at.is_none(), || {
        format!("a draft never submitted has a submission time: {draft:?}")
    })?;
    let status = refused(c.approve(&draft, &approver).await, "ApproveTimeEntry of a draft")?;
    expect_code(&status, Code::FailedPrecondition, "ApproveTimeEntry of a draft")?;
    let status = refused(c.post(&draft).await, "MarkTimeEntryPosted of a draft")?;
    expect_code(&status, Code::FailedPrecondition, "MarkTimeEntryPosted of a draft")?;

    let submitted = ok(c.submit(&[&draft.id]).await, "SubmitTimeEntries")?;
    let submitted = submitted
        .first()
        .cloned()
        .ok_or("SubmitTimeEntries returned no entry")?;
    ensure(state_of(&submitted) == TimeEntryState::Submitted, || {
        format!("a submitted entry is {:?}", submitted.state)
    })?;
    let submitted_at = submitted
        .submitted_at
        .ok_or_else(|| format!("a submitted entry has no submission time: {submitted:?}"))?;
    let recorded_at = draft.audit.as_ref().and_then(|a| a.created_at).unwrap_or_default();
    ensure(
        (submitted_at.seconds, submitted_at.nanos) >= (recorded_at.seconds, recorded_at.nanos),
        || format!("an entry was submitted ({submitted_at:?}) before it was recorded ({recorded_at:?})"),
    )?;
    let status = refused(c.submit(&[&draft.id]).await, "SubmitTimeEntries of a submitted entry")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "SubmitTimeEntries of a submitted entry",
    )?;
    let status = refused(c.post(&submitted).await, "MarkTimeEntryPosted of a submitted entry")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "MarkTimeEntryPosted of a submitted entry",
    )?;

    // Rejected, edited back to draft, resubmitted, approved, posted.
    let rejected = ok(
        c.client()
            .reject_time_entry(c.harness.service(RejectTimeEntryRequest {
                idempotency_key: rules::key("reject"),
                id: submitted.id.clone(),
                approver_id: approver.clone(),
                reason: "Wrong task".into(),
                expected_version: submitted.version,
            }))
            .await,
        "RejectTimeEntry",
    )?
    .into_inner();
    ensure(
        state_of(&rejected) == TimeEntryState::Rejected && rejected.rejection_reason == "Wrong task",
        || format!("a rejected entry is {rejected:?}"),
    )?;
    let status = refused(
        c.approve(&rejected, &approver).await,
        "ApproveTimeEntry of a rejected entry",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "ApproveTimeEntry of a rejected entry",
    )?;
    let edited = ok(
        c.client()
            .update_time_entry(c.harness.service(UpdateTimeEntryRequest {
                idempotency_key: rules::key("edit"),
                id: rejected.id.clone(),
                expected_version: rejected.version,
                task: "Configure".into(),
                date: rejected.date.clone(),
                hours: "8".into(),
                narrative: rejected.narrative.clone(),
                billable: true,
                request_reapproval: false,
            }))
            .await,
        "UpdateTimeEntry of a rejected entry",
    )?
    .into_inner();
    ensure(state_of(&edited) == TimeEntryState::Draft, || {
        format!("an edited rejected entry is {:?}, not DRAFT", edited.state)
    })?;
    let resubmitted = ok(c.submit(&[&edited.id]).await, "SubmitTimeEntries again")?;
    let approved = ok(c.approve(&resubmitted[0], &approver).await, "ApproveTimeEntry")?;
    ensure(
        state_of(&approved) == TimeEntryState::Approved && approved.approver_id == approver,
        || format!("an approved entry is {approved:?}"),
    )?;
    let posted = ok(c.post(&approved).await, "MarkTimeEntryPosted")?;
    ensure(
        state_of(&posted) == TimeEntryState::Posted && posted.journal_reference == "JE-2026-000123",
        || format!("a posted entry is {posted:?}"),
    )?;
    ensure(
        [&rejected, &edited, &resubmitted[0], &approved, &posted]
            .iter()
            .all(|e| e.submitted_at == Some(submitted_at)),
        || {
            format!(
                "the first submission time ({submitted_at:?}) did not stay through rejection, approval and posting: {posted:?}"
            )
        },
    )?;
    let status = refused(c.post(&posted).await, "MarkTimeEntryPosted twice with new keys")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "MarkTimeEntryPosted twice with new keys",
    )
}

async fn self_approval(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let entry = ok(
        c.record(time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry",
    )?;
    let submitted = ok(c.submit(&[&entry.id]).await, "SubmitTimeEntries")?.remove(0);
    let status = refused(
        c.approve(&submitted, &staffed.employee_id).await,
        "ApproveTimeEntry by the entry's own person",
    )?;
    expect_code(&status, Code::FailedPrecondition, "self-approval")?;
    let stored = ok(c.get_entry(&entry.id).await, "GetTimeEntry")?;
    ensure(stored == submitted, || {
        format!("a refused self-approval changed the entry: {stored:?}")
    })
}

async fn locked(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let approver = uuid::Uuid::now_v7().to_string();
    let entry = ok(
        c.record(time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry",
    )?;
    let submitted = ok(c.submit(&[&entry.id]).await, "SubmitTimeEntries")?.remove(0);
    let approved = ok(c.approve(&submitted, &approver).await, "ApproveTimeEntry")?;
    let edit = |reapproval: bool| UpdateTimeEntryRequest {
        idempotency_key: rules::key("edit"),
        id: approved.id.clone(),
        expected_version: approved.version,
        task: approved.task.clone(),
        date: approved.date.clone(),
        hours: "6".into(),
        narrative: approved.narrative.clone(),
        billable: true,
        request_reapproval: reapproval,
    };
    let status = refused(
        c.client().update_time_entry(c.harness.service(edit(false))).await,
        "UpdateTimeEntry of an approved entry",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "UpdateTimeEntry of an approved entry",
    )?;
    let unchanged = ok(c.get_entry(&entry.id).await, "GetTimeEntry")?;
    ensure(unchanged == approved, || {
        format!("a refused edit changed the approved entry: {unchanged:?}")
    })?;
    let reopened = ok(
        c.client().update_time_entry(c.harness.service(edit(true))).await,
        "UpdateTimeEntry with request_reapproval",
    )?
    .into_inner();
    ensure(
        state_of(&reopened) == TimeEntryState::Submitted
            && reopened.reapproval_required
            && reopened.hours == "6"
            && amount(&reopened.amount) == dec("1110"),
        || format!("an approved entry edited for re-approval is {reopened:?}"),
    )?;
    let status = refused(c.post(&reopened).await, "MarkTimeEntryPosted before re-approval")?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "MarkTimeEntryPosted before re-approval",
    )?;
    let again = ok(c.approve(&reopened, &approver).await, "ApproveTimeEntry again")?;
    ensure(
        state_of(&again) == TimeEntryState::Approved && !again.reapproval_required,
        || format!("a re-approved entry is {again:?}"),
    )
}

async fn change_request(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let before = staffed.project.clone();
    let mut client = c.client();
    // +40 h of consultant time for 4000.01 EUR, over both milestones (30000 and 70000):
    // 1200.00 and 2800.01 by largest remainder.
    let created = ok(
        client
            .create_change_request(c.harness.service(CreateChangeRequestRequest {
                idempotency_key: rules::key("cr"),
                project_id: before.id.clone(),
                title: "Second legal entity".into(),
                description: "Adds the Dutch entity".into(),
                role: CONSULTANT.into(),
                delta_hours: "40".into(),
                delta_amount: money("4000.01"),
                affected_milestone_ids: before.milestones.iter().map(|m| m.id.clone()).collect(),
            }))
            .await,
        "CreateChangeRequest",
    )?
    .into_inner();
    let status = refused(
        c.change_request_step("apply", &created, "").await,
        "ApplyChangeRequest of a draft",
    )?;
    expect_code(&status, Code::FailedPrecondition, "ApplyChangeRequest of a draft")?;
    let submitted = ok(
        c.change_request_step("submit", &created, "").await,
        "SubmitChangeRequest",
    )?;
    let approved = ok(
        c.change_request_step("approve", &submitted, "").await,
        "ApproveChangeRequest",
    )?;
    let applied = ok(
        c.change_request_step("apply", &approved, "").await,
        "ApplyChangeRequest",
    )?;
    ensure(applied.state == ChangeRequestState::Applied as i32, || {
        format!("an applied change request is {:?}", applied.state)
    })?;
    let after = ok(c.project(&before.id).await, "GetProject")?;
    ensure(after.version == before.version + 1, || {
        format!(
            "applying moved the project from version {} to {}",
            before.version, after.version
        )
    })?;
    let baseline_before = before.budget_baseline.clone().unwrap_or_default();
    let baseline = after.budget_baseline.clone().unwrap_or_default();
    ensure(
        dec(&baseline.total_hours) == dec(&baseline_before.total_hours) + dec("40"),
        || {
            format!(
                "total hours went from {} to {}",
                baseline_before.total_hours, baseline.total_hours
            )
        },
    )?;
    ensure(
        amount(&baseline.total) == amount(&baseline_before.total) + dec("4000.01"),
        || {
            format!(
                "the baseline total went from {:?} to {:?}",
                baseline_before.total, baseline.total
            )
        },
    )?;
    let line = |b: &keel_proto::psa::BudgetBaseline| b.lines.iter().find(|l| l.role == CONSULTANT).cloned();
    let (old_line, new_line) = (
        line(&baseline_before).unwrap_or_default(),
        line(&baseline).unwrap_or_default(),
    );
    ensure(
        dec(&new_line.hours) == dec(&old_line.hours) + dec("40")
            && amount(&new_line.amount) == amount(&old_line.amount) + dec("4000.01"),
        || format!("the consultant line went from {old_line:?} to {new_line:?}"),
    )?;
    let milestones: Vec<i128> = after.milestones.iter().map(|m| amount(&m.amount)).collect();
    let expected: Vec<i128> = vec![dec("31200.00"), dec("72800.01")];
    ensure(milestones == expected, || {
        format!("the milestones are {milestones:?}, not {expected:?}")
    })?;
    let total: i128 = milestones.iter().copied().sum();
    ensure(total == amount(&after.contract_value), || {
        format!(
            "the milestones sum to {total}, the contract value is {:?}",
            after.contract_value
        )
    })?;
    let status = refused(
        c.change_request_step("apply", &applied, "").await,
        "ApplyChangeRequest twice",
    )?;
    expect_code(&status, Code::FailedPrecondition, "ApplyChangeRequest twice")?;

    // A rejection needs a reason, and a rejected request cannot be applied.
    let other = ok(
        client
            .create_change_request(c.harness.service(CreateChangeRequestRequest {
                idempotency_key: rules::key("cr"),
                project_id: before.id.clone(),
                title: "Descope reporting".into(),
                description: String::new(),
                role: ARCHITECT.into(),
                delta_hours: "-10".into(),
                delta_amount: money("0"),
                affected_milestone_ids: vec![],
            }))
            .await,
        "CreateChangeRequest with negative hours",
    )?
    .into_inner();
    let other = ok(c.change_request_step("submit", &other, "").await, "SubmitChangeRequest")?;
    let status = refused(
        c.change_request_step("reject", &other, "").await,
        "RejectChangeRequest without a reason",
    )?;
    expect_field(&status, "reason")?;
    let rejected = ok(
        c.change_request_step("reject", &other, "Out of scope").await,
        "RejectChangeRequest",
    )?;
    let status = refused(
        c.change_request_step("apply", &rejected, "").await,
        "ApplyChangeRequest of a rejected one",
    )?;
    expect_code(
        &status,
        Code::FailedPrecondition,
        "ApplyChangeRequest of a rejected one",
    )
}

async fn project_status(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let mut client = c.client();
    let set = |status: ProjectStatus, expected_version: i64| {
        c.harness.service(UpdateProjectStatusRequest {
            idempotency_key: rules::key("status"),
            project_id: staffed.project.id.clone(),
            status: status as i32,
            expected_version,
        })
    };
    let held = ok(
        client
            .update_project_status(set(ProjectStatus::OnHold, staffed.project.version))
            .await,
        "UpdateProjectStatus to ON_HOLD",
    )?
    .into_inner();
    ensure(
        held.status == ProjectStatus::OnHold as i32 && held.version == staffed.project.version + 1,
        || format!("a held project is {:?} at version {}", held.status, held.version),
    )?;
    let closed = ok(
        client
            .update_project_status(set(ProjectStatus::Closed, held.version))
            .await,
        "UpdateProjectStatus to CLOSED",
    )?
    .into_inner();
    let status = refused(
        client
            .update_project_status(set(ProjectStatus::Active, closed.version))
            .await,
        "UpdateProjectStatus of a closed project",
    )?;
    expect_code(&status, Code::FailedPrecondition, "reopening a closed project")?;
    let status = refused(
        client
            .update_project_status(set(ProjectStatus::Planned, closed.version))
            .await,
        "UpdateProjectStatus to PLANNED",
    )?;
    expect_field(&status, "status")?;
    let status = refused(
        c.record(time_entry(&rules::key("time"), &staffed, "8")).await,
        "RecordTimeEntry on a closed project",
    )?;
    expect_code(&status, Code::FailedPrecondition, "RecordTimeEntry on a closed project")
}

async fn actuals(c: &Context) -> rules::Outcome {
    let staffed = c.staffed().await?;
    let approver = uuid::Uuid::now_v7().to_string();
    let mut approved = Vec::new();
    for hours in ["7.5", "1.25", "2"] {
        let entry = ok(
            c.record(time_entry(&rules::key("time"), &staffed, hours)).await,
            "RecordTimeEntry",
        )?;
        let submitted = ok(c.submit(&[&entry.id]).await, "SubmitTimeEntries")?.remove(0);
        approved.push(ok(c.approve(&submitted, &approver).await, "ApproveTimeEntry")?);
    }
    ok(c.post(&approved[2]).await, "MarkTimeEntryPosted")?;
    // A draft does not count.
    ok(
        c.record(time_entry(&rules::key("time"), &staffed, "5")).await,
        "RecordTimeEntry",
    )?;
    let actuals = ok(
        c.client()
            .get_project_actuals(c.harness.reader(
                Role::Finance,
                GetProjectActualsRequest {
                    project_id: staffed.project.id.clone(),
                },
            ))
            .await,
        "GetProjectActuals",
    )?
    .into_inner();
    let architect = actuals
        .roles
        .iter()
        .find(|r| r.role == ARCHITECT)
        .cloned()
        .ok_or("the actuals have no line for the architect role")?;
    let baseline_line = staffed
        .project
        .budget_baseline
        .as_ref()
        .and_then(|b| b.lines.iter().find(|l| l.role == ARCHITECT).cloned())
        .unwrap_or_default();
    ensure(
        dec(&architect.approved_hours) == dec("8.75")
            && amount(&architect.approved_amount) == dec("1618.75")
            && dec(&architect.posted_hours) == dec("2")
            && amount(&architect.posted_amount) == dec("370")
            && dec(&architect.baseline_hours) == dec(&baseline_line.hours)
            && amount(&architect.baseline_amount) == amount(&baseline_line.amount)
            && amount(&architect.remaining_amount) == amount(&baseline_line.amount) - dec("1988.75"),
        || format!("the architect's actuals are {architect:?} against the baseline line {baseline_line:?}"),
    )
}
