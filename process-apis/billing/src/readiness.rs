//! Billing readiness: the prerequisites of invoicing one PSA milestone, each failed one a
//! named [`Blocker`] with the records it names.
//!
//! [`blockers`] is the rule, pure and table-tested; [`assess`] gathers its facts from PSA, ERP
//! and billing's own acceptances. A milestone is ready when:
//!
//! - the project has an ERP project code and exactly one ERP billing milestone of the PSA
//!   milestone's name under it (`PROJECT_CODE_MISSING`, `ERP_MILESTONE_MISSING`,
//!   `ERP_MILESTONE_AMBIGUOUS`), with the same amount and currency (`AMOUNT_MISMATCH`);
//! - that ERP milestone is REACHED (`MILESTONE_NOT_REACHED`) and on no invoice yet
//!   (`ALREADY_INVOICED`);
//! - every time entry of the project dated on or before the milestone's due date is APPROVED
//!   and POSTED: DRAFT or SUBMITTED entries are `TIME_NOT_APPROVED`, APPROVED ones
//!   `TIME_NOT_POSTED`; REJECTED entries are ignored;
//! - the client accepted the deliverable (`DELIVERABLE_NOT_ACCEPTED`);
//! - no change request of the project in SUBMITTED or APPROVED (not yet applied) lists the
//!   milestone (`OPEN_CHANGE_REQUEST`).

use chrono::NaiveDate;
use keel_core::{Error, Money, Violations};
use keel_proto::erp::{BillingMilestone, Invoice, MilestoneStatus, ProjectCode};
use keel_proto::psa::{ChangeRequest, ChangeRequestState, Milestone, Project, TimeEntry, TimeEntryState};
use sea_orm::DatabaseConnection;

use crate::acceptance;
use crate::clients::Downstream;

/// A PSA milestone, parsed once at the edge: the project id and the milestone's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneRef {
    pub project_id: String,
    pub milestone_id: String,
}

impl MilestoneRef {
    /// Checks both ids, naming each bad field in `v`.
    pub fn parse(v: &mut Violations, project_id: &str, milestone_id: &str) -> Option<MilestoneRef> {
        let project = v.uuid("project_id", project_id);
        let milestone = milestone_id.trim();
        let position_ok = !milestone.is_empty()
            && milestone.len() <= 4
            && milestone.chars().all(|c| c.is_ascii_digit())
            && !milestone.starts_with('0');
        if !position_ok {
            v.add(
                "milestone_id",
                "must be the milestone's position in its project: 1, 2, ...",
            );
        }
        Some(MilestoneRef {
            project_id: project?.to_string(),
            milestone_id: Some(milestone.to_string()).filter(|_| position_ok)?,
        })
    }

    /// The business key of its `billing-readiness` instances.
    pub fn business_key(&self) -> String {
        format!("{}/{}", self.project_id, self.milestone_id)
    }

    /// The reference a business key names.
    pub fn from_business_key(key: &str) -> Result<MilestoneRef, Error> {
        let (project_id, milestone_id) = key
            .split_once('/')
            .ok_or_else(|| Error::internal(format!("{key:?} is not a milestone business key")))?;
        Ok(MilestoneRef {
            project_id: project_id.to_string(),
            milestone_id: milestone_id.to_string(),
        })
    }
}

/// Why a milestone cannot be invoiced yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BlockerCode {
    ProjectCodeMissing,
    ErpMilestoneMissing,
    ErpMilestoneAmbiguous,
    AmountMismatch,
    MilestoneNotReached,
    AlreadyInvoiced,
    TimeNotApproved,
    TimeNotPosted,
    DeliverableNotAccepted,
    OpenChangeRequest,
}

impl BlockerCode {
    /// The stable code on the wire and in the exception queue.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockerCode::ProjectCodeMissing => "PROJECT_CODE_MISSING",
            BlockerCode::ErpMilestoneMissing => "ERP_MILESTONE_MISSING",
            BlockerCode::ErpMilestoneAmbiguous => "ERP_MILESTONE_AMBIGUOUS",
            BlockerCode::AmountMismatch => "AMOUNT_MISMATCH",
            BlockerCode::MilestoneNotReached => "MILESTONE_NOT_REACHED",
            BlockerCode::AlreadyInvoiced => "ALREADY_INVOICED",
            BlockerCode::TimeNotApproved => "TIME_NOT_APPROVED",
            BlockerCode::TimeNotPosted => "TIME_NOT_POSTED",
            BlockerCode::DeliverableNotAccepted => "DELIVERABLE_NOT_ACCEPTED",
            BlockerCode::OpenChangeRequest => "OPEN_CHANGE_REQUEST",
        }
    }
}

