//! The `keel.hris.v1.HrisService` gRPC service: authorize, parse, call the adapter.

use keel_core::validate::parse_id;
use std::pin::Pin;
use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_proto::common::PageResponse;
use keel_proto::hris::hris_service_server::{HrisService, HrisServiceServer};
use keel_proto::hris::{
    CreateEmployeeRequest, Employee, FindCandidatesRequest, FindCandidatesResponse, GetEmployeeRequest,
    ImportEmployeesRequest, ImportProgress, ListEmployeesRequest, ListEmployeesResponse, SetAvailabilityRequest,
    SetCertificationsRequest, SetLanguagesRequest, SetSkillsRequest, UpdateEmployeeRequest,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::adapter::{HrisAdapter, ImportProgressSink};
use crate::domain::{CandidateQuery, EmployeeChange, EmployeeFilter, EmployeeImport, NewEmployee};

/// Roles that may change HR records: services acting on their own, and administrators.
const WRITERS: &[Role] = &[Role::Service, Role::Admin];
/// Every authenticated role may read.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Consultant,
    Role::Operations,
    Role::Service,
    Role::Admin,
];

/// Progress messages buffered for a slow caller before the import waits for it.
const PROGRESS_BUFFER: usize = 16;

pub struct HrisGrpcService {
    adapter: Arc<dyn HrisAdapter>,
}

impl HrisGrpcService {
    pub fn new(adapter: Arc<dyn HrisAdapter>) -> HrisGrpcService {
        HrisGrpcService { adapter }
    }
}

/// The tonic server for an adapter.
pub fn server(adapter: Arc<dyn HrisAdapter>) -> HrisServiceServer<HrisGrpcService> {
    HrisServiceServer::new(HrisGrpcService::new(adapter))
}

/// The stream `ImportEmployees` answers with.
pub type ImportStream = Pin<Box<dyn Stream<Item = Result<ImportProgress, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl HrisService for HrisGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "CreateEmployee"))]
    async fn create_employee(&self, request: Request<CreateEmployeeRequest>) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, employee) = NewEmployee::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_employee(&caller.subject, &key, employee).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetEmployee"))]
    async fn get_employee(&self, request: Request<GetEmployeeRequest>) -> Result<Response<Employee>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_employee(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListEmployees"))]
    async fn list_employees(
        &self,
        request: Request<ListEmployeesRequest>,
    ) -> Result<Response<ListEmployeesResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let filter = EmployeeFilter::new(&req.legal_entity, &req.region, &req.labor_category);
        let employees = self.adapter.list_employees(filter, page).await?;
        let last = employees.last().and_then(|e| e.id.parse().ok());
        let next_page_token = page.next_token(employees.len(), last);
        Ok(Response::new(ListEmployeesResponse {
            employees,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateEmployee"))]
    async fn update_employee(&self, request: Request<UpdateEmployeeRequest>) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = EmployeeChange::parse_update(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_employee(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetSkills"))]
    async fn set_skills(&self, request: Request<SetSkillsRequest>) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = EmployeeChange::parse_skills(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_employee(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetCertifications"))]
    async fn set_certifications(
        &self,
        request: Request<SetCertificationsRequest>,
    ) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = EmployeeChange::parse_certifications(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_employee(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetLanguages"))]
    async fn set_languages(&self, request: Request<SetLanguagesRequest>) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = EmployeeChange::parse_languages(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_employee(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "SetAvailability"))]
    async fn set_availability(&self, request: Request<SetAvailabilityRequest>) -> Result<Response<Employee>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = EmployeeChange::parse_availability(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_employee(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "FindCandidates"))]
    async fn find_candidates(
        &self,
        request: Request<FindCandidatesRequest>,
    ) -> Result<Response<FindCandidatesResponse>, Status> {
        authorize(&request, READERS)?;
        let (query, page) = CandidateQuery::parse(request.get_ref())?;
        let candidates = self.adapter.find_candidates(query, page).await?;
        let last = candidates
            .last()
            .and_then(|c| c.employee.as_ref())
            .and_then(|e| e.id.parse().ok());
        let next_page_token = page.next_token(candidates.len(), last);
        Ok(Response::new(FindCandidatesResponse {
            candidates,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    /// Checks the header at once (a missing required column refuses the call), then runs
    /// the import in its own task: it finishes even if the caller goes away, and a replay
    /// with the same key collects the report.
    #[tracing::instrument(skip_all, fields(rpc.method = "ImportEmployees"))]
    async fn import_employees(
        &self,
        request: Request<ImportEmployeesRequest>,
    ) -> Result<Response<ImportStream>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, import) = EmployeeImport::parse(request.get_ref())?;
        tracing::info!(rows_total = import.rows_total(), source = %import.source, "import accepted");
        let (answers, receiver) = mpsc::channel::<Result<ImportProgress, Status>>(PROGRESS_BUFFER);
        let adapter = self.adapter.clone();
        tokio::spawn(async move {
            let (sink, mut progress) = ImportProgressSink::channel(PROGRESS_BUFFER);
            let run = adapter.import_employees(&caller.subject, &key, import, sink);
            let forward = {
                let answers = answers.clone();
                async move {
                    while let Some(p) = progress.recv().await {
                        let _ = answers.send(Ok(p)).await;
                    }
                }
            };
            let (result, ()) = tokio::join!(run, forward);
            let last = match result {
                Ok(report) => Ok(ImportProgress {
                    rows_processed: report.rows_total,
                    rows_total: report.rows_total,
                    report: Some(report),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "import failed");
                    Err(Status::from(e))
                }
            };
            let _ = answers.send(last).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}
