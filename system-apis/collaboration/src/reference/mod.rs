//! The reference collaboration product: workspaces and members persisted with sea-orm, each
//! change in one transaction with its audit entry, its idempotency record and, when it emits
//! one, its event.
//!
//! Changes to a workspace first lock its row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has
//! one writer), so a member cannot slip into a workspace being archived.

mod entities;
mod migrations;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_events::{EventEnvelope, outbox};
use keel_proto::collaboration::{Member, MemberRole, Workspace, WorkspaceArchived, WorkspaceCreated, WorkspaceStatus};
use keel_store::audit::{self, AuditEntry};
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect};
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::CollaborationAdapter;
use crate::domain::{ArchiveWorkspace, MemberRemoval, NewMember, NewWorkspace};
use crate::{SERVICE_NAME, WORKSPACE_ARCHIVED, WORKSPACE_CREATED};
use entities::{member, workspace};

/// The persisted collaboration product.
#[derive(Clone)]
pub struct ReferenceCollaboration {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceCollaboration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceCollaboration").finish_non_exhaustive()
    }
}

impl ReferenceCollaboration {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceCollaboration {
        ReferenceCollaboration { db, relay_waker }
    }
}

fn role_name(role: i32) -> &'static str {
    match MemberRole::try_from(role) {
        Ok(MemberRole::Owner) => "owner",
        Ok(MemberRole::Member) => "member",
        Ok(MemberRole::Guest) => "guest",
        _ => "unspecified",
    }
}

fn member_to_proto(row: &member::Model) -> Member {
    Member {
        person_id: row.person_id.clone(),
        email: row.email.clone(),
        role: row.role,
    }
}

