//! The system APIs delivery health reads, over gRPC, as the `service` role, with a deadline
//! on every call, and the gathering of one project's [`Facts`] from them.

use std::time::Duration;

use chrono::NaiveDate;
use keel_auth::ServiceCredentials;
use keel_core::Error;
use keel_core::grpc::{answer, optional};
use keel_proto::common::{Money, PageRequest};
use keel_proto::erp::erp_service_client::ErpServiceClient;
use keel_proto::erp::{
    BillingMilestone, GetProjectCodeRequest, ListBillingMilestonesRequest, ListProjectCodesOfProjectsRequest,
    MilestoneStatus,
};
use keel_proto::psa::psa_service_client::PsaServiceClient;
use keel_proto::psa::{
    Assignment, AssignmentState, GetProjectActualsRequest, GetProjectRateCardRequest, GetProjectRequest,
    ListAssignmentsRequest, ListProjectsRequest, ListTimeEntriesRequest, Project, RoleActuals, TimeEntry,
    TimeEntryState,
};
use keel_proto::support::GetProjectSupportSummaryRequest;
use keel_proto::support::support_service_client::SupportServiceClient;
use rust_decimal::Decimal;
use tonic::transport::Channel;

use crate::health::{Facts, LineFacts, MilestoneFacts};
use crate::insight::InsightReads;

/// Pages read at most when listing (500 a page): a project with more is read in part, and
/// the evaluation fails rather than report a partial number.
const MAX_PAGES: usize = 40;
const PAGE_SIZE: u32 = 500;

