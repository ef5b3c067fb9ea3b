//! `alertRaised`: the delivery-health alerts of the caller's projects, as they are raised;
//! `approvalRequested`: the time entries submitted on the projects the caller manages.
//!
//! Delivery health has no change feed the gateway can follow, so the stream polls
//! `ListAlerts` (newest first, one page of [`POLL_PAGE_SIZE`]) every [`ALERT_POLL_INTERVAL`] as
//! the subscriber, with their token. The first poll takes the baseline; after it, each alert
//! whose id was not on the previous poll's page is new (ids grow with time, and delivery
//! health keeps one alert per project and kind, updated in place, so an alert is raised once).
//! A project manager receives the new alerts of the projects they manage (PSA is asked which,
//! once per poll that found new alerts); executives, finance and admin receive every alert.
//! More than [`POLL_PAGE_SIZE`] alerts raised within one interval would be missed.
//!
//! `approvalRequested` polls PSA the same way: the projects the subscriber manages, then the
//! SUBMITTED time of those projects (one batch call); each entry not waiting on the previous
//! poll is sent, and on the first poll every entry already waiting. An entry sent, decided and
//! submitted again (after a rejection) is sent again.
//!
//! Both poll with [`poll_stream`]: a transient failure (the API down or slow) is sent as an
//! error item and polling goes on; any other failure (for instance the token expired) is sent
//! and ends the stream.

use std::collections::HashSet;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions, Result, Subscription};
use futures::stream::Stream;
use keel_core::Error;
use keel_experience_common::poll_stream;
use keel_proto::health as proto;

use crate::downstream::Calls;
use crate::model::{Alert, ApprovalRequest};