fn workspace_to_proto(row: &workspace::Model, members: &[member::Model]) -> Result<Workspace, Error> {
    let channels: Vec<String> = serde_json::from_str(&row.channels).map_err(Error::internal)?;
    let mut members: Vec<Member> = members.iter().map(member_to_proto).collect();
    members.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    Ok(Workspace {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        name: row.name.clone(),
        status: row.status,
        members,
        channels,
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

async fn members_of<C: ConnectionTrait>(db: &C, workspace_id: &str) -> Result<Vec<member::Model>, Error> {
    member::Entity::find()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(member::Column::PersonId)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// The workspace with its members.
async fn load<C: ConnectionTrait>(db: &C, row: &workspace::Model) -> Result<Workspace, Error> {
    workspace_to_proto(row, &members_of(db, &row.id).await?)
}

/// The workspace row, locked for the rest of the transaction.
async fn lock_workspace<C: ConnectionTrait>(txn: &C, id: Uuid) -> Result<workspace::Model, Error> {
    workspace::Entity::find_by_id(id.to_string())
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("workspace", id.to_string()))
}

fn refuse_if_archived(row: &workspace::Model, what: &str) -> Result<(), Error> {
    if row.status == WorkspaceStatus::Archived as i32 {
        return Err(Error::FailedPrecondition(format!(
            "workspace {} is archived: {what}",
            row.id
        )));
    }
    Ok(())
}

/// Moves the locked workspace from `row.version` to the next, stamping who changed it.
/// Conditional on the version, so a concurrent change cannot be overwritten.
async fn bump_version<C: ConnectionTrait>(
    txn: &C,
    row: &mut workspace::Model,
    actor: &str,
    status: Option<WorkspaceStatus>,
) -> Result<(), Error> {
    let now = now();
    let mut update = workspace::ActiveModel {
        version: Set(row.version + 1),
        updated_at: Set(now),
        updated_by: Set(actor.to_string()),
        ..Default::default()
    };
    if let Some(status) = status {
        update.status = Set(status as i32);
    }
    let result = workspace::Entity::update_many()
        .set(update)
        .filter(workspace::Column::Id.eq(row.id.clone()))
        .filter(workspace::Column::Version.eq(row.version))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    if result.rows_affected != 1 {
        let actual = workspace::Entity::find_by_id(row.id.clone())
            .one(txn)
            .await
            .map_err(keel_store::db_error)?
            .map(|w| w.version)
            .unwrap_or_default();
        return Err(Error::stale("workspace", row.id.clone(), row.version, actual));
    }
    row.version += 1;
    row.updated_at = now;
    row.updated_by = actor.to_string();
    if let Some(status) = status {
        row.status = status as i32;
    }
    Ok(())
}

/// Now, to the microsecond both databases store, so an answer equals a later read.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[async_trait]
impl CollaborationAdapter for ReferenceCollaboration {
    async fn create_workspace(
        &self,
        actor: &str,
        idempotency_key: &str,
        new: NewWorkspace,
    ) -> Result<Workspace, Error> {
        let request = new.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "collaboration.create_workspace",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let project_id = new.project_id.to_string();
                    let existing = workspace::Entity::find()
                        .filter(workspace::Column::ProjectId.eq(project_id.clone()))
                        .one(txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    if let Some(existing) = existing {
                        return Err(already_exists(&project_id, &existing.id));
                    }
                    let now = now();
                    let id = keel_core::ids::new_id().to_string();
                    let row = workspace::Model {
                        id: id.clone(),
                        project_id: project_id.clone(),
                        name: new.name,
                        status: WorkspaceStatus::Active as i32,
                        channels: serde_json::to_string(&new.channels).map_err(Error::internal)?,
                        version: 1,
                        created_at: now,
                        created_by: actor.clone(),
                        updated_at: now,
                        updated_by: actor.clone(),
                    };
                    match workspace::Entity::insert(workspace::ActiveModel::from(row.clone()))
                        .exec(txn)
                        .await
                    {
                        Ok(_) => {}
                        // Another key created the project's workspace between our look and our insert.
                        Err(e) if keel_store::is_unique_violation(&e) => {
                            return Err(Error::AlreadyExists(format!(
                                "project {project_id} already has a workspace"
                            )));
                        }
                        Err(e) => return Err(keel_store::db_error(e)),
                    }
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "workspace",
                            record_id: &id,
                            action: "created",
                            detail: serde_json::json!({
                                "project_id": row.project_id,
                                "name": row.name,
                                "channels": new.channels,
                                "status": "active",
                                "version": 1,
                            }),
                        },
                    )
                    .await?;
                    let created = workspace_to_proto(&row, &[])?;
                    let mut event = EventEnvelope::new(
                        WORKSPACE_CREATED,
                        SERVICE_NAME,
                        &id,
                        &WorkspaceCreated {
                            workspace: Some(created.clone()),
                        },
                    );
                    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
                    outbox::enqueue(txn, &event).await?;
                    Ok(created)
                })
            },
        )
        .await;
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }

    async fn get_workspace(&self, id: Uuid) -> Result<Workspace, Error> {
        let row = workspace::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(keel_store::db_error)?
            .ok_or_else(|| Error::not_found("workspace", id.to_string()))?;
        load(&self.db, &row).await
    }

    async fn get_workspace_by_project(&self, project_id: Uuid) -> Result<Workspace, Error> {
        let row = workspace::Entity::find()
            .filter(workspace::Column::ProjectId.eq(project_id.to_string()))
            .one(&self.db)
            .await
            .map_err(keel_store::db_error)?
            .ok_or_else(|| Error::NotFound(format!("project {project_id} has no workspace")))?;
        load(&self.db, &row).await
    }

    async fn list_workspaces(&self, page: Page, status: Option<WorkspaceStatus>) -> Result<Vec<Workspace>, Error> {
        let mut query = workspace::Entity::find()
            .order_by_asc(workspace::Column::Id)
            .limit(page.size);
        if let Some(after) = page.after {
            query = query.filter(workspace::Column::Id.gt(after.to_string()));
        }
        if let Some(status) = status {
            query = query.filter(workspace::Column::Status.eq(status as i32));
        }
        let rows = query.all(&self.db).await.map_err(keel_store::db_error)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // One query for the members of the whole page.
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut members: HashMap<String, Vec<member::Model>> = HashMap::new();
        for m in member::Entity::find()
            .filter(member::Column::WorkspaceId.is_in(ids))
            .all(&self.db)
            .await
            .map_err(keel_store::db_error)?
        {
            members.entry(m.workspace_id.clone()).or_default().push(m);
        }
        rows.iter()
            .map(|row| workspace_to_proto(row, members.get(&row.id).map(Vec::as_slice).unwrap_or_default()))
            .collect()
    }

    async fn add_member(&self, actor: &str, idempotency_key: &str, new: NewMember) -> Result<Workspace, Error> {
        let request = new.to_request(idempotency_key);
        let actor = actor.to_string();
        run_once(
            &self.db,
            "collaboration.add_member",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let mut row = lock_workspace(txn, new.workspace_id).await?;
                    refuse_if_archived(&row, "it takes no new members")?;
                    let person_id = new.person_id.to_string();
                    let existing = member::Entity::find_by_id((row.id.clone(), person_id.clone()))
                        .one(txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    let role = new.role as i32;
                    let (action, detail) = match existing {
                        Some(m) if m.role == role && m.email == new.email => return load(txn, &row).await,
                        Some(m) => {
                            let update = member::ActiveModel {
                                workspace_id: Set(m.workspace_id.clone()),
                                person_id: Set(m.person_id.clone()),
                                email: Set(new.email.clone()),
                                role: Set(role),
                                ..Default::default()
                            };
                            member::Entity::update(update)
                                .exec(txn)
                                .await
                                .map_err(keel_store::db_error)?;
                            (
                                "member_changed",
                                serde_json::json!({
                                    "person_id": person_id,
                                    "before": { "email": m.email, "role": role_name(m.role) },
                                    "after": { "email": new.email, "role": role_name(role) },
                                }),
                            )
                        }
                        None => {
                            let added = member::Model {
                                workspace_id: row.id.clone(),
                                person_id: person_id.clone(),
                                email: new.email.clone(),
                                role,
                                added_at: now(),
                                added_by: actor.clone(),
                            };
                            member::Entity::insert(member::ActiveModel::from(added))
                                .exec(txn)
                                .await
                                .map_err(keel_store::db_error)?;
                            (
                                "member_added",
                                serde_json::json!({
                                    "person_id": person_id,
                                    "after": { "email": new.email, "role": role_name(role) },
                                }),
                            )
                        }
                    };
                    bump_version(txn, &mut row, &actor, None).await?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "workspace",
                            record_id: &row.id,
                            action,
                            detail,
                        },
                    )
                    .await?;
                    load(txn, &row).await
                })
            },
        )
        .await
    }

    async fn remove_member(
        &self,
        actor: &str,
        idempotency_key: &str,
        removal: MemberRemoval,
    ) -> Result<Workspace, Error> {
        let request = removal.to_request(idempotency_key);
        let actor = actor.to_string();
        run_once(
            &self.db,
            "collaboration.remove_member",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let mut row = lock_workspace(txn, removal.workspace_id).await?;
                    refuse_if_archived(&row, "its members are kept as they were")?;
                    let person_id = removal.person_id.to_string();
                    let existing = member::Entity::find_by_id((row.id.clone(), person_id.clone()))
                        .one(txn)
                        .await
                        .map_err(keel_store::db_error)?
                        .ok_or_else(|| {
                            Error::NotFound(format!("person {person_id} is not a member of workspace {}", row.id))
                        })?;
                    member::Entity::delete_many()
                        .filter(member::Column::WorkspaceId.eq(row.id.clone()))
                        .filter(member::Column::PersonId.eq(person_id.clone()))
                        .exec(txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    bump_version(txn, &mut row, &actor, None).await?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "workspace",
                            record_id: &row.id,
                            action: "member_removed",
                            detail: serde_json::json!({
                                "person_id": person_id,
                                "before": { "email": existing.email, "role": role_name(existing.role) },
                            }),
                        },
                    )
                    .await?;
                    load(txn, &row).await
                })
            },
        )
        .await
    }

    async fn archive_workspace(
        &self,
        actor: &str,
        idempotency_key: &str,
        archive: ArchiveWorkspace,
    ) -> Result<Workspace, Error> {
        let request = archive.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "collaboration.archive_workspace",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let mut row = lock_workspace(txn, archive.id).await?;
                    // Archiving twice is a no-op, whatever version the second caller read.
                    if row.status == WorkspaceStatus::Archived as i32 {
                        return load(txn, &row).await;
                    }
                    if row.version != archive.expected_version {
                        return Err(Error::stale(
                            "workspace",
                            row.id.clone(),
                            archive.expected_version,
                            row.version,
                        ));
                    }
                    bump_version(txn, &mut row, &actor, Some(WorkspaceStatus::Archived)).await?;
                    audit::append(
                        txn,
                        AuditEntry {
                            actor: &actor,
                            record_type: "workspace",
                            record_id: &row.id,
                            action: "archived",
                            detail: serde_json::json!({
                                "before": { "status": "active", "version": archive.expected_version },
                                "after": { "status": "archived", "version": row.version },
                            }),
                        },
                    )
                    .await?;
                    let archived = load(txn, &row).await?;
                    let mut event = EventEnvelope::new(
                        WORKSPACE_ARCHIVED,
                        SERVICE_NAME,
                        &row.id,
                        &WorkspaceArchived {
                            workspace: Some(archived.clone()),
                        },
                    );
                    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
                    outbox::enqueue(txn, &event).await?;
                    Ok(archived)
                })
            },
        )
        .await;
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }
}

fn already_exists(project_id: &str, workspace_id: &str) -> Error {
    Error::AlreadyExists(format!("project {project_id} already has a workspace ({workspace_id})"))
}
