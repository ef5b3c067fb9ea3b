//! A close-out whose worker crashes between a step's calls and the journal (the engine's
//! `workflow::after-step-call` failpoint: every call of the step made, nothing recorded) is
//! finished by another replica, and no effect happens twice: the workspace is archived once,
//! retention applied once, the project closed once, the review produced once. The failpoints
//! are global, so this file holds one test that crashes after each step in turn.

mod support;

use std::time::Duration;

use keel_close_out::workflow::{ARCHIVE_WORKSPACE, KIND};
use keel_proto::collaboration::WorkspaceStatus;
use keel_proto::psa::ProjectStatus;
use keel_workflow::Status;
use support::{Leave, Platform, settle};

const WINDOW: &str = "workflow::after-step-call";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_steps_calls_repeats_no_effect() {
    let platform = Platform::start().await;
    let steps = ["check", ARCHIVE_WORKSPACE, "apply-retention", "close-project", "review"];
    for (index, step) in steps.iter().enumerate() {
        let delivered = platform
            .delivered(Leave {
                no_exception: true,
                ..Leave::default()
            })
            .await;
        let project_id = delivered.project.id.clone();
        let crashing = platform.engine(&format!("crashing-{index}"));
        let id = platform.start_close_out(&crashing, &project_id).await;

        // The replica runs the steps before this one, then dies once this one's calls are made.
        fail::cfg(WINDOW, &format!("{index}*off->1*panic")).unwrap();
        let mut crashed = false;
        for _ in 0..50 {
            let engine = crashing.clone();
            match tokio::spawn(async move { engine.tick().await }).await {
                Err(join) => {
                    assert!(join.is_panic());
                    crashed = true;
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        fail::remove(WINDOW);
        assert!(crashed, "{step}: the worker crashed");
        let view = crashing.instance(id).await.unwrap();
        assert_eq!(view.journal.len(), index, "{step}: crashed before it was journaled");

        // Another replica takes over once the dead one's lease runs out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let survivor = platform.engine(&format!("survivor-{index}"));
        settle(&survivor).await;

        let view = survivor.instance(id).await.unwrap();
        assert_eq!(view.status, Status::Done, "{step}: {view:?}");
        assert_eq!(view.journal.len(), steps.len(), "{step}: each step journaled once");
        let workspace = platform.workspace(&project_id).await;
        assert_eq!(workspace.status, WorkspaceStatus::Archived as i32, "{step}");
        assert_eq!(
            workspace.version,
            delivered.workspace.version + 1,
            "{step}: archived once"
        );
        let sow = platform.document(&delivered.sow.id).await;
        assert_eq!(sow.version, delivered.sow.version + 1, "{step}: retention applied once");
        let project = platform.project(&project_id).await;
        assert_eq!(project.status, ProjectStatus::Closed as i32, "{step}");
        assert_eq!(project.version, delivered.project.version + 1, "{step}: closed once");
        let review = platform.review(&project_id).await;
        assert_eq!(review.project_id, project_id, "{step}");
        assert!(review.exceptions.is_empty(), "{step}: a crash is no exception");
        let close_outs = survivor
            .list(
                Some(Status::Done),
                Some(KIND),
                keel_core::paging::Page::parse(100, "").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            close_outs.iter().filter(|c| c.business_key == project_id).count(),
            1,
            "{step}: one close-out"
        );
    }
    assert!(
        matches!(
            keel_store::audit::verify(&platform.db).await.unwrap(),
            keel_store::audit::ChainReport::Intact { .. }
        ),
        "the close-out's audit chain is intact"
    );
}
