//! Keel's whole delivery scenario, run by `tests/scenario.rs` and by the tests that read what
//! it left behind, through the real binary and only its public gRPC APIs: a won deal becomes a project with its ERP code, budget and billing
//! milestones, a workspace and a retained SOW; a person is staffed with leadership's approval;
//! their time is validated, approved and posted to ERP; the overrun raises a health alert to
//! the project manager and finance; a change order moves every system; and a reached,
//! accepted milestone becomes a draft invoice for its amount.

use std::str::FromStr;
use std::time::Duration;

use super::{Keel, eventually};
use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use keel_auth::Role;
use keel_proto::billing::billing_service_client::BillingServiceClient;
use keel_proto::billing::{
    CheckBillingReadinessRequest, GetInvoicePreparationRequest, InvoicePreparation, PrepareInvoiceRequest,
    RecordDeliverableAcceptanceRequest,
};
use keel_proto::changeorders::GetChangeOrderRequest;
use keel_proto::changeorders::change_order_service_client::ChangeOrderServiceClient;
use keel_proto::collaboration::GetWorkspaceByProjectRequest;
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::{CreateOpportunityRequest, ListOpportunitiesRequest, MarkOpportunityWonRequest};
use keel_proto::documents::documents_service_client::DocumentsServiceClient;
use keel_proto::documents::{DocumentType, GetDocumentRequest, ListDocumentsRequest};
use keel_proto::erp::{
    BillingMilestone, CreateLegalEntityRequest, GetProjectCodeRequest, GetRevenueScheduleRequest, InvoiceStatus,
    ListBillingMilestonesRequest, ListInvoicesRequest, ListJournalsRequest, MarkMilestoneReachedRequest,
    MilestoneStatus, ProjectCode, RevenueMethod, SetRevenueScheduleRequest,
};
use keel_proto::health::ListAlertsRequest;
use keel_proto::health::delivery_health_service_client::DeliveryHealthServiceClient;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{Certification, CreateEmployeeRequest, Employee, Language, Skill};
use keel_proto::projectsetup::{GetSetupRequest, Setup, SetupState};
use keel_proto::psa::{
    ApproveTimeEntryRequest, ChangeRequestTransitionRequest, CreateChangeRequestRequest, CreateResourceRequestRequest,
    GetProjectActualsRequest, GetProjectRequest, GetResourceRequestRequest, ListAssignmentsRequest,
    ListTimeEntriesRequest, Project, ProjectStatus, RecordTimeEntryRequest, RequiredLanguage, RequiredSkill,
    ResourceRequestState, RoleActuals, RoleRate, SetProjectRateCardRequest, SubmitTimeEntriesRequest, TimeEntry,
    TimeEntryState, UpdateProjectStatusRequest,
};
use keel_proto::staffing::staffing_service_client::StaffingServiceClient;
use keel_proto::staffing::{GetStaffingRequest, Staffing};
use keel_proto::timecapture::time_capture_service_client::TimeCaptureServiceClient;
use keel_proto::timecapture::{GetPostingRequest, ProposedTimeEntry, ValidateTimeEntryRequest};
use keel_proto::workflow::workflow_admin_service_client::WorkflowAdminServiceClient;
use keel_proto::workflow::{DecideApprovalRequest, ListInstancesRequest, RetryInstanceRequest};
use rust_decimal::Decimal;
use tonic::Code;

/// How long a step that crosses services may take before the scenario fails: generous, as CI
/// runs the suite on two shared cores.
pub const WAIT: Duration = Duration::from_secs(90);
/// The role the staffed person works in, and whose baseline their time overruns.
const ROLE: &str = "engagement-manager";
const BILL_RATE: &str = "200.00";
/// Close to the bill rate: a 15% margin, below the staffing policy's 30% floor.
const COST_RATE: &str = "170.00";
/// Hours a day the staffed person records (the time policy's daily limit).
const DAY_HOURS: u32 = 10;
/// Days of time recorded: 120 hours against the role's 108 baseline hours, 11.11% over.
const DAYS: usize = 12;
/// How long the staffing request runs from the deal's close, in days.
const STAFFED_DAYS: u64 = 48;

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: String::new(),
    })
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

fn amount(money: &Option<Money>) -> Decimal {
    let money = money.as_ref().expect("an amount");
    assert_eq!(money.currency, "EUR");
    dec(&money.amount)
}

/// The `n` weekdays from `start` on.
fn weekdays(start: NaiveDate, n: usize) -> Vec<NaiveDate> {
    start
        .iter_days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(n)
        .collect()
}