/// One failed prerequisite and the records it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub code: BlockerCode,
    pub message: String,
    pub record_ids: Vec<String>,
}

impl Blocker {
    fn new(code: BlockerCode, message: impl Into<String>, record_ids: Vec<String>) -> Blocker {
        Blocker {
            code,
            message: message.into(),
            record_ids,
        }
    }

    pub fn to_proto(&self) -> keel_proto::billing::Blocker {
        keel_proto::billing::Blocker {
            code: self.code.as_str().to_string(),
            message: self.message.clone(),
            record_ids: self.record_ids.clone(),
        }
    }
}

/// What the rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub milestone: &'a Milestone,
    pub project_code: Option<&'a ProjectCode>,
    /// The billing milestones of the project code.
    pub erp_milestones: &'a [BillingMilestone],
    /// The invoices of the project code.
    pub invoices: &'a [Invoice],
    /// Every time entry of the project.
    pub entries: &'a [TimeEntry],
    pub change_requests: &'a [ChangeRequest],
    pub accepted: bool,
}

/// Parses a wire money value; `None` when absent or not a valid amount.
pub fn money(value: Option<&keel_proto::common::Money>) -> Option<Money> {
    Money::from_proto("amount", value).ok()
}

/// Shows a wire money value as "1000.00 EUR".
pub fn show_money(value: Option<&keel_proto::common::Money>) -> String {
    value
        .map(|m| format!("{} {}", m.amount, m.currency))
        .unwrap_or_default()
}

/// The ERP billing milestones matching a PSA milestone: same name (trimmed) under its code.
pub fn erp_matches<'a>(milestone: &Milestone, erp: &'a [BillingMilestone]) -> Vec<&'a BillingMilestone> {
    erp.iter().filter(|m| m.name.trim() == milestone.name.trim()).collect()
}

/// The invoices holding a line for an ERP billing milestone.
pub fn invoices_for<'a>(erp_milestone_id: &str, invoices: &'a [Invoice]) -> Vec<&'a Invoice> {
    let source = format!("milestone:{erp_milestone_id}");
    invoices
        .iter()
        .filter(|i| i.lines.iter().any(|l| l.source.eq_ignore_ascii_case(&source)))
        .collect()
}

fn on_or_before(date: &str, due: Option<NaiveDate>) -> bool {
    match (due, NaiveDate::parse_from_str(date, "%Y-%m-%d")) {
        (Some(due), Ok(date)) => date <= due,
        // A date that does not parse cannot be shown to be after the due date: it counts.
        _ => true,
    }
}

