//! The `consultant` field's type: the caller's own assignments and time entries.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::paging::{DEFAULT_PAGE_SIZE, next_cursor, page_request, rename_paging_fields};
use keel_proto::common::PageRequest;
use keel_proto::psa::{self, ListAssignmentsRequest, ListProjectsRequest, ListTimeEntriesRequest};
use tokio::sync::OnceCell;

use crate::model::{
    Assignment, AssignmentConnection, MAX_PROJECT_PAGES, TimeEntry, TimeEntryConnection, TimeEntryState,
};
use crate::{ALLOWED_ROLES, Backends};

/// The consultant's view: their own records, the caller being the token's subject. Open to
/// consultants. The gateway makes one per request, so the project names it reads are shared
/// by the lists of that request and read once.
#[derive(Debug, Default, Clone)]
pub struct ConsultantView {
    project_names: Arc<OnceCell<HashMap<String, String>>>,
}

#[Object]
impl ConsultantView {
    /// The caller's assignments, in creation order, `first` (at most 100) at a time. Pass the
    /// previous page's `nextCursor` as `after` to read on.
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<AssignmentConnection> {
        let (downstream, backends) = open(ctx)?;
        let page = page_request(first, after).map_err(|e| e.extend())?;
        let request = downstream
            .request(ListAssignmentsRequest {
                project_id: String::new(),
                employee_id: downstream.subject().to_string(),
                page: Some(page),
            })
            .map_err(|e| e.extend())?;
        let answer = downstream
            .call("PSA ListAssignments", backends.psa.clone().list_assignments(request))
            .await
            .map_err(|e| rename_paging_fields(e).extend())?;
        let names = self.project_names(&downstream, backends).await?;
        Ok(AssignmentConnection {
            nodes: answer
                .assignments
                .into_iter()
                .map(|a| Assignment::new(a, names))
                .collect(),
            next_cursor: next_cursor(answer.page),
        })
    }

    /// The caller's time entries, in PSA's order, `first` (at most 100) at a time; only those
    /// in `state` when given.
    async fn time_entries(
        &self,
        ctx: &Context<'_>,
        state: Option<TimeEntryState>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<TimeEntryConnection> {
        let (downstream, backends) = open(ctx)?;
        let page = page_request(first, after).map_err(|e| e.extend())?;
        let request = downstream
            .request(ListTimeEntriesRequest {
                project_id: String::new(),
                employee_id: downstream.subject().to_string(),
                state: state.map_or(0, |s| psa::TimeEntryState::from(s) as i32),
                page: Some(page),
                ..Default::default()
            })
            .map_err(|e| e.extend())?;
        let answer = downstream
            .call("PSA ListTimeEntries", backends.psa.clone().list_time_entries(request))
            .await
            .map_err(|e| rename_paging_fields(e).extend())?;
        let names = self.project_names(&downstream, backends).await?;
        Ok(TimeEntryConnection {
            nodes: answer.entries.into_iter().map(|e| TimeEntry::new(e, names)).collect(),
            next_cursor: next_cursor(answer.page),
        })
    }
}

impl ConsultantView {
    /// Project names by id, read once per request: PSA's project list, a page of 100 at a
    /// time, at most [`MAX_PROJECT_PAGES`] pages (one call while the firm has at most 100
    /// projects). PSA has no lookup by many ids; with one, this becomes a single call for the
    /// ids of the page.
    pub(crate) async fn project_names<'a>(
        &'a self,
        downstream: &Downstream,
        backends: &Backends,
    ) -> Result<&'a HashMap<String, String>> {
        self.project_names
            .get_or_try_init(|| async {
                let mut names = HashMap::new();
                let mut token = String::new();
                for _ in 0..MAX_PROJECT_PAGES {
                    let request = downstream.request(ListProjectsRequest {
                        page: Some(PageRequest {
                            page_size: 100,
                            page_token: token,
                        }),
                    })?;
                    let page = downstream
                        .call("PSA ListProjects", backends.psa.clone().list_projects(request))
                        .await?;
                    names.extend(page.projects.into_iter().map(|p| (p.id, p.name)));
                    match next_cursor(page.page) {
                        Some(next) => token = next,
                        None => break,
                    }
                }
                Ok::<_, Error>(names)
            })
            .await
            .map_err(|e| e.extend())
    }
}

fn open<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = ctx
        .data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the consultant view was mounted without its backends").extend())?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}
