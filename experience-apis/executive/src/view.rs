//! The `executive` field's type: the executive's queries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use chrono::NaiveDate;
use keel_core::{Currency, Error};
use keel_experience_common::paging::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, every_page, every_psa_project, next_cursor, page_of, page_request, page_size,
    rename_paging_fields, whole_page,
};
use keel_experience_common::{Downstream, Money};
use keel_proto::billing::ListMilestoneReadinessRequest;
use keel_proto::erp::{
    Journal, ListJournalsRequest, ListProjectCodesOfProjectsRequest, ProjectCode, ProjectFinancials,
};
use keel_proto::psa::{self, ListProjectsRequest, ListTimeEntriesOfProjectsRequest};
use keel_proto::workflow::{
    ExceptionEpisode, GetCountsRequest, Instance, ListExceptionHistoryRequest, ListInstancesRequest,
};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::compliance;
use crate::kpis::{self, Breakdown, ExceptionRate, WeeklyDurations};
use crate::margin::{self, Booked};
use crate::model::{
    ExecutiveApprovalTurnaround, ExecutiveApprovalTurnaroundConnection, ExecutiveCycleTime,
    ExecutiveCycleTimeConnection, ExecutiveExceptionRate, ExecutiveExceptionRateConnection,
    ExecutiveIntegrationLatency, ExecutiveIntegrationLatencyConnection, ExecutiveInvoiceReadiness,
    ExecutiveInvoiceReadinessConnection, ExecutiveMarginVariance, ExecutiveMarginVarianceConnection,
    ExecutiveMarginVarianceRollup, ExecutiveMarginVarianceRollupConnection, ExecutivePortfolio,
    ExecutivePortfolioTotal, ExecutiveProject, ExecutiveTimeEntryCompliance, ExecutiveTimeEntryComplianceConnection,
};
use crate::operating::{self, MarginVariance, VarianceRollup};
use crate::{ALLOWED_ROLES, Backends, WorkflowSource};

/// The executive's view: the portfolio's money and the operating KPIs. Open to executives.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecutiveView;

