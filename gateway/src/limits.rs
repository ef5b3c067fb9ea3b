//! The depth limit, checked on the parsed document before anything runs, counting the
//! fields a caller's data comes from and not the introspection a tool such as GraphiQL sends
//! (its standard query nests 13 deep under `__schema`). async-graphql's complexity and
//! directive limits run in validation; [`LimitMessages`] makes their refusals name the limit.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Response, ServerError, ServerResult, Variables};
use keel_core::Error;

/// Refuses a document whose data fields nest deeper than the limit.
pub(crate) struct DepthLimit(pub(crate) usize);

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DepthLimitExtension(self.0))
    }
}

struct DepthLimitExtension(usize);

#[async_trait::async_trait]
impl Extension for DepthLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let deepest = document
            .operations
            .iter()
            .map(|(_, operation)| {
                depth(
                    &document,
                    &operation.node.selection_set.node,
                    &mut HashSet::new(),
                    self.0,
                )
            })
            .max()
            .unwrap_or(0);
        if deepest > self.0 {
            let error = Error::invalid(
                "query",
                format!("nests fields deeper than the depth limit of {}", self.0),
            );
            let mut refused = error.extend().into_server_error(Default::default());
            refused.locations.clear();
            return Err(refused);
        }
        Ok(document)
    }
}

/// How deep the data fields of `set` nest (introspection fields not counted), stopping once
/// past `limit`. Fragments are followed once per path, so a cycle (refused later by
/// validation) cannot loop here.
fn depth<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    path: &mut HashSet<&'a str>,
    limit: usize,
) -> usize {
    let mut deepest = 0;
    for selection in &set.items {
        let below = match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if name.starts_with("__") {
                    continue;
                }
                if limit == 0 {
                    1
                } else {
                    1 + depth(document, &field.node.selection_set.node, path, limit - 1)
                }
            }
            Selection::InlineFragment(fragment) => depth(document, &fragment.node.selection_set.node, path, limit),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if path.insert(name) => {
                        let below = depth(document, &fragment.node.selection_set.node, path, limit);
                        path.remove(name);
                        below
                    }
                    _ => 0,
                }
            }
        };
        deepest = deepest.max(below);
    }
    deepest
}

/// Rewrites async-graphql's limit refusals so they name the limit and carry
/// `extensions.code` `BAD_USER_INPUT`.
pub(crate) struct LimitMessages {
    pub(crate) max_complexity: usize,
    pub(crate) max_directives: usize,
}

impl ExtensionFactory for LimitMessages {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitMessagesExtension {
            max_complexity: self.max_complexity,
            max_directives: self.max_directives,
        })
    }
}

struct LimitMessagesExtension {
    max_complexity: usize,
    max_directives: usize,
}

#[async_trait::async_trait]
impl Extension for LimitMessagesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            let message = if error.message == "Query is too complex." {
                format!(
                    "the query selects more than the complexity limit of {} fields",
                    self.max_complexity
                )
            } else if error.message.starts_with("The number of directives on the field") {
                format!(
                    "a field carries more directives than the limit of {}",
                    self.max_directives
                )
            } else {
                continue;
            };
            *error = bad_user_input(message, error);
        }
        response
    }
}

fn bad_user_input(message: String, original: &ServerError) -> ServerError {
    let mut error = Error::invalid("query", message)
        .extend()
        .into_server_error(original.locations.first().copied().unwrap_or_default());
    error.path.clone_from(&original.path);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(query: &str) -> usize {
        let document = async_graphql::parser::parse_query(query).unwrap();
        document
            .operations
            .iter()
            .map(|(_, op)| depth(&document, &op.node.selection_set.node, &mut HashSet::new(), 50))
            .max()
            .unwrap()
    }

    #[test]
    fn depth_counts_data_fields_through_fragments_and_not_introspection() {
        assert_eq!(depth_of("{ a { b { c } } }"), 3);
        assert_eq!(depth_of("{ a { ...F } } fragment F on T { b { c { d } } }"), 4);
        assert_eq!(depth_of("{ a { ... on T { b } } }"), 2);
        assert_eq!(
            depth_of("{ __schema { types { fields { type { ofType { name } } } } } }"),
            0
        );
        assert_eq!(depth_of("{ a { __typename } }"), 1);
    }

    #[test]
    fn a_fragment_cycle_does_not_loop() {
        assert!(depth_of("{ a { ...F } } fragment F on T { b { ...F } }") >= 2);
    }
}
