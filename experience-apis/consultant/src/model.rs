//! The GraphQL types of the consultant view and their conversion from the PSA contract.
//! Hours and allocations stay decimal strings, exactly as PSA sent them.

use std::collections::HashMap;

use async_graphql::{Enum, ID, SimpleObject};
use keel_experience_common::non_empty;
use keel_proto::psa;

/// The most pages of PSA projects read to name the projects of one request (100 a page).
pub const MAX_PROJECT_PAGES: usize = 10;

keel_experience_common::connection!(
    /// A page of the caller's assignments.
    AssignmentConnection,
    Assignment
);

keel_experience_common::connection!(
    /// A page of the caller's time entries.
    TimeEntryConnection,
    TimeEntry
);

/// The project a record belongs to.
#[derive(SimpleObject, Clone, Debug)]
pub struct ProjectRef {
    pub id: ID,
    /// The project's name; null if PSA no longer lists the project.
    pub name: Option<String>,
}

/// The caller's assignment to a project, as PSA holds it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Assignment {
    pub id: ID,
    pub project: ProjectRef,
    /// The role the caller works in, e.g. `engagement-manager`.
    pub role: String,
    /// The rate-card role their time is billed at.
    pub bill_role: String,
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_date: Option<String>,
    /// Share of the caller's capacity, a decimal string such as `50`.
    pub allocation_percent: String,
    /// Null if PSA does not say.
    pub state: Option<AssignmentState>,
}

/// Whether an assignment still runs.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentState {
    Active,
    Ended,
}

/// One of the caller's time entries, as PSA holds it.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimeEntry {
    pub id: ID,
    pub project: ProjectRef,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// A decimal string such as `7.5`.
    pub hours: String,
    pub task: Option<String>,
    pub narrative: Option<String>,
    pub billable: bool,
    /// Null if PSA does not say.
    pub state: Option<TimeEntryState>,
    /// Why the approver rejected the entry; null unless rejected.
    pub rejection_reason: Option<String>,
    /// An approved entry was edited and waits to be approved again.
    pub reapproval_required: bool,
}

/// Where a time entry stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeEntryState {
    Draft,
    Submitted,
    Approved,
    Rejected,
    /// Posted to ERP.
    Posted,
}

fn project(id: String, names: &HashMap<String, String>) -> ProjectRef {
    ProjectRef {
        name: names.get(&id).cloned(),
        id: ID(id),
    }
}

impl Assignment {
    pub(crate) fn new(assignment: psa::Assignment, names: &HashMap<String, String>) -> Assignment {
        let state = match psa::AssignmentState::try_from(assignment.state) {
            Ok(psa::AssignmentState::Active) => Some(AssignmentState::Active),
            Ok(psa::AssignmentState::Ended) => Some(AssignmentState::Ended),
            _ => None,
        };
        Assignment {
            id: ID(assignment.id),
            project: project(assignment.project_id, names),
            role: assignment.role,
            bill_role: assignment.bill_role,
            start_date: non_empty(assignment.start_date),
            end_date: non_empty(assignment.end_date),
            allocation_percent: assignment.allocation_percent,
            state,
        }
    }
}

impl TimeEntry {
    pub(crate) fn new(entry: psa::TimeEntry, names: &HashMap<String, String>) -> TimeEntry {
        TimeEntry {
            id: ID(entry.id),
            project: project(entry.project_id, names),
            date: entry.date,
            hours: entry.hours,
            task: non_empty(entry.task),
            narrative: non_empty(entry.narrative),
            billable: entry.billable,
            state: state_of(entry.state),
            rejection_reason: non_empty(entry.rejection_reason),
            reapproval_required: entry.reapproval_required,
        }
    }
}

pub(crate) fn state_of(raw: i32) -> Option<TimeEntryState> {
    match psa::TimeEntryState::try_from(raw) {
        Ok(psa::TimeEntryState::Draft) => Some(TimeEntryState::Draft),
        Ok(psa::TimeEntryState::Submitted) => Some(TimeEntryState::Submitted),
        Ok(psa::TimeEntryState::Approved) => Some(TimeEntryState::Approved),
        Ok(psa::TimeEntryState::Rejected) => Some(TimeEntryState::Rejected),
        Ok(psa::TimeEntryState::Posted) => Some(TimeEntryState::Posted),
        Ok(psa::TimeEntryState::Unspecified) | Err(_) => None,
    }
}

impl From<TimeEntryState> for psa::TimeEntryState {
    fn from(state: TimeEntryState) -> psa::TimeEntryState {
        match state {
            TimeEntryState::Draft => psa::TimeEntryState::Draft,
            TimeEntryState::Submitted => psa::TimeEntryState::Submitted,
            TimeEntryState::Approved => psa::TimeEntryState::Approved,
            TimeEntryState::Rejected => psa::TimeEntryState::Rejected,
            TimeEntryState::Posted => psa::TimeEntryState::Posted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_its_project_and_keeps_its_figures_as_psa_sent_them() {
        let names = HashMap::from([("p-1".to_string(), "Northwind treasury rollout".to_string())]);
        let entry = TimeEntry::new(
            psa::TimeEntry {
                id: "t-1".into(),
                project_id: "p-1".into(),
                hours: "7.50".into(),
                state: psa::TimeEntryState::Rejected as i32,
                rejection_reason: "no narrative".into(),
                ..Default::default()
            },
            &names,
        );
        assert_eq!(entry.project.name.as_deref(), Some("Northwind treasury rollout"));
        assert_eq!(entry.hours, "7.50");
        assert_eq!(entry.state, Some(TimeEntryState::Rejected));
        assert_eq!(entry.rejection_reason.as_deref(), Some("no narrative"));
        assert_eq!(entry.task, None);
    }

    #[test]
    fn every_state_round_trips_and_an_unknown_one_is_null() {
        for state in [
            TimeEntryState::Draft,
            TimeEntryState::Submitted,
            TimeEntryState::Approved,
            TimeEntryState::Rejected,
            TimeEntryState::Posted,
        ] {
            assert_eq!(state_of(psa::TimeEntryState::from(state) as i32), Some(state));
        }
        assert_eq!(state_of(0), None);
        assert_eq!(state_of(99), None);
        let unnamed = Assignment::new(psa::Assignment::default(), &HashMap::new());
        assert_eq!(unnamed.project.name, None);
        assert_eq!(unnamed.state, None);
    }
}
