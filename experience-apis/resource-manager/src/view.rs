//! The `resourceManager` field's type: the resource manager's queries.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::paging::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, every_page, every_psa_project, next_cursor, page_of, page_request,
    rename_paging_fields, whole_page,
};
use keel_proto::hris::ListEmployeesRequest;
use keel_proto::psa::{self, ListResourceRequestsRequest, ListTimeEntriesOfProjectsRequest, ProjectIdsRequest};
use keel_proto::staffing::{ListStaffingRisksRequest, RankCandidatesBatchRequest};
use keel_proto::workflow::ListInstancesRequest;
use rust_decimal::Decimal;

use crate::capacity::{self, MAX_WEEKS, Period, Person, Utilization};
use crate::model::{
    OpenRequest, OpenRequestConnection, ResourceAvailability, ResourceAvailabilityConnection, ResourceUtilization,
    ResourceUtilizationConnection, StaffingApproval, StaffingApprovalConnection, StaffingRisk, StaffingRiskConnection,
};
use crate::{ALLOWED_ROLES, Backends};

/// The workflow kind of staffing instances.
pub(crate) const STAFFING_KIND: &str = "staffing";
/// Weeks the availability forecast covers when the caller does not say.
const DEFAULT_WEEKS: i32 = 12;
/// Free hours in a week that put a person on the bench when the caller does not say.
const DEFAULT_BENCH_HOURS: &str = "20";

/// The resource manager's view: what waits to be staffed and who could staff it. Open to
/// resource managers and executives.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResourceManagerView;

#[Object]
impl ResourceManagerView {
    /// Resource requests not yet filled (OPEN or PROPOSED), in PSA's order, each with the
    /// candidates staffing ranks for it. PSA pages every request, so a page may hold fewer
    /// than `first` (at most 100) unfilled ones; read on with `nextCursor` as `after` until it
    /// is null. One PSA call and, when candidates are asked for, one staffing call a page.
    async fn open_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<OpenRequestConnection> {
        let (downstream, backends) = open(ctx)?;
        let page = page_request(first, after).map_err(|e| e.extend())?;
        let request = downstream
            .request(ListResourceRequestsRequest {
                project_id: String::new(),
                state: 0,
                page: Some(page),
            })
            .map_err(|e| e.extend())?;
        let answer = downstream
            .call(
                "PSA ListResourceRequests",
                backends.psa.clone().list_resource_requests(request),
            )
            .await
            .map_err(|e| rename_paging_fields(e).extend())?;
        let mut nodes: Vec<OpenRequest> = answer
            .resource_requests
            .into_iter()
            .filter_map(OpenRequest::unfilled)
            .collect();
        let nodes_field = ctx.look_ahead().field("nodes");
        let wants_ranking = ["candidates", "noMatchReason", "rankingError"]
            .iter()
            .any(|f| nodes_field.field(f).exists());
        if wants_ranking && !nodes.is_empty() {
            let request = downstream
                .request(RankCandidatesBatchRequest {
                    resource_request_ids: nodes.iter().map(|n| n.id.to_string()).collect(),
                })
                .map_err(|e| e.extend())?;
            let rankings = downstream
                .call(
                    "staffing RankCandidatesBatch",
                    backends.staffing.clone().rank_candidates_batch(request),
                )
                .await
                .map_err(|e| e.extend())?
                .rankings;
            let mut by_id: HashMap<String, _> = rankings
                .into_iter()
                .map(|r| (r.resource_request_id.clone(), r))
                .collect();
            for node in &mut nodes {
                if let Some(ranking) = by_id.remove(node.id.as_str()) {
                    node.ranked(ranking);
                }
            }
        }
        Ok(OpenRequestConnection {
            nodes,
            next_cursor: next_cursor(answer.page),
        })
    }

