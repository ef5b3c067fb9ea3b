//! Small in-test stand-ins for the PSA and ERP system APIs and the project-setup process API,
//! served by a real tonic server with the standard health service. They answer fixed data,
//! refuse a call that carries no bearer token or no deadline (as the real services would
//! refuse a call without a caller), and record what they saw.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use keel_core::Error;
use keel_proto::common::{Money, PageResponse};
use keel_proto::erp::erp_service_server::{ErpService, ErpServiceServer};
use keel_proto::erp::{
    Budget, CreateProjectCodeRequest, GetProjectCodeRequest, ListProjectCodesOfProjectsRequest,
    ListProjectCodesRequest, ListProjectCodesResponse, PostBudgetRequest, ProjectCode,
};
use keel_proto::projectsetup::project_setup_service_server::{ProjectSetupService, ProjectSetupServiceServer};
use keel_proto::projectsetup::{
    GetSetupRequest, ListExceptionsRequest, ListSetupsRequest, ListSetupsResponse, Setup, SetupState, StartSetupRequest,
};
use keel_proto::psa::psa_service_server::{PsaService, PsaServiceServer};
use keel_proto::psa::{
    Assignment, BatchGetProjectsResponse, ListAssignmentsRequest, ListAssignmentsResponse, ProjectIdsRequest,
};
use keel_proto::psa::{
    BudgetBaseline, BudgetLine, CreateProjectRequest, DeliveryTemplate, GetProjectRequest,
    ListDeliveryTemplatesRequest, ListDeliveryTemplatesResponse, ListProjectsRequest, ListProjectsResponse, Milestone,
    Phase, Project, ProjectStatus, Task, UpsertDeliveryTemplateRequest,
};
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The person PSA assigns as the engagement manager of both projects.
pub const PROJECT_MANAGER: &str = "0190f2a0-0000-7000-8000-0000000000a1";

/// The project with an ERP code and a posted budget.
pub const PROJECT_WITH_CODE: &str = "0190f2a0-0000-7000-8000-000000000001";
/// The project ERP has not opened a code for yet.
pub const PROJECT_WITHOUT_CODE: &str = "0190f2a0-0000-7000-8000-000000000002";
/// A well-formed id PSA does not know.
pub const UNKNOWN_PROJECT: &str = "0190f2a0-0000-7000-8000-0000000000ff";

pub const PSA_SERVICE: &str = "keel.psa.v1.PsaService";
pub const ERP_SERVICE: &str = "keel.erp.v1.ErpService";
pub const PROJECT_SETUP_SERVICE: &str = "keel.projectsetup.v1.ProjectSetupService";

/// What the stand-ins saw, and the setups they serve (tests change these).
#[derive(Clone, Default)]
pub struct Recorded {
    /// The `authorization` value of every call, in arrival order.
    pub authorizations: Arc<Mutex<Vec<String>>>,
    pub list_setups_calls: Arc<AtomicUsize>,
    pub setups: Arc<Mutex<Vec<Setup>>>,
}

impl Recorded {
    /// Checks the call carries a bearer token and a deadline, and records the token.
    fn caller<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        if request.metadata().get("grpc-timeout").is_none() {
            return Err(Status::invalid_argument("call without a deadline"));
        }
        self.authorizations.lock().unwrap().push(authorization.to_string());
        Ok(())
    }
}

/// The stand-ins' tonic server on 127.0.0.1:0, with the health service reporting all three
/// services `SERVING`.
pub struct Backends {
    pub addr: SocketAddr,
    pub recorded: Recorded,
    pub health: HealthReporter,
}

impl Backends {
    pub async fn spawn() -> Backends {
        let recorded = Recorded::default();
        *recorded.setups.lock().unwrap() = setups();
        let (health, health_service) = tonic_health::server::health_reporter();
        for service in [PSA_SERVICE, ERP_SERVICE, PROJECT_SETUP_SERVICE] {
            health.set_service_status(service, ServingStatus::Serving).await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(PsaServiceServer::new(FakePsa(recorded.clone())))
            .add_service(ErpServiceServer::new(FakeErp(recorded.clone())))
            .add_service(ProjectSetupServiceServer::new(FakeProjectSetup(recorded.clone())))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(server);
        Backends { addr, recorded, health }
    }
}

fn usd(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "USD".into(),
    })
}

