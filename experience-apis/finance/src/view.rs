//! The `finance` field's type: the finance partner's queries.
//!
//! Finance, executives and admin see every project. Cost: the fields asked for under a page's
//! projects are looked ahead, and each kind of record is read for the whole page with one
//! batch call, concurrently (`Billing ListMilestoneReadiness`, `ERP
//! ListProjectFinancialsOfProjects`, `PSA ListActualsOfProjects`); a field not asked for
//! costs nothing.

use std::collections::HashMap;

use async_graphql::{Context, ErrorExtensions, Object, Result};
use keel_core::Error;
use keel_experience_common::paging;
use keel_proto::psa;

use crate::downstream::Calls;
use crate::figures;
use crate::model::{
    FinanceInvoice, FinanceInvoiceConnection, FinanceMilestone, FinancePostingQueue, FinanceProject,
    FinanceProjectConnection, FinanceReconciliationDifference, FinanceReconciliationDifferenceConnection,
};

/// Items per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i32 = paging::DEFAULT_PAGE_SIZE;

/// The finance partner's view: every project's billing readiness, unbilled effort, revenue
/// and margin, and the invoices ERP holds.
#[derive(Debug, Default, Clone, Copy)]
pub struct FinanceView;

#[Object]
impl FinanceView {
    /// Every project, in creation order, `first` (at most 100) at a time, with its billing
    /// milestones' readiness, unbilled effort, revenue against plan and margin, and the margin
    /// of the page's projects by service line. Pass the previous page's `nextCursor` as
    /// `after` to read on.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<FinanceProjectConnection> {
        let page = paging::page_request(first, after).map_err(|e| e.extend())?;
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        let answer = calls
            .list_projects(page)
            .await
            .map_err(|e| paging::rename_paging_fields(e).extend())?;
        let selection = ctx.look_ahead();
        let (nodes, service_lines, revenue_by_service_line) = enrich(&calls, answer.projects, &selection)
            .await
            .map_err(|e| e.extend())?;
        Ok(FinanceProjectConnection {
            nodes,
            next_cursor: paging::next_cursor(answer.page),
            service_lines,
            revenue_by_service_line,
        })
    }

    /// ERP's invoices, draft and issued, in creation order, `first` (at most 100) at a time;
    /// of one project code when `projectCode` is given.
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
        project_code: Option<String>,
    ) -> Result<FinanceInvoiceConnection> {
        let page = paging::page_request(first, after).map_err(|e| e.extend())?;
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        let answer = calls
            .invoices(project_code.unwrap_or_default(), page)
            .await
            .map_err(|e| rename_project_code(paging::rename_paging_fields(e)).extend())?;
        Ok(FinanceInvoiceConnection {
            nodes: answer.invoices.into_iter().map(FinanceInvoice::from).collect(),
            next_cursor: paging::next_cursor(answer.page),
        })
    }

    /// Where PSA and ERP disagree: the differences each project's latest reconciliation found
    /// (missing on one side, duplicated or altered in ERP), each with PSA's and ERP's value and
    /// its state in the exception queue, in the order found, `first` (at most 100) at a time.
    async fn reconciliation_differences(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<FinanceReconciliationDifferenceConnection> {
        let page = paging::page_request(first, after).map_err(|e| e.extend())?;
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        let answer = calls
            .reconciliation_differences(page)
            .await
            .map_err(|e| paging::rename_paging_fields(e).extend())?;
        let nodes = answer
            .differences
            .into_iter()
            .map(FinanceReconciliationDifference::try_from)
            .collect::<Result<Vec<_>, Error>>()
            .map_err(|e| e.extend())?;
        Ok(FinanceReconciliationDifferenceConnection {
            nodes,
            next_cursor: paging::next_cursor(answer.page),
        })
    }

    /// The queue of approved time and expenses posting to ERP: how many wait (ERP down or
    /// slow), failed (in the exception queue for operations), are done or were abandoned.
    async fn posting_queue(&self, ctx: &Context<'_>) -> Result<FinancePostingQueue> {
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        let counts = calls.posting_counts().await.map_err(|e| e.extend())?;
        Ok(figures::posting_queue(&counts))
    }
}

