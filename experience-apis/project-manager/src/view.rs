//! The `projectManager` field's type: the project manager's queries.
//!
//! Who sees what: executives, finance and admin see every project; a project manager sees the
//! projects PSA assigns them to in a project-manager role ([`crate::manages`]). `project(id)`
//! of a project the caller does not manage is null, exactly as for a project that does not
//! exist, so the view does not tell a manager which other projects exist.
//!
//! Cost: the fields asked for under a page's projects are looked ahead, and each kind of
//! record is read for the whole page with one batch call, concurrently; a field not asked for
//! costs nothing.

use std::collections::HashMap;

use async_graphql::{Context, ErrorExtensions, ID, Lookahead, Object, Result};
use keel_core::Error;
use keel_experience_common::paging;
use keel_proto::psa;

use crate::downstream::Calls;
use crate::figures;
use crate::intake::{self, RecommendationStatus, TemplateRecommendationConnection};
use crate::model::{
    Alert, ChangeRequest, Health, MarginForecast, Project, ProjectConnection, TeamMember, TimeAnomaly,
    TimeAnomalyConnection, TimeEntry,
};

/// Projects per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i32 = paging::DEFAULT_PAGE_SIZE;
/// The most projects one page may hold.
pub const MAX_PAGE_SIZE: i32 = paging::MAX_PAGE_SIZE;

/// The project manager's view: the projects the caller manages (every project for
/// executives, finance and admin) and what each system knows of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProjectManagerView;

#[Object]
impl ProjectManagerView {
    /// The projects the caller manages (every project for executives, finance and admin), in
    /// creation order, `first` (at most 100) at a time. Pass the previous page's `nextCursor`
    /// as `after` to read on.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ProjectConnection> {
        let page = paging::page_request(first, after).map_err(|e| e.extend())?;
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        let (projects, next_cursor) = if calls.sees_all() {
            let answer = calls
                .list_projects(page)
                .await
                .map_err(|e| paging::rename_paging_fields(e).extend())?;
            (answer.projects, paging::next_cursor(answer.page))
        } else {
            let managed = calls.managed_project_ids().await.map_err(|e| e.extend())?;
            let after = (!page.page_token.is_empty()).then_some(page.page_token.as_str());
            let (ids, next) =
                paging::page_of(managed.into_iter().collect(), Clone::clone, first, after).map_err(|e| e.extend())?;
            let projects = if ids.is_empty() {
                Vec::new()
            } else {
                calls.projects(ids).await.map_err(|e| e.extend())?
            };
            (projects, next)
        };
        let selection = ctx.look_ahead().field("nodes");
        let nodes = enrich(&calls, projects, &selection).await.map_err(|e| e.extend())?;
        Ok(ProjectConnection { nodes, next_cursor })
    }

    /// One project by its id, if the caller may see it (see `projects`); null otherwise, and
    /// when PSA has no such project.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        if !calls.sees_all() {
            let managed = calls.managed_project_ids().await.map_err(|e| e.extend())?;
            if !managed.contains(id.as_str()) {
                return Ok(None);
            }
        }
        let Some(project) = calls.get_project(id.0).await.map_err(|e| e.extend())? else {
            return Ok(None);
        };
        let selection = ctx.look_ahead();
        let mut nodes = enrich(&calls, vec![project], &selection)
            .await
            .map_err(|e| e.extend())?;
        Ok(nodes.pop())
    }

    /// The delivery-template recommendations SOW intake made for won deals, `first` (at most
    /// 100) at a time, oldest first: by default those waiting for a person (`OPEN`, and
    /// `ABSTAINED` where only an override decides). Each shows the terms that drove it and its
    /// calibrated confidence. Project managers and executives decide them
    /// (`decideTemplateRecommendation`).
    async fn template_recommendations(
        &self,
        ctx: &Context<'_>,
        statuses: Option<Vec<RecommendationStatus>>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<TemplateRecommendationConnection> {
        intake::recommendations(ctx, statuses, first, after)
            .await
            .map_err(|e| e.extend())
    }

    /// Every time-entry anomaly delivery health flagged on one project the caller may see (see
    /// `projects`), newest first, `first` (at most 100) at a time, optionally of one status
    /// (`OPEN`, `CONFIRMED`, `DISMISSED`). Empty for a project the caller may not see.
    async fn time_anomalies(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        status: Option<String>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<TimeAnomalyConnection> {
        let page = paging::page_request(first, after).map_err(|e| e.extend())?;
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        if !calls.sees_all() {
            let managed = calls.managed_project_ids().await.map_err(|e| e.extend())?;
            if !managed.contains(project_id.as_str()) {
                return Ok(TimeAnomalyConnection {
                    nodes: Vec::new(),
                    next_cursor: None,
                });
            }
        }
        let answer = calls
            .time_anomalies(vec![project_id.0], status.as_deref().unwrap_or_default(), page)
            .await
            .map_err(|e| {
                keel_experience_common::actions::rename_fields(
                    paging::rename_paging_fields(e),
                    &[("project_ids[0]", "projectId")],
                )
                .extend()
            })?;
        Ok(TimeAnomalyConnection {
            nodes: answer.anomalies.into_iter().map(TimeAnomaly::from).collect(),
            next_cursor: paging::next_cursor(answer.page),
        })
    }
}

/// Records of one kind grouped by project id.
fn by_project<T>(items: Vec<T>, project_id: impl Fn(&T) -> &str) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for item in items {
        grouped.entry(project_id(&item).to_string()).or_default().push(item);
    }
    grouped
}

