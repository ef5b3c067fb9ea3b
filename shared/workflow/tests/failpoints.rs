//! Crashes at each window of a step (before and after the system call, before and after the
//! journal's commit) leave no lost and no duplicated effect. The failpoints are global, so
//! this file holds one test that visits every window in turn.

mod support;

use std::time::Duration;

use keel_workflow::Status;
use serde_json::json;
use support::{Ledger, engine, settle, store};

const WINDOWS: &[&str] = &[
    "workflow::before-step",
    "workflow::after-step-call",
    "workflow::after-journal",
    "workflow::before-commit",
    "workflow::after-commit",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_window_loses_nothing_and_posts_nothing_twice() {
    for window in WINDOWS {
        let (_store, db) = store().await;
        let ledger = Ledger::new(db.clone());
        let crashing = engine(&db, &ledger, "crashing-replica");
        let mut ids = Vec::new();
        for n in 0..12 {
            let started = crashing
                .start(
                    "posting",
                    &format!("te-{n}"),
                    json!({ "amount": "2.50" }),
                    json!({}),
                    "alice",
                )
                .await
                .unwrap();
            ids.push(started.id);
        }

        // The replica dies three times at this window, mid-round.
        fail::cfg(*window, "3*panic").unwrap();
        let mut crashes = 0;
        for _ in 0..60 {
            let engine = crashing.clone();
            if let Err(join) = tokio::spawn(async move { engine.tick().await }).await {
                assert!(join.is_panic());
                crashes += 1;
                if crashes == 3 {
                    break;
                }
            }
            // Let the leases of the instance it died on run out, so it meets them again.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fail::remove(*window);
        assert_eq!(crashes, 3, "{window}: the failpoint fired");

        // Another replica takes over once the dead one's leases run out.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let survivor = engine(&db, &ledger, "surviving-replica");
        settle(&survivor).await;

        for id in &ids {
            let view = survivor.instance(*id).await.unwrap();
            assert_eq!(view.status, Status::Done, "{window}: {id} is {:?}", view.status);
            assert_eq!(view.journal.len(), 4, "{window}: each step journaled once");
        }
        assert_eq!(
            ledger.total().await,
            24,
            "{window}: exactly two postings per item, none lost and none twice"
        );
        assert!(
            matches!(
                keel_store::audit::verify(&db).await.unwrap(),
                keel_store::audit::ChainReport::Intact { .. }
            ),
            "{window}"
        );
    }
}