/// ERP names a bad project code `project_code`; the caller passed `projectCode`.
fn rename_project_code(error: Error) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if violation.field == "project_code" {
                    violation.field = "projectCode".into();
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

/// Runs `call` when `wanted`; an empty answer otherwise.
async fn when<T: Default, F: std::future::Future<Output = Result<T, Error>>>(
    wanted: bool,
    call: impl FnOnce() -> F,
) -> Result<T, Error> {
    if wanted { call().await } else { Ok(T::default()) }
}

/// The page's projects with the fields `selection` (a `FinanceProjectConnection` selection)
/// asks for, and the margin by service line; each kind read for the whole page with one call.
async fn enrich(
    calls: &Calls,
    projects: Vec<psa::Project>,
    selection: &async_graphql::Lookahead<'_>,
) -> Result<
    (
        Vec<FinanceProject>,
        Vec<crate::model::FinanceServiceLineMargin>,
        Vec<crate::model::FinanceServiceLineRevenue>,
    ),
    Error,
> {
    if projects.is_empty() {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    }
    let nodes = selection.field("nodes");
    let wants = |field: &str| nodes.field(field).exists();
    let wants_lines = selection.field("serviceLines").exists();
    let wants_revenue_lines = selection.field("revenueByServiceLine").exists();
    let wants_erp = wants("code") || wants("legalEntity") || wants("wip") || wants("margin") || wants("revenue");
    let wants_financials = wants_erp || wants_lines || wants_revenue_lines;
    let ids: Vec<String> = projects.iter().map(|p| p.id.clone()).collect();
    let (readiness, financials, actuals) = futures::try_join!(
        when(wants("milestones"), || calls.readiness(ids.clone())),
        when(wants_financials, || calls.financials(ids.clone())),
        when(wants("wip"), || calls.actuals(ids.clone())),
    )?;
    let mut milestones: HashMap<String, Vec<FinanceMilestone>> = HashMap::new();
    for listed in readiness {
        let project_id = listed
            .readiness
            .as_ref()
            .map(|r| r.project_id.clone())
            .unwrap_or_default();
        milestones
            .entry(project_id)
            .or_default()
            .push(FinanceMilestone::from(listed));
    }
    let financials: HashMap<String, _> = financials.into_iter().map(|f| (f.project_id.clone(), f)).collect();
    let actuals: HashMap<String, _> = actuals.into_iter().map(|a| (a.project_id.clone(), a)).collect();
    let mut margins = Vec::new();
    let mut revenues = Vec::new();
    let mut out = Vec::with_capacity(projects.len());
    for project in &projects {
        let mut node = FinanceProject::new(project);
        node.milestones = milestones.remove(&project.id).unwrap_or_default();
        if let Some(erp) = financials.get(&project.id) {
            node.code = Some(erp.project_code.clone());
            node.legal_entity = Some(erp.legal_entity.clone());
            let margin = figures::margin(erp)?;
            margins.push((project.service_line.clone(), margin.clone()));
            node.margin = Some(margin);
            node.wip = Some(figures::wip(actuals.get(&project.id), erp)?);
            let revenue = figures::revenue(project, erp)?;
            revenues.push((project.service_line.clone(), revenue.clone()));
            node.revenue = Some(revenue);
        }
        out.push(node);
    }
    let service_lines = if wants_lines {
        figures::by_service_line(&margins)?
    } else {
        Vec::new()
    };
    let revenue_lines = if wants_revenue_lines {
        figures::revenue_by_service_line(&revenues)?
    } else {
        Vec::new()
    };
    Ok((out, service_lines, revenue_lines))
}
