//! The `operations` field's type: the operations team's queries.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use keel_core::Error;
use keel_experience_common::paging;
use keel_proto::projectsetup::ListSetupsResponse;

use crate::downstream::Downstream;
use crate::model::{Setup, SetupConnection};
use crate::workflows::{PostingQueue, ProcessApi, SystemHealth, WorkflowQueries};

/// Setups per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i32 = paging::DEFAULT_PAGE_SIZE;
/// The most setups one page may hold.
pub const MAX_PAGE_SIZE: i32 = paging::MAX_PAGE_SIZE;

/// The operations view: project setups and the exception list. Open to operations.
#[derive(Debug, Default, Clone, Copy)]
pub struct OperationsView;

#[Object]
impl OperationsView {
    /// Setups stopped with a reason a person must act on, in creation order, `first` (at most
    /// 100) at a time. Pass the previous page's `nextCursor` as `after` to read on.
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<SetupConnection> {
        let page_size = paging::page_size(first).map_err(|e| e.extend())?;
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        let page = downstream
            .list_exceptions(page_size, after.unwrap_or_default())
            .await
            .map_err(|e| paging::rename_paging_fields(e).extend())?;
        Ok(connection(page))
    }

    /// Every setup, in creation order, `first` (at most 100) at a time.
    async fn setups(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] first: i32,
        after: Option<String>,
    ) -> Result<SetupConnection> {
        let page_size = paging::page_size(first).map_err(|e| e.extend())?;
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        let page = downstream
            .list_setups(page_size, after.unwrap_or_default())
            .await
            .map_err(|e| paging::rename_paging_fields(e).extend())?;
        Ok(connection(page))
    }

    /// The setup of a won opportunity; null if it has none.
    async fn setup(&self, ctx: &Context<'_>, opportunity_id: ID) -> Result<Option<Setup>> {
        let downstream = Downstream::from_context(ctx).map_err(|e| e.extend())?;
        let setup = downstream
            .get_setup_by_opportunity(opportunity_id.0)
            .await
            .map_err(|e| opportunity_field(e).extend())?;
        Ok(setup.map(Setup::from))
    }

    /// Each process API that runs workflows, with its counts and exception queue.
    async fn process_apis(&self, ctx: &Context<'_>) -> Result<Vec<ProcessApi>> {
        WorkflowQueries::process_apis(ctx)
    }

    /// Each system API, up or down, from the outages the workflows recorded.
    async fn integration_health(&self, ctx: &Context<'_>) -> Result<Vec<SystemHealth>> {
        WorkflowQueries::integration_health(ctx).await
    }

    /// Approved time and expenses on their way to ERP: how many wait (while ERP is down, in
    /// the journal), how many stopped, how many posted.
    async fn posting_queue(&self, ctx: &Context<'_>) -> Result<PostingQueue> {
        WorkflowQueries::posting_queue(ctx).await
    }
}

fn connection(page: ListSetupsResponse) -> SetupConnection {
    SetupConnection {
        nodes: page.setups.into_iter().map(Setup::from).collect(),
        next_cursor: Some(page.next_page_token).filter(|token| !token.is_empty()),
    }
}

/// Renames the fields the process API rejected to the argument names the caller used.
fn rename_fields(error: Error, renames: &[(&str, &str)]) -> Error {
    match error {
        Error::InvalidInput(mut violations) => {
            for violation in &mut violations {
                if let Some((_, to)) = renames.iter().find(|(from, _)| *from == violation.field) {
                    violation.field = (*to).to_string();
                }
            }
            Error::InvalidInput(violations)
        }
        other => other,
    }
}

fn opportunity_field(error: Error) -> Error {
    rename_fields(error, &[("opportunity_id", "opportunityId")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_fields_are_named_as_the_caller_spelled_them() {
        let error = opportunity_field(Error::invalid("opportunity_id", "is not a UUID"));
        assert_eq!(error.field_violations()[0].field, "opportunityId");
        let error = opportunity_field(Error::not_found("setup", "o-1"));
        assert!(error.field_violations().is_empty());
    }
}
