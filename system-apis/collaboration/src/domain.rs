//! Collaboration requests parsed once into checked values; every bad field is named as the
//! proto spells it (`channels[2]`).

use keel_core::{Error, Violations};
use keel_proto::collaboration::{
    AddMemberRequest, ArchiveWorkspaceRequest, CreateWorkspaceRequest, MemberRole, RemoveMemberRequest,
};
use uuid::Uuid;

/// The most channels a workspace may open with.
pub const MAX_CHANNELS: usize = 20;
/// The longest email address accepted, in characters.
pub const MAX_EMAIL_LEN: usize = 200;

/// A checked new workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkspace {
    pub project_id: Uuid,
    pub name: String,
    /// Distinct channel names, in the order asked for.
    pub channels: Vec<String>,
}

impl NewWorkspace {
    pub fn parse(request: &CreateWorkspaceRequest) -> Result<(String, NewWorkspace), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let project_id = v.uuid("project_id", &request.project_id);
        let name = v.required_text("name", &request.name);
        if request.channels.len() > MAX_CHANNELS {
            v.add("channels", format!("at most {MAX_CHANNELS} channels"));
        }
        let mut channels: Vec<String> = Vec::new();
        for (index, channel) in request.channels.iter().enumerate() {
            let field = format!("channels[{index}]");
            let channel = channel_name(&mut v, &field, channel);
            if channels.contains(&channel) {
                v.add(field, format!("{channel:?} is listed twice"));
            } else {
                channels.push(channel);
            }
        }
        v.finish()?;
        let project_id = project_id.ok_or_else(|| Error::internal("checked project id missing"))?;
        Ok((
            key,
            NewWorkspace {
                project_id,
                name,
                channels,
            },
        ))
    }

    /// The request this workspace was parsed from, in canonical form (the idempotency
    /// fingerprint).
    pub fn to_request(&self, idempotency_key: &str) -> CreateWorkspaceRequest {
        CreateWorkspaceRequest {
            idempotency_key: idempotency_key.to_string(),
            project_id: self.project_id.to_string(),
            name: self.name.clone(),
            channels: self.channels.clone(),
        }
    }
}

/// A checked person to add to a workspace (or whose role to change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub workspace_id: Uuid,
    pub person_id: Uuid,
    /// Trimmed and lower-cased.
    pub email: String,
    pub role: MemberRole,
}

impl NewMember {
    pub fn parse(request: &AddMemberRequest) -> Result<(String, NewMember), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let workspace_id = v.uuid("workspace_id", &request.workspace_id);
        let person_id = v.uuid("person_id", &request.person_id);
        let email = email(&mut v, "email", &request.email);
        let role = match MemberRole::try_from(request.role) {
            Ok(MemberRole::Unspecified) => {
                v.add("role", "is required: owner, member or guest");
                None
            }
            Ok(role) => Some(role),
            Err(_) => {
                v.add("role", format!("{} is not a member role", request.role));
                None
            }
        };
        v.finish()?;
        let (Some(workspace_id), Some(person_id), Some(role)) = (workspace_id, person_id, role) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            NewMember {
                workspace_id,
                person_id,
                email,
                role,
            },
        ))
    }

    pub fn to_request(&self, idempotency_key: &str) -> AddMemberRequest {
        AddMemberRequest {
            idempotency_key: idempotency_key.to_string(),
            workspace_id: self.workspace_id.to_string(),
            person_id: self.person_id.to_string(),
            email: self.email.clone(),
            role: self.role as i32,
        }
    }
}

/// A checked removal of a person from a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRemoval {
    pub workspace_id: Uuid,
    pub person_id: Uuid,
}

impl MemberRemoval {
    pub fn parse(request: &RemoveMemberRequest) -> Result<(String, MemberRemoval), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let workspace_id = v.uuid("workspace_id", &request.workspace_id);
        let person_id = v.uuid("person_id", &request.person_id);
        v.finish()?;
        let (Some(workspace_id), Some(person_id)) = (workspace_id, person_id) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            key,
            MemberRemoval {
                workspace_id,
                person_id,
            },
        ))
    }

    pub fn to_request(&self, idempotency_key: &str) -> RemoveMemberRequest {
        RemoveMemberRequest {
            idempotency_key: idempotency_key.to_string(),
            workspace_id: self.workspace_id.to_string(),
            person_id: self.person_id.to_string(),
        }
    }
}

/// A checked archive request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveWorkspace {
    pub id: Uuid,
    pub expected_version: i64,
}

impl ArchiveWorkspace {
    pub fn parse(request: &ArchiveWorkspaceRequest) -> Result<(String, ArchiveWorkspace), Error> {
        let mut v = Violations::new();
        let key = v.idempotency_key(&request.idempotency_key);
        let id = v.uuid("id", &request.id);
        let expected_version = expected_version(&mut v, request.expected_version);
        v.finish()?;
        let id = id.ok_or_else(|| Error::internal("checked id missing"))?;
        Ok((key, ArchiveWorkspace { id, expected_version }))
    }

