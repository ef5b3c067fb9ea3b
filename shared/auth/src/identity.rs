//! The verified caller of a request and the role checks made against it.

use std::fmt;

use keel_core::Error;

use crate::role::{Role, join_roles};

/// A caller whose token has been verified: who they are, what roles they hold, and the raw
/// token so that a process API can call system APIs as the same caller (see
/// [`forward`](crate::forward)).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub` claim: a person's id, or `service:<name>` for an internal caller.
    pub subject: String,
    /// The roles from the token's `roles` claim, without duplicates.
    pub roles: Vec<Role>,
    /// The raw bearer token, for forwarding. Never logged: `Debug` masks it.
    pub token: String,
}

impl Identity {
    /// Whether the caller holds one of `allowed`, or is [`Role::Admin`].
    pub fn has_any(&self, allowed: &[Role]) -> bool {
        self.roles
            .iter()
            .any(|role| *role == Role::Admin || allowed.contains(role))
    }

    /// Whether the caller holds exactly `role`. No admin bypass: use this where a check must
    /// not be passed by an admin (for instance "only the service itself").
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// `Ok` when [`has_any`](Self::has_any) holds; otherwise `Error::Forbidden` naming the
    /// caller's roles and the allowed ones.
    pub fn require(&self, allowed: &[Role]) -> Result<(), Error> {
        if self.has_any(allowed) {
            return Ok(());
        }
        let caller = match self.roles.as_slice() {
            [] => "a caller without roles".to_string(),
            [role] => format!("role {role}"),
            roles => format!("roles {}", join_roles(roles)),
        };
        Err(Error::Forbidden(format!(
            "{caller} may not perform this operation (allowed: {})",
            join_roles(allowed)
        )))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("roles", &self.roles)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use keel_core::ErrorCode;

    use super::*;

    fn caller(roles: &[Role]) -> Identity {
        Identity {
            subject: "u-1".into(),
            roles: roles.to_vec(),
            token: "secret.jwt.value".into(),
        }
    }

    #[test]
    fn role_checks() {
        use Role::*;
        let table: &[(&[Role], &[Role], bool)] = &[
            (&[ProjectManager], &[ProjectManager, Finance], true),
            (&[Consultant, Finance], &[Finance], true),
            (&[Consultant], &[Finance, Executive], false),
            (&[], &[Finance], false),
            (&[Admin], &[Finance], true),
            (&[Admin], &[Service], true),
            (&[Service], &[Finance], false),
            (&[Finance], &[], false),
        ];
        for (held, allowed, expected) in table {
            let identity = caller(held);
            assert_eq!(identity.has_any(allowed), *expected, "{held:?} against {allowed:?}");
            assert_eq!(
                identity.require(allowed).is_ok(),
                *expected,
                "{held:?} against {allowed:?}"
            );
        }
    }

    #[test]
    fn has_role_gives_admin_no_bypass() {
        assert!(!caller(&[Role::Admin]).has_role(Role::Service));
        assert!(caller(&[Role::Service]).has_role(Role::Service));
    }

    #[test]
    fn forbidden_names_the_caller_roles_and_the_allowed_ones() {
        let error = caller(&[Role::ProjectManager])
            .require(&[Role::Finance, Role::Executive])
            .unwrap_err();
        assert_eq!(error.code(), ErrorCode::Forbidden);
        assert_eq!(
            error.to_string(),
            "role project_manager may not perform this operation (allowed: finance, executive)"
        );
        let error = caller(&[Role::Consultant, Role::Operations])
            .require(&[Role::Finance])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "roles consultant, operations may not perform this operation (allowed: finance)"
        );
        let error = caller(&[]).require(&[Role::Finance]).unwrap_err();
        assert!(error.to_string().starts_with("a caller without roles may not"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", caller(&[Role::Finance]));
        assert!(!shown.contains("secret.jwt.value"), "{shown}");
        assert!(shown.contains("u-1"));
    }
}
