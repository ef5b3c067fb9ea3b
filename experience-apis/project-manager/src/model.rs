//! The GraphQL types of the project manager view and their conversion from the PSA and ERP
//! contracts. Amounts and hours stay decimal strings, exactly as the system APIs sent them.

use async_graphql::{Enum, ID, SimpleObject};
use keel_experience_common::Money;
use keel_proto::{erp, psa};

/// A page of projects.
#[derive(SimpleObject, Clone, Debug)]
pub struct ProjectConnection {
    /// The projects of this page, in creation order.
    pub nodes: Vec<Project>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery project as PSA holds it, with what ERP knows of it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Project {
    pub id: ID,
    pub name: String,
    /// The CRM opportunity the project was made from.
    pub opportunity_id: ID,
    /// The CRM account (the client).
    pub account_id: ID,
    /// Null if PSA does not say.
    pub status: Option<ProjectStatus>,
    /// The delivery template the work breakdown came from, e.g. `erp-fixed-fee-emea`.
    pub template_id: String,
    pub template_version: u32,
    pub service_line: String,
    pub contract_type: String,
    pub region: String,
    pub client_tier: String,
    pub contract_value: Option<Money>,
    /// The start date, `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// The ERP project code (`PRJ-000042`); null until ERP opens one.
    pub code: Option<String>,
    /// Whether the budget has been posted to ERP against the project code.
    pub erp_budget_posted: bool,
    /// Hours and money by role that the project is measured against.
    pub budget_baseline: Option<BudgetBaseline>,
    /// The billing milestones.
    pub milestones: Vec<Milestone>,
    /// The work breakdown.
    pub phases: Vec<Phase>,
}

/// Where a project stands in delivery.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectStatus {
    Planned,
    Active,
    /// Paused: no time may be recorded until it is active again.
    OnHold,
    Closed,
}

/// The budget a project is measured against.
#[derive(SimpleObject, Clone, Debug)]
pub struct BudgetBaseline {
    /// Total planned hours, a decimal string.
    pub total_hours: String,
    pub total: Option<Money>,
    /// Hours and money by labor role.
    pub lines: Vec<BudgetLine>,
}

/// Hours and money for one labor role.
#[derive(SimpleObject, Clone, Debug)]
pub struct BudgetLine {
    /// The labor role, e.g. `solution-architect`.
    pub role: String,
    /// Planned hours, a decimal string.
    pub hours: String,
    pub amount: Option<Money>,
}

/// A billing milestone.
#[derive(SimpleObject, Clone, Debug)]
pub struct Milestone {
    pub name: String,
    pub amount: Option<Money>,
    /// The due date, `YYYY-MM-DD`.
    pub due_date: Option<String>,
}

/// A phase of the work breakdown.
#[derive(SimpleObject, Clone, Debug)]
pub struct Phase {
    pub name: String,
    pub tasks: Vec<Task>,
}

/// A task of a phase.
#[derive(SimpleObject, Clone, Debug)]
pub struct Task {
    pub name: String,
    /// The labor role, e.g. `solution-architect`.
    pub role: String,
    /// Planned hours, a decimal string.
    pub planned_hours: String,
}

impl Project {
    /// The PSA project joined with its ERP project code, if one is open.
    pub(crate) fn new(project: psa::Project, code: Option<erp::ProjectCode>) -> Project {
        let status = match psa::ProjectStatus::try_from(project.status) {
            Ok(psa::ProjectStatus::Planned) => Some(ProjectStatus::Planned),
            Ok(psa::ProjectStatus::Active) => Some(ProjectStatus::Active),
            Ok(psa::ProjectStatus::OnHold) => Some(ProjectStatus::OnHold),
            Ok(psa::ProjectStatus::Closed) => Some(ProjectStatus::Closed),
            Ok(psa::ProjectStatus::Unspecified) | Err(_) => None,
        };
        let erp_budget_posted = code.as_ref().is_some_and(|c| c.budget.is_some());
        Project {
            id: ID(project.id),
            name: project.name,
            opportunity_id: ID(project.opportunity_id),
            account_id: ID(project.account_id),
            status,
            template_id: project.template_id,
            template_version: project.template_version,
            service_line: project.service_line,
            contract_type: project.contract_type,
            region: project.region,
            client_tier: project.client_tier,
            contract_value: project.contract_value.map(Money::from),
            start_date: non_empty(project.start_date),
            code: code.map(|c| c.code).and_then(non_empty),
            erp_budget_posted,
            budget_baseline: project.budget_baseline.map(BudgetBaseline::from),
            milestones: project.milestones.into_iter().map(Milestone::from).collect(),
            phases: project.phases.into_iter().map(Phase::from).collect(),
        }
    }
}

impl From<psa::BudgetBaseline> for BudgetBaseline {
    fn from(baseline: psa::BudgetBaseline) -> BudgetBaseline {
        BudgetBaseline {
            total_hours: baseline.total_hours,
            total: baseline.total.map(Money::from),
            lines: baseline
                .lines
                .into_iter()
                .map(|line| BudgetLine {
                    role: line.role,
                    hours: line.hours,
                    amount: line.amount.map(Money::from),
                })
                .collect(),
        }
    }
}

impl From<psa::Milestone> for Milestone {
    fn from(milestone: psa::Milestone) -> Milestone {
        Milestone {
            name: milestone.name,
            amount: milestone.amount.map(Money::from),
            due_date: non_empty(milestone.due_date),
        }
    }
}

impl From<psa::Phase> for Phase {
    fn from(phase: psa::Phase) -> Phase {
        Phase {
            name: phase.name,
            tasks: phase
                .tasks
                .into_iter()
                .map(|task| Task {
                    name: task.name,
                    role: task.role,
                    planned_hours: task.planned_hours,
                })
                .collect(),
        }
    }
}

/// Proto3 strings are empty when unset; GraphQL says null.
fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    use keel_proto::common;

    fn usd(amount: &str) -> Option<common::Money> {
        Some(common::Money {
            amount: amount.into(),
            currency: "USD".into(),
        })
    }

    #[test]
    fn a_project_without_an_erp_code_has_no_code_and_no_posted_budget() {
        let project = Project::new(
            psa::Project {
                id: "p-1".into(),
                status: psa::ProjectStatus::Active as i32,
                contract_value: usd("1250000.00"),
                ..Default::default()
            },
            None,
        );
        assert_eq!(project.code, None);
        assert!(!project.erp_budget_posted);
        assert_eq!(project.status, Some(ProjectStatus::Active));
        assert_eq!(project.start_date, None);
        assert_eq!(project.contract_value.unwrap().amount, "1250000.00");
    }

    #[test]
    fn the_budget_counts_as_posted_only_when_erp_holds_one() {
        let open = erp::ProjectCode {
            code: "PRJ-000042".into(),
            ..Default::default()
        };
        let posted = erp::ProjectCode {
            code: "PRJ-000042".into(),
            budget: Some(erp::Budget::default()),
            ..Default::default()
        };
        let table = [(open, false), (posted, true)];
        for (code, expected) in table {
            let project = Project::new(psa::Project::default(), Some(code));
            assert_eq!(project.code.as_deref(), Some("PRJ-000042"));
            assert_eq!(project.erp_budget_posted, expected);
        }
    }

    #[test]
    fn an_unknown_status_is_null_rather_than_a_guess() {
        for raw in [psa::ProjectStatus::Unspecified as i32, 99] {
            let project = Project::new(
                psa::Project {
                    status: raw,
                    ..Default::default()
                },
                None,
            );
            assert_eq!(project.status, None);
        }
    }
}