/// Every blocker of the milestone, in a fixed order; empty when it is ready. Also answers
/// the matching ERP milestone when there is exactly one.
pub fn blockers<'a>(facts: &Facts<'a>) -> (Option<&'a BillingMilestone>, Vec<Blocker>) {
    let milestone = facts.milestone;
    let mut found = Vec::new();
    let mut matched = None;
    match facts.project_code {
        None => found.push(Blocker::new(
            BlockerCode::ProjectCodeMissing,
            "the project has no ERP project code",
            vec![],
        )),
        Some(code) => {
            let matches = erp_matches(milestone, facts.erp_milestones);
            match matches.as_slice() {
                [] => found.push(Blocker::new(
                    BlockerCode::ErpMilestoneMissing,
                    format!("{} has no billing milestone named {:?}", code.code, milestone.name),
                    vec![],
                )),
                [erp] => matched = Some(*erp),
                many => found.push(Blocker::new(
                    BlockerCode::ErpMilestoneAmbiguous,
                    format!(
                        "{} has {} billing milestones named {:?}",
                        code.code,
                        many.len(),
                        milestone.name
                    ),
                    many.iter().map(|m| m.id.clone()).collect(),
                )),
            }
        }
    }
    if let Some(erp) = matched {
        let psa_amount = money(milestone.amount.as_ref());
        if psa_amount.is_none() || psa_amount != money(erp.amount.as_ref()) {
            found.push(Blocker::new(
                BlockerCode::AmountMismatch,
                format!(
                    "PSA bills {} for the milestone, ERP {}",
                    show_money(milestone.amount.as_ref()),
                    show_money(erp.amount.as_ref())
                ),
                vec![erp.id.clone()],
            ));
        }
        let invoiced = invoices_for(&erp.id, facts.invoices);
        if erp.status == MilestoneStatus::Planned as i32 {
            found.push(Blocker::new(
                BlockerCode::MilestoneNotReached,
                "the ERP billing milestone is PLANNED, not REACHED",
                vec![erp.id.clone()],
            ));
        } else if !invoiced.is_empty() || erp.status == MilestoneStatus::Invoiced as i32 {
            found.push(Blocker::new(
                BlockerCode::AlreadyInvoiced,
                "the milestone is already on an invoice",
                invoiced.iter().map(|i| i.id.clone()).collect(),
            ));
        }
    }
    let due = NaiveDate::parse_from_str(&milestone.due_date, "%Y-%m-%d").ok();
    let due_entries: Vec<&TimeEntry> = facts.entries.iter().filter(|e| on_or_before(&e.date, due)).collect();
    let in_state = |states: &[TimeEntryState]| -> Vec<String> {
        due_entries
            .iter()
            .filter(|e| states.iter().any(|s| *s as i32 == e.state))
            .map(|e| e.id.clone())
            .collect()
    };
    let not_approved = in_state(&[
        TimeEntryState::Draft,
        TimeEntryState::Submitted,
        TimeEntryState::Unspecified,
    ]);
    if !not_approved.is_empty() {
        found.push(Blocker::new(
            BlockerCode::TimeNotApproved,
            format!(
                "{} time entries dated on or before {} are not approved",
                not_approved.len(),
                milestone.due_date
            ),
            not_approved,
        ));
    }
    let not_posted = in_state(&[TimeEntryState::Approved]);
    if !not_posted.is_empty() {
        found.push(Blocker::new(
            BlockerCode::TimeNotPosted,
            format!(
                "{} approved time entries dated on or before {} are not posted to ERP",
                not_posted.len(),
                milestone.due_date
            ),
            not_posted,
        ));
    }
    if !facts.accepted {
        found.push(Blocker::new(
            BlockerCode::DeliverableNotAccepted,
            "the client has not accepted the milestone's deliverable",
            vec![],
        ));
    }
    let open: Vec<String> = facts
        .change_requests
        .iter()
        .filter(|c| c.state == ChangeRequestState::Submitted as i32 || c.state == ChangeRequestState::Approved as i32)
        .filter(|c| c.affected_milestone_ids.iter().any(|m| m.trim() == milestone.id))
        .map(|c| c.id.clone())
        .collect();
    if !open.is_empty() {
        found.push(Blocker::new(
            BlockerCode::OpenChangeRequest,
            format!("{} change requests on the milestone are not yet applied", open.len()),
            open,
        ));
    }
    (matched, found)
}

/// The record ids each blocker names in the exception queue's message (all of them are in
/// `CheckBillingReadiness`'s answer).
pub const MAX_IDS_DESCRIBED: usize = 50;

/// Everything one assessment found.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub milestone_ref: MilestoneRef,
    pub milestone: Milestone,
    pub project_code: Option<String>,
    pub erp_milestone: Option<BillingMilestone>,
    pub blockers: Vec<Blocker>,
}

