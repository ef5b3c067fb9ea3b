//! The ERP adapter trait: one method per operation of the ERP contract.
//!
//! Methods take input already checked by [`crate::domain`] and return the canonical proto
//! types. Changes carry the caller's subject (`actor`, for the audit log); their idempotency
//! key travels inside the checked input. An adapter that cannot do an operation returns
//! [`Error::NotSupported`].

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::erp::{Budget, ListProjectCodesResponse, ProjectCode};

use crate::domain::{NewBudget, NewProjectCode, ProjectCodeLookup};

/// An ERP product behind the ERP system API.
#[async_trait]
pub trait ErpAdapter: Send + Sync + 'static {
    /// Opens a project code for a PSA project, assigning its code (`PRJ-000042`). One code per
    /// project: a second project code for the same project is [`Error::AlreadyExists`] naming
    /// the existing code, unless it replays the same idempotency key, which returns the first
    /// result.
    async fn create_project_code(&self, actor: &str, project_code: NewProjectCode) -> Result<ProjectCode, Error>;

    /// One project code, by code or PSA project id, with its budget once posted.
    async fn get_project_code(&self, lookup: ProjectCodeLookup) -> Result<ProjectCode, Error>;

    /// Project codes in creation order, one page at a time.
    async fn list_project_codes(&self, page: Page) -> Result<ListProjectCodesResponse, Error>;

    /// Posts the budget of a project code. A code has one budget: a second one is
    /// [`Error::FailedPrecondition`], unless it replays the same idempotency key.
    async fn post_budget(&self, actor: &str, budget: NewBudget) -> Result<Budget, Error>;
}
