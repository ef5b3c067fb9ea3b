//! The role × field policy: who may read each field of the schema, enforced on every field
//! the gateway resolves.
//!
//! Each role view exports its part of the table (`FIELD_POLICY`); the gateway adds its own
//! root fields and shared types and composes them here. A field the caller's roles do not
//! cover is refused with `FORBIDDEN` naming `Type.field`; a field with no entry at all is
//! refused to everyone but admin (and the SDL test fails until it has one).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ErrorExtensions, PathSegment, QueryPathNode, QueryPathSegment, ServerResult, Value};
use keel_auth::{Identity, Role};
use keel_core::Error;
use keel_experience_common::FieldPolicy;

/// Every role a person can hold (not the internal `service` role).
const PEOPLE: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Consultant,
    Role::Operations,
];

/// The gateway's own part of the table: the root fields (each view's roles) and the types
/// every view shares.
const GATEWAY_POLICY: &[FieldPolicy] = &[
    FieldPolicy::new(
        "Query",
        &["projectManager"],
        keel_experience_project_manager::ALLOWED_ROLES,
    ),
    FieldPolicy::new("Query", &["operations"], keel_experience_operations::ALLOWED_ROLES),
    FieldPolicy::new("Query", &["consultant"], keel_experience_consultant::ALLOWED_ROLES),
    FieldPolicy::new(
        "Query",
        &["resourceManager"],
        keel_experience_resource_manager::ALLOWED_ROLES,
    ),
    FieldPolicy::new("Query", &["executive"], keel_experience_executive::ALLOWED_ROLES),
    FieldPolicy::new("Query", &["finance"], keel_experience_finance::ALLOWED_ROLES),
    FieldPolicy::new(
        "Subscription",
        &["setupUpdates"],
        keel_experience_operations::ALLOWED_ROLES,
    ),
    FieldPolicy::new(
        "Subscription",
        &["alertRaised"],
        keel_experience_project_manager::ALLOWED_ROLES,
    ),
    FieldPolicy::new("Money", &["amount", "currency"], PEOPLE),
];

/// The Rust types merged into the root `Subscription`: async-graphql resolves their fields
/// under their own names, and the table knows them as `Subscription`'s.
const SUBSCRIPTION_PARTS: &[&str] = &[
    "OperationsSubscription",
    "ProjectManagerSubscription",
    "ResourceManagerSubscription",
];

/// The Rust types merged into the root `Mutation`, likewise.
const MUTATION_PARTS: &[&str] = &[
    "OperationsMutation",
    "ConsultantMutation",
    "ProjectManagerMutation",
    "ResourceManagerMutation",
];

/// The whole table: the gateway's entries and every view's.
pub fn field_policy() -> Vec<FieldPolicy> {
    [
        GATEWAY_POLICY,
        keel_experience_project_manager::FIELD_POLICY,
        keel_experience_operations::FIELD_POLICY,
        keel_experience_consultant::FIELD_POLICY,
        keel_experience_resource_manager::FIELD_POLICY,
        keel_experience_executive::FIELD_POLICY,
        keel_experience_finance::FIELD_POLICY,
    ]
    .concat()
}

/// The composed table, by type and field.
#[derive(Debug, Clone)]
pub(crate) struct PolicyTable(Arc<HashMap<(&'static str, &'static str), Vec<Role>>>);

impl PolicyTable {
    pub(crate) fn new(entries: &[FieldPolicy]) -> PolicyTable {
        let mut table: HashMap<(&'static str, &'static str), Vec<Role>> = HashMap::new();
        for entry in entries {
            for field in entry.fields {
                table
                    .entry((entry.type_name, field))
                    .or_default()
                    .extend_from_slice(entry.roles);
            }
        }
        PolicyTable(Arc::new(table))
    }

