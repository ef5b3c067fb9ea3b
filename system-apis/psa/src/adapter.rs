//! The trait a PSA product implements to sit behind Keel's PSA system API.
//!
//! Methods take inputs already checked by [`crate::domain`] and answer in the canonical
//! contract types. A change carries the caller's subject (`actor`, for the audit log) and its
//! idempotency key (inside the checked input): a replay with the same key returns the first
//! result. An operation the product cannot do returns [`Error::NotSupported`].

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::psa::{DeliveryTemplate, ListProjectsResponse, Project};

use crate::domain::{NewProject, NewTemplate, ProjectLookup};

/// One PSA product, as Keel sees it.
#[async_trait]
pub trait PsaAdapter: Send + Sync + 'static {
    /// Stores a delivery template under its id. The version goes up by one when the content
    /// changes; the same content keeps its version and records nothing.
    async fn upsert_delivery_template(&self, actor: &str, template: NewTemplate) -> Result<DeliveryTemplate, Error>;

    /// Every delivery template at its current version, ordered by id.
    async fn list_delivery_templates(&self) -> Result<Vec<DeliveryTemplate>, Error>;

    /// Creates a project from the current version of its template, one per opportunity:
    /// another key for an opportunity that has a project is [`Error::AlreadyExists`] naming
    /// that project; a template that does not exist is [`Error::FailedPrecondition`].
    async fn create_project(&self, actor: &str, project: NewProject) -> Result<Project, Error>;

    /// One project, by its id or its opportunity; [`Error::NotFound`] otherwise.
    async fn get_project(&self, lookup: ProjectLookup) -> Result<Project, Error>;

    /// Projects in creation order (by id), one page at a time.
    async fn list_projects(&self, page: Page) -> Result<ListProjectsResponse, Error>;
}
