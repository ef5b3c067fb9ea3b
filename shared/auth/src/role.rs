//! The roles a caller can hold, as they appear in a token's `roles` claim.

use std::fmt;
use std::str::FromStr;

use keel_core::Error;
use serde::{Deserialize, Serialize};

/// A role granted to a caller. Tokens carry roles as snake_case strings (`project_manager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs engagements: sets projects up, tracks budget and milestones.
    ProjectManager,
    /// Staffs projects: assigns consultants and balances capacity.
    ResourceManager,
    /// Owns billing, invoices and revenue recognition.
    Finance,
    /// Reads portfolio-wide figures.
    Executive,
    /// Delivers work and records time.
    Consultant,
    /// Runs the platform's integrations: syncs, replays, dead letters.
    Operations,
    /// Passes every role check made with [`Identity::has_any`](crate::Identity::has_any) and
    /// [`Identity::require`](crate::Identity::require).
    Admin,
    /// An internal caller (a process API acting on its own, not on behalf of a person).
    Service,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 8] = [
        Role::ProjectManager,
        Role::ResourceManager,
        Role::Finance,
        Role::Executive,
        Role::Consultant,
        Role::Operations,
        Role::Admin,
        Role::Service,
    ];

    /// The role's name in tokens and configuration (`project_manager`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProjectManager => "project_manager",
            Role::ResourceManager => "resource_manager",
            Role::Finance => "finance",
            Role::Executive => "executive",
            Role::Consultant => "consultant",
            Role::Operations => "operations",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Parses a snake_case role name. The error (`InvalidInput` on field `role`) lists the
    /// valid names.
    fn from_str(name: &str) -> Result<Role, Error> {
        Role::ALL.into_iter().find(|role| role.as_str() == name).ok_or_else(|| {
            Error::invalid(
                "role",
                format!("unknown role {name:?}; valid roles are {}", join_roles(&Role::ALL)),
            )
        })
    }
}

/// `finance, executive`: roles joined for messages.
pub(crate) fn join_roles(roles: &[Role]) -> String {
    roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(role.to_string(), role.as_str());
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::ProjectManager.as_str(), "project_manager");
        assert_eq!(Role::Service.as_str(), "service");
    }

    #[test]
    fn an_unknown_role_names_the_valid_ones() {
        let error = "ProjectManager".parse::<Role>().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("\"ProjectManager\""), "{message}");
        for role in Role::ALL {
            assert!(message.contains(role.as_str()), "{message} lacks {role}");
        }
        assert_eq!(error.field_violations()[0].field, "role");
    }
}