    /// Whether `identity` may read `field` of `type_name`.
    pub(crate) fn check(&self, type_name: &str, field: &str, identity: Option<&Identity>) -> Result<(), Error> {
        let type_name = if SUBSCRIPTION_PARTS.contains(&type_name) {
            "Subscription"
        } else if MUTATION_PARTS.contains(&type_name) {
            "Mutation"
        } else {
            type_name
        };
        let identity = identity.ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()))?;
        match self.0.get(&(type_name, field)) {
            Some(roles) if identity.has_any(roles) => Ok(()),
            Some(_) => Err(Error::Forbidden(format!(
                "your roles may not read `{type_name}.{field}`"
            ))),
            None if identity.has_any(&[]) => Ok(()),
            None => {
                tracing::warn!(
                    type_name,
                    field,
                    "a field with no entry in the field policy was refused"
                );
                Err(Error::Forbidden(format!(
                    "`{type_name}.{field}` has no entry in the field policy"
                )))
            }
        }
    }
}

/// The async-graphql extension that checks every resolved field against the table.
pub(crate) struct FieldAuthorization(pub(crate) PolicyTable);

impl ExtensionFactory for FieldAuthorization {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldAuthorizationExtension(self.0.clone()))
    }
}

struct FieldAuthorizationExtension(PolicyTable);

#[async_trait::async_trait]
impl Extension for FieldAuthorizationExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // A list's items are resolved under the field that was already checked.
        let list_item = info.parent_type.starts_with('[');
        if list_item || info.is_for_introspection || info.name.starts_with("__") || info.parent_type.starts_with("__") {
            return next.run(ctx, info).await;
        }
        if let Err(error) = self.0.check(info.parent_type, info.name, ctx.data_opt::<Identity>()) {
            let mut refused = error.extend().into_server_error(info.field.name.pos);
            refused.path = path_of(info.path_node);
            return Err(refused);
        }
        next.run(ctx, info).await
    }
}

/// The response path of the field at `node`.
fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path = Vec::new();
    let mut at = Some(node);
    while let Some(node) = at {
        path.push(match node.segment {
            QueryPathSegment::Index(index) => PathSegment::Index(index),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
        });
        at = node.parent;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(roles: &[Role]) -> Identity {
        Identity {
            subject: "someone".into(),
            roles: roles.to_vec(),
            token: String::new(),
        }
    }

    #[test]
    fn a_field_is_open_to_its_roles_and_admin_and_refused_to_others_by_name() {
        let table = PolicyTable::new(&[FieldPolicy::new("Project", &["margin"], &[Role::Finance])]);
        assert!(
            table
                .check("Project", "margin", Some(&identity(&[Role::Finance])))
                .is_ok()
        );
        assert!(
            table
                .check("Project", "margin", Some(&identity(&[Role::Admin])))
                .is_ok()
        );
        let refused = table
            .check("Project", "margin", Some(&identity(&[Role::Consultant])))
            .unwrap_err();
        assert!(
            matches!(&refused, Error::Forbidden(m) if m.contains("Project.margin")),
            "{refused:?}"
        );
        assert!(matches!(
            table.check("Project", "margin", None),
            Err(Error::Unauthenticated(_))
        ));
    }

    #[test]
    fn a_field_missing_from_the_table_is_refused_to_all_but_admin() {
        let table = PolicyTable::new(&[]);
        assert!(table.check("Project", "name", Some(&identity(&[Role::Admin]))).is_ok());
        for role in PEOPLE {
            assert!(table.check("Project", "name", Some(&identity(&[*role]))).is_err());
        }
    }

    #[test]
    fn entries_for_one_field_add_up() {
        let table = PolicyTable::new(&[
            FieldPolicy::new("Project", &["name"], &[Role::Finance]),
            FieldPolicy::new("Project", &["name", "id"], &[Role::Consultant]),
        ]);
        assert!(
            table
                .check("Project", "name", Some(&identity(&[Role::Finance])))
                .is_ok()
        );
        assert!(
            table
                .check("Project", "name", Some(&identity(&[Role::Consultant])))
                .is_ok()
        );
        assert!(table.check("Project", "id", Some(&identity(&[Role::Finance]))).is_err());
    }
}
