//! The system APIs staffing calls, over gRPC, as the `service` role, with a deadline on every
//! call: PSA (requests, projects, rate cards, assignments) and HRIS (candidates).

use std::time::Duration;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::common::PageRequest;
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{Candidate, Employee, FindCandidatesRequest, GetEmployeeRequest};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    Assignment, CreateAssignmentRequest, FillResourceRequestRequest, GetProjectRateCardRequest, GetProjectRequest,
    GetResourceRequestRequest, ListAssignmentsRequest, ListResourceRequestsRequest, Project, ProposeCandidateRequest,
    RateCard, ResourceRequest, ResourceRequestTransitionRequest,
};
use tonic::transport::Channel;

/// Pages read at most when listing a person's assignments.
const MAX_PAGES: usize = 20;
const PAGE_SIZE: u32 = 100;

/// Clients of PSA and HRIS.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    hris: HrisServiceClient<Channel>,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Downstream {
    /// Channels to each system API (they may be one channel in embedded mode).
    pub fn new(psa: Channel, hris: Channel, credentials: ServiceCredentials, timeout: Duration) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(psa),
            hris: HrisServiceClient::new(hris),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    pub async fn resource_request(&self, id: &str) -> Result<ResourceRequest, Error> {
        let request = self.request(GetResourceRequestRequest { id: id.to_string() })?;
        Ok(self.psa.clone().get_resource_request(request).await?.into_inner())
    }

    pub async fn project(&self, id: &str) -> Result<Project, Error> {
        let request = self.request(GetProjectRequest {
            id: id.to_string(),
            opportunity_id: String::new(),
        })?;
        Ok(self.psa.clone().get_project(request).await?.into_inner())
    }

    /// The project's rate card; `None` when it has none.
    pub async fn rate_card(&self, project_id: &str) -> Result<Option<RateCard>, Error> {
        let request = self.request(GetProjectRateCardRequest {
            project_id: project_id.to_string(),
        })?;
        keel_core::grpc::optional(
            self.psa
                .clone()
                .get_project_rate_card(request)
                .await
                .map(tonic::Response::into_inner)
                .map_err(Error::from),
        )
    }

    /// Every assignment of `employee_id`, on any project.
    pub async fn assignments_of(&self, employee_id: &str) -> Result<Vec<Assignment>, Error> {
        self.list_assignments("", employee_id).await
    }

    /// Every assignment on `project_id`, of anyone.
    pub async fn assignments_on(&self, project_id: &str) -> Result<Vec<Assignment>, Error> {
        self.list_assignments(project_id, "").await
    }

    /// Every resource request of `project_id`, in any state.
    pub async fn resource_requests_of(&self, project_id: &str) -> Result<Vec<ResourceRequest>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListResourceRequestsRequest {
                project_id: project_id.to_string(),
                state: 0,
                page: Some(PageRequest {
                    page_size: PAGE_SIZE,
                    page_token: token.clone(),
                }),
            })?;
            let page = self.psa.clone().list_resource_requests(request).await?.into_inner();
            all.extend(page.resource_requests);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    /// One HRIS employee, with their skills and certifications.
    pub async fn employee(&self, id: &str) -> Result<Employee, Error> {
        let request = self.request(GetEmployeeRequest { id: id.to_string() })?;
        Ok(self.hris.clone().get_employee(request).await?.into_inner())
    }

    async fn list_assignments(&self, project_id: &str, employee_id: &str) -> Result<Vec<Assignment>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListAssignmentsRequest {
                project_id: project_id.to_string(),
                employee_id: employee_id.to_string(),
                page: Some(PageRequest {
                    page_size: PAGE_SIZE,
                    page_token: token.clone(),
                }),
            })?;
            let page = self.psa.clone().list_assignments(request).await?.into_inner();
            all.extend(page.assignments);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    /// Up to `limit` HRIS candidates meeting `query`'s requirements.
    pub async fn candidates(&self, query: FindCandidatesRequest, limit: u32) -> Result<Vec<Candidate>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        while (all.len() as u32) < limit {
            let mut message = query.clone();
            message.page = Some(PageRequest {
                page_size: PAGE_SIZE.min(limit - all.len() as u32),
                page_token: token.clone(),
            });
            let page = self
                .hris
                .clone()
                .find_candidates(self.request(message)?)
                .await?
                .into_inner();
            all.extend(page.candidates);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        all.truncate(limit as usize);
        Ok(all)
    }

    pub async fn propose(&self, message: ProposeCandidateRequest) -> Result<ResourceRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().propose_candidate(request).await?.into_inner())
    }

    pub async fn withdraw(&self, message: ResourceRequestTransitionRequest) -> Result<ResourceRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().withdraw_proposal(request).await?.into_inner())
    }

    pub async fn create_assignment(&self, message: CreateAssignmentRequest) -> Result<Assignment, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().create_assignment(request).await?.into_inner())
    }

    pub async fn fill(&self, message: FillResourceRequestRequest) -> Result<ResourceRequest, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().fill_resource_request(request).await?.into_inner())
    }
}
