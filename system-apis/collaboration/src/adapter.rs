//! The seam between the collaboration contract and a collaboration product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::collaboration::{Workspace, WorkspaceStatus};
use uuid::Uuid;

use crate::domain::{ArchiveWorkspace, MemberRemoval, NewMember, NewWorkspace};

/// What a collaboration product must do for Keel. Changes take the caller (`actor`, for the
/// audit log) and the idempotency key; a replay returns the first result.
#[async_trait]
pub trait CollaborationAdapter: Send + Sync + 'static {
    /// Opens the project's workspace and emits `collaboration.workspace.created`.
    /// `Error::AlreadyExists` when the project has one; `Error::NotSupported` for channels
    /// when the product has none.
    async fn create_workspace(
        &self,
        actor: &str,
        idempotency_key: &str,
        workspace: NewWorkspace,
    ) -> Result<Workspace, Error>;
    async fn get_workspace(&self, id: Uuid) -> Result<Workspace, Error>;
    async fn get_workspace_by_project(&self, project_id: Uuid) -> Result<Workspace, Error>;
    async fn list_workspaces(&self, page: Page, status: Option<WorkspaceStatus>) -> Result<Vec<Workspace>, Error>;

    /// Adds a person, or changes the role or email of one already in (the same role and
    /// email again changes nothing). `Error::FailedPrecondition` on an archived workspace.
    async fn add_member(&self, actor: &str, idempotency_key: &str, member: NewMember) -> Result<Workspace, Error>;
    /// `Error::NotFound` when the person is not a member; `Error::FailedPrecondition` on an
    /// archived workspace.
    async fn remove_member(
        &self,
        actor: &str,
        idempotency_key: &str,
        removal: MemberRemoval,
    ) -> Result<Workspace, Error>;

    /// Archives the workspace and emits `collaboration.workspace.archived`; an archived one
    /// is returned unchanged. A stale `expected_version` is `Error::Aborted`.
    async fn archive_workspace(
        &self,
        actor: &str,
        idempotency_key: &str,
        archive: ArchiveWorkspace,
    ) -> Result<Workspace, Error>;
}
