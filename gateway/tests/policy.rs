//! The role × field policy against the schema the gateway serves: every field of every object
//! type in the exported SDL has an entry, no entry names a field that is not there, and the
//! published matrix (`docs/field-policy.md`) is the table the gateway enforces.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use keel_auth::Role;

/// Every `Type.field` of the object types in `sdl`.
fn sdl_fields(sdl: &str) -> BTreeSet<(String, String)> {
    let document = parse_schema(sdl).expect("the exported SDL parses");
    let mut fields = BTreeSet::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let name = definition.node.name.node.to_string();
        if let TypeKind::Object(object) = &definition.node.kind {
            for field in &object.fields {
                fields.insert((name.clone(), field.node.name.node.to_string()));
            }
        }
    }
    fields
}

/// The roles each `Type.field` is open to, from the composed table.
fn table() -> BTreeMap<(String, String), BTreeSet<&'static str>> {
    let mut table: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    for entry in keel_gateway::field_policy() {
        for field in entry.fields {
            table
                .entry((entry.type_name.to_string(), field.to_string()))
                .or_default()
                .extend(entry.roles.iter().map(|role| role.as_str()));
        }
    }
    table
}

#[test]
fn every_field_of_the_exported_sdl_has_a_policy_entry_and_every_entry_a_field() {
    let fields = sdl_fields(&keel_gateway::export_sdl());
    assert!(fields.len() > 20, "the SDL was read: {fields:?}");
    let table = table();
    let missing: Vec<String> = fields
        .iter()
        .filter(|key| !table.contains_key(*key))
        .map(|(t, f)| format!("{t}.{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "fields with no entry in the role × field policy (add them to the view's FIELD_POLICY): {missing:?}"
    );
    let stale: Vec<String> = table
        .keys()
        .filter(|key| !fields.contains(*key))
        .map(|(t, f)| format!("{t}.{f}"))
        .collect();
    assert!(
        stale.is_empty(),
        "policy entries for fields the schema does not have: {stale:?}"
    );
}

#[test]
fn the_published_matrix_is_the_enforced_table() {
    const ROLES: [Role; 6] = [
        Role::ProjectManager,
        Role::ResourceManager,
        Role::Finance,
        Role::Executive,
        Role::Consultant,
        Role::Operations,
    ];
    let mut matrix = String::from(
        "# Who may read what: the role × field policy\n\n\
         Generated from the table the gateway enforces on every field it resolves (each view's \
         `FIELD_POLICY`); `gateway/tests/policy.rs` fails when this file is stale. Admin may \
         read every field. Regenerate with \
         `KEEL_WRITE_FIELD_POLICY=1 cargo test -p keel-gateway --test policy`.\n\n",
    );
    matrix.push_str("| Field |");
    for role in ROLES {
        matrix.push_str(&format!(" {} |", role.as_str()));
    }
    matrix.push_str("\n|---|");
    for _ in ROLES {
        matrix.push_str(":-:|");
    }
    matrix.push('\n');
    for ((type_name, field), roles) in table() {
        matrix.push_str(&format!("| `{type_name}.{field}` |"));
        for role in ROLES {
            let mark = if roles.contains(role.as_str()) { " ✓ |" } else { " |" };
            matrix.push_str(mark);
        }
        matrix.push('\n');
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/field-policy.md");
    if std::env::var_os("KEEL_WRITE_FIELD_POLICY").is_some() {
        std::fs::write(path, &matrix).unwrap();
    }
    let published = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        published == matrix,
        "docs/field-policy.md is stale: run `KEEL_WRITE_FIELD_POLICY=1 cargo test -p keel-gateway --test policy`"
    );
}
