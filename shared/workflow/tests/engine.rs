//! The engine on a real store (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`).

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use keel_core::Error;
use keel_core::paging::Page;
use keel_workflow::{Actor, Engine, Status};
use proptest::prelude::*;
use serde_json::json;
use support::{Approval, Ledger, engine, engine_with_lease, options, settle, store};

fn admin() -> &'static str {
    "ops-lead"
}

#[tokio::test]
async fn steps_run_once_in_order_and_one_instance_holds_a_business_key() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");

    let first = engine
        .start(
            "posting",
            "te-1",
            json!({ "amount": "120.50" }),
            json!({ "policy": "v3" }),
            "alice",
        )
        .await
        .unwrap();
    assert!(first.created);
    let again = engine
        .start("posting", "te-1", json!({ "amount": "999" }), json!({}), "alice")
        .await
        .unwrap();
    assert_eq!(again.id, first.id, "an open instance holds its business key");
    assert!(!again.created);

    settle(&engine).await;
    let done = engine.instance(first.id).await.unwrap();
    assert_eq!(done.status, Status::Done);
    let steps: Vec<_> = done.journal.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["validate", "post", "second-post", "confirm"]);
    assert_eq!(
        done.versions,
        json!({ "policy": "v3" }),
        "the versions it ran under are kept"
    );
    assert_eq!(ledger.live_postings("te-1").await, 2);

    // Once done, the key is free for new work.
    let later = engine
        .start("posting", "te-1", json!({ "amount": "1" }), json!({}), "alice")
        .await
        .unwrap();
    assert!(later.created);
    assert_ne!(later.id, first.id);

    let unknown = engine
        .start("payroll", "x", json!({}), json!({}), "alice")
        .await
        .unwrap_err();
    assert_eq!(unknown.field_violations()[0].field, "kind");
    let blank = engine
        .start("posting", " ", json!({}), json!({}), "alice")
        .await
        .unwrap_err();
    assert_eq!(blank.field_violations()[0].field, "business_key");
}

#[tokio::test]
async fn work_done_once_per_key_answers_its_finished_instance_even_while_it_finishes() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    let keys: Vec<String> = (0..40).map(|n| format!("milestone-{n}")).collect();
    let mut first = Vec::new();
    for key in &keys {
        let started = engine
            .start_once("posting", key, json!({ "amount": "1.00" }), json!({}), "alice")
            .await
            .unwrap();
        assert!(started.created && !started.done);
        first.push(started.id);
    }
    // Starts asked for while the worker finishes the instances: each answers the instance
    // running or the instance done, never a second one.
    let worker = async {
        settle(&engine).await;
    };
    let askers = async {
        for _ in 0..6 {
            for (key, id) in keys.iter().zip(&first) {
                let again = engine
                    .start_once("posting", key, json!({ "amount": "1.00" }), json!({}), "bob")
                    .await
                    .unwrap();
                assert_eq!(again.id, *id, "{key} was started twice");
                assert!(!again.created);
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(worker, askers);
    settle(&engine).await;
    for (key, id) in keys.iter().zip(&first) {
        let again = engine
            .start_once("posting", key, json!({ "amount": "1.00" }), json!({}), "bob")
            .await
            .unwrap();
        assert_eq!((again.id, again.created, again.done), (*id, false, true), "{key}");
        assert_eq!(ledger.live_postings(key).await, 2, "{key} posted once");
    }
    // Plain starts stay free to begin new work on a finished key.
    let next = engine
        .start("posting", &keys[0], json!({ "amount": "1.00" }), json!({}), "alice")
        .await
        .unwrap();
    assert!(next.created && !next.done);
}

#[tokio::test]
async fn while_the_system_is_down_work_waits_one_incident_is_raised_and_each_item_posts_once_when_it_returns() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    ledger.down.store(true, Ordering::SeqCst);

    let mut ids = Vec::new();
    for n in 0..60 {
        let started = engine
            .start(
                "posting",
                &format!("te-{n}"),
                json!({ "amount": "8.00" }),
                json!({}),
                "alice",
            )
            .await
            .unwrap();
        ids.push(started.id);
    }
    // Rounds of failures while it is down, until every item has been tried at least twice.
    for _ in 0..400 {
        engine.tick().await.unwrap();
        let mut all_retried = true;
        for id in &ids {
            all_retried &= engine.instance(*id).await.unwrap().attempts >= 2;
        }
        if all_retried {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let waiting = engine.instance(ids[0]).await.unwrap();
    assert_eq!(waiting.status, Status::Running, "accepted and waiting, not failed");
    assert!(waiting.attempts >= 2, "retried: {}", waiting.attempts);
    assert!(waiting.last_error.unwrap().contains("connection refused"));
    let incidents = engine.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "one alert for the outage, not one per item");
    assert!(incidents[0].failures >= 120, "{}", incidents[0].failures);
    assert!(incidents[0].closed_at.is_none());
    assert_eq!(ledger.total().await, 0);

    ledger.down.store(false, Ordering::SeqCst);
    settle(&engine).await;
    for id in &ids {
        assert_eq!(engine.instance(*id).await.unwrap().status, Status::Done);
    }
    assert_eq!(ledger.total().await, 120, "two postings per item, none twice");
    let incidents = engine.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].closed_at.is_some(), "closed once the system answered");
}