#[Object]
impl ExecutiveView {
    /// The projects in PSA's order, `first` (at most 100) at a time, each with its contract
    /// value and what ERP booked to its code: revenue, cost and margin; and the page's totals
    /// by currency. One PSA call, one ERP call for the codes when they are asked for, and one
    /// ERP call per hundred journals of the ledger when revenue, cost, margin or the totals
    /// are.
    async fn portfolio(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutivePortfolio> {
        let (downstream, backends) = open(ctx)?;
        let look = ctx.look_ahead();
        let nodes = look.field("nodes");
        let ledger = look.field("totals").exists()
            || ["revenue", "cost", "margin", "marginPercent", "linesInOtherCurrencies"]
                .iter()
                .any(|f| nodes.field(f).exists());
        let needs = Needs {
            codes: ledger || nodes.field("projectCode").exists(),
            ledger,
        };
        portfolio(&downstream, backends, needs, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// How long workflow instances took from created to done, by workflow admin, kind and week
    /// finished (Monday, UTC), and with `byServiceLineAndRegion` by the service line and region
    /// of the instance's project, in that order; `since` (`YYYY-MM-DD`) leaves out those that
    /// finished before it. One call per hundred finished instances, per workflow admin; by
    /// service line and region, one PSA call per hundred projects too.
    async fn workflow_cycle_times(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(default)] by_service_line_and_region: bool,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveCycleTimeConnection> {
        let (downstream, backends) = open(ctx)?;
        cycle_times(&downstream, backends, since, by_service_line_and_region, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// How long people took to decide the approvals workflows waited for (staffing's
    /// leadership approval among them), from requested to decided, by workflow admin, kind and
    /// week decided, for the instances that have finished; `since` (`YYYY-MM-DD`) leaves out
    /// those decided before it; with `byServiceLineAndRegion`, by the service line and region
    /// of the instance's project too. Reads the same finished instances as
    /// `workflowCycleTimes`, once per request.
    async fn approval_turnarounds(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(default)] by_service_line_and_region: bool,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveApprovalTurnaroundConnection> {
        let (downstream, backends) = open(ctx)?;
        approval_turnarounds(&downstream, backends, since, by_service_line_and_region, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// How long each integration took from the source system's change to the downstream
    /// write, by workflow admin, integration and week the write completed (Monday, UTC), in
    /// that order: PSA time approval → ERP journal (`time-posting`'s `post-to-erp`), PSA
    /// expense approval → ERP journal, PSA milestone reached → ERP invoice (billing's
    /// `draft-invoice`), PSA change order → ERP budget. The start is the workflow instance's
    /// creation (the records hold no earlier time of the source's change), the end the writing
    /// step's completion. `since` (`YYYY-MM-DD`) leaves out writes before it; with
    /// `byServiceLineAndRegion`, by the service line and region of the instance's project too
    /// (every PSA project read once). Reads the same finished instances as
    /// `workflowCycleTimes`, once per request.
    async fn integration_latencies(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(default)] by_service_line_and_region: bool,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveIntegrationLatencyConnection> {
        let (downstream, backends) = open(ctx)?;
        integration_latencies(&downstream, backends, since, by_service_line_and_region, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// Time-entry compliance by the entries' work week (Monday, UTC), and the service line and
    /// region of their project, in that order: entries submitted no later than the policy's
    /// days after the end of their work week are on time; later, or never submitted once that
    /// deadline passed, late. Entries not due yet are not counted. `since` (`YYYY-MM-DD`)
    /// leaves out entries dated before it. One PSA call per hundred projects, and one PSA
    /// `ListTimeEntriesOfProjects` per hundred projects.
    async fn time_entry_compliance(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveTimeEntryComplianceConnection> {
        let (downstream, backends) = open(ctx)?;
        time_entry_compliance(&downstream, backends, since, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// For each workflow admin and kind, the share of instances that entered the exception
    /// queue at least once. One `GetCounts` and one call per hundred exception episodes, per
    /// workflow admin. With `byServiceLineAndRegion`, by the service line and region of each
    /// instance's project too (found as for `workflowCycleTimes`): every instance is read
    /// instead of the counts, one call per hundred instances per workflow admin, and every PSA
    /// project once.
    async fn exception_rates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] by_service_line_and_region: bool,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveExceptionRateConnection> {
        let (downstream, backends) = open(ctx)?;
        exception_rates(&downstream, backends, by_service_line_and_region, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// Invoice readiness by the week (Monday) billing milestones were due in, and the service
    /// line and region of their project, in that order: of the milestones ERP marked reached,
    /// the ones with an invoice billing drafted, and the ones still blocked; `since`
    /// (`YYYY-MM-DD`) leaves out milestones due before it. One PSA call per hundred projects,
    /// and one billing `ListMilestoneReadiness` per hundred projects.
    async fn invoice_readiness(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveInvoiceReadinessConnection> {
        let (downstream, backends) = open(ctx)?;
        invoice_readiness(&downstream, backends, since, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// Each project's margin as ERP booked it against its baseline margin, in project id
    /// order, `first` (at most 100) at a time. One PSA call per hundred projects, one ERP
    /// `ListProjectFinancialsOfProjects` and one PSA `ListActualsOfProjects` per hundred
    /// projects, read once per request with `marginVarianceRollups`.
    async fn margin_variances(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveMarginVarianceConnection> {
        let (downstream, backends) = open(ctx)?;
        margin_variances(&downstream, backends, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// The margin against the baseline of every project, summed by service line, region and
    /// currency, in that order. One PSA call per hundred projects, and one ERP
    /// `ListProjectFinancialsOfProjects` and one PSA `ListActualsOfProjects` per hundred
    /// projects, read once per request with `marginVariances`.
    async fn margin_variance_rollups(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ExecutiveMarginVarianceRollupConnection> {
        let (downstream, backends) = open(ctx)?;
        margin_variance_rollups(&downstream, backends, first, after)
            .await
            .map_err(|e| e.extend())
    }
}

fn open<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = ctx
        .data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the executive view was mounted without its backends").extend())?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}

/// What a portfolio query asks for beyond PSA's projects.
#[derive(Debug, Clone, Copy)]
struct Needs {
    /// The ERP project codes.
    codes: bool,
    /// ERP's ledger: revenue, cost, margin and the totals.
    ledger: bool,
}

async fn portfolio(
    downstream: &Downstream,
    backends: &Backends,
    needs: Needs,
    first: i32,
    after: Option<String>,
) -> Result<ExecutivePortfolio, Error> {
    let request = downstream.request(ListProjectsRequest {
        page: Some(page_request(first, after)?),
    })?;
    let answer = downstream
        .call("PSA ListProjects", backends.psa.clone().list_projects(request))
        .await
        .map_err(rename_paging_fields)?;
    let next = next_cursor(answer.page);
    let projects = answer.projects;
    if projects.is_empty() {
        return Ok(ExecutivePortfolio {
            nodes: Vec::new(),
            next_cursor: next,
            totals: Vec::new(),
        });
    }
    let codes = if needs.codes {
        let request = downstream.request(ListProjectCodesOfProjectsRequest {
            project_ids: projects.iter().map(|p| p.id.clone()).collect(),
        })?;
        downstream
            .call(
                "ERP ListProjectCodesOfProjects",
                backends.erp.clone().list_project_codes_of_projects(request),
            )
            .await?
            .project_codes
    } else {
        Vec::new()
    };
    let booked = if needs.ledger && !codes.is_empty() {
        margin::booked_by_code(&ledger(downstream, backends).await?, &codes)?
    } else {
        HashMap::new()
    };
    let mut code_of: HashMap<&str, &ProjectCode> = HashMap::new();
    for code in &codes {
        code_of.entry(code.project_id.as_str()).or_insert(code);
    }
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(projects.len());
    for project in projects {
        let code = code_of.get(project.id.as_str()).copied();
        let contract_value = project.contract_value.clone();
        if let Some(value) = &contract_value {
            let total = totals.entry(value.currency.clone()).or_default();
            total.projects += 1;
            total.contract_value += parse_amount(&value.amount)?;
        }
        let booked = code.and_then(|c| booked.get(&c.code).map(|b| (c, b)));
        if let Some((code, booked)) = booked {
            let total = totals.entry(code.currency.clone()).or_default();
            total.revenue += booked.revenue;
            total.cost += booked.cost;
        }
        nodes.push(project_node(project, code, booked));
    }
    Ok(ExecutivePortfolio {
        nodes,
        next_cursor: next,
        totals: totals
            .into_iter()
            .map(|(currency, t)| ExecutivePortfolioTotal {
                projects: t.projects,
                contract_value: money(t.contract_value, &currency),
                revenue: money(t.revenue, &currency),
                cost: money(t.cost, &currency),
                margin: money(t.revenue - t.cost, &currency),
                currency,
            })
            .collect(),
    })
}

/// Every journal of ERP's ledger, a hundred a call.
async fn ledger(downstream: &Downstream, backends: &Backends) -> Result<Vec<Journal>, Error> {
    every_page("ERP's ledger", |token| async move {
        let request = downstream.request(ListJournalsRequest {
            legal_entity: String::new(),
            project_code: String::new(),
            page: whole_page(token),
        })?;
        let answer = downstream
            .call("ERP ListJournals", backends.erp.clone().list_journals(request))
            .await?;
        Ok((
            answer.journals,
            answer.page.map(|p| p.next_page_token).unwrap_or_default(),
        ))
    })
    .await
}

#[derive(Default)]
struct Totals {
    projects: u32,
    contract_value: Decimal,
    revenue: Decimal,
    cost: Decimal,
}

fn project_node(
    project: psa::Project,
    code: Option<&ProjectCode>,
    booked: Option<(&ProjectCode, &Booked)>,
) -> ExecutiveProject {
    let status = psa::ProjectStatus::try_from(project.status)
        .map(|s| s.as_str_name().trim_start_matches("PROJECT_STATUS_").to_string())
        .unwrap_or_default();
    let figures = booked.map(|(code, b)| {
        let percent = (!b.revenue.is_zero()).then(|| {
            (b.margin() / b.revenue * Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
                .to_string()
        });
        (
            money(b.revenue, &code.currency),
            money(b.cost, &code.currency),
            money(b.margin(), &code.currency),
            percent,
            b.lines_in_other_currencies,
        )
    });
    let (revenue, cost, margin, margin_percent, lines_in_other_currencies) = match figures {
        Some((r, c, m, p, n)) => (Some(r), Some(c), Some(m), p, n),
        None => (None, None, None, None, 0),
    };
    ExecutiveProject {
        id: ID(project.id),
        name: project.name,
        service_line: project.service_line,
        region: project.region,
        status,
        project_code: code.map(|c| c.code.clone()),
        contract_value: project.contract_value.map(Money::from),
        revenue,
        cost,
        margin,
        margin_percent,
        lines_in_other_currencies,
    }
}

fn parse_amount(amount: &str) -> Result<Decimal, Error> {
    amount
        .parse()
        .map_err(|e| Error::internal(format!("PSA sent the amount {amount:?}: {e}")))
}

/// `amount` to the currency's minor unit, half to even, with every decimal place shown.
fn money(amount: Decimal, currency: &str) -> Money {
    let digits = Currency::parse(currency).map_or(2, |c| c.minor_unit_digits());
    let mut amount = amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointNearestEven);
    amount.rescale(digits);
    Money {
        amount: amount.to_string(),
        currency: currency.to_string(),
    }
}

/// Every finished instance of `source`, read once per request.
async fn finished_instances(downstream: &Downstream, source: &WorkflowSource) -> Result<Vec<Instance>, Error> {
    instances_in(downstream, source, "done", "finished workflows").await
}

/// Every workflow instance of `source`, in any status, read once per request.
async fn every_instance(downstream: &Downstream, source: &WorkflowSource) -> Result<Vec<Instance>, Error> {
    instances_in(downstream, source, ANY_STATUS, "workflows").await
}

/// `ListInstances`'s status that lists every status (`keel_workflow::admin::ANY_STATUS`).
const ANY_STATUS: &str = "any";

/// The instances of `source` in `status`, every page, read once per request.
async fn instances_in(
    downstream: &Downstream,
    source: &WorkflowSource,
    status: &'static str,
    what_they_are: &str,
) -> Result<Vec<Instance>, Error> {
    let what = format!("{} ListInstances", source.name);
    let whole = format!("{}'s {what_they_are}", source.name);
    downstream
        .once(&format!("{what} {status}"), || {
            every_page(&whole, |token| {
                let what = what.clone();
                async move {
                    let request = downstream.request(ListInstancesRequest {
                        page: whole_page(token),
                        status: status.into(),
                        kind: String::new(),
                    })?;
                    let answer = downstream
                        .call(&what, source.client.clone().list_instances(request))
                        .await?;
                    Ok((
                        answer.instances,
                        answer.page.map(|p| p.next_page_token).unwrap_or_default(),
                    ))
                }
            })
        })
        .await
}

fn since_date(since: Option<String>) -> Result<Option<NaiveDate>, Error> {
    since
        .map(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| Error::invalid("since", format!("must be a date as YYYY-MM-DD, got {s:?}")))
        })
        .transpose()
}

/// Every PSA project by id, read once per request, when the figures are broken down by
/// service line and region.
async fn projects_by_id(
    downstream: &Downstream,
    backends: &Backends,
    wanted: bool,
) -> Result<Option<HashMap<String, psa::Project>>, Error> {
    if !wanted {
        return Ok(None);
    }
    let projects = every_project(downstream, backends).await?;
    Ok(Some(projects.iter().map(|p| (p.id.clone(), p.clone())).collect()))
}

fn breakdown(projects: &Option<HashMap<String, psa::Project>>) -> Breakdown<'_> {
    projects.as_ref().map_or(Breakdown::None, Breakdown::ByPlace)
}

/// The cursor key of a weekly row: source, kind, week, then service line and region.
fn weekly_key(source: &str, kind: &str, week: &str, line: &Option<String>, region: &Option<String>) -> String {
    format!(
        "{source}\u{1f}{kind}\u{1f}{week}\u{1f}{}\u{1f}{}",
        line.as_deref().unwrap_or_default(),
        region.as_deref().unwrap_or_default()
    )
}

async fn cycle_times(
    downstream: &Downstream,
    backends: &Backends,
    since: Option<String>,
    by_place: bool,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveCycleTimeConnection, Error> {
    let since = since_date(since)?;
    page_size(first)?;
    let projects = projects_by_id(downstream, backends, by_place).await?;
    let mut rows = Vec::new();
    for source in &backends.workflows {
        let instances = finished_instances(downstream, source).await?;
        rows.extend(
            kpis::cycle_times(&instances, since, breakdown(&projects))?
                .into_iter()
                .map(|t| cycle_time_node(&source.name, t)),
        );
    }
    let (nodes, next_cursor) = page_of(
        rows,
        |r| weekly_key(&r.source, &r.kind, &r.week_starting, &r.service_line, &r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveCycleTimeConnection { nodes, next_cursor })
}

fn cycle_time_node(source: &str, times: WeeklyDurations) -> ExecutiveCycleTime {
    let (service_line, region) = times.place.clone().map(|p| (p.service_line, p.region)).unzip();
    ExecutiveCycleTime {
        source: source.to_string(),
        average_seconds: times.average_seconds().to_string(),
        longest_seconds: times.longest_seconds.to_string(),
        week_starting: times.week_starting.to_string(),
        completed: times.count,
        kind: times.kind,
        service_line,
        region,
    }
}

async fn integration_latencies(
    downstream: &Downstream,
    backends: &Backends,
    since: Option<String>,
    by_place: bool,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveIntegrationLatencyConnection, Error> {
    let since = since_date(since)?;
    page_size(first)?;
    let projects = projects_by_id(downstream, backends, by_place).await?;
    let mut rows = Vec::new();
    for source in &backends.workflows {
        let instances = finished_instances(downstream, source).await?;
        for t in kpis::integration_latencies(&instances, since, breakdown(&projects))? {
            let (service_line, region) = t.place.clone().map(|p| (p.service_line, p.region)).unzip();
            let (kind, step) = kpis::INTEGRATIONS
                .iter()
                .find(|(_, _, name)| *name == t.kind)
                .map(|(kind, step, _)| (kind.to_string(), step.to_string()))
                .unwrap_or_default();
            rows.push(ExecutiveIntegrationLatency {
                source: source.name.clone(),
                average_seconds: t.average_seconds().to_string(),
                longest_seconds: t.longest_seconds.to_string(),
                week_starting: t.week_starting.to_string(),
                writes: t.count,
                integration: t.kind,
                kind,
                step,
                service_line,
                region,
            });
        }
    }
    let (nodes, next_cursor) = page_of(
        rows,
        |r| weekly_key(&r.source, &r.integration, &r.week_starting, &r.service_line, &r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveIntegrationLatencyConnection { nodes, next_cursor })
}

async fn time_entry_compliance(
    downstream: &Downstream,
    backends: &Backends,
    since: Option<String>,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveTimeEntryComplianceConnection, Error> {
    let since = since_date(since)?;
    page_size(first)?;
    let projects = every_project(downstream, backends).await?;
    let mut entries = Vec::new();
    for ids in batches(&projects) {
        let request = downstream.request(ListTimeEntriesOfProjectsRequest {
            project_ids: ids,
            state: 0,
        })?;
        let answer = downstream
            .call(
                "PSA ListTimeEntriesOfProjects",
                backends.psa.clone().list_time_entries_of_projects(request),
            )
            .await?;
        entries.extend(answer.entries);
    }
    let within = backends.policy.compliance.submit_within_days;
    let rows = compliance::time_entry_compliance(&projects, &entries, within, chrono::Utc::now(), since)?
        .into_iter()
        .map(|r| ExecutiveTimeEntryCompliance {
            week_starting: r.week_starting.to_string(),
            deadline: compliance::deadline(r.week_starting, within).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            entries: r.entries(),
            on_time: r.on_time,
            late: r.late,
            on_time_percent: percent_text(r.on_time_percent()),
            service_line: r.service_line,
            region: r.region,
        })
        .collect();
    let (nodes, next_cursor) = page_of(
        rows,
        |r: &ExecutiveTimeEntryCompliance| format!("{}\u{1f}{}\u{1f}{}", r.week_starting, r.service_line, r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveTimeEntryComplianceConnection { nodes, next_cursor })
}

async fn approval_turnarounds(
    downstream: &Downstream,
    backends: &Backends,
    since: Option<String>,
    by_place: bool,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveApprovalTurnaroundConnection, Error> {
    let since = since_date(since)?;
    page_size(first)?;
    let projects = projects_by_id(downstream, backends, by_place).await?;
    let mut rows = Vec::new();
    for source in &backends.workflows {
        let instances = finished_instances(downstream, source).await?;
        rows.extend(
            kpis::approval_turnarounds(&instances, since, breakdown(&projects))?
                .into_iter()
                .map(|t| {
                    let (service_line, region) = t.place.clone().map(|p| (p.service_line, p.region)).unzip();
                    ExecutiveApprovalTurnaround {
                        source: source.name.clone(),
                        average_seconds: t.average_seconds().to_string(),
                        longest_seconds: t.longest_seconds.to_string(),
                        week_starting: t.week_starting.to_string(),
                        decided: t.count,
                        kind: t.kind,
                        service_line,
                        region,
                    }
                }),
        );
    }
    let (nodes, next_cursor) = page_of(
        rows,
        |r| weekly_key(&r.source, &r.kind, &r.week_starting, &r.service_line, &r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveApprovalTurnaroundConnection { nodes, next_cursor })
}

async fn exception_history(downstream: &Downstream, source: &WorkflowSource) -> Result<Vec<ExceptionEpisode>, Error> {
    let what = format!("{} ListExceptionHistory", source.name);
    every_page(&format!("{}'s exception history", source.name), |token| {
        let what = what.clone();
        async move {
            let request = downstream.request(ListExceptionHistoryRequest {
                page: whole_page(token),
                raised_since: None,
            })?;
            let answer = downstream
                .call(&what, source.client.clone().list_exception_history(request))
                .await?;
            Ok((
                answer.episodes,
                answer.page.map(|p| p.next_page_token).unwrap_or_default(),
            ))
        }
    })
    .await
}

async fn exception_rates(
    downstream: &Downstream,
    backends: &Backends,
    by_place: bool,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveExceptionRateConnection, Error> {
    page_size(first)?;
    let projects = projects_by_id(downstream, backends, by_place).await?;
    let mut rows = Vec::new();
    for source in &backends.workflows {
        let episodes = exception_history(downstream, source).await?;
        let rates = if by_place {
            let instances = every_instance(downstream, source).await?;
            kpis::exception_rates_by_place(&instances, &episodes, breakdown(&projects))
        } else {
            let request = downstream.request(GetCountsRequest {})?;
            let counts = downstream
                .call(
                    &format!("{} GetCounts", source.name),
                    source.client.clone().get_counts(request),
                )
                .await?;
            kpis::exception_rates(&counts.by_kind, &episodes)
        };
        rows.extend(rates.into_iter().map(|r| exception_rate_node(&source.name, r)));
    }
    let (nodes, next_cursor) = page_of(
        rows,
        |r| weekly_key(&r.source, &r.kind, "", &r.service_line, &r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveExceptionRateConnection { nodes, next_cursor })
}

fn exception_rate_node(source: &str, rate: ExceptionRate) -> ExecutiveExceptionRate {
    let (service_line, region) = rate.place.clone().map(|p| (p.service_line, p.region)).unzip();
    ExecutiveExceptionRate {
        source: source.to_string(),
        rate: rate.rate().to_string(),
        instances: rate.instances,
        with_exception: rate.with_exception,
        kind: rate.kind,
        service_line,
        region,
    }
}

/// Every PSA project, read once per request.
async fn every_project(downstream: &Downstream, backends: &Backends) -> Result<Arc<Vec<psa::Project>>, Error> {
    every_psa_project(downstream, &backends.psa).await
}

/// The ids of `projects`, a hundred at a time: what the batch lookups take.
fn batches(projects: &[psa::Project]) -> Vec<Vec<String>> {
    projects
        .chunks(MAX_PAGE_SIZE as usize)
        .map(|chunk| chunk.iter().map(|p| p.id.clone()).collect())
        .collect()
}

/// ERP's financials of every project, read once per request.
async fn every_financials(
    downstream: &Downstream,
    backends: &Backends,
) -> Result<Arc<HashMap<String, ProjectFinancials>>, Error> {
    let projects = every_project(downstream, backends).await?;
    downstream
        .once("ERP ListProjectFinancialsOfProjects every", || async {
            Ok(Arc::new(financials_of(downstream, backends, &projects).await?))
        })
        .await
}

/// PSA's actuals of every project, read once per request.
async fn every_actuals(
    downstream: &Downstream,
    backends: &Backends,
) -> Result<Arc<HashMap<String, psa::ProjectActuals>>, Error> {
    let projects = every_project(downstream, backends).await?;
    downstream
        .once("PSA ListActualsOfProjects every", || async {
            Ok(Arc::new(actuals_of(downstream, backends, &projects).await?))
        })
        .await
}

async fn financials_of(
    downstream: &Downstream,
    backends: &Backends,
    projects: &[psa::Project],
) -> Result<HashMap<String, ProjectFinancials>, Error> {
    let mut out = HashMap::new();
    for ids in batches(projects) {
        let request = downstream.request(ListProjectCodesOfProjectsRequest { project_ids: ids })?;
        let answer = downstream
            .call(
                "ERP ListProjectFinancialsOfProjects",
                backends.erp.clone().list_project_financials_of_projects(request),
            )
            .await?;
        out.extend(answer.financials.into_iter().map(|f| (f.project_id.clone(), f)));
    }
    Ok(out)
}

async fn actuals_of(
    downstream: &Downstream,
    backends: &Backends,
    projects: &[psa::Project],
) -> Result<HashMap<String, psa::ProjectActuals>, Error> {
    let mut out = HashMap::new();
    for ids in batches(projects) {
        let request = downstream.request(psa::ProjectIdsRequest { project_ids: ids })?;
        let answer = downstream
            .call(
                "PSA ListActualsOfProjects",
                backends.psa.clone().list_actuals_of_projects(request),
            )
            .await?;
        out.extend(answer.actuals.into_iter().map(|a| (a.project_id.clone(), a)));
    }
    Ok(out)
}

async fn invoice_readiness(
    downstream: &Downstream,
    backends: &Backends,
    since: Option<String>,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveInvoiceReadinessConnection, Error> {
    let since = since_date(since)?;
    page_size(first)?;
    let projects = every_project(downstream, backends).await?;
    let mut milestones = Vec::new();
    for ids in batches(&projects) {
        let request = downstream.request(ListMilestoneReadinessRequest { project_ids: ids })?;
        let answer = downstream
            .call(
                "Billing ListMilestoneReadiness",
                backends.billing.clone().list_milestone_readiness(request),
            )
            .await?;
        milestones.extend(answer.milestones);
    }
    let rows = operating::invoice_readiness(&projects, &milestones, since)?
        .into_iter()
        .map(|r| ExecutiveInvoiceReadiness {
            week_starting: r.week_starting.to_string(),
            readiness_rate: r.rate().map(|rate| rate.to_string()),
            milestones: r.milestones,
            reached: r.reached,
            drafted: r.drafted,
            blocked: r.blocked,
            service_line: r.service_line,
            region: r.region,
        })
        .collect();
    let (nodes, next_cursor) = page_of(
        rows,
        |r: &ExecutiveInvoiceReadiness| format!("{}\u{1f}{}\u{1f}{}", r.week_starting, r.service_line, r.region),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveInvoiceReadinessConnection { nodes, next_cursor })
}

fn percent_text(value: Option<Decimal>) -> Option<String> {
    value.map(|v| v.to_string())
}

fn variance_node(
    project: psa::Project,
    code: Option<&ProjectFinancials>,
    variance: Option<MarginVariance>,
) -> ExecutiveMarginVariance {
    let currency = variance.as_ref().map(|v| v.currency.clone()).unwrap_or_default();
    let m = |amount: Decimal| money(amount, &currency);
    ExecutiveMarginVariance {
        project_id: ID(project.id),
        name: project.name,
        service_line: project.service_line,
        region: project.region,
        project_code: code.map(|c| c.project_code.clone()),
        revenue: variance.as_ref().map(|v| m(v.revenue)),
        cost: variance.as_ref().map(|v| m(v.cost)),
        margin: variance.as_ref().map(|v| m(v.margin())),
        margin_percent: percent_text(variance.as_ref().and_then(MarginVariance::margin_percent)),
        baseline_margin: variance.as_ref().and_then(MarginVariance::baseline_margin).map(m),
        baseline_margin_percent: percent_text(variance.as_ref().and_then(MarginVariance::baseline_margin_percent)),
        variance: variance.as_ref().and_then(MarginVariance::variance_amount).map(m),
        variance_points: percent_text(variance.as_ref().and_then(MarginVariance::variance_points)),
    }
}

async fn margin_variances(
    downstream: &Downstream,
    backends: &Backends,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveMarginVarianceConnection, Error> {
    page_size(first)?;
    let projects = every_project(downstream, backends).await?;
    let (page, next_cursor) = page_of(projects.iter().collect(), |p| p.id.clone(), first, after.as_deref())?;
    if page.is_empty() {
        return Ok(ExecutiveMarginVarianceConnection {
            nodes: Vec::new(),
            next_cursor,
        });
    }
    let financials = every_financials(downstream, backends).await?;
    let actuals = every_actuals(downstream, backends).await?;
    let mut nodes = Vec::with_capacity(page.len());
    for project in page {
        let erp = financials.get(&project.id);
        let variance = operating::margin_variance(project, erp, actuals.get(&project.id))?;
        nodes.push(variance_node(project.clone(), erp, variance));
    }
    Ok(ExecutiveMarginVarianceConnection { nodes, next_cursor })
}

fn rollup_node(r: VarianceRollup) -> ExecutiveMarginVarianceRollup {
    let m = |amount: Decimal| money(amount, &r.currency);
    ExecutiveMarginVarianceRollup {
        projects: r.projects,
        projects_without_variance: r.without_variance,
        revenue: m(r.revenue),
        cost: m(r.cost),
        margin: m(r.margin()),
        margin_percent: percent_text(r.margin_percent()),
        baseline_margin_percent: percent_text(r.baseline_margin_percent()),
        variance: r.variance_amount().map(m),
        variance_points: percent_text(r.variance_points()),
        service_line: r.service_line.clone(),
        region: r.region.clone(),
        currency: r.currency.clone(),
    }
}

async fn margin_variance_rollups(
    downstream: &Downstream,
    backends: &Backends,
    first: i32,
    after: Option<String>,
) -> Result<ExecutiveMarginVarianceRollupConnection, Error> {
    page_size(first)?;
    let projects = every_project(downstream, backends).await?;
    let financials = every_financials(downstream, backends).await?;
    let actuals = every_actuals(downstream, backends).await?;
    let mut variances = Vec::new();
    for project in projects.iter() {
        if let Some(v) = operating::margin_variance(project, financials.get(&project.id), actuals.get(&project.id))? {
            variances.push((project, v));
        }
    }
    let rows = operating::rollups(variances.iter().map(|(p, v)| (*p, v)))
        .into_iter()
        .map(rollup_node)
        .collect();
    let (nodes, next_cursor) = page_of(
        rows,
        |r: &ExecutiveMarginVarianceRollup| format!("{}\u{1f}{}\u{1f}{}", r.service_line, r.region, r.currency),
        first,
        after.as_deref(),
    )?;
    Ok(ExecutiveMarginVarianceRollupConnection { nodes, next_cursor })
}
