//! The collaboration system API (`keel.collaboration.v1`): one workspace per delivery project,
//! the people in it (owners, members, guests) and, where the product has them, its channels.
//!
//! Opening a workspace emits `collaboration.workspace.created`; archiving it when the project
//! closes emits `collaboration.workspace.archived`. The service speaks to a
//! [`CollaborationAdapter`]; [`ReferenceCollaboration`] is the complete, persisted adapter Keel
//! runs on its own.
//!
//! This crate knows nothing of how projects are set up or closed: it keeps the collaboration
//! product's records and announces what happened to them.

#![forbid(unsafe_code)]

pub mod adapter;
pub mod domain;
pub mod reference;
pub mod service;

pub use adapter::CollaborationAdapter;
pub use reference::ReferenceCollaboration;
pub use service::CollaborationGrpcService;

/// The service's name: its store, its audit actor and its event source.
pub const SERVICE_NAME: &str = "collaboration";

/// Emitted when a workspace is opened; the payload is `keel.collaboration.v1.WorkspaceCreated`.
pub const WORKSPACE_CREATED: &str = "collaboration.workspace.created";
/// Emitted when a workspace is archived; the payload is `keel.collaboration.v1.WorkspaceArchived`.
pub const WORKSPACE_ARCHIVED: &str = "collaboration.workspace.archived";
