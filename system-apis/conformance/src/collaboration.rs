//! The collaboration kit: workspaces and members through
//! `keel.collaboration.v1.CollaborationService`.

use std::sync::Arc;

use keel_auth::Role;
use keel_collaboration::CollaborationAdapter;
use keel_proto::collaboration::collaboration_service_client::CollaborationServiceClient;
use keel_proto::collaboration::{
    AddMemberRequest, ArchiveWorkspaceRequest, CreateWorkspaceRequest, GetWorkspaceByProjectRequest,
    GetWorkspaceRequest, ListWorkspacesRequest, MemberRole, RemoveMemberRequest, Workspace, WorkspaceStatus,
};
use keel_proto::common::PageRequest;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::harness::{Harness, MAX_MESSAGE_BYTES};
use crate::kit::{Kit, Report};
use crate::rules::{self, ensure, expect_code, expect_field, ok, refused};

/// What every collaboration check gets: the adapter served over gRPC.
#[derive(Debug)]
pub struct Context {
    pub harness: Harness,
}

impl Context {
    pub async fn new(adapter: Arc<dyn CollaborationAdapter>) -> Context {
        let service = keel_collaboration::service::server(adapter).max_decoding_message_size(MAX_MESSAGE_BYTES);
        Context {
            harness: Harness::serve(service).await,
        }
    }

    fn client(&self) -> CollaborationServiceClient<Channel> {
        CollaborationServiceClient::new(self.harness.channel())
    }