async fn project(keel: &Keel, id: &str) -> Project {
    let request = GetProjectRequest {
        id: id.into(),
        opportunity_id: String::new(),
    };
    keel.psa()
        .get_project(keel.request(Role::Admin, request))
        .await
        .unwrap()
        .into_inner()
}

async fn project_code(keel: &Keel, code: &str) -> ProjectCode {
    let request = GetProjectCodeRequest {
        code: code.into(),
        project_id: String::new(),
    };
    keel.erp()
        .get_project_code(keel.request(Role::Finance, request))
        .await
        .unwrap()
        .into_inner()
}

async fn erp_milestones(keel: &Keel, code: &str) -> Vec<BillingMilestone> {
    let request = ListBillingMilestonesRequest {
        project_code: code.into(),
        page: page(),
    };
    keel.erp()
        .list_billing_milestones(keel.request(Role::Finance, request))
        .await
        .unwrap()
        .into_inner()
        .milestones
}

async fn time_entries(keel: &Keel, project_id: &str) -> Vec<TimeEntry> {
    let request = ListTimeEntriesRequest {
        project_id: project_id.into(),
        employee_id: String::new(),
        state: 0,
        page: page(),
        ..Default::default()
    };
    keel.psa()
        .list_time_entries(keel.request(Role::Admin, request))
        .await
        .unwrap()
        .into_inner()
        .entries
}

async fn role_actuals(keel: &Keel, project_id: &str) -> RoleActuals {
    let request = GetProjectActualsRequest {
        project_id: project_id.into(),
    };
    let actuals = keel
        .psa()
        .get_project_actuals(keel.request(Role::ProjectManager, request))
        .await
        .unwrap()
        .into_inner();
    actuals
        .roles
        .into_iter()
        .find(|r| r.role == ROLE)
        .expect("the role's actuals")
}

/// The codes of the time rules a proposed entry breaks (none when valid).
async fn validate(
    keel: &Keel,
    project: &Project,
    person: &Employee,
    date: NaiveDate,
    hours: &str,
    narrative: &str,
) -> Vec<String> {
    let request = ValidateTimeEntryRequest {
        entry: Some(ProposedTimeEntry {
            id: String::new(),
            project_id: project.id.clone(),
            employee_id: person.id.clone(),
            date: date.to_string(),
            hours: hours.into(),
            narrative: narrative.into(),
            billable: true,
            labor_category: ROLE.into(),
        }),
    };
    TimeCaptureServiceClient::new(keel.channel_for("time-capture"))
        .validate_time_entry(keel.request(Role::Consultant, request))
        .await
        .unwrap()
        .into_inner()
        .failures
        .into_iter()
        .map(|f| f.code)
        .collect()
}

