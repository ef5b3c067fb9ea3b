//! The HRIS kit: employees, profiles, candidate search and CSV imports through
//! `keel.hris.v1.HrisService`.

use std::sync::Arc;

use keel_auth::Role;
use keel_hris::HrisAdapter;
use keel_proto::common::{Money, PageRequest};
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{
    Certification, CreateEmployeeRequest, Employee, FindCandidatesRequest, GetEmployeeRequest, ImportEmployeesRequest,
    ImportReport, ListEmployeesRequest, SetAvailabilityRequest, SetCertificationsRequest, SetSkillsRequest, Skill,
    SkillRequirement, TimeOff, UpdateEmployeeRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// What every HRIS check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

impl Context {
    pub async fn new(adapter: Arc<dyn HrisAdapter>) -> Context {
        let service = keel_hris::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> HrisServiceClient<Channel> {
        HrisServiceClient::new(self.harness.channel())
    }

    async fn create(&self, request: CreateEmployeeRequest) -> Result<Employee, Status> {
        self.client()
            .create_employee(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn get(&self, id: &str) -> Result<Employee, Status> {
        self.client()
            .get_employee(
                self.harness
                    .reader(Role::ResourceManager, GetEmployeeRequest { id: id.into() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    /// Runs an import to its end: the progress messages and the report.
    async fn import(&self, key: &str, csv: &str) -> Result<(Vec<(u64, u64)>, ImportReport), Status> {
        let mut stream = self
            .client()
            .import_employees(self.harness.service(ImportEmployeesRequest {
                idempotency_key: key.into(),
                csv: csv.as_bytes().to_vec(),
                source: "conformance.csv".into(),
            }))
            .await?
            .into_inner();
        let mut progress = Vec::new();
        while let Some(message) = stream.message().await? {
            if let Some(report) = message.report {
                return Ok((progress, report));
            }
            progress.push((message.rows_processed, message.rows_total));
        }
        Err(Status::internal("the import stream ended without a report"))
    }
}

/// A unique tag, so checks sharing one store do not see each other's employees.
fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn new_employee(key: &str, number: &str) -> CreateEmployeeRequest {
    CreateEmployeeRequest {
        idempotency_key: key.into(),
        employee_number: number.into(),
        name: "Priya Raman".into(),
        email: "priya.raman@keel.example".into(),
        legal_entity: "KEEL-UK".into(),
        location: "London".into(),
        region: "emea".into(),
        labor_category: "senior-consultant".into(),
        cost_rate: Some(Money {
            amount: "85.50".into(),
            currency: "GBP".into(),
        }),
        utilization_target: "0.75".into(),
        manager_employee_number: String::new(),
        skills: vec![],
        certifications: vec![],
        languages: vec![],
        weekly_capacity_hours: "40".into(),
    }
}

fn update_of(e: &Employee, key: &str) -> UpdateEmployeeRequest {
    UpdateEmployeeRequest {
        idempotency_key: key.into(),
        id: e.id.clone(),
        expected_version: e.version,
        name: e.name.clone(),
        email: e.email.clone(),
        legal_entity: e.legal_entity.clone(),
        location: e.location.clone(),
        region: e.region.clone(),
        labor_category: e.labor_category.clone(),
        cost_rate: e.cost_rate.clone(),
        utilization_target: e.utilization_target.clone(),
        manager_employee_number: e.manager_employee_number.clone(),
        active: e.active,
    }
}

/// Every HRIS check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("hris")
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
        .check("an employee number is unique", |c| Box::pin(duplicate_number(c)))
        .check("an unknown id is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("updates bump the version; a stale one is ABORTED", |c| {
            Box::pin(versions(c))
        })
        .check("employees page by token and filter", |c| Box::pin(paging(c)))
        .check("an expired certification never matches", |c| {
            Box::pin(expired_certification(c))
        })
        .check("time off reduces available hours", |c| Box::pin(time_off(c)))
        .check("skills below the minimum proficiency do not match", |c| {
            Box::pin(proficiency(c))
        })
        .check("an import reports bad rows by line and upserts the good", |c| {
            Box::pin(import(c))
        })
        .check("a missing required column refuses the import", |c| {
            Box::pin(import_header(c))
        })
}

/// Runs the HRIS kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn HrisAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let key = rules::key("employee");
    let number = format!("R{}", tag());
    let first = rules::replay_returns_first(|| c.create(new_employee(&key, &number)), "CreateEmployee").await?;
    ensure(first.version == 1, || {
        format!("a new employee is at version {}, not 1", first.version)
    })?;
    let stored = ok(c.get(&first.id).await, "GetEmployee")?;
    ensure(
        stored.employee_number == number && stored.cost_rate == first.cost_rate,
        || format!("the stored employee is {stored:?}"),
    )
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("employee");
    ok(
        c.create(new_employee(&key, &format!("M{}", tag()))).await,
        "CreateEmployee",
    )?;
    let status = refused(
        c.create(new_employee(&key, &format!("M{}", tag()))).await,
        "CreateEmployee with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let key = rules::key("employee");
    let number = format!("C{}", tag());
    let client = c.client();
    let requests: Vec<_> = (0..6).map(|_| c.harness.service(new_employee(&key, &number))).collect();
    let requests = std::sync::Mutex::new(requests);
    let id = rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.create_employee(request).await.map(|r| r.into_inner().id) }
        },
        "CreateEmployee",
    )
    .await?;
    ensure(!id.is_empty(), || "CreateEmployee returned no id".to_string())
}

async fn bad_input(c: &Context) -> rules::Outcome {
    type Edit = fn(&mut CreateEmployeeRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.email = "not-an-email".into(), "email"),
        (|r| r.region = "mars".into(), "region"),
        (
            |r| {
                r.cost_rate = Some(Money {
                    amount: "-1.00".into(),
                    currency: "GBP".into(),
                })
            },
            "cost_rate.amount",
        ),
        (|r| r.utilization_target = "75".into(), "utilization_target"),
        (
            |r| {
                r.skills = vec![Skill {
                    name: "rust".into(),
                    proficiency: 6,
                }]
            },
            "skills[0].proficiency",
        ),
        (
            |r| {
                r.languages = vec![keel_proto::hris::Language {
                    code: "english".into(),
                    level: "b2".into(),
                }]
            },
            "languages[0].code",
        ),
    ];
    let number = format!("B{}", tag());
    for (edit, field) in table {
        let mut request = new_employee(&rules::key("bad"), &number);
        edit(&mut request);
        let status = refused(c.create(request).await, &format!("CreateEmployee with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    // Nothing was written: the number is still free.
    ok(
        c.create(new_employee(&rules::key("good"), &number)).await,
        "CreateEmployee after the refused ones",
    )?;
    Ok(())
}

async fn duplicate_number(c: &Context) -> rules::Outcome {
    let number = format!("D{}", tag());
    ok(
        c.create(new_employee(&rules::key("dup"), &number)).await,
        "CreateEmployee",
    )?;
    let status = refused(
        c.create(new_employee(&rules::key("dup"), &number)).await,
        "CreateEmployee with a number on file",
    )?;
    expect_code(&status, Code::AlreadyExists, "CreateEmployee with a number on file")
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refused(c.get(&missing).await, "GetEmployee of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetEmployee of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    for role in [Role::Consultant, Role::ResourceManager, Role::Finance] {
        let status = refused(
            c.client()
                .create_employee(
                    c.harness
                        .reader(role, new_employee(&rules::key("reader"), &format!("W{}", tag()))),
                )
                .await,
            &format!("CreateEmployee as {role}"),
        )?;
        expect_code(&status, Code::PermissionDenied, &format!("CreateEmployee as {role}"))?;
    }
    Ok(())
}

async fn versions(c: &Context) -> rules::Outcome {
    let created = ok(
        c.create(new_employee(&rules::key("v"), &format!("V{}", tag()))).await,
        "CreateEmployee",
    )?;
    let mut client = c.client();
    let mut change = update_of(&created, &rules::key("update"));
    change.labor_category = "manager".into();
    let updated = ok(
        client.update_employee(c.harness.service(change)).await,
        "UpdateEmployee",
    )?
    .into_inner();
    ensure(updated.version == 2 && updated.labor_category == "manager", || {
        format!("after one update the employee is {updated:?}")
    })?;
    let skilled = ok(
        client
            .set_skills(c.harness.service(SetSkillsRequest {
                idempotency_key: rules::key("skills"),
                id: created.id.clone(),
                expected_version: 2,
                skills: vec![Skill {
                    name: "rust".into(),
                    proficiency: 4,
                }],
            }))
            .await,
        "SetSkills",
    )?
    .into_inner();
    ensure(skilled.version == 3 && skilled.skills.len() == 1, || {
        format!("after setting skills the employee is {skilled:?}")
    })?;
    let mut stale = update_of(&created, &rules::key("stale"));
    stale.name = "Someone Else".into();
    let status = refused(
        client.update_employee(c.harness.service(stale)).await,
        "UpdateEmployee at version 1",
    )?;
    rules::expect_stale(&status, "employee")?;
    let stored = ok(c.get(&created.id).await, "GetEmployee")?;
    ensure(stored.version == 3 && stored.name == created.name, || {
        format!("a stale update changed the employee: {stored:?}")
    })
}

async fn paging(c: &Context) -> rules::Outcome {
    let entity = format!("KEEL-{}", tag().to_uppercase());
    let mut seeded = Vec::new();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        let mut request = new_employee(&rules::key("page"), &format!("P{}-{i}", tag()));
        request.legal_entity = entity.clone();
        if i % 2 == 0 {
            request.labor_category = "analyst".into();
        }
        seeded.push(ok(c.create(request).await, "CreateEmployee")?.id);
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListEmployeesRequest {
                    page: Some(PageRequest { page_size, page_token }),
                    ..Default::default()
                },
            );
            async move {
                let page = client.list_employees(request).await?.into_inner();
                Ok((
                    page.employees.into_iter().map(|e| e.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await?;
    let analysts = ok(
        c.client()
            .list_employees(c.harness.reader(
                Role::ResourceManager,
                ListEmployeesRequest {
                    page: Some(PageRequest {
                        page_size: 100,
                        page_token: String::new(),
                    }),
                    legal_entity: entity.clone(),
                    region: "emea".into(),
                    labor_category: "analyst".into(),
                },
            ))
            .await,
        "ListEmployees with filters",
    )?
    .into_inner()
    .employees;
    ensure(
        analysts.len() == 53
            && analysts
                .iter()
                .all(|e| e.legal_entity == entity && e.labor_category == "analyst"),
        || {
            format!(
                "filtering by entity and category returned {} employees, not 53",
                analysts.len()
            )
        },
    )
}

/// An employee with one unique skill (so searches see only this check's people).
async fn skilled(c: &Context, skill: &str, proficiency: i32) -> Result<Employee, String> {
    let mut request = new_employee(&rules::key("cand"), &format!("S{}", tag()));
    request.skills = vec![Skill {
        name: skill.into(),
        proficiency,
    }];
    ok(c.create(request).await, "CreateEmployee")
}

async fn search(c: &Context, request: FindCandidatesRequest) -> Result<Vec<(String, String)>, String> {
    let found = ok(
        c.client()
            .find_candidates(c.harness.reader(Role::ResourceManager, request))
            .await,
        "FindCandidates",
    )?
    .into_inner();
    Ok(found
        .candidates
        .into_iter()
        .map(|c| (c.employee.map(|e| e.id).unwrap_or_default(), c.available_hours))
        .collect())
}

fn needs(skill: &str, min: i32, certifications: &[&str]) -> FindCandidatesRequest {
    FindCandidatesRequest {
        skills: vec![SkillRequirement {
            name: skill.into(),
            min_proficiency: min,
        }],
        certifications: certifications.iter().map(|s| s.to_string()).collect(),
        start_date: "2027-03-01".into(),
        end_date: "2027-03-31".into(),
        ..Default::default()
    }
}

async fn expired_certification(c: &Context) -> rules::Outcome {
    let skill = format!("skill-{}", tag());
    let mut people = Vec::new();
    for expires_on in ["2028-01-01", "2027-03-30", "2026-01-01", ""] {
        let e = skilled(c, &skill, 3).await?;
        let e = ok(
            c.client()
                .set_certifications(c.harness.service(SetCertificationsRequest {
                    idempotency_key: rules::key("cert"),
                    id: e.id.clone(),
                    expected_version: e.version,
                    certifications: vec![Certification {
                        name: "aws-sa".into(),
                        issued_on: "2025-01-01".into(),
                        expires_on: expires_on.into(),
                    }],
                }))
                .await,
            "SetCertifications",
        )?
        .into_inner();
        people.push(e.id);
    }
    let found: Vec<String> = search(c, needs(&skill, 1, &["aws-sa"]))
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ensure(found == [people[0].clone(), people[3].clone()], || {
        format!(
            "with aws-sa required through 2027-03-31 the search found {found:?}; expected only the valid ones {:?}",
            [&people[0], &people[3]]
        )
    })
}

async fn time_off(c: &Context) -> rules::Outcome {
    let skill = format!("skill-{}", tag());
    let free = skilled(c, &skill, 3).await?;
    let away = skilled(c, &skill, 3).await?;
    ok(
        c.client()
            .set_availability(c.harness.service(SetAvailabilityRequest {
                idempotency_key: rules::key("avail"),
                id: away.id.clone(),
                expected_version: away.version,
                weekly_capacity_hours: "40".into(),
                time_off: vec![TimeOff {
                    start_date: "2027-03-08".into(),
                    end_date: "2027-03-12".into(),
                    kind: "vacation".into(),
                }],
            }))
            .await,
        "SetAvailability",
    )?;
    // March 2027 has 23 weekdays; the vacation takes five of them.
    let found = search(c, needs(&skill, 1, &[])).await?;
    let expected = vec![
        (free.id.clone(), "184".to_string()),
        (away.id.clone(), "144".to_string()),
    ];
    ensure(found == expected, || {
        format!("available hours in March 2027 were {found:?}; expected {expected:?}")
    })
}

async fn proficiency(c: &Context) -> rules::Outcome {
    let skill = format!("skill-{}", tag());
    let _novice = skilled(c, &skill, 2).await?;
    let expert = skilled(c, &skill, 5).await?;
    let found: Vec<String> = search(c, needs(&skill, 4, &[]))
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ensure(found == [expert.id.clone()], || {
        format!(
            "a search for proficiency 4 found {found:?}, not only the expert {}",
            expert.id
        )
    })
}

const HEADER: &str = "employee_number,name,email,legal_entity,location,region,labor_category,cost_rate,currency,utilization_target,skills,certifications,languages";

async fn import(c: &Context) -> rules::Outcome {
    let t = tag();
    let row = |n: usize, email: &str, rate: &str, region: &str| {
        format!(
            "I{t}-{n},Ana Silva,{email},KEEL-UK,London,{region},consultant,{rate},GBP,0.8,rust:4;sql:3,aws-sa:2027-05-01,en:native;pt:c1"
        )
    };
    let mut lines = vec![HEADER.to_string()];
    for n in 0..20 {
        lines.push(match n {
            4 => row(n, "not-an-email", "70.00", "emea"),
            9 => row(n, "ana@keel.example", "-70.00", "emea"),
            15 => row(n, "ana@keel.example", "70.00", "mars"),
            _ => row(n, "ana@keel.example", "70.00", "emea"),
        });
    }
    let csv = lines.join("\n") + "\n";
    let key = rules::key("import");
    let (progress, report) = ok(c.import(&key, &csv).await, "ImportEmployees")?;
    ensure(
        report.rows_total == 20 && report.created == 17 && report.updated == 0,
        || format!("a 20-row import with 3 bad rows reported {report:?}"),
    )?;
    let rejected: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.errors.first().map(|e| e.field.as_str()).unwrap_or_default()))
        .collect();
    ensure(rejected == [(6, "email"), (11, "cost_rate"), (17, "region")], || {
        format!("the rejected rows were {rejected:?}; expected lines 6 email, 11 cost_rate, 17 region")
    })?;
    ensure(progress.iter().all(|(_, total)| *total == 20), || {
        format!("progress messages {progress:?} do not carry the row total")
    })?;
    let (_, again) = ok(c.import(&key, &csv).await, "ImportEmployees replayed")?;
    ensure(again == report, || {
        format!("the replayed import reported {again:?}, not {report:?}")
    })?;
    let changed = csv.replace(",70.00,GBP,", ",72.50,GBP,");
    let status = refused(
        c.import(&key, &changed).await,
        "ImportEmployees with a reused key and another file",
    )?;
    rules::expect_key_mismatch(&status)?;
    let (_, second) = ok(c.import(&rules::key("import"), &changed).await, "ImportEmployees again")?;
    ensure(second.created == 0 && second.updated == 17, || {
        format!("re-importing changed rates should update 17 and create none: {second:?}")
    })
}

async fn import_header(c: &Context) -> rules::Outcome {
    let csv = HEADER.replace(",email", "") + "\nX1,Ana,KEEL-UK,London,emea,consultant,70.00,GBP,0.8,,,\n";
    let status = refused(
        c.import(&rules::key("header"), &csv).await,
        "ImportEmployees without an email column",
    )?;
    expect_field(&status, "csv")?;
    let named = status
        .get_details_bad_request()
        .is_some_and(|br| br.field_violations.iter().any(|v| v.description.contains("email")));
    ensure(named || status.message().contains("email"), || {
        format!("the refusal does not name the email column: {}", status.message())
    })
}