    async fn create(&self, request: CreateWorkspaceRequest) -> Result<Workspace, Status> {
        self.client()
            .create_workspace(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    /// A workspace for a fresh project.
    async fn workspace(&self, name: &str) -> Result<Workspace, String> {
        ok(
            self.create(new_workspace(&rules::key("ws"), &new_id(), name)).await,
            "CreateWorkspace",
        )
    }

    async fn get(&self, id: &str) -> Result<Workspace, Status> {
        self.client()
            .get_workspace(
                self.harness
                    .reader(Role::ProjectManager, GetWorkspaceRequest { id: id.to_string() }),
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn by_project(&self, project_id: &str) -> Result<Workspace, Status> {
        self.client()
            .get_workspace_by_project(self.harness.reader(
                Role::Consultant,
                GetWorkspaceByProjectRequest {
                    project_id: project_id.to_string(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn add(&self, request: AddMemberRequest) -> Result<Workspace, Status> {
        self.client()
            .add_member(self.harness.service(request))
            .await
            .map(|r| r.into_inner())
    }

    async fn remove(&self, workspace_id: &str, person_id: &str) -> Result<Workspace, Status> {
        self.client()
            .remove_member(self.harness.service(RemoveMemberRequest {
                idempotency_key: rules::key("remove"),
                workspace_id: workspace_id.to_string(),
                person_id: person_id.to_string(),
            }))
            .await
            .map(|r| r.into_inner())
    }

    async fn archive(&self, key: &str, id: &str, expected_version: i64) -> Result<Workspace, Status> {
        self.client()
            .archive_workspace(self.harness.service(ArchiveWorkspaceRequest {
                idempotency_key: key.to_string(),
                id: id.to_string(),
                expected_version,
            }))
            .await
            .map(|r| r.into_inner())
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn new_workspace(key: &str, project_id: &str, name: &str) -> CreateWorkspaceRequest {
    CreateWorkspaceRequest {
        idempotency_key: key.to_string(),
        project_id: project_id.to_string(),
        name: name.to_string(),
        channels: Vec::new(),
    }
}

fn new_member(workspace_id: &str, person_id: &str, email: &str, role: MemberRole) -> AddMemberRequest {
    AddMemberRequest {
        idempotency_key: rules::key("member"),
        workspace_id: workspace_id.to_string(),
        person_id: person_id.to_string(),
        email: email.to_string(),
        role: role as i32,
    }
}

/// Every collaboration check, in the order they run.
pub fn kit() -> Kit<Context> {
    Kit::new("collaboration")
        .check("a replayed create returns the first workspace", |c| Box::pin(replay(c)))
        .check("a reused key with another request is key_mismatch", |c| {
            Box::pin(mismatch(c))
        })
        .check("concurrent creates with one key make one workspace", |c| {
            Box::pin(concurrent(c))
        })
        .check("bad input names each field and writes nothing", |c| {
            Box::pin(bad_input(c))
        })
        .check("an unknown id or project is NOT_FOUND", |c| Box::pin(not_found(c)))
        .check("readers cannot write", |c| Box::pin(readers_cannot_write(c)))
        .check("a project has one workspace", |c| Box::pin(one_per_project(c)))
        .check("members are added, re-roled and removed, each change a version", |c| {
            Box::pin(members(c))
        })
        .check("a stale archive is ABORTED and changes nothing", |c| Box::pin(stale(c)))
        .check(
            "an archived workspace refuses members; archiving twice is a no-op",
            |c| Box::pin(archive(c)),
        )
        .check("channels are kept as asked or refused as not supported", |c| {
            Box::pin(channels(c))
        })
        .check("workspaces page by token: 50 by default, 100 at most", |c| {
            Box::pin(paging(c))
        })
        .check("lists filter by status", |c| Box::pin(status_filter(c)))
}

/// Runs the collaboration kit against `adapter` and fails with the report if any check failed.
pub async fn run(adapter: Arc<dyn CollaborationAdapter>) -> Report {
    let context = Context::new(adapter).await;
    let report = kit().run(&context).await;
    report.assert_passed();
    report
}

async fn replay(c: &Context) -> rules::Outcome {
    let key = rules::key("ws");
    let project_id = new_id();
    let first = rules::replay_returns_first(
        || c.create(new_workspace(&key, &project_id, "Northwind ERP rollout")),
        "CreateWorkspace",
    )
    .await?;
    ensure(
        first.version == 1 && first.status == WorkspaceStatus::Active as i32 && first.project_id == project_id,
        || format!("a new workspace should be ACTIVE at version 1 for its project: {first:?}"),
    )?;
    let stored = ok(c.get(&first.id).await, "GetWorkspace")?;
    ensure(stored.name == "Northwind ERP rollout", || {
        format!("the stored workspace is {stored:?}")
    })
}

async fn mismatch(c: &Context) -> rules::Outcome {
    let key = rules::key("ws");
    let project_id = new_id();
    ok(
        c.create(new_workspace(&key, &project_id, "First")).await,
        "CreateWorkspace",
    )?;
    let status = refused(
        c.create(new_workspace(&key, &project_id, "Second")).await,
        "CreateWorkspace with a reused key",
    )?;
    rules::expect_key_mismatch(&status)
}

async fn concurrent(c: &Context) -> rules::Outcome {
    let key = rules::key("ws");
    let project_id = new_id();
    let client = c.client();
    let requests: Vec<_> = (0..6)
        .map(|_| c.harness.service(new_workspace(&key, &project_id, "Concurrent")))
        .collect();
    let requests = std::sync::Mutex::new(requests);
    let id = rules::concurrent_calls_agree(
        6,
        || {
            let mut client = client.clone();
            let request = requests.lock().expect("requests").pop().expect("one request per call");
            async move { client.create_workspace(request).await.map(|r| r.into_inner().id) }
        },
        "CreateWorkspace",
    )
    .await?;
    let stored = ok(c.by_project(&project_id).await, "GetWorkspaceByProject")?;
    ensure(stored.id == id, || {
        format!("the project's workspace is {}, not the one created ({id})", stored.id)
    })
}

async fn bad_input(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    type Edit = fn(&mut CreateWorkspaceRequest);
    let table: &[(Edit, &str)] = &[
        (|r| r.idempotency_key.clear(), "idempotency_key"),
        (|r| r.name = "   ".into(), "name"),
        (|r| r.name = "n".repeat(201), "name"),
        (
            |r| r.channels = vec!["general".into(), "Not A Slug".into()],
            "channels[1]",
        ),
        (|r| r.project_id = "project-7".into(), "project_id"),
    ];
    for (edit, field) in table {
        let mut request = new_workspace(&rules::key("bad"), &project_id, "Valid name");
        edit(&mut request);
        let status = refused(c.create(request).await, &format!("CreateWorkspace with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    let status = refused(
        c.by_project(&project_id).await,
        "GetWorkspaceByProject after refused creates",
    )?;
    expect_code(&status, Code::NotFound, "a refused create must write nothing")?;

    let workspace = c.workspace("Members checked").await?;
    type MemberEdit = fn(&mut AddMemberRequest);
    let table: &[(MemberEdit, &str)] = &[
        (|r| r.person_id = "p1".into(), "person_id"),
        (|r| r.email = "not-an-email".into(), "email"),
        (|r| r.role = MemberRole::Unspecified as i32, "role"),
        (|r| r.role = 42, "role"),
        (|r| r.workspace_id.clear(), "workspace_id"),
    ];
    for (edit, field) in table {
        let mut request = new_member(&workspace.id, &new_id(), "ana@example.com", MemberRole::Member);
        edit(&mut request);
        let status = refused(c.add(request).await, &format!("AddMember with a bad {field}"))?;
        expect_field(&status, field)?;
    }
    let status = refused(
        c.archive(&rules::key("archive"), &workspace.id, 0).await,
        "ArchiveWorkspace without expected_version",
    )?;
    expect_field(&status, "expected_version")?;
    let stored = ok(c.get(&workspace.id).await, "GetWorkspace")?;
    ensure(
        stored.members.is_empty() && stored.version == 1 && stored.status == WorkspaceStatus::Active as i32,
        || format!("refused changes changed the workspace: {stored:?}"),
    )
}

async fn not_found(c: &Context) -> rules::Outcome {
    let missing = new_id();
    let status = refused(c.get(&missing).await, "GetWorkspace of an unknown id")?;
    expect_code(&status, Code::NotFound, "GetWorkspace of an unknown id")?;
    ensure(status.message().contains(&missing), || {
        format!("NOT_FOUND should name the id: {:?}", status.message())
    })?;
    let status = refused(
        c.by_project(&missing).await,
        "GetWorkspaceByProject of a project without one",
    )?;
    expect_code(
        &status,
        Code::NotFound,
        "GetWorkspaceByProject of a project without one",
    )?;
    let status = refused(
        c.add(new_member(&missing, &new_id(), "ana@example.com", MemberRole::Member))
            .await,
        "AddMember to an unknown workspace",
    )?;
    expect_code(&status, Code::NotFound, "AddMember to an unknown workspace")?;
    let status = refused(
        c.archive(&rules::key("archive"), &missing, 1).await,
        "ArchiveWorkspace of an unknown workspace",
    )?;
    expect_code(&status, Code::NotFound, "ArchiveWorkspace of an unknown workspace")
}

async fn readers_cannot_write(c: &Context) -> rules::Outcome {
    let workspace = c.workspace("Readers only").await?;
    for role in [Role::Consultant, Role::ProjectManager, Role::Executive] {
        let what = format!("CreateWorkspace as {role}");
        let status = refused(
            c.client()
                .create_workspace(
                    c.harness
                        .reader(role, new_workspace(&rules::key("reader"), &new_id(), "No")),
                )
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
        let what = format!("AddMember as {role}");
        let status = refused(
            c.client()
                .add_member(c.harness.reader(
                    role,
                    new_member(&workspace.id, &new_id(), "eve@example.com", MemberRole::Owner),
                ))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
        let what = format!("ArchiveWorkspace as {role}");
        let status = refused(
            c.client()
                .archive_workspace(c.harness.reader(
                    role,
                    ArchiveWorkspaceRequest {
                        idempotency_key: rules::key("reader"),
                        id: workspace.id.clone(),
                        expected_version: 1,
                    },
                ))
                .await,
            &what,
        )?;
        expect_code(&status, Code::PermissionDenied, &what)?;
    }
    let stored = ok(c.get(&workspace.id).await, "GetWorkspace")?;
    ensure(stored.version == 1 && stored.members.is_empty(), || {
        format!("refused writes changed the workspace: {stored:?}")
    })
}

async fn one_per_project(c: &Context) -> rules::Outcome {
    let project_id = new_id();
    let first = ok(
        c.create(new_workspace(&rules::key("ws"), &project_id, "The one")).await,
        "CreateWorkspace",
    )?;
    let status = refused(
        c.create(new_workspace(&rules::key("ws"), &project_id, "A second"))
            .await,
        "a second CreateWorkspace for one project with a new key",
    )?;
    expect_code(&status, Code::AlreadyExists, "a second workspace for one project")?;
    let stored = ok(c.by_project(&project_id).await, "GetWorkspaceByProject")?;
    ensure(stored.id == first.id && stored.name == "The one", || {
        format!("the project's workspace should still be the first: {stored:?}")
    })
}

async fn members(c: &Context) -> rules::Outcome {
    let workspace = c.workspace("Team").await?;
    let (owner, member, guest) = (new_id(), new_id(), new_id());
    let key = rules::key("member");
    let mut request = new_member(&workspace.id, &owner, "Olu.Owner@Example.com", MemberRole::Owner);
    request.idempotency_key = key.clone();
    let after_owner = rules::replay_returns_first(|| c.add(request.clone()), "AddMember").await?;
    ensure(after_owner.version == 2, || {
        format!(
            "adding a member should move the workspace to version 2, got {}",
            after_owner.version
        )
    })?;
    let added = after_owner.members.iter().find(|m| m.person_id == owner);
    ensure(
        added.is_some_and(|m| m.role == MemberRole::Owner as i32 && m.email == "olu.owner@example.com"),
        || {
            format!(
                "the owner should be listed with a lower-cased email: {:?}",
                after_owner.members
            )
        },
    )?;
    ok(
        c.add(new_member(
            &workspace.id,
            &member,
            "mia@example.com",
            MemberRole::Member,
        ))
        .await,
        "AddMember (member)",
    )?;
    let with_three = ok(
        c.add(new_member(
            &workspace.id,
            &guest,
            "gus@client.example",
            MemberRole::Guest,
        ))
        .await,
        "AddMember (guest)",
    )?;
    ensure(with_three.members.len() == 3 && with_three.version == 4, || {
        format!("three members at version 4 expected: {with_three:?}")
    })?;
    let same = ok(
        c.add(new_member(
            &workspace.id,
            &guest,
            "gus@client.example",
            MemberRole::Guest,
        ))
        .await,
        "AddMember of a member with the same role",
    )?;
    ensure(same.version == 4 && same.members.len() == 3, || {
        format!("adding a member again with the same role should change nothing: {same:?}")
    })?;
    let promoted = ok(
        c.add(new_member(
            &workspace.id,
            &guest,
            "gus@client.example",
            MemberRole::Member,
        ))
        .await,
        "AddMember changing a role",
    )?;
    let role = promoted.members.iter().find(|m| m.person_id == guest).map(|m| m.role);
    ensure(role == Some(MemberRole::Member as i32) && promoted.version == 5, || {
        format!("the guest should now be a member at version 5: {promoted:?}")
    })?;
    let removed = ok(c.remove(&workspace.id, &member).await, "RemoveMember")?;
    ensure(
        removed.members.len() == 2 && removed.version == 6 && removed.members.iter().all(|m| m.person_id != member),
        || format!("the removed member should be gone at version 6: {removed:?}"),
    )?;
    let status = refused(c.remove(&workspace.id, &member).await, "RemoveMember of a non-member")?;
    expect_code(&status, Code::NotFound, "RemoveMember of a non-member")?;
    let stored = ok(c.get(&workspace.id).await, "GetWorkspace")?;
    ensure(stored == removed, || {
        format!("GetWorkspace should show the last change: {stored:?} vs {removed:?}")
    })
}

async fn stale(c: &Context) -> rules::Outcome {
    let workspace = c.workspace("Stale").await?;
    ok(
        c.add(new_member(
            &workspace.id,
            &new_id(),
            "ana@example.com",
            MemberRole::Owner,
        ))
        .await,
        "AddMember",
    )?;
    let status = refused(
        c.archive(&rules::key("archive"), &workspace.id, 1).await,
        "ArchiveWorkspace with a stale version",
    )?;
    rules::expect_stale(&status, "workspace")?;
    let stored = ok(c.get(&workspace.id).await, "GetWorkspace")?;
    ensure(
        stored.status == WorkspaceStatus::Active as i32 && stored.version == 2,
        || format!("a stale archive changed the workspace: {stored:?}"),
    )
}

async fn archive(c: &Context) -> rules::Outcome {
    let workspace = c.workspace("Closing").await?;
    let person = new_id();
    ok(
        c.add(new_member(&workspace.id, &person, "ana@example.com", MemberRole::Owner))
            .await,
        "AddMember",
    )?;
    let key = rules::key("archive");
    let archived = rules::replay_returns_first(|| c.archive(&key, &workspace.id, 2), "ArchiveWorkspace").await?;
    ensure(
        archived.status == WorkspaceStatus::Archived as i32 && archived.version == 3,
        || format!("an archived workspace should be ARCHIVED at version 3: {archived:?}"),
    )?;
    let again = ok(
        c.archive(&rules::key("archive-again"), &workspace.id, 2).await,
        "ArchiveWorkspace of an archived workspace with a new key",
    )?;
    ensure(again == archived, || {
        format!("archiving twice should change nothing: {again:?} after {archived:?}")
    })?;
    let status = refused(
        c.add(new_member(
            &workspace.id,
            &new_id(),
            "late@example.com",
            MemberRole::Member,
        ))
        .await,
        "AddMember to an archived workspace",
    )?;
    expect_code(&status, Code::FailedPrecondition, "AddMember to an archived workspace")?;
    let stored = ok(c.get(&workspace.id).await, "GetWorkspace")?;
    ensure(stored == archived, || {
        format!("a refused member changed the archived workspace: {stored:?}")
    })
}

async fn channels(c: &Context) -> rules::Outcome {
    let mut request = new_workspace(&rules::key("ws"), &new_id(), "With channels");
    request.channels = vec!["general".into(), "design-review".into()];
    match c.create(request).await {
        Ok(workspace) => ensure(workspace.channels == ["general", "design-review"], || {
            format!("the channels came back as {:?}", workspace.channels)
        }),
        Err(status) => rules::expect_not_supported(&status),
    }
}

async fn paging(c: &Context) -> rules::Outcome {
    let mut seeded = Vec::new();
    for i in 0..(rules::MAX_PAGE_SIZE + 5) {
        seeded.push(c.workspace(&format!("Paged {i}")).await?.id);
    }
    rules::paging(
        |page_size, page_token| {
            let mut client = c.client();
            let request = c.harness.reader(
                Role::Executive,
                ListWorkspacesRequest {
                    page: Some(PageRequest { page_size, page_token }),
                    status: 0,
                },
            );
            async move {
                let page = client.list_workspaces(request).await?.into_inner();
                Ok((
                    page.workspaces.into_iter().map(|w| w.id).collect(),
                    page.page.map(|p| p.next_page_token).unwrap_or_default(),
                ))
            }
        },
        &seeded,
    )
    .await
}

async fn status_filter(c: &Context) -> rules::Outcome {
    let active = c.workspace("Still active").await?;
    let closed = c.workspace("To archive").await?;
    ok(
        c.archive(&rules::key("archive"), &closed.id, 1).await,
        "ArchiveWorkspace",
    )?;
    let mut archived_ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = ok(
            c.client()
                .list_workspaces(c.harness.reader(
                    Role::Operations,
                    ListWorkspacesRequest {
                        page: Some(PageRequest {
                            page_size: 100,
                            page_token: token.clone(),
                        }),
                        status: WorkspaceStatus::Archived as i32,
                    },
                ))
                .await,
            "ListWorkspaces filtered by ARCHIVED",
        )?
        .into_inner();
        for workspace in page.workspaces {
            ensure(workspace.status == WorkspaceStatus::Archived as i32, || {
                format!("the ARCHIVED filter returned {workspace:?}")
            })?;
            archived_ids.push(workspace.id);
        }
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    ensure(
        archived_ids.contains(&closed.id) && !archived_ids.contains(&active.id),
        || format!("the ARCHIVED filter should list {} and not {}", closed.id, active.id),
    )
}
