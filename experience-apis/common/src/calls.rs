//! The backend calls one GraphQL request made, by service and kind of lookup.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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

#[cfg(test)]
mod tests {
    use super::*;

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
