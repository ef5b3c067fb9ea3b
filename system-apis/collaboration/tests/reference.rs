//! What the reference collaboration adapter writes beyond the contract: one outbox event per
//! change, a verifiable audit chain, and nothing at all when it refuses
//! (SQLite by default; PostgreSQL when KEEL_TEST_DATABASE_URL is set).

use std::sync::Arc;

use keel_collaboration::reference::Migrator;
use keel_collaboration::{ReferenceCollaboration, WORKSPACE_ARCHIVED, WORKSPACE_CREATED};
use keel_conformance::Harness;
use keel_events::outbox;
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::collaboration::{
    AddMemberRequest, ArchiveWorkspaceRequest, CreateWorkspaceRequest, MemberRole, Workspace, WorkspaceArchived,
    WorkspaceCreated, WorkspaceStatus,
};
use keel_store::audit::{self, ChainReport};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::Code;
use tonic::transport::Channel;

struct Collaboration {
    _store: TestStore,
    db: DatabaseConnection,
    harness: Harness,
    relay_waker: Arc<Notify>,
}

impl Collaboration {
    async fn start() -> Collaboration {
        let (store, db) = keel_conformance::migrated_store::<Migrator>("collaboration").await;
        let relay_waker = Arc::new(Notify::new());
        let adapter = Arc::new(ReferenceCollaboration::new(db.clone(), relay_waker.clone()));
        let harness = Harness::serve(keel_collaboration::service::server(adapter)).await;
        Collaboration {
            _store: store,
            db,
            harness,
            relay_waker,
        }
    }

    fn client(&self) -> CollaborationServiceClient<Channel> {
        CollaborationServiceClient::new(self.harness.channel())
    }

