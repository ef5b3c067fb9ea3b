//! `staffingApprovalRequested`: the staffing approvals waiting for the subscriber.
//!
//! The staffing process API has no change feed, so the stream polls its workflow admin
//! service's `ListApprovals` every [`STAFFING_APPROVAL_POLL_INTERVAL`] as the subscriber, with
//! their token: the workflow engine answers with the approvals the subscriber's roles decide
//! (the staffing policy's `approval_role`), so a resource manager who is not that role
//! receives none. Each approval not waiting on the previous poll is sent, and on the first
//! poll every one already waiting; an instance approved or rejected stops waiting. When a
//! poll finds new approvals, one `ListInstances` of the staffing instances awaiting approval
//! (the first [`WATCHED_INSTANCES`]) tells which are staffing's (a platform serving every
//! process from one endpoint lists other workflows' approvals too) and which resource request
//! and project each is for. Approvals of other workflows are not sent, nor staffing approvals
//! beyond the first [`WATCHED_INSTANCES`] waiting.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use futures::stream::Stream;
use keel_core::Error;
use keel_experience_common::{Downstream, poll_stream};
use keel_proto::common::PageRequest;
use keel_proto::workflow::{Approval, ListApprovalsRequest, ListInstancesRequest};

use crate::Backends;
use crate::model::StaffingApprovalRequest;
use crate::view::{STAFFING_KIND, open};

/// How often `staffingApprovalRequested` polls the staffing process API.
pub const STAFFING_APPROVAL_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Staffing instances awaiting approval read to place new approvals (one page).
const WATCHED_INSTANCES: u32 = 100;

/// The resource manager's subscriptions. Open to resource managers and executives.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResourceManagerSubscription;

#[Subscription]
impl ResourceManagerSubscription {
    /// Staffing approvals waiting for the subscriber: each staffing instance at its approval
    /// step that the subscriber's role decides (the staffing policy's approval role), those
    /// already waiting first, then each as it starts waiting; once each. Checked every 2
    /// seconds. Resource managers and executives subscribe; only the approving role receives.
    async fn staffing_approval_requested(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<StaffingApprovalRequest>> + use<>> {
        let (downstream, backends) = open(ctx)?;
        let state = Watch {
            downstream,
            backends: backends.clone(),
            waiting: HashSet::new(),
        };
        Ok(poll_stream(
            "staffingApprovalRequested",
            STAFFING_APPROVAL_POLL_INTERVAL,
            state,
            |mut watch| async move {
                let requested = watch.poll().await;
                (watch, requested)
            },
        ))
    }
}

struct Watch {
    downstream: Downstream,
    backends: Backends,
    /// The instances whose approval was waiting on the previous poll.
    waiting: HashSet<String>,
}

impl Watch {
    /// The approvals waiting for the subscriber that were not waiting on the previous poll.
    async fn poll(&mut self) -> Result<Vec<StaffingApprovalRequest>, Error> {
        let request = self.downstream.request(ListApprovalsRequest {})?;
        let approvals = self
            .downstream
            .call(
                "staffing ListApprovals",
                self.backends.workflow.clone().list_approvals(request),
            )
            .await?
            .approvals;
        let new = newly_waiting(&mut self.waiting, approvals);
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.downstream.request(ListInstancesRequest {
            page: Some(PageRequest {
                page_size: WATCHED_INSTANCES,
                page_token: String::new(),
            }),
            status: "awaiting_approval".into(),
            kind: STAFFING_KIND.into(),
        })?;
        let instances = self
            .downstream
            .call(
                "staffing ListInstances",
                self.backends.workflow.clone().list_instances(request),
            )
            .await?
            .instances;
        let mut by_id: HashMap<String, _> = instances.into_iter().map(|i| (i.id.clone(), i)).collect();
        Ok(new
            .into_iter()
            .filter_map(|approval| {
                let instance = by_id.remove(&approval.instance_id)?;
                Some(StaffingApprovalRequest::new(approval, instance))
            })
            .collect())
    }
}

/// The approvals of `listed` not in `waiting`; `waiting` becomes `listed`'s instance ids.
fn newly_waiting(waiting: &mut HashSet<String>, listed: Vec<Approval>) -> Vec<Approval> {
    let ids: HashSet<String> = listed.iter().map(|a| a.instance_id.clone()).collect();
    let new = listed
        .into_iter()
        .filter(|a| !waiting.contains(&a.instance_id))
        .collect();
    *waiting = ids;
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(id: &str) -> Approval {
        Approval {
            instance_id: id.into(),
            ..Default::default()
        }
    }

    fn ids(approvals: Vec<Approval>) -> Vec<String> {
        approvals.into_iter().map(|a| a.instance_id).collect()
    }

    #[test]
    fn approvals_waiting_are_sent_once_and_again_only_after_they_stopped_waiting() {
        let mut waiting = HashSet::new();
        assert_eq!(
            ids(newly_waiting(&mut waiting, vec![approval("a"), approval("b")])),
            ["a", "b"]
        );
        assert!(newly_waiting(&mut waiting, vec![approval("a"), approval("b")]).is_empty());
        assert_eq!(
            ids(newly_waiting(&mut waiting, vec![approval("b"), approval("c")])),
            ["c"]
        );
        assert_eq!(
            ids(newly_waiting(&mut waiting, vec![approval("a"), approval("c")])),
            ["a"]
        );
    }
}