/// How often `alertRaised` polls delivery health.
pub const ALERT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How often `approvalRequested` polls PSA.
pub const APPROVAL_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Projects whose submitted time one poll reads (PSA's batch limit).
const MAX_WATCHED_PROJECTS: usize = 100;
/// Alerts read per poll, newest first.
const POLL_PAGE_SIZE: u32 = 100;

/// The project manager's subscriptions. Open to project managers, executives and finance.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProjectManagerSubscription;

#[Subscription]
impl ProjectManagerSubscription {
    /// Health alerts as delivery health raises them: for a project manager, those of the
    /// projects they manage; for executives, finance and admin, every one. Checked every 2
    /// seconds from the moment of subscribing.
    async fn alert_raised(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<Alert>> + use<>> {
        let calls = Calls::from_context(ctx).map_err(|e| e.extend())?;
        Ok(watch(calls, ALERT_POLL_INTERVAL))
    }

    /// Decisions waiting for a project manager: each time entry submitted on a project they
    /// manage, those already waiting first, then each as it is submitted; never another
    /// project's. Checked every 2 seconds. Project managers.
    async fn approval_requested(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<ApprovalRequest>> + use<>> {
        let calls = Calls::for_action(ctx).map_err(|e| e.extend())?;
        Ok(watch_approvals(calls, APPROVAL_POLL_INTERVAL))
    }
}

fn watch_approvals(calls: Calls, period: Duration) -> impl Stream<Item = Result<ApprovalRequest>> {
    poll_stream(
        "approvalRequested",
        period,
        (calls, HashSet::new()),
        |(calls, mut waiting)| async move {
            let requested = poll_approvals(&calls, &mut waiting).await;
            let requested = requested.map(|entries| entries.into_iter().map(ApprovalRequest::from).collect());
            ((calls, waiting), requested)
        },
    )
}

/// The entries submitted on the caller's projects that were not waiting on the previous poll.
async fn poll_approvals(
    calls: &Calls,
    waiting: &mut HashSet<String>,
) -> Result<Vec<keel_proto::psa::TimeEntry>, Error> {
    let managed: Vec<String> = calls
        .managed_project_ids()
        .await?
        .into_iter()
        .take(MAX_WATCHED_PROJECTS)
        .collect();
    let submitted = if managed.is_empty() {
        Vec::new()
    } else {
        calls.submitted_time(managed).await?
    };
    Ok(newly_waiting(waiting, submitted))
}

/// The entries of `submitted` not in `waiting`; `waiting` becomes `submitted`'s ids.
fn newly_waiting(
    waiting: &mut HashSet<String>,
    submitted: Vec<keel_proto::psa::TimeEntry>,
) -> Vec<keel_proto::psa::TimeEntry> {
    let ids: HashSet<String> = submitted.iter().map(|e| e.id.clone()).collect();
    let new = submitted.into_iter().filter(|e| !waiting.contains(&e.id)).collect();
    *waiting = ids;
    new
}

fn watch(calls: Calls, period: Duration) -> impl Stream<Item = Result<Alert>> {
    poll_stream("alertRaised", period, (calls, None), |(calls, mut seen)| async move {
        let raised = poll(&calls, &mut seen).await;
        (
            (calls, seen),
            raised.map(|alerts| alerts.into_iter().map(Alert::from).collect()),
        )
    })
}

/// The alerts raised since the previous poll that the subscriber may see, oldest first.
async fn poll(calls: &Calls, seen: &mut Option<HashSet<String>>) -> Result<Vec<proto::Alert>, Error> {
    let page = calls.recent_alerts(POLL_PAGE_SIZE).await?;
    let raised = new_alerts(seen, page);
    if raised.is_empty() || calls.sees_all() {
        return Ok(raised);
    }
    let managed = calls.managed_project_ids().await?;
    Ok(raised.into_iter().filter(|a| managed.contains(&a.project_id)).collect())
}

/// The alerts of `page` (newest first) not on the previous page, oldest first; `seen` becomes
/// this page. The first page (no `seen` yet) is the baseline and raises nothing.
fn new_alerts(seen: &mut Option<HashSet<String>>, page: Vec<proto::Alert>) -> Vec<proto::Alert> {
    let ids: HashSet<String> = page.iter().map(|a| a.id.clone()).collect();
    let raised = match seen.as_ref() {
        None => Vec::new(),
        Some(previous) => page.into_iter().rev().filter(|a| !previous.contains(&a.id)).collect(),
    };
    *seen = Some(ids);
    raised
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str) -> proto::Alert {
        proto::Alert {
            id: id.into(),
            ..Default::default()
        }
    }

    fn ids(alerts: &[proto::Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.id.as_str()).collect()
    }

    fn entry(id: &str) -> keel_proto::psa::TimeEntry {
        keel_proto::psa::TimeEntry {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn entries_waiting_are_sent_once_and_again_only_after_they_stopped_waiting() {
        let mut waiting = HashSet::new();
        let first: Vec<String> = newly_waiting(&mut waiting, vec![entry("a"), entry("b")])
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(first, ["a", "b"]);
        assert!(newly_waiting(&mut waiting, vec![entry("a"), entry("b")]).is_empty());
        let next: Vec<String> = newly_waiting(&mut waiting, vec![entry("b"), entry("c")])
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(next, ["c"]);
        // `a` was decided; resubmitted after a rejection, it waits again.
        let again: Vec<String> = newly_waiting(&mut waiting, vec![entry("a"), entry("b"), entry("c")])
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(again, ["a"]);
    }

    #[test]
    fn the_first_poll_is_the_baseline_then_only_new_alerts_are_raised_oldest_first() {
        let mut seen = None;
        assert!(new_alerts(&mut seen, vec![alert("2"), alert("1")]).is_empty());
        assert!(new_alerts(&mut seen, vec![alert("2"), alert("1")]).is_empty());
        let raised = new_alerts(&mut seen, vec![alert("4"), alert("3"), alert("2"), alert("1")]);
        assert_eq!(ids(&raised), ["3", "4"]);
        assert!(new_alerts(&mut seen, vec![alert("4"), alert("3"), alert("2")]).is_empty());
    }
}