    async fn create(&self, key: &str, project_id: &str) -> Result<Workspace, tonic::Status> {
        self.client()
            .create_workspace(self.harness.service(CreateWorkspaceRequest {
                idempotency_key: key.into(),
                project_id: project_id.into(),
                name: "Northwind ERP rollout".into(),
                channels: vec!["general".into()],
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn add(&self, key: &str, workspace_id: &str, role: MemberRole) -> Result<Workspace, tonic::Status> {
        self.client()
            .add_member(self.harness.service(AddMemberRequest {
                idempotency_key: key.into(),
                workspace_id: workspace_id.into(),
                person_id: uuid::Uuid::now_v7().to_string(),
                email: "ana@example.com".into(),
                role: role as i32,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn archive(&self, key: &str, id: &str, expected_version: i64) -> Result<Workspace, tonic::Status> {
        self.client()
            .archive_workspace(self.harness.service(ArchiveWorkspaceRequest {
                idempotency_key: key.into(),
                id: id.into(),
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn relay_was_woken(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(1), self.relay_waker.notified())
            .await
            .expect("the relay should be woken after a commit that wrote an event");
    }

    /// (events in the outbox, entries in the audit chain), after checking the chain.
    async fn written(&self) -> (usize, u64) {
        let events = outbox::recent(&self.db, None, 10_000).await.unwrap().len();
        match audit::verify(&self.db).await.unwrap() {
            ChainReport::Intact { entries } => (events, entries),
            broken => panic!("the audit chain is broken: {broken:?}"),
        }
    }
}

fn project() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn creating_and_archiving_emit_one_event_each_and_audit_every_change() {
    let collaboration = Collaboration::start().await;
    let project_id = project();
    let created = collaboration.create("c1", &project_id).await.unwrap();
    // A replay returns the first workspace and writes nothing more.
    assert_eq!(collaboration.create("c1", &project_id).await.unwrap(), created);
    // The relay was told there is an event to publish (adding a member emits none).
    collaboration.relay_was_woken().await;
    let with_owner = collaboration.add("m1", &created.id, MemberRole::Owner).await.unwrap();
    let archived = collaboration
        .archive("a1", &created.id, with_owner.version)
        .await
        .unwrap();
    collaboration.relay_was_woken().await;
    assert_eq!(
        (archived.status, archived.version),
        (WorkspaceStatus::Archived as i32, 3)
    );
    // Archiving again, by replay or with a new key, emits nothing more.
    assert_eq!(collaboration.archive("a1", &created.id, 2).await.unwrap(), archived);
    assert_eq!(collaboration.archive("a2", &created.id, 2).await.unwrap(), archived);

    let created_events = outbox::recent(&collaboration.db, Some(WORKSPACE_CREATED), 10)
        .await
        .unwrap();
    assert_eq!(created_events.len(), 1);
    let payload: WorkspaceCreated = outbox::to_envelope(&created_events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.workspace.unwrap(), created);
    assert_eq!(created_events[0].aggregate_id, created.id);
    let archived_events = outbox::recent(&collaboration.db, Some(WORKSPACE_ARCHIVED), 10)
        .await
        .unwrap();
    assert_eq!(archived_events.len(), 1);
    let payload: WorkspaceArchived = outbox::to_envelope(&archived_events[0]).unwrap().decode().unwrap();
    assert_eq!(payload.workspace.unwrap(), archived);

    let history = audit::history(&collaboration.db, "workspace", &created.id)
        .await
        .unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "member_added", "archived"]);
    assert!(history.iter().all(|e| e.actor == "conformance-kit"));
    let archive_detail: serde_json::Value = serde_json::from_str(&history[2].detail).unwrap();
    assert_eq!(archive_detail["before"]["status"], "active");
    assert_eq!(archive_detail["after"]["status"], "archived");
    assert_eq!(collaboration.written().await, (2, 3));
}

#[tokio::test]
async fn refusals_write_no_event_and_no_audit_entry() {
    let collaboration = Collaboration::start().await;
    let project_id = project();
    let created = collaboration.create("c1", &project_id).await.unwrap();
    let before = collaboration.written().await;

    let status = collaboration.create("c2", &project_id).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = collaboration.create("c1", &project()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "a reused key: {status:?}");
    let status = collaboration.archive("a0", &created.id, 7).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let status = collaboration
        .add("m0", &created.id, MemberRole::Unspecified)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(collaboration.written().await, before);

    collaboration.archive("a1", &created.id, 1).await.unwrap();
    let after_archive = collaboration.written().await;
    let status = collaboration
        .add("m1", &created.id, MemberRole::Guest)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(collaboration.written().await, after_archive);
    // A refused change stores no response: the same key may be used again once it can succeed.
    let status = collaboration
        .add("m1", &created.id, MemberRole::Guest)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn concurrent_creates_for_one_project_with_different_keys_make_one_workspace() {
    let collaboration = Arc::new(Collaboration::start().await);
    let project_id = project();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let collaboration = collaboration.clone();
            let project_id = project_id.clone();
            tokio::spawn(async move { collaboration.create(&format!("race-{i}"), &project_id).await })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(workspace) => created.push(workspace.id),
            Err(status) => assert!(
                matches!(status.code(), Code::AlreadyExists | Code::Unavailable),
                "{status:?}"
            ),
        }
    }
    assert_eq!(created.len(), 1, "exactly one create wins");
    let events = outbox::recent(&collaboration.db, Some(WORKSPACE_CREATED), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].aggregate_id, created[0]);
}

#[tokio::test]
async fn concurrent_archives_archive_once() {
    let collaboration = Arc::new(Collaboration::start().await);
    let created = collaboration.create("c1", &project()).await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let collaboration = collaboration.clone();
            let id = created.id.clone();
            tokio::spawn(async move { collaboration.archive(&format!("archive-{i}"), &id, 1).await })
        })
        .collect();
    for task in tasks {
        let workspace = task.await.unwrap().unwrap();
        assert_eq!(
            (workspace.status, workspace.version),
            (WorkspaceStatus::Archived as i32, 2)
        );
    }
    let events = outbox::recent(&collaboration.db, Some(WORKSPACE_ARCHIVED), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let history = audit::history(&collaboration.db, "workspace", &created.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
}