    pub fn to_request(&self, idempotency_key: &str) -> ArchiveWorkspaceRequest {
        ArchiveWorkspaceRequest {
            idempotency_key: idempotency_key.to_string(),
            id: self.id.to_string(),
            expected_version: self.expected_version,
        }
    }
}

/// Versions start at 1, so 0 (unset) or less names no version anyone read.
fn expected_version(v: &mut Violations, value: i64) -> i64 {
    if value < 1 {
        v.add("expected_version", "is required: the version you read (1 or more)");
    }
    value
}

/// Lower-case letters, digits and dashes, at most 64 characters (`design-review`).
fn channel_name(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !valid {
        v.add(
            field,
            format!(
                "{:?} must be lower-case letters, digits and dashes, at most 64 characters",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value.to_string()
}

/// An address of the form `local@domain.tld`, without spaces; lower-cased.
fn email(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        v.add(field, "is required");
        return value;
    }
    let well_formed = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !well_formed {
        v.add(field, "is not an email address");
    } else if value.chars().count() > MAX_EMAIL_LEN {
        v.add(field, format!("must be at most {MAX_EMAIL_LEN} characters"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193b2a4-6f1e-7c3a-9f00-1234567890ab";

    fn good_workspace() -> CreateWorkspaceRequest {
        CreateWorkspaceRequest {
            idempotency_key: "k".into(),
            project_id: ID.into(),
            name: " Northwind ERP rollout ".into(),
            channels: vec!["general".into(), "design-review".into()],
        }
    }

    fn good_member() -> AddMemberRequest {
        AddMemberRequest {
            idempotency_key: "k".into(),
            workspace_id: ID.into(),
            person_id: ID.into(),
            email: " Ana.Lopez@Example.com ".into(),
            role: MemberRole::Guest as i32,
        }
    }

    fn fields(err: &Error) -> Vec<&str> {
        err.field_violations().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn a_good_workspace_parses_trimmed() {
        let (key, workspace) = NewWorkspace::parse(&good_workspace()).unwrap();
        assert_eq!(key, "k");
        assert_eq!(workspace.name, "Northwind ERP rollout");
        assert_eq!(workspace.channels, ["general", "design-review"]);
    }

    #[test]
    fn each_bad_workspace_field_is_named() {
        type Edit = fn(&mut CreateWorkspaceRequest);
        let table: &[(Edit, &[&str])] = &[
            (|r| r.idempotency_key.clear(), &["idempotency_key"]),
            (|r| r.project_id = "p-1".into(), &["project_id"]),
            (|r| r.project_id.clear(), &["project_id"]),
            (|r| r.name = "  ".into(), &["name"]),
            (|r| r.name = "n".repeat(201), &["name"]),
            (|r| r.channels.push("Bad Name".into()), &["channels[2]"]),
            (|r| r.channels.push("general".into()), &["channels[2]"]),
            (|r| r.channels.clear(), &[]),
            (
                |r| r.channels = (0..21).map(|i| format!("c{i}")).collect(),
                &["channels"],
            ),
        ];
        for (edit, expected) in table {
            let mut r = good_workspace();
            edit(&mut r);
            match NewWorkspace::parse(&r) {
                Ok(_) => assert!(expected.is_empty(), "{r:?} parsed"),
                Err(err) => assert_eq!(fields(&err), *expected),
            }
        }
    }

    #[test]
    fn each_bad_member_field_is_named() {
        type Edit = fn(&mut AddMemberRequest);
        let table: &[(Edit, &str)] = &[
            (|r| r.workspace_id = "w".into(), "workspace_id"),
            (|r| r.person_id = String::new(), "person_id"),
            (|r| r.email = "ana".into(), "email"),
            (|r| r.email = "ana@example".into(), "email"),
            (|r| r.email = "ana lopez@example.com".into(), "email"),
            (|r| r.email = "a@b@example.com".into(), "email"),
            (|r| r.email = String::new(), "email"),
            (|r| r.role = 0, "role"),
            (|r| r.role = 9, "role"),
        ];
        for (edit, field) in table {
            let mut r = good_member();
            edit(&mut r);
            let err = NewMember::parse(&r).unwrap_err();
            assert_eq!(fields(&err), [*field], "{r:?}");
        }
        let (_, member) = NewMember::parse(&good_member()).unwrap();
        assert_eq!(member.email, "ana.lopez@example.com");
        assert_eq!(member.role, MemberRole::Guest);
    }

    #[test]
    fn archiving_needs_the_version_read() {
        let request = ArchiveWorkspaceRequest {
            idempotency_key: "k".into(),
            id: ID.into(),
            expected_version: 0,
        };
        assert_eq!(
            fields(&ArchiveWorkspace::parse(&request).unwrap_err()),
            ["expected_version"]
        );
        let request = ArchiveWorkspaceRequest {
            expected_version: 3,
            ..request
        };
        assert_eq!(ArchiveWorkspace::parse(&request).unwrap().1.expected_version, 3);
    }
}
