//! The polling loop behind the views' subscriptions, for sources with no change feed the
//! gateway can follow.
//!
//! [`poll_stream`] calls `poll` every `period` (the first time at once); each call returns
//! what is new since the previous one, and the stream yields it item by item. A transient
//! failure (the API down or slow) is sent as an error item and polling goes on; any other
//! failure (for instance the caller's token expired) is sent and ends the stream.

use std::future::Future;
use std::time::Duration;

use async_graphql::ErrorExtensions;
use futures::stream::{self, Stream, StreamExt};
use keel_core::Error;
use tokio::time::{Interval, MissedTickBehavior};

struct Polling<S, F> {
    state: S,
    poll: F,
    interval: Interval,
    finished: bool,
}

/// A stream of what `poll` finds new, polled every `period` with its `state` (what the
/// previous polls saw, and whatever a poll needs, such as the caller's downstream). `poll`
/// takes the state and hands it back with its result. `name` names the subscription in logs.
pub fn poll_stream<S, T, F, Fut>(
    name: &'static str,
    period: Duration,
    state: S,
    poll: F,
) -> impl Stream<Item = async_graphql::Result<T>>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = (S, Result<Vec<T>, Error>)>,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let polling = Polling {
        state,
        poll,
        interval,
        finished: false,
    };
    stream::unfold(polling, move |mut polling| async move {
        if polling.finished {
            return None;
        }
        loop {
            polling.interval.tick().await;
            let (state, found) = (polling.poll)(polling.state).await;
            polling.state = state;
            match found {
                Ok(new) if new.is_empty() => {}
                Ok(new) => return Some((new.into_iter().map(Ok).collect::<Vec<_>>(), polling)),
                Err(error) => {
                    if !error.is_transient() {
                        polling.finished = true;
                    }
                    tracing::debug!(error = %error, subscription = name, "poll failed");
                    return Some((vec![Err(error.extend())], polling));
                }
            }
        }
    })
    .flat_map(stream::iter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn news_are_sent_item_by_item_a_transient_failure_is_sent_and_polling_goes_on() {
        let answers: Vec<Result<Vec<u32>, Error>> = vec![
            Ok(vec![1, 2]),
            Ok(vec![]),
            Err(Error::Unavailable("PSA is down".into())),
            Ok(vec![3]),
            Err(Error::Unauthenticated("token expired".into())),
            Ok(vec![4]),
        ];
        let stream = poll_stream(
            "test",
            Duration::from_secs(2),
            answers.into_iter(),
            |mut answers| async move {
                let next = answers.next().unwrap_or(Ok(Vec::new()));
                (answers, next)
            },
        );
        let items: Vec<async_graphql::Result<u32>> = stream.collect().await;
        let shown: Vec<String> = items
            .iter()
            .map(|i| match i {
                Ok(n) => n.to_string(),
                Err(e) => e.message.clone(),
            })
            .collect();
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert_eq!(&shown[..2], ["1", "2"]);
        assert!(shown[2].contains("PSA is down"), "{shown:?}");
        assert_eq!(shown[3], "3");
        assert!(shown[4].contains("token expired"), "{shown:?}");
    }
}