/// Clients of PSA, ERP and support.
#[derive(Clone)]
pub struct Downstream {
    psa: PsaServiceClient<Channel>,
    erp: ErpServiceClient<Channel>,
    support: SupportServiceClient<Channel>,
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

/// A decimal string a system API sent; empty reads as zero.
fn decimal(what: &str, text: &str) -> Result<Decimal, Error> {
    if text.trim().is_empty() {
        return Ok(Decimal::ZERO);
    }
    text.trim()
        .parse()
        .map_err(|_| Error::internal(format!("{what} is not a decimal: {text:?}")))
}

fn amount(what: &str, money: Option<&Money>) -> Result<(Decimal, String), Error> {
    match money {
        Some(m) => Ok((decimal(what, &m.amount)?, m.currency.clone())),
        None => Ok((Decimal::ZERO, String::new())),
    }
}

/// One PSA actuals line as facts: actual = approved + posted.
fn line(actuals: &RoleActuals) -> Result<LineFacts, Error> {
    let (baseline_amount, baseline_currency) = amount("baseline_amount", actuals.baseline_amount.as_ref())?;
    let (approved_amount, approved_currency) = amount("approved_amount", actuals.approved_amount.as_ref())?;
    let (posted_amount, _) = amount("posted_amount", actuals.posted_amount.as_ref())?;
    let currency = if baseline_currency.is_empty() {
        approved_currency
    } else {
        baseline_currency
    };
    Ok(LineFacts {
        role: actuals.role.clone(),
        baseline_hours: decimal("baseline_hours", &actuals.baseline_hours)?,
        actual_hours: decimal("approved_hours", &actuals.approved_hours)?
            + decimal("posted_hours", &actuals.posted_hours)?,
        baseline_amount,
        actual_amount: approved_amount + posted_amount,
        currency,
    })
}

fn milestone(m: &BillingMilestone) -> Result<MilestoneFacts, Error> {
    let due_date = NaiveDate::parse_from_str(&m.due_date, "%Y-%m-%d")
        .map_err(|_| Error::internal(format!("milestone {} due date {:?} is not a date", m.id, m.due_date)))?;
    let status = MilestoneStatus::try_from(m.status).unwrap_or(MilestoneStatus::Unspecified);
    Ok(MilestoneFacts {
        id: m.id.clone(),
        name: m.name.clone(),
        due_date,
        reached: matches!(status, MilestoneStatus::Reached | MilestoneStatus::Invoiced),
        status: status.as_str_name().trim_start_matches("MILESTONE_STATUS_").to_string(),
    })
}

impl Downstream {
    /// Channels to each system API (they may be one channel in embedded mode).
    pub fn new(
        psa: Channel,
        erp: Channel,
        support: Channel,
        credentials: ServiceCredentials,
        timeout: Duration,
    ) -> Downstream {
        Downstream {
            psa: PsaServiceClient::new(psa),
            erp: ErpServiceClient::new(erp),
            support: SupportServiceClient::new(support),
            credentials,
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        self.credentials.request(message, self.timeout)
    }

    fn page(token: &str) -> Option<PageRequest> {
        Some(PageRequest {
            page_size: PAGE_SIZE,
            page_token: token.to_string(),
        })
    }

    /// Hours of the project's time entries SUBMITTED and not yet approved.
    async fn unapproved_hours(&self, project_id: &str) -> Result<Decimal, Error> {
        let mut total = Decimal::ZERO;
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListTimeEntriesRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                state: TimeEntryState::Submitted as i32,
                page: Self::page(&token),
                ..Default::default()
            })?;
            let page = answer(
                "PSA ListTimeEntries",
                self.timeout,
                self.psa.clone().list_time_entries(request),
            )
            .await?;
            for entry in &page.entries {
                total += decimal("time entry hours", &entry.hours)?;
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(total);
            }
        }
        Err(Error::internal(format!(
            "project {project_id} has more submitted entries than one evaluation reads"
        )))
    }

    /// The project's active assignments.
    pub async fn assignments(&self, project_id: &str) -> Result<Vec<Assignment>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListAssignmentsRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                page: Self::page(&token),
            })?;
            let page = answer(
                "PSA ListAssignments",
                self.timeout,
                self.psa.clone().list_assignments(request),
            )
            .await?;
            all.extend(
                page.assignments
                    .into_iter()
                    .filter(|a| a.state == AssignmentState::Active as i32),
            );
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    /// ERP's billing milestones of the project; `None` when ERP has no project code for it.
    async fn milestones(&self, project_id: &str) -> Result<Option<Vec<MilestoneFacts>>, Error> {
        let request = self.request(GetProjectCodeRequest {
            code: String::new(),
            project_id: project_id.to_string(),
        })?;
        let code = optional(
            answer(
                "ERP GetProjectCode",
                self.timeout,
                self.erp.clone().get_project_code(request),
            )
            .await,
        )?;
        let Some(code) = code else {
            return Ok(None);
        };
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListBillingMilestonesRequest {
                project_code: code.code.clone(),
                page: Self::page(&token),
            })?;
            let page = answer(
                "ERP ListBillingMilestones",
                self.timeout,
                self.erp.clone().list_billing_milestones(request),
            )
            .await?;
            for m in &page.milestones {
                all.push(milestone(m)?);
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(Some(all))
    }

    /// Every project PSA holds.
    pub async fn projects(&self) -> Result<Vec<Project>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListProjectsRequest {
                page: Self::page(&token),
            })?;
            let page = answer(
                "PSA ListProjects",
                self.timeout,
                self.psa.clone().list_projects(request),
            )
            .await?;
            all.extend(page.projects);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    /// Everything the health of `project_id` is computed from, as of `today`.
    pub async fn facts(&self, project_id: &str, today: NaiveDate) -> Result<Facts, Error> {
        let project_request = self.request(GetProjectRequest {
            id: project_id.to_string(),
            opportunity_id: String::new(),
        })?;
        let project = answer(
            "PSA GetProject",
            self.timeout,
            self.psa.clone().get_project(project_request),
        )
        .await?;
        let actuals_request = self.request(GetProjectActualsRequest {
            project_id: project_id.to_string(),
        })?;
        let support_request = self.request(GetProjectSupportSummaryRequest {
            project_id: project_id.to_string(),
        })?;
        let mut psa = self.psa.clone();
        let mut support = self.support.clone();
        let (actuals, unapproved_hours, milestones, support) = tokio::try_join!(
            answer(
                "PSA GetProjectActuals",
                self.timeout,
                psa.get_project_actuals(actuals_request)
            ),
            self.unapproved_hours(project_id),
            self.milestones(project_id),
            answer(
                "support GetProjectSupportSummary",
                self.timeout,
                support.get_project_support_summary(support_request)
            ),
        )?;
        let total = match actuals.total.as_ref() {
            Some(total) => line(total)?,
            None => return Err(Error::internal("PSA actuals carry no total")),
        };
        let roles = actuals.roles.iter().map(line).collect::<Result<Vec<_>, _>>()?;
        Ok(Facts {
            project_id: project.id,
            project_name: project.name,
            today,
            total,
            roles,
            milestones,
            unapproved_hours,
            open_high_severity_tickets: support.open_high + support.open_critical,
            open_escalated_tickets: support.open_escalated,
        })
    }

    /// The project's SUBMITTED, APPROVED and POSTED time entries.
    async fn time_entries(&self, project_id: &str) -> Result<Vec<TimeEntry>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let request = self.request(ListTimeEntriesRequest {
                project_id: project_id.to_string(),
                employee_id: String::new(),
                state: TimeEntryState::Unspecified as i32,
                page: Self::page(&token),
                ..Default::default()
            })?;
            let page = answer(
                "PSA ListTimeEntries",
                self.timeout,
                self.psa.clone().list_time_entries(request),
            )
            .await?;
            all.extend(page.entries.into_iter().filter(|e| {
                [
                    TimeEntryState::Submitted,
                    TimeEntryState::Approved,
                    TimeEntryState::Posted,
                ]
                .iter()
                .any(|s| *s as i32 == e.state)
            }));
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(all);
            }
        }
        Err(Error::internal(format!(
            "project {project_id} has more time entries than one evaluation reads"
        )))
    }

    /// What the margin forecast and the anomaly detector read beyond the health facts: the
    /// project, its time entries and assignments, the rate card's bill rates, and ERP's time
    /// cost on its project code.
    pub async fn insight_reads(&self, project_id: &str) -> Result<InsightReads, Error> {
        let project_request = self.request(GetProjectRequest {
            id: project_id.to_string(),
            opportunity_id: String::new(),
        })?;
        let card_request = self.request(GetProjectRateCardRequest {
            project_id: project_id.to_string(),
        })?;
        let financials_request = self.request(ListProjectCodesOfProjectsRequest {
            project_ids: vec![project_id.to_string()],
        })?;
        let (mut psa, mut psa_card, mut erp) = (self.psa.clone(), self.psa.clone(), self.erp.clone());
        let (project, entries, assignments, card, financials) = tokio::try_join!(
            answer("PSA GetProject", self.timeout, psa.get_project(project_request)),
            self.time_entries(project_id),
            self.assignments(project_id),
            async {
                optional(
                    answer(
                        "PSA GetProjectRateCard",
                        self.timeout,
                        psa_card.get_project_rate_card(card_request),
                    )
                    .await,
                )
            },
            answer(
                "ERP ListProjectFinancialsOfProjects",
                self.timeout,
                erp.list_project_financials_of_projects(financials_request)
            ),
        )?;
        let mut bill_rates = std::collections::HashMap::new();
        for rate in card.map(|c| c.rates).unwrap_or_default() {
            let (amount, _) = amount("bill_rate", rate.bill_rate.as_ref())?;
            bill_rates.insert(rate.role, amount);
        }
        let time_cost = match financials.financials.iter().find(|f| f.project_id == project_id) {
            Some(f) => Some(amount("time_cost", f.time_cost.as_ref())?.0),
            None => None,
        };
        Ok(InsightReads {
            project,
            entries,
            assignments,
            bill_rates,
            time_cost,
        })
    }
}
