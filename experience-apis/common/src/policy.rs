//! The shape of the role × field policy table.

use keel_auth::Role;

/// Who may read some fields of one GraphQL type: an entry of the role × field table each view
/// exports. The gateway enforces the composed table on every field it resolves and refuses
/// (`FORBIDDEN`, naming the field) a field no entry lets the caller read; a field with no
/// entry at all is refused to everyone but admin, and a test built from the exported SDL
/// fails until it has one.
#[derive(Debug, Clone, Copy)]
pub struct FieldPolicy {
    /// The GraphQL type, e.g. `Project`.
    pub type_name: &'static str,
    /// The GraphQL fields of the type this entry covers, e.g. `["id", "name"]`.
    pub fields: &'static [&'static str],
    /// The roles that may read them (admin always may).
    pub roles: &'static [Role],
}

impl FieldPolicy {
    /// `roles` may read `fields` of `type_name`.
    pub const fn new(type_name: &'static str, fields: &'static [&'static str], roles: &'static [Role]) -> FieldPolicy {
        FieldPolicy {
            type_name,
            fields,
            roles,
        }
    }
}