impl Assessment {
    /// The blockers in words, one after the other: the exception queue's message.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .blockers
            .iter()
            .map(|b| {
                let shown = &b.record_ids[..b.record_ids.len().min(MAX_IDS_DESCRIBED)];
                let more = b.record_ids.len() - shown.len();
                match (shown.is_empty(), more) {
                    (true, _) => format!("{}: {}", b.code.as_str(), b.message),
                    (false, 0) => format!("{}: {} [{}]", b.code.as_str(), b.message, shown.join(", ")),
                    (false, more) => format!(
                        "{}: {} [{}, and {more} more]",
                        b.code.as_str(),
                        b.message,
                        shown.join(", ")
                    ),
                }
            })
            .collect();
        format!(
            "milestone {} ({:?}) of project {} is not ready to invoice: {}",
            self.milestone_ref.milestone_id,
            self.milestone.name,
            self.milestone_ref.project_id,
            parts.join("; ")
        )
    }

    pub fn to_proto(&self) -> keel_proto::billing::BillingReadiness {
        keel_proto::billing::BillingReadiness {
            project_id: self.milestone_ref.project_id.clone(),
            milestone_id: self.milestone_ref.milestone_id.clone(),
            milestone_name: self.milestone.name.clone(),
            ready: self.blockers.is_empty(),
            blockers: self.blockers.iter().map(Blocker::to_proto).collect(),
            project_code: self.project_code.clone().unwrap_or_default(),
            erp_milestone_id: self.erp_milestone.as_ref().map(|m| m.id.clone()).unwrap_or_default(),
            amount: self.milestone.amount.clone(),
            due_date: self.milestone.due_date.clone(),
        }
    }
}

/// The PSA project and its milestone; `NOT_FOUND` naming whichever is missing.
pub async fn psa_milestone(downstream: &Downstream, at: &MilestoneRef) -> Result<(Project, Milestone), Error> {
    let project = downstream
        .project(&at.project_id)
        .await?
        .ok_or_else(|| Error::not_found("project", at.project_id.clone()))?;
    let milestone = project
        .milestones
        .iter()
        .find(|m| m.id == at.milestone_id)
        .cloned()
        .ok_or_else(|| Error::not_found("milestone", format!("{} of project {}", at.milestone_id, at.project_id)))?;
    Ok((project, milestone))
}

/// What the rule looks at of one project, read once for all its milestones.
#[derive(Debug, Clone)]
pub struct ProjectFacts {
    pub project: Project,
    pub project_code: Option<ProjectCode>,
    pub erp_milestones: Vec<BillingMilestone>,
    pub invoices: Vec<Invoice>,
    pub entries: Vec<TimeEntry>,
    pub change_requests: Vec<ChangeRequest>,
}

/// Reads what PSA and ERP hold of `project` for the rule. Read-only.
pub async fn project_facts(downstream: &Downstream, project: Project) -> Result<ProjectFacts, Error> {
    let (code, entries, change_requests) = tokio::try_join!(
        downstream.project_code_for_project(&project.id),
        downstream.time_entries_of(&project.id),
        downstream.change_requests_of(&project.id),
    )?;
    let (erp_milestones, invoices) = match &code {
        Some(code) => tokio::try_join!(downstream.milestones_of(&code.code), downstream.invoices_of(&code.code))?,
        None => (Vec::new(), Vec::new()),
    };
    Ok(ProjectFacts {
        project,
        project_code: code,
        erp_milestones,
        invoices,
        entries,
        change_requests,
    })
}

/// Applies the rule to the milestone `at` of the project `facts` were read for, with the
/// client's acceptance from billing's own table. Read-only.
pub async fn assess_in(
    db: &DatabaseConnection,
    facts: &ProjectFacts,
    at: &MilestoneRef,
    milestone: &Milestone,
) -> Result<Assessment, Error> {
    let accepted = acceptance::find(db, at).await?;
    let rule_facts = Facts {
        milestone,
        project_code: facts.project_code.as_ref(),
        erp_milestones: &facts.erp_milestones,
        invoices: &facts.invoices,
        entries: &facts.entries,
        change_requests: &facts.change_requests,
        accepted: accepted.is_some(),
    };
    let (matched, blockers) = blockers(&rule_facts);
    Ok(Assessment {
        milestone_ref: at.clone(),
        project_code: facts.project_code.as_ref().map(|c| c.code.clone()),
        erp_milestone: matched.cloned(),
        blockers,
        milestone: milestone.clone(),
    })
}

/// Reads the facts and applies the rule. Read-only.
pub async fn assess(downstream: &Downstream, db: &DatabaseConnection, at: &MilestoneRef) -> Result<Assessment, Error> {
    let (project, milestone) = psa_milestone(downstream, at).await?;
    let facts = project_facts(downstream, project).await?;
    assess_in(db, &facts, at, &milestone).await
}

#[cfg(test)]
#[path = "readiness_tests.rs"]
mod tests;
