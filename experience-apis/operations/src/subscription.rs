//! `setupUpdates`: a live stream of setup changes for the operations team.
//!
//! The project-setup process API has no change feed yet, so the stream polls `ListSetups`
//! every [`SETUP_POLL_INTERVAL`] as the subscriber (with their token) and yields each setup
//! whose `updatedAt` moved, or which appeared, since the previous poll. The first poll only
//! takes the baseline. At most [`MAX_WATCHED_SETUPS`] setups (the oldest, in creation order)
//! are watched, which bounds both the work per poll and the memory per subscriber.
//!
//! It polls with [`poll_stream`]: a transient failure (the process API down or slow) is sent
//! as an error item and polling goes on; any other failure (for instance the token expired) is
//! sent and ends the stream.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions, Result, Subscription};
use futures::stream::Stream;
use keel_core::Error;
use keel_experience_common::poll_stream;
use keel_proto::projectsetup as proto;

use crate::downstream::Downstream;
use crate::model::Setup;

/// How often `setupUpdates` polls the project-setup process API.
pub const SETUP_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The most setups one `setupUpdates` subscriber watches.
pub const MAX_WATCHED_SETUPS: usize = 1000;
/// Setups read per `ListSetups` call while polling.
const POLL_PAGE_SIZE: u32 = 100;

/// The operations team's subscriptions. Open to operations.
#[derive(Debug, Default, Clone, Copy)]
pub struct OperationsSubscription;

#[Subscription]
impl OperationsSubscription {
    /// Setups as they change: each setup whose `updatedAt` moved, or which appeared, since the
    /// subscription started, checked every 2 seconds.
    async fn setup_updates(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<Setup>> + use<>> {
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        Ok(watch(downstream, SETUP_POLL_INTERVAL))
    }
}

/// The last `updatedAt` (seconds, nanos) seen of each setup, by id.
type Stamps = HashMap<String, Option<(i64, i32)>>;

fn watch(downstream: Downstream, period: Duration) -> impl Stream<Item = Result<Setup>> {
    poll_stream(
        "setupUpdates",
        period,
        (downstream, None),
        |(downstream, mut seen)| async move {
            let changed = poll(&downstream)
                .await
                .map(|setups| changes(&mut seen, setups).into_iter().map(Setup::from).collect());
            ((downstream, seen), changed)
        },
    )
}

/// Every watched setup, page by page.
async fn poll(downstream: &Downstream) -> Result<Vec<proto::Setup>, Error> {
    let mut setups = Vec::new();
    let mut token = String::new();
    while setups.len() < MAX_WATCHED_SETUPS {
        let page = downstream.list_setups(POLL_PAGE_SIZE, token).await?;
        setups.extend(page.setups);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    setups.truncate(MAX_WATCHED_SETUPS);
    Ok(setups)
}

/// The setups that are new or whose `updatedAt` moved since `seen`, which becomes this poll.
/// The first poll (no `seen` yet) takes the baseline and reports nothing.
fn changes(seen: &mut Option<Stamps>, setups: Vec<proto::Setup>) -> Vec<proto::Setup> {
    let stamps: Stamps = setups
        .iter()
        .map(|s| (s.id.clone(), s.updated_at.map(|t| (t.seconds, t.nanos))))
        .collect();
    let changed = match seen.as_ref() {
        None => Vec::new(),
        Some(previous) => setups
            .into_iter()
            .filter(|s| previous.get(&s.id) != stamps.get(&s.id))
            .collect(),
    };
    *seen = Some(stamps);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(id: &str, updated_seconds: i64) -> proto::Setup {
        let mut setup = proto::Setup {
            id: id.into(),
            ..Default::default()
        };
        let mut stamp = setup.created_at.unwrap_or_default();
        stamp.seconds = updated_seconds;
        setup.updated_at = Some(stamp);
        setup
    }

    fn ids(setups: &[proto::Setup]) -> Vec<&str> {
        setups.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn the_first_poll_is_the_baseline_then_only_moved_or_new_setups_are_reported() {
        let mut seen = None;
        assert!(changes(&mut seen, vec![setup("a", 1), setup("b", 1)]).is_empty());
        assert!(changes(&mut seen, vec![setup("a", 1), setup("b", 1)]).is_empty());
        let changed = changes(&mut seen, vec![setup("a", 1), setup("b", 2), setup("c", 1)]);
        assert_eq!(ids(&changed), ["b", "c"]);
        assert!(changes(&mut seen, vec![setup("a", 1), setup("b", 2), setup("c", 1)]).is_empty());
    }
}