fn project(id: &str, name: &str) -> Project {
    Project {
        id: id.into(),
        opportunity_id: "0190f2a0-0000-7000-8000-0000000000a1".into(),
        account_id: "0190f2a0-0000-7000-8000-0000000000b1".into(),
        name: name.into(),
        status: ProjectStatus::Active as i32,
        template_id: "erp-fixed-fee-emea".into(),
        template_version: 3,
        version: 1,
        service_line: "erp".into(),
        contract_type: "fixed-fee".into(),
        region: "emea".into(),
        client_tier: "strategic".into(),
        contract_value: usd("1250000.00"),
        start_date: "2025-03-01".into(),
        phases: vec![Phase {
            name: "Discovery".into(),
            tasks: vec![Task {
                name: "Fit-gap workshops".into(),
                role: "solution-architect".into(),
                planned_hours: "80.5".into(),
            }],
        }],
        milestones: vec![Milestone {
            id: "1".into(),
            name: "Blueprint signed".into(),
            amount: usd("250000.00"),
            due_date: "2025-04-15".into(),
        }],
        budget_baseline: Some(BudgetBaseline {
            lines: vec![BudgetLine {
                role: "solution-architect".into(),
                hours: "80.5".into(),
                amount: usd("20125.00"),
            }],
            total_hours: "80.5".into(),
            total: usd("20125.00"),
        }),
        audit: None,
    }
}

/// Two setups: one completed, one stopped in the exception list.
fn setups() -> Vec<Setup> {
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    vec![
        Setup {
            id: "0190f2a0-0000-7000-8000-0000000000c1".into(),
            opportunity_id: "0190f2a0-0000-7000-8000-0000000000a1".into(),
            opportunity_name: "Acme ERP rollout".into(),
            state: SetupState::Completed as i32,
            step: "done".into(),
            template_id: "erp-fixed-fee-emea".into(),
            project_id: PROJECT_WITH_CODE.into(),
            project_code: "PRJ-000001".into(),
            attempts: 1,
            created_at: at(1_750_000_000),
            updated_at: at(1_750_000_100),
            ..Default::default()
        },
        Setup {
            id: "0190f2a0-0000-7000-8000-0000000000c2".into(),
            opportunity_id: "0190f2a0-0000-7000-8000-0000000000a2".into(),
            opportunity_name: "Globex finance transformation".into(),
            state: SetupState::Exception as i32,
            step: "validate".into(),
            exception_code: "MISSING_FIELD".into(),
            exception_reason: "the opportunity has no region".into(),
            exception_fields: vec!["region".into()],
            attempts: 3,
            created_at: at(1_750_000_200),
            updated_at: at(1_750_000_300),
            ..Default::default()
        },
    ]
}

/// An id the real services would accept: a hyphenated UUID.
fn check_uuid(field: &str, id: &str) -> Result<(), Status> {
    let well_formed = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("{id:?} is not a UUID")).into())
    }
}

/// Index-based paging over `items`: a token is the index of the next item.
fn page<T: Clone>(items: &[T], page_size: u32, token: &str) -> Result<(Vec<T>, String), Status> {
    let size = if page_size == 0 { 50 } else { page_size as usize };
    let start = if token.is_empty() {
        0
    } else {
        token
            .parse::<usize>()
            .map_err(|_| Status::from(Error::invalid("page.page_token", "is not a token this service issued")))?
    };
    let end = (start + size).min(items.len());
    let next = if end < items.len() {
        end.to_string()
    } else {
        String::new()
    };
    Ok((items.get(start..end).unwrap_or_default().to_vec(), next))
}

struct FakePsa(Recorded);