    /// Staffing instances waiting for leadership's approval, oldest first, `first` (at most
    /// 100) at a time.
    async fn approvals_waiting(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<StaffingApprovalConnection> {
        let (downstream, backends) = open(ctx)?;
        let page = page_request(first, after).map_err(|e| e.extend())?;
        let request = downstream
            .request(ListInstancesRequest {
                page: Some(page),
                status: "awaiting_approval".into(),
                kind: STAFFING_KIND.into(),
            })
            .map_err(|e| e.extend())?;
        let answer = downstream
            .call(
                "staffing ListInstances",
                backends.workflow.clone().list_instances(request),
            )
            .await
            .map_err(|e| rename_paging_fields(e).extend())?;
        Ok(StaffingApprovalConnection {
            nodes: answer.instances.into_iter().map(StaffingApproval::from).collect(),
            next_cursor: next_cursor(answer.page),
        })
    }

    /// Staffing risks on projects' teams as the staffing process API recorded them (over-
    /// allocation, certifications expiring or missing, critical skills held by one person or
    /// nobody), each with its reason and figures, oldest first, `first` (at most 100) at a time.
    /// `statuses` (OPEN, ACKNOWLEDGED, DISMISSED, RESOLVED) defaults to OPEN; `projectIds` (at
    /// most 100) to every project. One staffing call a page.
    async fn staffing_risks(
        &self,
        ctx: &Context<'_>,
        project_ids: Option<Vec<async_graphql::ID>>,
        statuses: Option<Vec<String>>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<StaffingRiskConnection> {
        let (downstream, backends) = open(ctx)?;
        let page = page_request(first, after).map_err(|e| e.extend())?;
        let request = downstream
            .request(ListStaffingRisksRequest {
                project_ids: project_ids.unwrap_or_default().into_iter().map(|id| id.0).collect(),
                statuses: statuses.unwrap_or_else(|| vec!["OPEN".into()]),
                page_size: page.page_size,
                page_token: page.page_token,
            })
            .map_err(|e| e.extend())?;
        let answer = downstream
            .call(
                "staffing ListStaffingRisks",
                backends.staffing.clone().list_staffing_risks(request),
            )
            .await
            .map_err(|e| {
                keel_experience_common::actions::rename_fields(
                    rename_paging_fields(e),
                    &[("project_ids", "projectIds")],
                )
                .extend()
            })?;
        Ok(StaffingRiskConnection {
            nodes: answer.risks.into_iter().map(StaffingRisk::from).collect(),
            next_cursor: Some(answer.next_page_token).filter(|t| !t.is_empty()),
        })
    }

    /// Each person's utilization from `from` to `to` (`YYYY-MM-DD`, both inclusive): billable
    /// hours PSA holds as APPROVED or POSTED dated in the period ÷ capacity (HRIS weekly
    /// capacity × the period's working weeks of five weekdays), against their HRIS target; by
    /// employee id, `first` (at most 100) at a time. The active people, and anyone no longer
    /// active who billed in the period. One HRIS ListEmployees and one PSA ListProjects per
    /// hundred records and one PSA ListTimeEntriesOfProjects per hundred projects, shared with
    /// the other utilization and availability fields of the same request.
    async fn utilization_by_person(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ResourceUtilizationConnection> {
        utilization_page(ctx, &from, &to, Grouping::Person, first, after).await
    }

    /// The same figures summed by practice (HRIS labor category): billable and capacity hours
    /// of its people, their utilization, and their targets weighted by capacity.
    async fn utilization_by_practice(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ResourceUtilizationConnection> {
        utilization_page(ctx, &from, &to, Grouping::Practice, first, after).await
    }

    /// The same figures summed by HRIS region.
    async fn utilization_by_region(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ResourceUtilizationConnection> {
        utilization_page(ctx, &from, &to, Grouping::Region, first, after).await
    }

    /// Each active person's hours in each of the next `weeks` (1 to 26) weeks, the first being
    /// the week starting on the Monday on or after today (UTC): HRIS weekly capacity, what
    /// their PSA assignments take (allocation % of capacity for each weekday an assignment
    /// covers) and what is left; by week and employee id, `first` (at most 100) at a time.
    /// One PSA ListAssignmentsOfProjects per hundred projects, with the people and projects
    /// shared as for utilization.
    async fn availability_forecast(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_WEEKS")] weeks: i32,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ResourceAvailabilityConnection> {
        availability_page(ctx, weeks, None, first, after).await
    }

    /// The people on the bench in each of the next `weeks` weeks: those of the availability
    /// forecast with at least `minAvailableHours` (a decimal string, 20 unless given) free
    /// that week.
    async fn bench(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_WEEKS")] weeks: i32,
        #[graphql(default_with = "DEFAULT_BENCH_HOURS.to_string()")] min_available_hours: String,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ResourceAvailabilityConnection> {
        availability_page(ctx, weeks, Some(min_available_hours), first, after).await
    }
}

pub(crate) fn open<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = ctx
        .data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the resource manager view was mounted without its backends").extend())?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}

/// What a utilization list is summed by.
#[derive(Debug, Clone, Copy)]
enum Grouping {
    Person,
    Practice,
    Region,
}

async fn utilization_page(
    ctx: &Context<'_>,
    from: &str,
    to: &str,
    grouping: Grouping,
    first: i32,
    after: Option<String>,
) -> Result<ResourceUtilizationConnection> {
    let (downstream, backends) = open(ctx)?;
    utilization(&downstream, backends, from, to, grouping, first, after)
        .await
        .map_err(|e| e.extend())
}

async fn utilization(
    downstream: &Downstream,
    backends: &Backends,
    from: &str,
    to: &str,
    grouping: Grouping,
    first: i32,
    after: Option<String>,
) -> Result<ResourceUtilizationConnection, Error> {
    let period = Period::parse(from, to)?;
    keel_experience_common::paging::page_size(first)?;
    let (people, entries) = tokio::try_join!(people(downstream, backends), time_entries(downstream, backends))?;
    let rows = capacity::by_person(&people, &entries, &period)?;
    let rows: Vec<Utilization> = match grouping {
        Grouping::Person => rows,
        Grouping::Practice => capacity::rolled_up(&rows, |u| u.practice.clone(), true),
        Grouping::Region => capacity::rolled_up(&rows, |u| u.region.clone(), false),
    };
    let (page, next_cursor) = page_of(rows, |u| u.key.clone(), first, after.as_deref())?;
    Ok(ResourceUtilizationConnection {
        nodes: page.into_iter().map(ResourceUtilization::from).collect(),
        next_cursor,
    })
}

async fn availability_page(
    ctx: &Context<'_>,
    weeks: i32,
    min_available_hours: Option<String>,
    first: i32,
    after: Option<String>,
) -> Result<ResourceAvailabilityConnection> {
    let (downstream, backends) = open(ctx)?;
    availability(&downstream, backends, weeks, min_available_hours, first, after)
        .await
        .map_err(|e| e.extend())
}

async fn availability(
    downstream: &Downstream,
    backends: &Backends,
    weeks: i32,
    min_available_hours: Option<String>,
    first: i32,
    after: Option<String>,
) -> Result<ResourceAvailabilityConnection, Error> {
    let weeks = u32::try_from(weeks)
        .ok()
        .filter(|w| (1..=MAX_WEEKS as u32).contains(w))
        .ok_or_else(|| Error::invalid("weeks", format!("must be between 1 and {MAX_WEEKS}, got {weeks}")))?;
    let threshold = min_available_hours
        .map(|text| {
            text.trim()
                .parse::<Decimal>()
                .ok()
                .filter(|h| !h.is_sign_negative())
                .ok_or_else(|| {
                    Error::invalid(
                        "minAvailableHours",
                        format!("must be a decimal number of hours, zero or more, got {text:?}"),
                    )
                })
        })
        .transpose()?;
    keel_experience_common::paging::page_size(first)?;
    let (people, assignments) = tokio::try_join!(people(downstream, backends), assignments(downstream, backends))?;
    let start = capacity::first_week(chrono::Utc::now().date_naive());
    let rows: Vec<_> = capacity::forecast(&people, &assignments, start, weeks)?
        .into_iter()
        .filter(|row| threshold.is_none_or(|min| row.available() >= min))
        .collect();
    let (page, next_cursor) = page_of(rows, |r| r.key(), first, after.as_deref())?;
    Ok(ResourceAvailabilityConnection {
        nodes: page.into_iter().map(ResourceAvailability::from).collect(),
        next_cursor,
    })
}

/// Everyone HRIS holds, read once per request.
async fn people(downstream: &Downstream, backends: &Backends) -> Result<Arc<Vec<Person>>, Error> {
    downstream
        .once("HRIS ListEmployees", || async {
            let employees = every_page("HRIS", |token| async move {
                let request = downstream.request(ListEmployeesRequest {
                    page: whole_page(token),
                    ..Default::default()
                })?;
                let answer = downstream
                    .call("HRIS ListEmployees", backends.hris.clone().list_employees(request))
                    .await?;
                Ok((
                    answer.employees,
                    answer.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            })
            .await?;
            let people = employees.iter().map(Person::from_hris).collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(people))
        })
        .await
}

/// The ids of every PSA project, read once per request.
async fn project_ids(downstream: &Downstream, backends: &Backends) -> Result<Arc<Vec<String>>, Error> {
    downstream
        .once("PSA ListProjects ids", || async {
            let projects = every_psa_project(downstream, &backends.psa).await?;
            Ok(Arc::new(projects.iter().map(|p| p.id.clone()).collect()))
        })
        .await
}

/// Every time entry of every project, a hundred projects a call, read once per request.
async fn time_entries(downstream: &Downstream, backends: &Backends) -> Result<Arc<Vec<psa::TimeEntry>>, Error> {
    let ids = project_ids(downstream, backends).await?;
    downstream
        .once("PSA ListTimeEntriesOfProjects", || async {
            let mut entries = Vec::new();
            for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
                let request = downstream.request(ListTimeEntriesOfProjectsRequest {
                    project_ids: chunk.to_vec(),
                    state: 0,
                })?;
                let answer = downstream
                    .call(
                        "PSA ListTimeEntriesOfProjects",
                        backends.psa.clone().list_time_entries_of_projects(request),
                    )
                    .await?;
                entries.extend(answer.entries.into_iter().filter(capacity::counts_as_billable));
            }
            Ok(Arc::new(entries))
        })
        .await
}

/// Every assignment of every project, a hundred projects a call, read once per request.
async fn assignments(downstream: &Downstream, backends: &Backends) -> Result<Arc<Vec<psa::Assignment>>, Error> {
    let ids = project_ids(downstream, backends).await?;
    downstream
        .once("PSA ListAssignmentsOfProjects", || async {
            let mut assignments = Vec::new();
            for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
                let request = downstream.request(ProjectIdsRequest {
                    project_ids: chunk.to_vec(),
                })?;
                let answer = downstream
                    .call(
                        "PSA ListAssignmentsOfProjects",
                        backends.psa.clone().list_assignments_of_projects(request),
                    )
                    .await?;
                assignments.extend(answer.assignments);
            }
            Ok(Arc::new(assignments))
        })
        .await
}