/// The first milestone's invoice preparation once it is DONE or in the exception queue.
async fn settled_preparation(keel: &Keel, project_id: &str) -> InvoicePreparation {
    eventually(WAIT, || async {
        let preparation = BillingServiceClient::new(keel.channel_for("billing"))
            .get_invoice_preparation(keel.request(
                Role::Finance,
                GetInvoicePreparationRequest {
                    project_id: project_id.into(),
                    milestone_id: "1".into(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        matches!(preparation.status.as_str(), "DONE" | "EXCEPTION").then_some(preparation)
    })
    .await
}

/// The staffing of a resource request, once it has started.
async fn staffing_of(keel: &Keel, resource_request_id: &str) -> Option<Staffing> {
    StaffingServiceClient::new(keel.channel_for("staffing"))
        .get_staffing(keel.request(
            Role::ResourceManager,
            GetStaffingRequest {
                resource_request_id: resource_request_id.into(),
            },
        ))
        .await
        .ok()
        .map(|r| r.into_inner())
}

#[allow(clippy::too_many_arguments)] // a table row
fn employee(
    number: &str,
    name: &str,
    location: &str,
    category: &str,
    cost_rate: &str,
    treasury: Option<i32>,
    pmp: bool,
    german: &str,
) -> CreateEmployeeRequest {
    CreateEmployeeRequest {
        idempotency_key: format!("scenario-employee-{number}"),
        employee_number: number.into(),
        name: name.into(),
        email: format!("{}@keel.example", name.to_lowercase().replace(' ', ".")),
        legal_entity: "UK01".into(),
        location: location.into(),
        region: "emea".into(),
        labor_category: category.into(),
        cost_rate: eur(cost_rate),
        utilization_target: "0.8".into(),
        manager_employee_number: String::new(),
        skills: treasury
            .map(|proficiency| Skill {
                name: "sap-treasury".into(),
                proficiency,
            })
            .into_iter()
            .collect(),
        certifications: if pmp {
            vec![Certification {
                name: "pmp".into(),
                issued_on: "2020-03-01".into(),
                expires_on: String::new(),
            }]
        } else {
            vec![]
        },
        languages: vec![
            Language {
                code: "de".into(),
                level: german.into(),
            },
            Language {
                code: "en".into(),
                level: "c1".into(),
            },
        ],
        weekly_capacity_hours: "40".into(),
    }
}

async fn hire(keel: &Keel, request: CreateEmployeeRequest) -> Employee {
    HrisServiceClient::new(keel.channel_for("hris"))
        .create_employee(keel.request(Role::Admin, request))
        .await
        .unwrap()
        .into_inner()
}

/// The setup of a won deal once it completed; fails the test if it goes to the exception
/// queue instead.
pub async fn completed_setup(keel: &Keel, opportunity_id: &str) -> Setup {
    eventually(WAIT, || async {
        let setup = keel
            .setup()
            .get_setup(keel.request(
                Role::Operations,
                GetSetupRequest {
                    id: String::new(),
                    opportunity_id: opportunity_id.to_string(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        assert_ne!(setup.state, SetupState::Exception as i32, "{setup:?}");
        (setup.state == SetupState::Completed as i32).then_some(setup)
    })
    .await
}

/// Stage 1: A won deal becomes a project, set up in every system. Returns the PSA project
/// and its ERP project code.
async fn won_deal(keel: &Keel, close: NaiveDate) -> (Project, String) {
    let opportunities = keel
        .crm()
        .list_opportunities(keel.request(Role::Admin, ListOpportunitiesRequest { page: page(), stage: 0 }))
        .await
        .unwrap()
        .into_inner()
        .opportunities;
    let northwind = opportunities
        .iter()
        .find(|o| o.name == "Northwind S/4 finance rollout")
        .expect("the demo's Northwind deal")
        .account_id
        .clone();
    let deal = keel
        .crm()
        .create_opportunity(keel.request(
            Role::Admin,
            CreateOpportunityRequest {
                idempotency_key: "scenario-deal".into(),
                account_id: northwind,
                name: "Northwind treasury rollout".into(),
                service_line: "erp-deployment".into(),
                contract_type: "fixed-fee".into(),
                region: "emea".into(),
                client_tier: "enterprise".into(),
                amount: eur("400000.00"),
                close_date: close.to_string(),
                sow_reference: "SOW-2026-201".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    keel.crm()
        .mark_opportunity_won(keel.request(
            Role::Admin,
            MarkOpportunityWonRequest {
                idempotency_key: "scenario-win".into(),
                id: deal.id.clone(),
            },
        ))
        .await
        .unwrap();
    let setup = completed_setup(keel, &deal.id).await;
    let initial = project(keel, &setup.project_id).await;
    assert_eq!(initial.template_id, "erp-fixed-fee-emea");
    assert_eq!(amount(&initial.contract_value), dec("400000.00"));
    let baseline = initial.budget_baseline.clone().expect("a baseline");
    assert_eq!(amount(&baseline.total), dec("400000.00"));
    let em_line = baseline
        .lines
        .iter()
        .find(|l| l.role == ROLE)
        .expect("an engagement-manager line");
    assert_eq!(
        dec(&em_line.hours),
        dec("108"),
        "16 + 8 + 60 + 24 hours in the template"
    );
    let names: Vec<&str> = initial.milestones.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["Blueprint signed", "Build complete", "Go-live", "Hypercare exit"]
    );
    assert_eq!(
        initial.milestones.iter().map(|m| amount(&m.amount)).sum::<Decimal>(),
        dec("400000.00"),
        "the milestones bill the whole fee"
    );
    assert_eq!(amount(&initial.milestones[0].amount), dec("80000.00"), "20% of the fee");
    assert_eq!(initial.milestones[0].due_date, (close + Days::new(30)).to_string());

    // ERP: the code, the budget as the baseline, one billing milestone per PSA milestone.
    let code = setup.project_code.clone();
    let erp_code = project_code(keel, &code).await;
    assert_eq!(erp_code.project_id, initial.id);
    let budget = erp_code.budget.clone().expect("the budget posted");
    assert_eq!(amount(&budget.total), dec("400000.00"));
    for line in &baseline.lines {
        let posted = budget
            .lines
            .iter()
            .find(|l| l.role == line.role)
            .expect("a budget line per role");
        assert_eq!(dec(&posted.hours), dec(&line.hours), "{}", line.role);
        assert_eq!(amount(&posted.amount), amount(&line.amount), "{}", line.role);
    }
    let billing = erp_milestones(keel, &code).await;
    assert_eq!(billing.len(), initial.milestones.len());
    for milestone in &initial.milestones {
        let erp = billing
            .iter()
            .find(|b| b.name == milestone.name)
            .expect("an ERP milestone");
        assert_eq!(amount(&erp.amount), amount(&milestone.amount), "{}", milestone.name);
        assert_eq!(erp.status, MilestoneStatus::Planned as i32);
    }
    // The workspace and the SOW, kept seven years after the close.
    let workspace = CollaborationServiceClient::new(keel.channel_for("collaboration"))
        .get_workspace_by_project(keel.request(
            Role::ProjectManager,
            GetWorkspaceByProjectRequest {
                project_id: initial.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(workspace.project_id, initial.id);
    let mut documents = DocumentsServiceClient::new(keel.channel_for("documents"));
    let filed = documents
        .list_documents(keel.request(
            Role::ProjectManager,
            ListDocumentsRequest {
                page: page(),
                project_id: initial.id.clone(),
                client_id: String::new(),
                r#type: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert_eq!(filed[0].r#type, DocumentType::Sow as i32);
    assert_eq!(filed[0].retain_until, (close + Months::new(84)).to_string());
    (initial, code)
}

/// Stage 2: The project manager prices and starts the project; staffing finds and proposes a
/// person whose thin margin needs leadership's approval. Returns the staffed person and the
/// colleague who asked for her (and approves her time).
async fn staff(keel: &Keel, initial: &Project, close: NaiveDate) -> (Employee, Employee) {
    let baseline = initial.budget_baseline.clone().expect("a baseline");
    let rates = [
        (ROLE, BILL_RATE),
        ("solution-architect", "180.00"),
        ("functional-consultant", "150.00"),
        ("developer", "130.00"),
    ];
    for line in &baseline.lines {
        assert!(
            rates.iter().any(|(role, _)| *role == line.role),
            "a rate for {}",
            line.role
        );
    }
    keel.psa()
        .set_project_rate_card(
            keel.request(
                Role::Admin,
                SetProjectRateCardRequest {
                    idempotency_key: "scenario-rates".into(),
                    project_id: initial.id.clone(),
                    rates: rates
                        .iter()
                        .map(|(role, rate)| RoleRate {
                            role: (*role).into(),
                            bill_rate: eur(rate),
                        })
                        .collect(),
                    expected_version: 0,
                },
            ),
        )
        .await
        .unwrap();
    if initial.status != ProjectStatus::Active as i32 {
        let active = keel
            .psa()
            .update_project_status(keel.request(
                Role::Admin,
                UpdateProjectStatusRequest {
                    idempotency_key: "scenario-activate".into(),
                    project_id: initial.id.clone(),
                    status: ProjectStatus::Active as i32,
                    expected_version: initial.version,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(active.status, ProjectStatus::Active as i32);
    }
    let greta = hire(
        keel,
        employee(
            "DE-7001",
            "Greta Vogel",
            "Frankfurt",
            "manager",
            COST_RATE,
            Some(5),
            true,
            "native",
        ),
    )
    .await;
    let jonas = hire(
        keel,
        employee(
            "DE-7002",
            "Jonas Weber",
            "Munich",
            "senior-consultant",
            "150.00",
            Some(3),
            true,
            "c1",
        ),
    )
    .await;
    // Lacks the certification: never a candidate.
    let claire = hire(
        keel,
        employee(
            "DE-7003",
            "Claire Dubois",
            "Frankfurt",
            "director",
            "190.00",
            Some(5),
            false,
            "c2",
        ),
    )
    .await;
    let period_end = close + Days::new(STAFFED_DAYS);
    let request = keel
        .psa()
        .create_resource_request(keel.request(
            Role::Admin,
            CreateResourceRequestRequest {
                idempotency_key: "scenario-staff".into(),
                project_id: initial.id.clone(),
                role: ROLE.into(),
                bill_role: String::new(),
                start_date: close.to_string(),
                end_date: period_end.to_string(),
                allocation_percent: "50".into(),
                skills: vec![RequiredSkill {
                    name: "sap-treasury".into(),
                    min_proficiency: 3,
                }],
                certifications: vec!["pmp".into()],
                languages: vec![RequiredLanguage {
                    code: "de".into(),
                    min_level: "c1".into(),
                }],
                region: "emea".into(),
                location: "Frankfurt".into(),
                requested_by: claire.id.clone(),
                notes: "Treasury workstream lead".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let staffing = eventually(WAIT, || async {
        let staffing = staffing_of(keel, &request.id).await?;
        assert_ne!(staffing.status, "EXCEPTION", "{staffing:?}");
        (staffing.status == "AWAITING_APPROVAL").then_some(staffing)
    })
    .await;
    let ranked: Vec<&str> = staffing.candidates.iter().map(|c| c.employee_id.as_str()).collect();
    assert_eq!(
        ranked,
        [greta.id.as_str(), jonas.id.as_str()],
        "{:?}",
        staffing.candidates
    );
    assert_eq!(staffing.candidates[0].rank, 1);
    assert!(dec(&staffing.candidates[0].score) > dec(&staffing.candidates[1].score));
    let economics = staffing.economics.clone().expect("the economics");
    assert_eq!(economics.currency, "EUR");
    let hours = dec(&economics.hours);
    assert_eq!(dec(&economics.labor_cost), hours * dec(COST_RATE));
    assert_eq!(dec(&economics.revenue), hours * dec(BILL_RATE));
    assert_eq!(dec(&economics.margin_percent), dec("15"));
    assert!(economics.needs_approval);
    assert_eq!(economics.approval_reasons.len(), 1, "{:?}", economics.approval_reasons);
    assert!(
        economics.approval_reasons[0].contains("below the floor 30%"),
        "{:?}",
        economics.approval_reasons
    );

    // The submitter may not approve their own request; an executive does.
    let mut workflow = WorkflowAdminServiceClient::new(keel.channel_for("staffing"));
    let decide = |role| {
        keel.request(
            role,
            DecideApprovalRequest {
                instance_id: staffing.staffing_id.clone(),
                approve: true,
                note: "Greta leads the treasury stream; margin accepted".into(),
            },
        )
    };
    let refused = workflow.decide_approval(decide(Role::Admin)).await.unwrap_err();
    assert!(
        matches!(refused.code(), Code::PermissionDenied | Code::FailedPrecondition),
        "{refused:?}"
    );
    workflow.decide_approval(decide(Role::Executive)).await.unwrap();
    let staffed = eventually(WAIT, || async {
        let staffing = staffing_of(keel, &request.id).await?;
        (staffing.status == "DONE").then_some(staffing)
    })
    .await;
    assert_eq!(staffed.approved_by, "test-executive");
    let filled = keel
        .psa()
        .get_resource_request(keel.request(Role::Admin, GetResourceRequestRequest { id: request.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filled.state, ResourceRequestState::Filled as i32);
    assert_eq!(filled.proposed_employee_id, greta.id);
    assert_eq!(filled.assignment_id, staffed.assignment_id);
    let assignments = keel
        .psa()
        .list_assignments(keel.request(
            Role::Admin,
            ListAssignmentsRequest {
                project_id: initial.id.clone(),
                employee_id: String::new(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(assignments.len(), 1);
    assert_eq!(
        (assignments[0].employee_id.as_str(), assignments[0].role.as_str()),
        (greta.id.as_str(), ROLE)
    );
    (greta, claire)
}

/// Stage 3: Greta's time: validated, recorded, submitted, approved by someone else, posted.
async fn post_time(
    keel: &Keel,
    initial: &Project,
    code: &str,
    (greta, claire): (&Employee, &Employee),
    close: NaiveDate,
) {
    let today = chrono::Utc::now().date_naive();
    let period_end = close + Days::new(STAFFED_DAYS);
    assert_eq!(dec(&role_actuals(keel, &initial.id).await.baseline_hours), dec("108"));
    let days = weekdays(close + Days::new(7), DAYS);
    assert!(days.iter().all(|d| *d < today && *d <= period_end));
    // What the rules refuse: tomorrow's time, and a day over the policy's 10 hours.
    let narrative = "Treasury design workshop and governance";
    let tomorrow = validate(keel, initial, greta, today + Days::new(1), "4", narrative).await;
    assert!(tomorrow.contains(&"FUTURE_DATE".to_string()), "{tomorrow:?}");
    let long_day = validate(keel, initial, greta, days[0], "11", narrative).await;
    assert!(long_day.contains(&"OVERTIME".to_string()), "{long_day:?}");
    let mut recorded = Vec::new();
    for (n, day) in days.iter().enumerate() {
        let narrative = format!("Treasury design workshop and governance, day {}", n + 1);
        let failures = validate(keel, initial, greta, *day, &DAY_HOURS.to_string(), &narrative).await;
        assert!(failures.is_empty(), "{day}: {failures:?}");
        let entry = keel
            .psa()
            .record_time_entry(keel.request(
                Role::Admin,
                RecordTimeEntryRequest {
                    idempotency_key: format!("scenario-time-{n}"),
                    project_id: initial.id.clone(),
                    employee_id: greta.id.clone(),
                    task: "Delivery management".into(),
                    date: day.to_string(),
                    hours: DAY_HOURS.to_string(),
                    narrative,
                    billable: true,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(amount(&entry.amount), Decimal::from(DAY_HOURS) * dec(BILL_RATE));
        recorded.push(entry.id);
    }
    let submitted = keel
        .psa()
        .submit_time_entries(keel.request(
            Role::Admin,
            SubmitTimeEntriesRequest {
                idempotency_key: "scenario-submit".into(),
                ids: recorded.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    for entry in &submitted {
        keel.psa()
            .approve_time_entry(keel.request(
                Role::Admin,
                ApproveTimeEntryRequest {
                    idempotency_key: format!("scenario-approve-{}", entry.id),
                    id: entry.id.clone(),
                    approver_id: claire.id.clone(),
                    expected_version: entry.version,
                },
            ))
            .await
            .unwrap();
    }
    let posted = eventually(WAIT, || async {
        let entries = time_entries(keel, &initial.id).await;
        for entry in entries.iter().filter(|e| e.state != TimeEntryState::Posted as i32) {
            let posting = TimeCaptureServiceClient::new(keel.channel_for("time-capture"))
                .get_posting(keel.request(
                    Role::Finance,
                    GetPostingRequest {
                        time_entry_id: entry.id.clone(),
                    },
                ))
                .await;
            if let Ok(posting) = posting {
                let posting = posting.into_inner();
                assert_ne!(posting.status, "EXCEPTION", "{posting:?}");
            }
        }
        (entries.len() == DAYS
            && entries
                .iter()
                .all(|e| e.state == TimeEntryState::Posted as i32 && !e.journal_reference.is_empty()))
        .then_some(entries)
    })
    .await;
    assert!(posted.iter().all(|e| e.approver_id == claire.id));
    let journals = keel
        .erp()
        .list_journals(keel.request(
            Role::Finance,
            ListJournalsRequest {
                legal_entity: String::new(),
                project_code: code.to_string(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .journals;
    assert_eq!(journals.len(), DAYS, "one journal per entry");
    for entry in &posted {
        assert!(
            journals
                .iter()
                .any(|j| j.id == entry.journal_reference || j.number == entry.journal_reference),
            "{} posted in {}",
            entry.id,
            entry.journal_reference
        );
    }
    let actuals = role_actuals(keel, &initial.id).await;
    let worked = Decimal::from(DAY_HOURS) * Decimal::from(DAYS as u32);
    assert_eq!(dec(&actuals.posted_hours), worked);
    assert_eq!(amount(&actuals.posted_amount), worked * dec(BILL_RATE));
}

/// Stage 4: 120 hours against 108: the effort alert goes to Greta as project manager and to finance.
async fn overrun_alert(keel: &Keel, initial: &Project, greta: &Employee) {
    let alert = eventually(WAIT, || async {
        DeliveryHealthServiceClient::new(keel.channel_for("delivery-health"))
            .list_alerts(keel.request(
                Role::Finance,
                ListAlertsRequest {
                    project_id: initial.id.clone(),
                    state: String::new(),
                    page: page(),
                },
            ))
            .await
            .ok()?
            .into_inner()
            .alerts
            .into_iter()
            .find(|a| a.kind == "EFFORT_OVER_BASELINE")
    })
    .await;
    assert_eq!(alert.state, "OPEN");
    assert_eq!(dec(&alert.measured).round_dp(2), dec("11.11"), "{alert:?}");
    assert_eq!(dec(&alert.threshold), dec("10"));
    assert!(alert.summary.contains(ROLE), "{}", alert.summary);
    let recipients: Vec<(&str, &str)> = alert
        .recipients
        .iter()
        .map(|r| (r.role.as_str(), r.employee_id.as_str()))
        .collect();
    assert!(
        recipients.contains(&("project_manager", greta.id.as_str())),
        "{recipients:?}"
    );
    assert!(recipients.iter().any(|(role, _)| *role == "finance"), "{recipients:?}");
}

/// Stage 5: A change order adds 20 engagement-manager hours, billed with the first milestone.
/// Finance recognises the fee as milestones are invoiced: a fixed-fee schedule from the start,
/// so the time posted below is booked at cost with no revenue of its own.
async fn set_revenue_schedule(keel: &Keel, initial: &Project, code: &str) {
    let schedule = keel
        .erp()
        .set_revenue_schedule(keel.request(
            Role::Admin,
            SetRevenueScheduleRequest {
                idempotency_key: "scenario-revenue".into(),
                project_code: code.to_string(),
                method: RevenueMethod::FixedFeeMilestone as i32,
                contract_value: initial.contract_value.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schedule.version, 1);
}

async fn change_order(keel: &Keel, initial: &Project, code: &str) -> Project {
    let em_line = initial
        .budget_baseline
        .as_ref()
        .and_then(|b| b.lines.iter().find(|l| l.role == ROLE))
        .expect("an engagement-manager line");
    let mut documents = DocumentsServiceClient::new(keel.channel_for("documents"));
    let delta = dec("4000.00");
    let change = keel
        .psa()
        .create_change_request(keel.request(
            Role::Admin,
            CreateChangeRequestRequest {
                idempotency_key: "scenario-change".into(),
                project_id: initial.id.clone(),
                title: "Extended treasury governance".into(),
                description: "Twenty more hours of engagement management for the treasury stream".into(),
                role: ROLE.into(),
                delta_hours: "20".into(),
                delta_amount: eur("4000.00"),
                affected_milestone_ids: vec!["1".into()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let submitted = keel
        .psa()
        .submit_change_request(keel.request(
            Role::Admin,
            ChangeRequestTransitionRequest {
                idempotency_key: "scenario-change-submit".into(),
                id: change.id.clone(),
                expected_version: change.version,
                reason: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    keel.psa()
        .approve_change_request(keel.request(
            Role::Admin,
            ChangeRequestTransitionRequest {
                idempotency_key: "scenario-change-approve".into(),
                id: change.id.clone(),
                expected_version: submitted.version,
                reason: String::new(),
            },
        ))
        .await
        .unwrap();
    let order = eventually(WAIT, || async {
        let order = ChangeOrderServiceClient::new(keel.channel_for("change-orders"))
            .get_change_order(keel.request(
                Role::Finance,
                GetChangeOrderRequest {
                    change_request_id: change.id.clone(),
                },
            ))
            .await
            .ok()?
            .into_inner();
        assert_ne!(order.status, "EXCEPTION", "{order:?}");
        (order.status == "DONE").then_some(order)
    })
    .await;
    let changed = project(keel, &initial.id).await;
    let changed_baseline = changed.budget_baseline.clone().expect("a baseline");
    let changed_line = changed_baseline.lines.iter().find(|l| l.role == ROLE).unwrap();
    assert_eq!(dec(&changed_line.hours), dec("128"));
    assert_eq!(amount(&changed_line.amount), amount(&em_line.amount) + delta);
    assert_eq!(amount(&changed_baseline.total), dec("404000.00"));
    assert_eq!(amount(&changed.milestones[0].amount), dec("84000.00"));
    assert_eq!(
        amount(&changed.milestones[1].amount),
        amount(&initial.milestones[1].amount),
        "untouched"
    );
    let changed_code = project_code(keel, code).await;
    let changed_budget = changed_code.budget.clone().unwrap();
    assert_eq!(order.erp_budget_version, changed_budget.version);
    let changed_budget_line = changed_budget.lines.iter().find(|l| l.role == ROLE).unwrap();
    assert_eq!(dec(&changed_budget_line.hours), dec("128"));
    assert_eq!(amount(&changed_budget_line.amount), amount(&em_line.amount) + delta);
    assert_eq!(amount(&changed_budget.total), dec("404000.00"));
    let changed_billing = erp_milestones(keel, code).await;
    for milestone in &changed.milestones {
        let erp = changed_billing.iter().find(|b| b.name == milestone.name).unwrap();
        assert_eq!(amount(&erp.amount), amount(&milestone.amount), "{}", milestone.name);
    }
    let schedule = keel
        .erp()
        .get_revenue_schedule(keel.request(
            Role::Finance,
            GetRevenueScheduleRequest {
                project_code: code.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(amount(&schedule.contract_value), dec("404000.00"));
    assert_eq!(schedule.version, 2, "revised once");
    let document = documents
        .get_document(keel.request(
            Role::ProjectManager,
            GetDocumentRequest {
                id: order.document_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(document.r#type, DocumentType::ChangeOrder as i32);
    assert_eq!(document.project_id, initial.id);
    changed
}

/// Stage 6: The first milestone: blocked until reached and accepted, then a draft invoice.
async fn invoice(keel: &Keel, initial: &Project, changed: &Project, code: &str) {
    let changed_billing = erp_milestones(keel, code).await;
    let mut workflow = WorkflowAdminServiceClient::new(keel.channel_for("billing"));
    let mut billing_api = BillingServiceClient::new(keel.channel_for("billing"));
    let readiness = billing_api
        .check_billing_readiness(keel.request(
            Role::Finance,
            CheckBillingReadinessRequest {
                project_id: initial.id.clone(),
                milestone_id: "1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!readiness.ready);
    let blockers: Vec<&str> = readiness.blockers.iter().map(|b| b.code.as_str()).collect();
    assert!(blockers.contains(&"MILESTONE_NOT_REACHED"), "{blockers:?}");
    assert!(blockers.contains(&"DELIVERABLE_NOT_ACCEPTED"), "{blockers:?}");
    billing_api
        .record_deliverable_acceptance(keel.request(
            Role::ProjectManager,
            RecordDeliverableAcceptanceRequest {
                idempotency_key: "scenario-acceptance".into(),
                project_id: initial.id.clone(),
                milestone_id: "1".into(),
                accepted_by: "Anna Schmidt, Northwind CFO".into(),
                note: "Blueprint signed off".into(),
            },
        ))
        .await
        .unwrap();
    let first = changed_billing
        .iter()
        .find(|b| b.name == "Blueprint signed")
        .expect("the first ERP milestone")
        .clone();
    keel.erp()
        .mark_milestone_reached(keel.request(
            Role::Admin,
            MarkMilestoneReachedRequest {
                idempotency_key: "scenario-reached".into(),
                milestone_id: first.id.clone(),
                expected_version: first.version,
            },
        ))
        .await
        .unwrap();
    billing_api
        .prepare_invoice(keel.request(
            Role::Finance,
            PrepareInvoiceRequest {
                idempotency_key: "scenario-prepare".into(),
                project_id: initial.id.clone(),
                milestone_id: "1".into(),
            },
        ))
        .await
        .unwrap();
    let preparation = match settled_preparation(keel, &initial.id).await {
        preparation if preparation.status == "EXCEPTION" => {
            // Started by the reached event before every fix was in: operations retries it.
            workflow
                .retry_instance(keel.request(
                    Role::Operations,
                    RetryInstanceRequest {
                        id: preparation.preparation_id.clone(),
                    },
                ))
                .await
                .unwrap();
            settled_preparation(keel, &initial.id).await
        }
        preparation => preparation,
    };
    assert_eq!(preparation.status, "DONE", "{preparation:?}");
    assert_eq!(amount(&preparation.invoice_total), dec("84000.00"));
    let invoices = keel
        .erp()
        .list_invoices(keel.request(
            Role::Finance,
            ListInvoicesRequest {
                project_code: code.to_string(),
                page: page(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0].id, preparation.invoice_id);
    assert_eq!(invoices[0].status, InvoiceStatus::Draft as i32);
    assert_eq!(amount(&invoices[0].total), amount(&changed.milestones[0].amount));
}

/// What the scenario delivered, for tests that go on to read it (the role views).
pub struct Delivered {
    /// The project as setup made it, and after the change order.
    pub initial: Project,
    pub changed: Project,
    /// Its ERP project code.
    pub code: String,
    /// The engagement manager (the project's manager) and the architect staffed on it.
    pub greta: Employee,
    pub claire: Employee,
    /// The day the deal closed.
    pub close: NaiveDate,
}

/// Runs the whole scenario against `keel`, asserting each stage as it goes.
pub async fn deliver(keel: &Keel) -> Delivered {
    let today = chrono::Utc::now().date_naive();
    // Closed eight weeks ago: the first milestone (due 30 days after the close) is due.
    let close = today - Days::new(56);

    // The firm's ERP ledger for EMEA deals (project setup books them in UK01).
    keel.erp()
        .create_legal_entity(keel.request(
            Role::Admin,
            CreateLegalEntityRequest {
                idempotency_key: "scenario-uk01".into(),
                code: "UK01".into(),
                name: "Keel Consulting UK Ltd".into(),
                functional_currency: "EUR".into(),
                country: "GB".into(),
            },
        ))
        .await
        .unwrap();

    let (initial, code) = won_deal(keel, close).await;
    set_revenue_schedule(keel, &initial, &code).await;
    let (greta, claire) = staff(keel, &initial, close).await;
    post_time(keel, &initial, &code, (&greta, &claire), close).await;
    overrun_alert(keel, &initial, &greta).await;
    let changed = change_order(keel, &initial, &code).await;
    invoice(keel, &initial, &changed, &code).await;

    // Nothing was left in any exception queue.
    for admin in keel.workflow_admins() {
        let exceptions = WorkflowAdminServiceClient::new(admin)
            .list_instances(keel.request(
                Role::Operations,
                ListInstancesRequest {
                    page: page(),
                    status: "exception".into(),
                    kind: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .instances;
        assert!(exceptions.is_empty(), "{exceptions:?}");
    }
    Delivered {
        initial,
        changed,
        code,
        greta,
        claire,
        close,
    }
}
