//! The `projectManager` field's type: the project manager's queries.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use futures::future::join_all;
use keel_core::Error;

use crate::downstream::Downstream;
use crate::model::{Project, ProjectConnection};

/// Projects per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The most projects one page may hold.
pub const MAX_PAGE_SIZE: i32 = 100;

/// The project manager's view: the projects and what each system knows of them. Open to
/// project managers, executives and finance.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProjectManagerView;

#[Object]
impl ProjectManagerView {
    /// Projects in creation order, `first` (at most 100) at a time, each with its ERP project
    /// code. Pass the previous page's `nextCursor` as `after` to read on.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<ProjectConnection> {
        let page_size = page_size(first).map_err(|e| e.extend())?;
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        let page = downstream
            .list_projects(page_size, after.unwrap_or_default())
            .await
            .map_err(|e| paging_fields(e).extend())?;
        let codes = join_all(
            page.projects
                .iter()
                .map(|project| downstream.get_project_code(project.id.clone())),
        )
        .await;
        let mut nodes = Vec::with_capacity(page.projects.len());
        for (project, code) in page.projects.into_iter().zip(codes) {
            nodes.push(Project::new(project, code.map_err(|e| e.extend())?));
        }
        let next_cursor = page.page.map(|p| p.next_page_token).filter(|token| !token.is_empty());
        Ok(ProjectConnection { nodes, next_cursor })
    }

    /// One project by its id, with its ERP project code; null if PSA has no such project.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        let Some(project) = downstream.get_project(id.0).await.map_err(|e| e.extend())? else {
            return Ok(None);
        };
        let code = downstream
            .get_project_code(project.id.clone())
            .await
            .map_err(|e| e.extend())?;
        Ok(Some(Project::new(project, code)))
    }
}

/// `first` as a page size, or bad input naming `first`.
fn page_size(first: i32) -> Result<u32, Error> {
    match u32::try_from(first) {
        Ok(size) if (1..=MAX_PAGE_SIZE as u32).contains(&size) => Ok(size),
        _ => Err(Error::invalid(
            "first",
            format!("must be between 1 and {MAX_PAGE_SIZE}, got {first}"),
        )),
    }
}

/// Renames the paging fields a system API rejected to the arguments the caller passed.
fn paging_fields(error: Error) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                match violation.field.as_str() {
                    "page.page_token" | "page_token" => violation.field = "after".into(),
                    "page.page_size" | "page_size" => violation.field = "first".into(),
                    _ => {}
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_outside_one_to_a_hundred_name_first() {
        let table = [
            (1, true),
            (50, true),
            (100, true),
            (0, false),
            (-1, false),
            (101, false),
        ];
        for (first, ok) in table {
            match page_size(first) {
                Ok(size) => assert!(ok && size == first as u32, "{first}"),
                Err(error) => {
                    assert!(!ok, "{first}");
                    assert_eq!(error.field_violations()[0].field, "first");
                }
            }
        }
    }

    #[test]
    fn a_rejected_page_token_names_after() {
        let error = paging_fields(Error::invalid("page.page_token", "is not a token this service issued"));
        assert_eq!(error.field_violations()[0].field, "after");
        let error = paging_fields(Error::invalid("name", "must not be empty"));
        assert_eq!(error.field_violations()[0].field, "name");
    }
}