#[tokio::test]
async fn a_business_error_goes_straight_to_the_exception_queue_where_operations_retries_or_resolves_it() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    let started = engine
        .start("posting", "te-bad", json!({ "amount": "" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&engine).await;

    let queue = engine.exceptions(Page::parse(0, "").unwrap()).await.unwrap();
    assert_eq!(queue.len(), 1);
    let exception = &queue[0];
    assert_eq!(exception.id, started.id);
    assert_eq!(exception.reason.as_deref(), Some("INVALID_INPUT"));
    assert_eq!(exception.attempts, 1, "not retried");
    assert_eq!(exception.step.as_deref(), Some("validate"));
    assert_eq!(exception.owning_team, "finance-operations");
    assert!(exception.last_error.as_deref().unwrap().contains("amount"));

    // Retrying does not help a bad input: back in the queue.
    engine.retry(started.id, admin()).await.unwrap();
    settle(&engine).await;
    assert_eq!(engine.instance(started.id).await.unwrap().status, Status::Exception);

    let error = engine.resolve(started.id, admin(), "  ").await.unwrap_err();
    assert_eq!(error.field_violations()[0].field, "note");
    let resolved = engine
        .resolve(
            started.id,
            admin(),
            "amount corrected in the source timesheet; re-submitted as te-bad-2",
        )
        .await
        .unwrap();
    assert_eq!(resolved.status, Status::Resolved);
    assert!(matches!(
        engine.retry(started.id, admin()).await.unwrap_err(),
        Error::FailedPrecondition(_)
    ));
    // The key is free once resolved.
    assert!(
        engine
            .start("posting", "te-bad", json!({ "amount": "1" }), json!({}), "alice")
            .await
            .unwrap()
            .created
    );

    let history = keel_store::audit::history(&db, "workflow_instance", &started.id.to_string())
        .await
        .unwrap();
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["started", "exception_raised", "retried", "exception_raised", "resolved"]
    );
    assert!(history[4].detail.contains("re-submitted"), "{}", history[4].detail);
    assert!(matches!(
        keel_store::audit::verify(&db).await.unwrap(),
        keel_store::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn an_approval_is_never_decided_by_its_submitter_and_the_approver_is_recorded() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    let started = engine
        .start("approval", "rr-1", json!({ "submitter": "alice" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&engine).await;
    assert_eq!(
        engine.instance(started.id).await.unwrap().status,
        Status::AwaitingApproval
    );
    let pending = engine.pending_approvals(Some("finance")).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].summary.contains("120000.00"));

    let alice = Actor {
        subject: "alice".into(),
        roles: vec!["finance".into()],
    };
    let refused = engine.decide(started.id, &alice, true, "looks fine").await.unwrap_err();
    assert!(matches!(refused, Error::Forbidden(_)), "{refused}");
    let carol = Actor {
        subject: "carol".into(),
        roles: vec!["consultant".into()],
    };
    assert!(matches!(
        engine.decide(started.id, &carol, true, "").await.unwrap_err(),
        Error::Forbidden(_)
    ));
    assert_eq!(
        engine.instance(started.id).await.unwrap().status,
        Status::AwaitingApproval,
        "refusals change nothing"
    );

    let bob = Actor {
        subject: "bob".into(),
        roles: vec!["finance".into()],
    };
    engine
        .decide(started.id, &bob, true, "within the margin floor")
        .await
        .unwrap();
    settle(&engine).await;
    let done = engine.instance(started.id).await.unwrap();
    assert_eq!(done.status, Status::Done);
    let decision = &done.journal.iter().find(|s| s.step == "approve").unwrap().result;
    assert_eq!(decision["by"], "bob");
    assert_eq!(decision["approved"], true);
    // When it was asked for, kept with the decision: the turnaround is decided − requested.
    let requested = chrono::DateTime::parse_from_rfc3339(decision["requested_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let decided = done.journal.iter().find(|s| s.step == "approve").unwrap().completed_at;
    assert!(
        requested <= decided && decided - requested < chrono::Duration::seconds(60),
        "{decision}"
    );

    let history = keel_store::audit::history(&db, "workflow_instance", &started.id.to_string())
        .await
        .unwrap();
    let refusal = history
        .iter()
        .find(|e| e.action == "self_approval_refused")
        .expect("audited");
    assert_eq!(refusal.actor, "alice");
    assert!(history.iter().any(|e| e.action == "approved" && e.actor == "bob"));
}

#[tokio::test]
async fn an_approval_escalates_after_its_timeout_and_then_goes_to_the_exception_queue() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = Engine::new(
        db.clone(),
        vec![Arc::new(Approval {
            // Long enough that a loaded machine reads the escalated approval before it times
            // out again; each wait below is a little longer than it.
            timeout: Duration::from_millis(500),
        })],
        options("a"),
    );
    let started = engine
        .start("approval", "rr-2", json!({ "submitter": "alice" }), json!({}), "alice")
        .await
        .unwrap();
    settle(&engine).await;
    tokio::time::sleep(Duration::from_millis(650)).await;
    engine.tick().await.unwrap();
    let pending = engine.pending_approvals(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].role, "delivery-leadership");
    assert!(pending[0].escalated);

    tokio::time::sleep(Duration::from_millis(650)).await;
    engine.tick().await.unwrap();
    let timed_out = engine.instance(started.id).await.unwrap();
    assert_eq!(timed_out.status, Status::Exception);
    assert_eq!(timed_out.reason.as_deref(), Some("APPROVAL_TIMED_OUT"));
    drop(ledger);
}

#[tokio::test]
async fn an_abandoned_instance_undoes_its_done_steps_latest_first() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    let started = engine
        .start(
            "posting",
            "te-9",
            json!({ "amount": "10.00", "fail_at": "confirm" }),
            json!({}),
            "alice",
        )
        .await
        .unwrap();
    settle(&engine).await;
    assert_eq!(engine.instance(started.id).await.unwrap().status, Status::Exception);
    assert_eq!(ledger.live_postings("te-9").await, 2);

    let error = engine.abandon(started.id, admin(), "").await.unwrap_err();
    assert_eq!(error.field_violations()[0].field, "note");
    engine
        .abandon(started.id, admin(), "client cancelled the engagement")
        .await
        .unwrap();
    settle(&engine).await;
    let abandoned = engine.instance(started.id).await.unwrap();
    assert_eq!(abandoned.status, Status::Abandoned);
    assert_eq!(ledger.live_postings("te-9").await, 0, "no orphan postings");
    let history = keel_store::audit::history(&db, "workflow_instance", &started.id.to_string())
        .await
        .unwrap();
    let undone: Vec<_> = history
        .iter()
        .filter(|e| e.action == "step_compensated")
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(undone.len(), 2);
    assert!(
        undone[0].contains("second-post") && undone[1].contains("\"post\""),
        "{undone:?}"
    );
}

#[tokio::test]
async fn a_saga_refused_at_a_step_undoes_itself_and_records_the_refusal() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    let engine = engine(&db, &ledger, "a");
    // Refused at the last step: both postings undone, latest first, without operations.
    let refused_last = engine
        .start(
            "saga",
            "te-20",
            json!({ "amount": "10.00", "fail_at": "confirm" }),
            json!({}),
            "alice",
        )
        .await
        .unwrap();
    // Refused at a step that had already posted in part: its own undo runs too.
    let refused_partly = engine
        .start(
            "saga",
            "te-21",
            json!({ "amount": "10.00", "fail_at": "second-post", "partial": true }),
            json!({}),
            "alice",
        )
        .await
        .unwrap();
    // A transient outage is not a refusal: the saga waits, then completes.
    ledger.down.store(true, Ordering::SeqCst);
    let outage = engine
        .start("saga", "te-22", json!({ "amount": "10.00" }), json!({}), "alice")
        .await
        .unwrap();
    for _ in 0..5 {
        engine.tick().await.unwrap();
    }
    ledger.down.store(false, Ordering::SeqCst);
    settle(&engine).await;

    for (id, business_key, step) in [
        (refused_last.id, "te-20", "confirm"),
        (refused_partly.id, "te-21", "second-post"),
    ] {
        let view = engine.instance(id).await.unwrap();
        assert_eq!(view.status, Status::Abandoned, "{business_key} compensated by itself");
        assert_eq!(view.reason.as_deref(), Some("INVALID_INPUT"));
        assert!(
            view.last_error
                .as_deref()
                .unwrap_or_default()
                .contains(&format!("refused at {step}"))
        );
        assert_eq!(view.step.as_deref(), Some(step), "the record names the refused step");
        assert_eq!(
            ledger.live_postings(business_key).await,
            0,
            "{business_key}: no orphan postings"
        );
        let refused = view.journal.iter().find(|s| s.step == step).unwrap();
        assert!(
            keel_workflow::step_refusal(&refused.result)
                .unwrap()
                .contains("refused at")
        );
        let history = keel_store::audit::history(&db, "workflow_instance", &id.to_string())
            .await
            .unwrap();
        assert!(history.iter().any(|e| e.action == "compensation_started"));
        assert!(
            history.iter().all(|e| e.action != "exception_raised"),
            "never in the exception queue"
        );
    }
    assert_eq!(engine.instance(outage.id).await.unwrap().status, Status::Done);
    assert_eq!(ledger.live_postings("te-22").await, 2);
    // The same refusal in a workflow that does not compensate on failure still waits for
    // operations (the `posting` tests above).
}