#[tonic::async_trait]
impl PsaService for FakePsa {
    async fn upsert_delivery_template(
        &self,
        _: Request<UpsertDeliveryTemplateRequest>,
    ) -> Result<Response<DeliveryTemplate>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn list_delivery_templates(
        &self,
        _: Request<ListDeliveryTemplatesRequest>,
    ) -> Result<Response<ListDeliveryTemplatesResponse>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn create_project(&self, _: Request<CreateProjectRequest>) -> Result<Response<Project>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn get_project(&self, request: Request<GetProjectRequest>) -> Result<Response<Project>, Status> {
        self.0.caller(&request)?;
        let id = &request.get_ref().id;
        check_uuid("id", id)?;
        match id.as_str() {
            PROJECT_WITH_CODE => Ok(Response::new(project(PROJECT_WITH_CODE, "Acme ERP rollout"))),
            PROJECT_WITHOUT_CODE => Ok(Response::new(project(
                PROJECT_WITHOUT_CODE,
                "Globex finance transformation",
            ))),
            _ => Err(Error::not_found("project", id.clone()).into()),
        }
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Result<Response<ListProjectsResponse>, Status> {
        self.0.caller(&request)?;
        let paging = request.get_ref().page.clone().unwrap_or_default();
        let all = [
            project(PROJECT_WITH_CODE, "Acme ERP rollout"),
            project(PROJECT_WITHOUT_CODE, "Globex finance transformation"),
        ];
        let (projects, next_page_token) = page(&all, paging.page_size, &paging.page_token)?;
        Ok(Response::new(ListProjectsResponse {
            projects,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        self.0.caller(&request)?;
        let r = request.get_ref();
        let assignments = if r.employee_id == PROJECT_MANAGER {
            [PROJECT_WITH_CODE, PROJECT_WITHOUT_CODE]
                .into_iter()
                .map(|project_id| Assignment {
                    id: format!("a-{project_id}"),
                    project_id: project_id.into(),
                    employee_id: PROJECT_MANAGER.into(),
                    person_name: "Greta Manager".into(),
                    role: "engagement-manager".into(),
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Response::new(ListAssignmentsResponse {
            assignments,
            page: Some(PageResponse::default()),
        }))
    }

    async fn batch_get_projects(
        &self,
        request: Request<ProjectIdsRequest>,
    ) -> Result<Response<BatchGetProjectsResponse>, Status> {
        self.0.caller(&request)?;
        let projects = [
            project(PROJECT_WITH_CODE, "Acme ERP rollout"),
            project(PROJECT_WITHOUT_CODE, "Globex finance transformation"),
        ]
        .into_iter()
        .filter(|p| request.get_ref().project_ids.contains(&p.id))
        .collect();
        Ok(Response::new(BatchGetProjectsResponse { projects }))
    }
}

/// The ERP project code of [`PROJECT_WITH_CODE`], its budget posted.
fn project_code() -> ProjectCode {
    ProjectCode {
        id: "0190f2a0-0000-7000-8000-0000000000d1".into(),
        code: "PRJ-000001".into(),
        project_id: PROJECT_WITH_CODE.into(),
        name: "Acme ERP rollout".into(),
        legal_entity: "keel-us".into(),
        currency: "USD".into(),
        status: keel_proto::erp::ProjectCodeStatus::Open as i32,
        budget: Some(Budget {
            project_code: "PRJ-000001".into(),
            lines: vec![],
            total: usd("20125.00"),
            version: 1,
        }),
        version: 1,
        audit: None,
    }
}

struct FakeErp(Recorded);

#[tonic::async_trait]
impl ErpService for FakeErp {
    async fn create_project_code(&self, _: Request<CreateProjectCodeRequest>) -> Result<Response<ProjectCode>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn get_project_code(&self, request: Request<GetProjectCodeRequest>) -> Result<Response<ProjectCode>, Status> {
        self.0.caller(&request)?;
        let project_id = &request.get_ref().project_id;
        if project_id != PROJECT_WITH_CODE {
            return Err(Error::not_found("project code for project", project_id.clone()).into());
        }
        Ok(Response::new(project_code()))
    }

    async fn list_project_codes(
        &self,
        _: Request<ListProjectCodesRequest>,
    ) -> Result<Response<ListProjectCodesResponse>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn post_budget(&self, _: Request<PostBudgetRequest>) -> Result<Response<Budget>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn list_project_codes_of_projects(
        &self,
        request: Request<ListProjectCodesOfProjectsRequest>,
    ) -> Result<Response<ListProjectCodesResponse>, Status> {
        self.0.caller(&request)?;
        let project_codes = if request.get_ref().project_ids.iter().any(|id| id == PROJECT_WITH_CODE) {
            vec![project_code()]
        } else {
            Vec::new()
        };
        Ok(Response::new(ListProjectCodesResponse {
            project_codes,
            page: None,
        }))
    }
}

struct FakeProjectSetup(Recorded);

#[tonic::async_trait]
impl ProjectSetupService for FakeProjectSetup {
    async fn start_setup(&self, _: Request<StartSetupRequest>) -> Result<Response<Setup>, Status> {
        Err(Status::unimplemented("not in this stand-in"))
    }

    async fn get_setup(&self, request: Request<GetSetupRequest>) -> Result<Response<Setup>, Status> {
        self.0.caller(&request)?;
        let opportunity_id = &request.get_ref().opportunity_id;
        check_uuid("opportunity_id", opportunity_id)?;
        let setups = self.0.setups.lock().unwrap();
        setups
            .iter()
            .find(|s| &s.opportunity_id == opportunity_id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Error::not_found("setup", opportunity_id.clone()).into())
    }

    async fn list_setups(&self, request: Request<ListSetupsRequest>) -> Result<Response<ListSetupsResponse>, Status> {
        self.0.caller(&request)?;
        self.0.list_setups_calls.fetch_add(1, Ordering::SeqCst);
        let all = self.0.setups.lock().unwrap().clone();
        let (setups, next_page_token) = page(&all, request.get_ref().page_size, &request.get_ref().page_token)?;
        Ok(Response::new(ListSetupsResponse {
            setups,
            next_page_token,
        }))
    }

    async fn list_exceptions(
        &self,
        request: Request<ListExceptionsRequest>,
    ) -> Result<Response<ListSetupsResponse>, Status> {
        self.0.caller(&request)?;
        let exceptions: Vec<Setup> = self
            .0
            .setups
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.state == SetupState::Exception as i32)
            .cloned()
            .collect();
        let (setups, next_page_token) = page(&exceptions, request.get_ref().page_size, &request.get_ref().page_token)?;
        Ok(Response::new(ListSetupsResponse {
            setups,
            next_page_token,
        }))
    }
}
