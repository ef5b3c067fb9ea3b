//! The GraphQL types of the operations view and their conversion from the project-setup
//! contract.

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use keel_proto::projectsetup as proto;

/// A page of setups.
#[derive(SimpleObject, Clone, Debug)]
pub struct SetupConnection {
    /// The setups of this page, in creation order.
    pub nodes: Vec<Setup>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The conversion of one won opportunity into a PSA project with its ERP code and budget.
#[derive(SimpleObject, Clone, Debug)]
pub struct Setup {
    pub id: ID,
    /// The won CRM opportunity.
    pub opportunity_id: ID,
    pub opportunity_name: Option<String>,
    /// Null if the process API does not say.
    pub state: Option<SetupState>,
    /// The step the setup is at or stopped at: validate, select-template, create-project,
    /// open-project-code, post-budget, done.
    pub step: String,
    /// The delivery template chosen, once chosen.
    pub template_id: Option<String>,
    /// The PSA project, once created.
    pub project_id: Option<ID>,
    /// The ERP project code, once opened.
    pub project_code: Option<String>,
    /// Why the setup stopped, machine-readable: MISSING_FIELD, NO_TEMPLATE, INVALID_FIELD,
    /// DOWNSTREAM_REJECTED, RETRIES_EXHAUSTED.
    pub exception_code: Option<String>,
    /// Why the setup stopped, in words.
    pub exception_reason: Option<String>,
    /// The fields at fault, when the reason is about fields.
    pub exception_fields: Vec<String>,
    /// Attempts made at the current step.
    pub attempts: u32,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Where a setup stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupState {
    Running,
    Completed,
    /// Stopped in the exception list until a person acts.
    Exception,
}

impl From<proto::Setup> for Setup {
    fn from(setup: proto::Setup) -> Setup {
        let state = match proto::SetupState::try_from(setup.state) {
            Ok(proto::SetupState::Running) => Some(SetupState::Running),
            Ok(proto::SetupState::Completed) => Some(SetupState::Completed),
            Ok(proto::SetupState::Exception) => Some(SetupState::Exception),
            Ok(proto::SetupState::Unspecified) | Err(_) => None,
        };
        Setup {
            id: ID(setup.id),
            opportunity_id: ID(setup.opportunity_id),
            opportunity_name: non_empty(setup.opportunity_name),
            state,
            step: setup.step,
            template_id: non_empty(setup.template_id),
            project_id: non_empty(setup.project_id).map(ID),
            project_code: non_empty(setup.project_code),
            exception_code: non_empty(setup.exception_code),
            exception_reason: non_empty(setup.exception_reason),
            exception_fields: setup.exception_fields,
            attempts: setup.attempts,
            created_at: setup.created_at.and_then(|t| date_time(t.seconds, t.nanos)),
            updated_at: setup.updated_at.and_then(|t| date_time(t.seconds, t.nanos)),
        }
    }
}

/// A protobuf timestamp as a UTC date-time; `None` when out of range.
fn date_time(seconds: i64, nanos: i32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)
}

/// Proto3 strings are empty when unset; GraphQL says null.
fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_setup_keeps_its_reason_fields_and_times() {
        let setup = Setup::from(proto::Setup {
            id: "s-1".into(),
            opportunity_id: "o-1".into(),
            state: proto::SetupState::Exception as i32,
            step: "validate".into(),
            exception_code: "MISSING_FIELD".into(),
            exception_reason: "the opportunity has no region".into(),
            exception_fields: vec!["region".into()],
            attempts: 1,
            updated_at: Some(Default::default()),
            ..Default::default()
        });
        assert_eq!(setup.state, Some(SetupState::Exception));
        assert_eq!(setup.exception_code.as_deref(), Some("MISSING_FIELD"));
        assert_eq!(setup.exception_fields, ["region"]);
        assert_eq!(setup.project_id, None);
        assert_eq!(setup.template_id, None);
        assert_eq!(setup.updated_at.map(|t| t.timestamp()), Some(0));
        assert_eq!(setup.created_at, None);
    }

    #[test]
    fn an_unknown_state_is_null_and_a_negative_nanos_time_is_dropped() {
        let setup = Setup::from(proto::Setup {
            state: 42,
            ..Default::default()
        });
        assert_eq!(setup.state, None);
        assert_eq!(date_time(1, -1), None);
        assert_eq!(date_time(1_700_000_000, 5).map(|t| t.timestamp()), Some(1_700_000_000));
    }
}