#[tokio::test]
async fn two_replicas_share_the_instances_and_run_each_step_once() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    // Leases long enough that none runs out under a loaded machine: then no step may run twice.
    let a = engine_with_lease(&db, &ledger, "replica-a", Duration::from_secs(10));
    let b = engine_with_lease(&db, &ledger, "replica-b", Duration::from_secs(10));
    for n in 0..80 {
        a.start(
            "posting",
            &format!("te-{n}"),
            json!({ "amount": "1.00" }),
            json!({}),
            "alice",
        )
        .await
        .unwrap();
    }
    let (ra, rb) = tokio::join!(settle(&a), settle(&b));
    let _ = (ra, rb);
    settle(&a).await;
    let done = a
        .counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == Status::Done)
        .unwrap()
        .1;
    assert_eq!(done, 80);
    assert_eq!(ledger.total().await, 160);
    assert_eq!(
        ledger.calls.load(Ordering::SeqCst),
        160,
        "no step ran twice: every ledger call was a first"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// With a business failure injected at any step, and the instance then abandoned, it ends
    /// fully done or fully compensated: never with a posting left behind.
    #[test]
    fn a_saga_ends_fully_done_or_fully_compensated(fail_at in prop::option::of(0usize..4), outage in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (_store, db) = store().await;
            let ledger = Ledger::new(db.clone());
            let engine = engine(&db, &ledger, "a");
            let steps = ["validate", "post", "second-post", "confirm"];
            let mut input = json!({ "amount": "3.33" });
            if let Some(i) = fail_at {
                input["fail_at"] = json!(steps[i]);
            }
            ledger.down.store(outage, Ordering::SeqCst);
            let started = engine.start("posting", "saga", input, json!({}), "alice").await.unwrap();
            for _ in 0..3 {
                engine.tick().await.unwrap();
            }
            ledger.down.store(false, Ordering::SeqCst);
            settle(&engine).await;
            let view = engine.instance(started.id).await.unwrap();
            match fail_at {
                None => {
                    prop_assert_eq!(view.status, Status::Done);
                    prop_assert_eq!(ledger.live_postings("saga").await, 2);
                }
                Some(_) => {
                    prop_assert_eq!(view.status, Status::Exception);
                    engine.abandon(started.id, "ops-lead", "failed at an injected step").await.unwrap();
                    settle(&engine).await;
                    prop_assert_eq!(engine.instance(started.id).await.unwrap().status, Status::Abandoned);
                    prop_assert_eq!(ledger.live_postings("saga").await, 0);
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn each_step_is_due_as_soon_as_the_last_one_is_recorded_whatever_the_lease() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    // A lease far longer than the test: the next step may not wait for it to run out.
    let engine = engine_with_lease(&db, &ledger, "a", Duration::from_secs(600));
    let started = engine
        .start("posting", "te-lease", json!({ "amount": "10" }), json!({}), "alice")
        .await
        .unwrap();
    // One drain: round after round until nothing is due, with no time passing for leases.
    let rounds = engine.drain().await.unwrap();
    let done = engine.instance(started.id).await.unwrap();
    assert_eq!(done.status, Status::Done, "after {rounds} rounds: {done:?}");
    assert_eq!(done.journal.len(), 4);
    assert_eq!(ledger.live_postings("te-lease").await, 2);
}

/// One step that waits on a slow system API, as a real step waits on a gRPC call.
struct SlowCall {
    latency: Duration,
}

#[async_trait::async_trait]
impl keel_workflow::Workflow for SlowCall {
    fn kind(&self) -> &'static str {
        "slow-call"
    }

    fn steps(&self) -> &[keel_workflow::StepDef] {
        const STEPS: &[keel_workflow::StepDef] = &[keel_workflow::StepDef::new("call").calls("erp")];
        STEPS
    }

    async fn run_step(&self, _cx: &keel_workflow::StepContext) -> Result<keel_workflow::StepOutcome, Error> {
        tokio::time::sleep(self.latency).await;
        Ok(keel_workflow::StepOutcome::Done(json!({ "called": true })))
    }
}

#[tokio::test]
async fn a_round_advances_its_claimed_instances_concurrently_so_a_batch_takes_about_one_step_not_the_sum() {
    let (_store, db) = store().await;
    let latency = Duration::from_millis(400);
    let slow = |owner: &str, concurrency: usize| {
        Engine::new(
            db.clone(),
            vec![Arc::new(SlowCall { latency })],
            // A lease shorter than the batch's steps one after the other: run in turn, the
            // last instances of the batch would still be waiting when their lease ran out.
            keel_workflow::EngineOptions {
                lease: Duration::from_secs(2),
                batch: 8,
                ..options(owner)
            },
        )
        .with_concurrency(concurrency)
    };

    for n in 0..8 {
        slow("starter", 1)
            .start("slow-call", &format!("c-{n}"), json!({}), json!({}), "alice")
            .await
            .unwrap();
    }
    let began = std::time::Instant::now();
    assert_eq!(slow("a", keel_workflow::DEFAULT_CONCURRENCY).tick().await.unwrap(), 8);
    let concurrent = began.elapsed();
    let counts = slow("a", 1).counts().await.unwrap();
    assert!(counts.contains(&(Status::Done, 8)), "{counts:?}");
    assert!(
        concurrent < latency * 3,
        "8 steps of {latency:?} took {concurrent:?}: the round ran them one after the other"
    );

    // One at a time, the same round takes the sum of its steps.
    for n in 8..12 {
        slow("starter", 1)
            .start("slow-call", &format!("c-{n}"), json!({}), json!({}), "alice")
            .await
            .unwrap();
    }
    let began = std::time::Instant::now();
    assert_eq!(slow("b", 1).tick().await.unwrap(), 4);
    assert!(began.elapsed() >= latency * 4);
}

#[tokio::test]
async fn one_round_takes_a_claimed_instance_through_all_its_steps_to_done() {
    let (_store, db) = store().await;
    let ledger = Ledger::new(db.clone());
    // A lease far longer than the test: a step that let the instance go would leave it for
    // the next round, not run it in this one.
    let engine = engine_with_lease(&db, &ledger, "a", Duration::from_secs(600));
    let started = engine
        .start("posting", "te-chain", json!({ "amount": "10" }), json!({}), "alice")
        .await
        .unwrap();
    assert_eq!(engine.tick().await.unwrap(), 1, "one instance claimed");
    let done = engine.instance(started.id).await.unwrap();
    assert_eq!(done.status, Status::Done, "one round ran only part of it: {done:?}");
    let steps: Vec<_> = done.journal.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["validate", "post", "second-post", "confirm"]);
    assert_eq!(ledger.live_postings("te-chain").await, 2);
    assert_eq!(engine.tick().await.unwrap(), 0, "nothing is left due");
}

/// A workflow of more steps than a replica runs back to back.
struct Long;

const LONG_STEPS: [keel_workflow::StepDef; 20] = {
    const NAMES: [&str; 20] = [
        "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11", "s12", "s13", "s14", "s15", "s16",
        "s17", "s18", "s19", "s20",
    ];
    let mut steps = [keel_workflow::StepDef::new("s00"); 20];
    let mut i = 0;
    while i < 20 {
        steps[i] = keel_workflow::StepDef::new(NAMES[i]);
        i += 1;
    }
    steps
};

#[async_trait::async_trait]
impl keel_workflow::Workflow for Long {
    fn kind(&self) -> &'static str {
        "long"
    }

    fn steps(&self) -> &[keel_workflow::StepDef] {
        &LONG_STEPS
    }

    async fn run_step(&self, cx: &keel_workflow::StepContext) -> Result<keel_workflow::StepOutcome, Error> {
        Ok(keel_workflow::StepOutcome::Done(json!({ "step": cx.step })))
    }
}

