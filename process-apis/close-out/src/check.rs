//! What is left on a project before it may close: pure, over the records PSA and ERP hold.
//!
//! Time entries and expenses APPROVED but not POSTED (cost never booked, nothing to bill),
//! SUBMITTED and awaiting approval (or re-approval), and, where the policy says so, still in
//! DRAFT; ERP billing milestones not INVOICED; invoices still in DRAFT. Each is named by kind
//! and id, so finance can find and fix it.

use keel_proto::erp::{BillingMilestone, Invoice, InvoiceStatus, MilestoneStatus};
use keel_proto::psa::{Expense, ExpenseState, TimeEntry, TimeEntryState};

use crate::policy::CloseOutPolicy;

/// One thing left on the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftItem {
    /// `time_entry`, `expense`, `billing_milestone`, `invoice`.
    pub kind: &'static str,
    pub id: String,
    /// What is wrong with it, in words.
    pub why: &'static str,
}

impl std::fmt::Display for LeftItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.id, self.why)
    }
}

/// Everything left, in a stable order: time, expenses, milestones, invoices.
pub fn left_over(
    time: &[TimeEntry],
    expenses: &[Expense],
    milestones: &[BillingMilestone],
    invoices: &[Invoice],
    policy: &CloseOutPolicy,
) -> Vec<LeftItem> {
    let mut left = Vec::new();
    for entry in time {
        let why = match TimeEntryState::try_from(entry.state) {
            Ok(TimeEntryState::Approved) => Some("approved, not posted"),
            Ok(TimeEntryState::Submitted) => Some("submitted, awaiting approval"),
            Ok(TimeEntryState::Draft) if policy.drafts_block => Some("draft, not submitted"),
            _ => None,
        };
        if let Some(why) = why {
            left.push(LeftItem {
                kind: "time_entry",
                id: entry.id.clone(),
                why,
            });
        }
    }
    for expense in expenses {
        let why = match ExpenseState::try_from(expense.state) {
            Ok(ExpenseState::Approved) => Some("approved, not posted"),
            Ok(ExpenseState::Submitted) => Some("submitted, awaiting approval"),
            Ok(ExpenseState::Draft) if policy.drafts_block => Some("draft, not submitted"),
            _ => None,
        };
        if let Some(why) = why {
            left.push(LeftItem {
                kind: "expense",
                id: expense.id.clone(),
                why,
            });
        }
    }
    for milestone in milestones {
        let why = match MilestoneStatus::try_from(milestone.status) {
            Ok(MilestoneStatus::Invoiced) => None,
            Ok(MilestoneStatus::Reached) => Some("reached, not invoiced"),
            _ => Some("not invoiced"),
        };
        if let Some(why) = why {
            left.push(LeftItem {
                kind: "billing_milestone",
                id: milestone.id.clone(),
                why,
            });
        }
    }
    for invoice in invoices {
        if invoice.status != InvoiceStatus::Issued as i32 {
            left.push(LeftItem {
                kind: "invoice",
                id: invoice.id.clone(),
                why: "draft, not issued",
            });
        }
    }
    left
}

/// The business error a blocked close-out is raised with: every item, by kind and id.
pub fn blocked(project_id: &str, left: &[LeftItem]) -> String {
    let items: Vec<String> = left.iter().map(ToString::to_string).collect();
    format!(
        "project {project_id} cannot close: {} item(s) left unposted or unbilled: {}",
        left.len(),
        items.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, state: TimeEntryState) -> TimeEntry {
        TimeEntry {
            id: id.into(),
            state: state as i32,
            ..Default::default()
        }
    }

    fn expense(id: &str, state: ExpenseState) -> Expense {
        Expense {
            id: id.into(),
            state: state as i32,
            ..Default::default()
        }
    }

    fn milestone(id: &str, status: MilestoneStatus) -> BillingMilestone {
        BillingMilestone {
            id: id.into(),
            status: status as i32,
            ..Default::default()
        }
    }

    fn invoice(id: &str, status: InvoiceStatus) -> Invoice {
        Invoice {
            id: id.into(),
            status: status as i32,
            ..Default::default()
        }
    }

    #[test]
    fn each_kind_of_leftover_is_named_and_finished_work_is_not() {
        let time = [
            entry("t-posted", TimeEntryState::Posted),
            entry("t-approved", TimeEntryState::Approved),
            entry("t-submitted", TimeEntryState::Submitted),
            entry("t-rejected", TimeEntryState::Rejected),
            entry("t-draft", TimeEntryState::Draft),
        ];
        let expenses = [
            expense("e-posted", ExpenseState::Posted),
            expense("e-approved", ExpenseState::Approved),
            expense("e-submitted", ExpenseState::Submitted),
            expense("e-draft", ExpenseState::Draft),
        ];
        let milestones = [
            milestone("m-invoiced", MilestoneStatus::Invoiced),
            milestone("m-reached", MilestoneStatus::Reached),
            milestone("m-planned", MilestoneStatus::Planned),
        ];
        let invoices = [
            invoice("i-issued", InvoiceStatus::Issued),
            invoice("i-draft", InvoiceStatus::Draft),
        ];
        let cases = [
            (
                CloseOutPolicy::default(),
                vec![
                    "time_entry t-approved (approved, not posted)",
                    "time_entry t-submitted (submitted, awaiting approval)",
                    "expense e-approved (approved, not posted)",
                    "expense e-submitted (submitted, awaiting approval)",
                    "billing_milestone m-reached (reached, not invoiced)",
                    "billing_milestone m-planned (not invoiced)",
                    "invoice i-draft (draft, not issued)",
                ],
            ),
            (
                CloseOutPolicy {
                    drafts_block: true,
                    ..CloseOutPolicy::default()
                },
                vec![
                    "time_entry t-approved (approved, not posted)",
                    "time_entry t-submitted (submitted, awaiting approval)",
                    "time_entry t-draft (draft, not submitted)",
                    "expense e-approved (approved, not posted)",
                    "expense e-submitted (submitted, awaiting approval)",
                    "expense e-draft (draft, not submitted)",
                    "billing_milestone m-reached (reached, not invoiced)",
                    "billing_milestone m-planned (not invoiced)",
                    "invoice i-draft (draft, not issued)",
                ],
            ),
        ];
        for (policy, expected) in cases {
            let left: Vec<String> = left_over(&time, &expenses, &milestones, &invoices, &policy)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(left, expected, "drafts block: {}", policy.drafts_block);
        }
    }

    #[test]
    fn a_finished_project_has_nothing_left() {
        let left = left_over(
            &[entry("t", TimeEntryState::Posted)],
            &[expense("e", ExpenseState::Posted)],
            &[milestone("m", MilestoneStatus::Invoiced)],
            &[invoice("i", InvoiceStatus::Issued)],
            &CloseOutPolicy::default(),
        );
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn the_blocking_error_names_every_item() {
        let left = [
            LeftItem {
                kind: "time_entry",
                id: "t1".into(),
                why: "approved, not posted",
            },
            LeftItem {
                kind: "billing_milestone",
                id: "m2".into(),
                why: "not invoiced",
            },
        ];
        assert_eq!(
            blocked("p1", &left),
            "project p1 cannot close: 2 item(s) left unposted or unbilled: time_entry t1 (approved, not posted); \
             billing_milestone m2 (not invoiced)"
        );
    }
}
