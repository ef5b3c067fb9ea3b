//! The system APIs time capture calls, over gRPC, as the `service` role, with a deadline on
//! every call.

use std::time::Duration;

use chrono::NaiveDate;

use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_proto::common::PageRequest;
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    GetProjectCodeRequest, PostExpensesRequest, PostTimeEntriesRequest, PostWorkResponse, ProjectCode,
};
use keel_proto::hris::hris_service_client::HrisServiceClient;
use keel_proto::hris::{Employee, GetEmployeeRequest};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    ApproveTimeEntryRequest, Assignment, Expense, GetExpenseRequest, GetTimeEntryRequest, ListAssignmentsRequest,
    ListTimeEntriesRequest, MarkExpensePostedRequest, MarkTimeEntryPostedRequest, RecordTimeEntriesRequest,
    RecordTimeEntryRequest, RejectTimeEntryRequest, SubmitTimeEntriesRequest, SubmitTimeEntriesResponse, TimeEntry,
    TimeEntryState,
};
use tonic::transport::Channel;

/// Pages read at most when listing a person's assignments or entries (500 a page).
const MAX_PAGES: usize = 40;
const PAGE_SIZE: u32 = 500;

/// Clients of PSA, ERP and HRIS.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
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
    pub fn new(
        psa: Channel,
        erp: Channel,
        hris: Channel,
        credentials: ServiceCredentials,
        timeout: Duration,
    ) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(psa),
            erp: ErpServiceClient::new(erp),
            hris: HrisServiceClient::new(hris),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    /// The person as HRIS records them: cost rate and legal entity.
    pub async fn employee(&self, id: &str) -> Result<Employee, Error> {
        let request = self.request(GetEmployeeRequest { id: id.to_string() })?;
        Ok(self.hris.clone().get_employee(request).await?.into_inner())
    }

    pub async fn get_time_entry(&self, id: &str) -> Result<TimeEntry, Error> {
        let request = self.request(GetTimeEntryRequest { id: id.to_string() })?;
        Ok(self.psa.clone().get_time_entry(request).await?.into_inner())
    }

    pub async fn record_time_entry(&self, message: RecordTimeEntryRequest) -> Result<TimeEntry, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().record_time_entry(request).await?.into_inner())
    }

    /// A timesheet recorded in one PSA call, all or none; [`Error::NotSupported`] from a PSA
    /// without it.
    pub async fn record_time_entries(&self, message: RecordTimeEntriesRequest) -> Result<Vec<TimeEntry>, Error> {
        let request = self.request(message)?;
        Ok(self
            .psa
            .clone()
            .record_time_entries(request)
            .await?
            .into_inner()
            .entries)
    }

    pub async fn submit_time_entries(
        &self,
        message: SubmitTimeEntriesRequest,
    ) -> Result<SubmitTimeEntriesResponse, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().submit_time_entries(request).await?.into_inner())
    }

    pub async fn approve_time_entry(&self, message: ApproveTimeEntryRequest) -> Result<TimeEntry, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().approve_time_entry(request).await?.into_inner())
    }

    pub async fn reject_time_entry(&self, message: RejectTimeEntryRequest) -> Result<TimeEntry, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().reject_time_entry(request).await?.into_inner())
    }

    pub async fn mark_time_entry_posted(&self, message: MarkTimeEntryPostedRequest) -> Result<TimeEntry, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().mark_time_entry_posted(request).await?.into_inner())
    }

    /// Every assignment of `employee_id` (on any project).
    pub async fn assignments_of(&self, employee_id: &str) -> Result<Vec<Assignment>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListAssignmentsRequest {
                project_id: String::new(),
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

    /// The time entries of `employee_id` (on any project; in `state` when given) that `keep`
    /// keeps, read a page at a time so that only the kept ones are held. PSA filters by person,
    /// state and, when `dates` are given, work dates (inclusive): a caller that needs a window
    /// of dates reads that window, not the person's history.
    pub async fn time_entries_of(
        &self,
        employee_id: &str,
        state: Option<TimeEntryState>,
        dates: Option<(NaiveDate, NaiveDate)>,
        keep: impl Fn(&TimeEntry) -> bool,
    ) -> Result<Vec<TimeEntry>, Error> {
        let (date_from, date_to) = dates.map_or((String::new(), String::new()), |(from, to)| {
            (from.to_string(), to.to_string())
        });
        let mut kept = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListTimeEntriesRequest {
                project_id: String::new(),
                employee_id: employee_id.to_string(),
                state: state.map_or(0, |s| s as i32),
                page: Some(PageRequest {
                    page_size: PAGE_SIZE,
                    page_token: token.clone(),
                }),
                date_from: date_from.clone(),
                date_to: date_to.clone(),
            })?;
            let page = self.psa.clone().list_time_entries(request).await?.into_inner();
            kept.extend(page.entries.into_iter().filter(|e| keep(e)));
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(kept)
    }

    pub async fn project_code_for_project(&self, project_id: &str) -> Result<ProjectCode, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })?;
        Ok(self.erp.clone().get_project_code(request).await?.into_inner())
    }

    pub async fn post_time_entries(&self, message: PostTimeEntriesRequest) -> Result<PostWorkResponse, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().post_time_entries(request).await?.into_inner())
    }

    pub async fn get_expense(&self, id: &str) -> Result<Expense, Error> {
        let request = self.request(GetExpenseRequest { id: id.to_string() })?;
        Ok(self.psa.clone().get_expense(request).await?.into_inner())
    }

    pub async fn mark_expense_posted(&self, message: MarkExpensePostedRequest) -> Result<Expense, Error> {
        let request = self.request(message)?;
        Ok(self.psa.clone().mark_expense_posted(request).await?.into_inner())
    }

    pub async fn post_expenses(&self, message: PostExpensesRequest) -> Result<PostWorkResponse, Error> {
        let request = self.request(message)?;
        Ok(self.erp.clone().post_expenses(request).await?.into_inner())
    }
}