#[tokio::test]
async fn a_replica_lets_a_long_instance_go_after_its_run_of_steps_so_any_replica_goes_on() {
    let (_store, db) = store().await;
    let long = |owner: &str| {
        Engine::new(
            db.clone(),
            vec![Arc::new(Long)],
            keel_workflow::EngineOptions {
                lease: Duration::from_secs(600),
                ..options(owner)
            },
        )
    };
    let started = long("a")
        .start("long", "l-1", json!({}), json!({}), "alice")
        .await
        .unwrap();
    assert_eq!(long("a").tick().await.unwrap(), 1);
    let part = long("a").instance(started.id).await.unwrap();
    assert_eq!(part.status, Status::Running);
    assert_eq!(part.journal.len(), keel_workflow::MAX_CHAINED_STEPS);

    // Released, not leased for ten minutes: another replica claims it at once and finishes.
    assert_eq!(long("b").tick().await.unwrap(), 1);
    let done = long("b").instance(started.id).await.unwrap();
    assert_eq!(done.status, Status::Done, "{done:?}");
    assert_eq!(done.journal.len(), 20);
}

/// `start_once` and `find` look a key's instances up by `(kind, business_key)`: through the
/// index, so a start does not read every instance ever run (posting slowed fourfold over
/// 100,000 time entries before it).
#[tokio::test]
async fn a_key_is_looked_up_through_its_index_not_by_reading_every_instance() {
    use keel_workflow::entities::instance;
    use keel_workflow::migrations::INSTANCES_BY_KEY;
    use sea_orm::{ColumnTrait, TransactionTrait};
    use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Statement};

    let (_store, db) = store().await;
    let backend = db.get_database_backend();
    let finished = instance::Entity::find()
        .filter(instance::Column::Kind.eq("posting"))
        .filter(instance::Column::BusinessKey.eq("milestone-7"))
        .filter(instance::Column::Status.eq(Status::Done.as_str()))
        .order_by_desc(instance::Column::CreatedAt)
        .build(backend)
        .to_string();
    let latest = instance::Entity::find()
        .filter(instance::Column::Kind.eq("posting"))
        .filter(instance::Column::BusinessKey.eq("milestone-7"))
        .order_by_desc(instance::Column::CreatedAt)
        .build(backend)
        .to_string();
    for sql in [finished, latest] {
        let txn = db.begin().await.unwrap();
        // PostgreSQL's plan is one line a column; SQLite's detail is its fourth column.
        let (explain, column) = match backend {
            DbBackend::Postgres => {
                // An empty table is cheaper to scan than to search: ask for the plan a large
                // one gets.
                txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
                (format!("EXPLAIN {sql}"), 0)
            }
            _ => (format!("EXPLAIN QUERY PLAN {sql}"), 3),
        };
        let plan: Vec<String> = txn
            .query_all_raw(Statement::from_string(backend, explain))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<String>(column).unwrap())
            .collect();
        txn.rollback().await.unwrap();
        assert!(
            plan.iter().any(|line| line.contains(INSTANCES_BY_KEY)),
            "{sql}\nplans as {plan:#?}"
        );
    }
}