/// Runs `call` with the page's ids when `wanted`; an empty answer otherwise.
async fn when<T: Default, F: std::future::Future<Output = Result<T, Error>>>(
    wanted: bool,
    call: impl FnOnce() -> F,
) -> Result<T, Error> {
    if wanted { call().await } else { Ok(T::default()) }
}

/// The page's projects with the fields `selection` (a `Project` selection) asks for, each
/// kind read for the whole page with one call.
async fn enrich(calls: &Calls, projects: Vec<psa::Project>, selection: &Lookahead<'_>) -> Result<Vec<Project>, Error> {
    if projects.is_empty() {
        return Ok(Vec::new());
    }
    let wants = |field: &str| selection.field(field).exists();
    let ids: Vec<String> = projects.iter().map(|p| p.id.clone()).collect();
    let (codes, team, actuals, health, alerts, time, changes, anomalies) = futures::try_join!(
        when(wants("code") || wants("erpBudgetPosted"), || calls.codes(ids.clone())),
        when(wants("team"), || calls.assignments(ids.clone())),
        when(wants("burn") || wants("estimateAtCompletion"), || calls
            .actuals(ids.clone())),
        when(wants("health") || wants("marginForecast"), || calls.health(ids.clone())),
        when(wants("alerts"), || calls.open_alerts(ids.clone())),
        when(wants("timeAwaitingApproval"), || calls.submitted_time(ids.clone())),
        when(wants("changeRequests"), || calls.change_requests(ids.clone())),
        when(wants("timeAnomalies"), || calls.open_anomalies(ids.clone())),
    )?;
    let mut codes: HashMap<String, _> = codes.into_iter().map(|c| (c.project_id.clone(), c)).collect();
    let mut team = by_project(team, |a| &a.project_id);
    let mut actuals: HashMap<String, _> = actuals.into_iter().map(|a| (a.project_id.clone(), a)).collect();
    let mut health: HashMap<String, _> = health.into_iter().map(|h| (h.project_id.clone(), h)).collect();
    let mut alerts = by_project(alerts, |a| &a.project_id);
    let mut time = by_project(time, |e| &e.project_id);
    let mut changes = by_project(changes, |c| &c.project_id);
    let mut anomalies = by_project(anomalies, |a| &a.project_id);
    let mut nodes = Vec::with_capacity(projects.len());
    for project in projects {
        let id = project.id.clone();
        let mut node = Project::new(project, codes.remove(&id));
        let project_actuals = actuals.remove(&id);
        if let Some(actuals) = &project_actuals {
            node.burn = figures::burn(actuals)?;
            node.estimate_at_completion = figures::estimate_at_completion(actuals)?;
        }
        node.team = team
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(TeamMember::from)
            .collect();
        let project_health = health.remove(&id);
        node.margin_forecast = project_health
            .as_ref()
            .and_then(|h| h.margin_forecast.clone())
            .map(MarginForecast::from);
        node.health = project_health.map(Health::from);
        node.time_anomalies = anomalies
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(TimeAnomaly::from)
            .collect();
        node.alerts = alerts
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(Alert::from)
            .collect();
        node.time_awaiting_approval = time
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(TimeEntry::from)
            .collect();
        node.change_requests = changes
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(ChangeRequest::from)
            .collect();
        nodes.push(node);
    }
    Ok(nodes)
}
