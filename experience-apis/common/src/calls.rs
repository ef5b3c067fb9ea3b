//! The backend calls one GraphQL request made, by service and kind of lookup.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use keel_core::Error;
use tokio::sync::OnceCell;

/// The calls one request made, counted by what they were (`"PSA ListProjects"`). The gateway
/// puts a fresh one into each request's data; every [`Downstream`](crate::Downstream) made for
/// that request counts into it. Cloning shares the count.
#[derive(Clone, Debug, Default)]
pub struct BackendCalls(Arc<Mutex<BTreeMap<String, u32>>>);

impl BackendCalls {
    /// Counts one call of `what`.
    pub fn record(&self, what: &str) {
        let mut calls = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *calls.entry(what.to_string()).or_default() += 1;
    }

    /// The calls so far, by what they were.
    pub fn snapshot(&self) -> BTreeMap<String, u32> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// How many calls were made in all.
    pub fn total(&self) -> u32 {
        self.snapshot().values().sum()
    }
}

type Shared = Arc<dyn Any + Send + Sync>;

/// Answers one request has already had, by lookup: two resolvers of the same request that
/// need the same lookup (a process API's counts, say) share one call instead of making two.
/// The gateway puts a fresh one into each request's data; cloning shares it.
#[derive(Clone, Default)]
pub struct RequestMemo(Arc<Mutex<HashMap<String, Arc<OnceCell<Shared>>>>>);

impl std::fmt::Debug for RequestMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMemo").finish_non_exhaustive()
    }
}

impl RequestMemo {
    /// The answer of the lookup `key`: made by `lookup` the first time it is asked in this
    /// request, shared after. A failed lookup is not remembered.
    pub async fn get_or_try<T, F, Fut>(&self, key: &str, lookup: F) -> Result<T, Error>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let cell = {
            let mut cells = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            cells.entry(key.to_string()).or_default().clone()
        };
        let value = cell
            .get_or_try_init(|| async { lookup().await.map(|value| Arc::new(value) as Shared) })
            .await?;
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| Error::internal(format!("lookup `{key}` was remembered with another type")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lookup_asked_twice_in_one_request_is_made_once_and_a_failure_is_not_kept() {
        let memo = RequestMemo::default();
        let calls = BackendCalls::default();
        let lookup = || async {
            calls.record("keel GetCounts");
            Ok::<_, Error>(7u64)
        };
        let (a, b) = tokio::join!(memo.get_or_try("counts", lookup), memo.get_or_try("counts", lookup));
        assert_eq!((a.unwrap(), b.unwrap()), (7, 7));
        assert_eq!(calls.total(), 1);
        let failed = memo
            .get_or_try("other", || async { Err::<u64, _>(Error::Unavailable("down".into())) })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            memo.get_or_try("other", || async { Ok::<_, Error>(1u64) })
                .await
                .unwrap(),
            1
        );
    }

    #[test]
    fn clones_share_one_count_by_kind() {
        let calls = BackendCalls::default();
        let other = calls.clone();
        calls.record("PSA ListProjects");
        other.record("PSA ListProjects");
        other.record("ERP ListProjectCodes");
        assert_eq!(calls.snapshot()["PSA ListProjects"], 2);
        assert_eq!(calls.snapshot()["ERP ListProjectCodes"], 1);
        assert_eq!(calls.total(), 3);
    }
}
