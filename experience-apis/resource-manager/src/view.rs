//! The `resourceManager` field's type: the resource manager's queries.

use std::collections::HashMap;

use async_graphql::{Context, ErrorExtensions, Object, Result};
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_experience_common::paging::{DEFAULT_PAGE_SIZE, next_cursor, page_request, rename_paging_fields};
use keel_proto::psa::ListResourceRequestsRequest;
use keel_proto::staffing::RankCandidatesBatchRequest;
use keel_proto::workflow::ListInstancesRequest;

use crate::model::{OpenRequest, OpenRequestConnection, StaffingApproval, StaffingApprovalConnection};
use crate::{ALLOWED_ROLES, Backends};

/// The workflow kind of staffing instances.
const STAFFING_KIND: &str = "staffing";

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
}

fn open<'a>(ctx: &Context<'a>) -> Result<(Downstream, &'a Backends)> {
    let backends = ctx
        .data_opt::<Backends>()
        .ok_or_else(|| Error::internal("the resource manager view was mounted without its backends").extend())?;
    let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout).map_err(|e| e.extend())?;
    Ok((downstream, backends))
}
