//! The comparison of one project in PSA against ERP, pure and table-tested: [`compare`] lists
//! every [`Difference`]; [`gather`] reads the facts it needs.
//!
//! - **Project ↔ project code**: a PSA project without a code is `MISSING_IN_ERP`; a code whose
//!   PSA project does not exist is `MISSING_IN_PSA`.
//! - **Baseline ↔ budget**: no budget is `MISSING_IN_ERP`; another total or currency `ALTERED`.
//! - **Time ↔ journals**: a journal is an entry's when its source is `time:<entry id>`, or when
//!   it was posted by hand (`manual`) with `time:<entry id>` in its description. A journal that
//!   was reversed, and the reversal itself, count for nothing. A POSTED entry without a journal
//!   is `MISSING_IN_ERP`; two journals of one entry in one legal entity are `DUPLICATED` (an
//!   intercompany entry has one journal in each entity); hours (from the journal's memo) or
//!   billed amount (its revenue credit, when it has one) other than PSA's are `ALTERED`; a
//!   journal for an entry that PSA does not hold as APPROVED or POSTED is `MISSING_IN_PSA`.
//! - **Milestones ↔ ERP milestones and invoices**, matched by name under the project's code: a
//!   PSA milestone with none is `MISSING_IN_ERP`, with two `DUPLICATED`, with another amount
//!   `ALTERED`; an ERP milestone no PSA milestone names is `MISSING_IN_PSA`; a milestone on two
//!   invoices is a `DUPLICATED` invoice, invoiced at another amount an `ALTERED` one, INVOICED in
//!   ERP without an invoice a `MISSING_IN_ERP` one.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use keel_core::{Error, Money};
use keel_proto::erp::{BillingMilestone, Invoice, Journal, MilestoneStatus, ProjectCode};
use keel_proto::psa::{Project, TimeEntry, TimeEntryState};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clients::Downstream;
use crate::readiness::{erp_matches, invoices_for, money, show_money};

/// The ERP revenue account time-and-materials journals credit with the billed amount.
pub const REVENUE_ACCOUNT: &str = "4000";

/// How PSA and ERP disagree on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DifferenceKind {
    MissingInErp,
    MissingInPsa,
    Duplicated,
    Altered,
}

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::MissingInErp => "MISSING_IN_ERP",
            DifferenceKind::MissingInPsa => "MISSING_IN_PSA",
            DifferenceKind::Duplicated => "DUPLICATED",
            DifferenceKind::Altered => "ALTERED",
        }
    }
}

/// One record PSA and ERP disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub project_id: String,
    pub kind: DifferenceKind,
    /// `project`, `project_code`, `budget`, `time_entry`, `milestone`, `invoice`.
    pub record_type: String,
    pub record_id: String,
    pub psa_value: String,
    pub erp_value: String,
    pub message: String,
}

impl Difference {
    /// Stable across runs: the same disagreement on the same record has the same identity.
    pub fn identity(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.project_id,
            self.kind.as_str(),
            self.record_type,
            self.record_id
        )
    }
}

/// What one project's comparison looks at.
#[derive(Debug, Clone, Default)]
pub struct ProjectFacts {
    pub project_id: String,
    pub project: Option<Project>,
    pub code: Option<ProjectCode>,
    pub entries: Vec<TimeEntry>,
    pub journals: Vec<Journal>,
    pub milestones: Vec<BillingMilestone>,
    pub invoices: Vec<Invoice>,
}

/// Reads one project's facts from PSA and ERP.
pub async fn gather(downstream: &Downstream, project_id: &str) -> Result<ProjectFacts, Error> {
    let (project, code) = tokio::try_join!(
        downstream.project(project_id),
        downstream.project_code_for_project(project_id)
    )?;
    let mut facts = ProjectFacts {
        project_id: project_id.to_string(),
        project,
        code,
        ..ProjectFacts::default()
    };
    if facts.project.is_some() {
        facts.entries = downstream.time_entries_of(project_id).await?;
    }
    if let Some(code) = facts.code.as_ref().map(|c| c.code.clone()) {
        let (journals, milestones, invoices) = tokio::try_join!(
            downstream.journals_of(&code),
            downstream.milestones_of(&code),
            downstream.invoices_of(&code)
        )?;
        facts.journals = journals;
        facts.milestones = milestones;
        facts.invoices = invoices;
    }
    Ok(facts)
}

struct Found<'a> {
    project_id: &'a str,
    all: Vec<Difference>,
}

impl Found<'_> {
    fn add(
        &mut self,
        kind: DifferenceKind,
        record_type: &str,
        record_id: &str,
        psa_value: String,
        erp_value: String,
        message: String,
    ) {
        self.all.push(Difference {
            project_id: self.project_id.to_string(),
            kind,
            record_type: record_type.to_string(),
            record_id: record_id.to_string(),
            psa_value,
            erp_value,
            message,
        });
    }
}

/// Every difference of one project, in a stable order.
pub fn compare(facts: &ProjectFacts) -> Vec<Difference> {
    let mut found = Found {
        project_id: &facts.project_id,
        all: Vec::new(),
    };
    match (&facts.project, &facts.code) {
        (None, None) => {}
        (None, Some(code)) => found.add(
            DifferenceKind::MissingInPsa,
            "project",
            &facts.project_id,
            String::new(),
            code.code.clone(),
            format!("ERP project code {} names a project PSA does not hold", code.code),
        ),
        (Some(project), None) => found.add(
            DifferenceKind::MissingInErp,
            "project_code",
            &facts.project_id,
            project.name.clone(),
            String::new(),
            format!("PSA project {:?} has no ERP project code", project.name),
        ),
        (Some(project), Some(code)) => {
            compare_budget(&mut found, project, code);
            compare_time(&mut found, &facts.entries, &facts.journals);
            compare_milestones(&mut found, project, code, &facts.milestones, &facts.invoices);
        }
    }
    found.all.sort_by_key(Difference::identity);
    found.all
}

fn compare_budget(found: &mut Found<'_>, project: &Project, code: &ProjectCode) {
    let baseline = project.budget_baseline.as_ref().and_then(|b| b.total.as_ref());
    let budget = code.budget.as_ref().and_then(|b| b.total.as_ref());
    match (baseline, budget) {
        (None, None) => {}
        (Some(baseline), None) => found.add(
            DifferenceKind::MissingInErp,
            "budget",
            &code.code,
            show_money(Some(baseline)),
            String::new(),
            format!(
                "{} has no budget; PSA's baseline is {}",
                code.code,
                show_money(Some(baseline))
            ),
        ),
        (baseline, Some(budget)) => {
            let psa = baseline.and_then(|b| money(Some(b)));
            if psa.is_none() || psa != money(Some(budget)) {
                found.add(
                    DifferenceKind::Altered,
                    "budget",
                    &code.code,
                    show_money(baseline),
                    show_money(Some(budget)),
                    format!(
                        "{}'s budget totals {}; PSA's baseline is {}",
                        code.code,
                        show_money(Some(budget)),
                        show_money(baseline)
                    ),
                );
            }
        }
    }
}

/// The time entry a journal was posted for, if any (see the module docs).
pub fn journal_time_entry(journal: &Journal) -> Option<String> {
    if let Some(id) = journal.source.strip_prefix("time:") {
        return Some(id.trim().to_ascii_lowercase());
    }
    if journal.source != "manual" {
        return None;
    }
    let at = journal.description.find("time:")?;
    let id: String = journal.description[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    uuid::Uuid::parse_str(&id).ok().map(|u| u.to_string())
}

/// The hours a time journal's memo states ("time 1.5 h on 2026-12-03").
fn journal_hours(journal: &Journal) -> Option<Decimal> {
    journal.lines.iter().find_map(|line| {
        let rest = line.memo.trim().strip_prefix("time ")?;
        let (hours, _) = rest.split_once(" h")?;
        hours.trim().parse::<Decimal>().ok()
    })
}

/// The billed amount of a time journal: its credits to the revenue account, `None` when it
/// credits none (a fixed-fee project posts no revenue as time is worked).
fn journal_revenue(journal: &Journal) -> Option<Money> {
    let mut total: Option<Money> = None;
    for line in journal.lines.iter().filter(|l| l.account_code == REVENUE_ACCOUNT) {
        let credit = money(line.credit.as_ref())?;
        total = Some(match total {
            None => credit,
            Some(sum) => sum.checked_add(&credit)?,
        });
    }
    total
}

fn state_name(state: i32) -> &'static str {
    TimeEntryState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TIME_ENTRY_STATE_UNSPECIFIED")
        .trim_start_matches("TIME_ENTRY_STATE_")
}

fn compare_time(found: &mut Found<'_>, entries: &[TimeEntry], journals: &[Journal]) {
    let reversed: HashSet<&str> = journals
        .iter()
        .map(|j| j.reverses_journal_id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let mut by_entry: BTreeMap<String, Vec<&Journal>> = BTreeMap::new();
    for journal in journals {
        if !journal.reverses_journal_id.is_empty() || reversed.contains(journal.id.as_str()) {
            continue;
        }
        if let Some(entry) = journal_time_entry(journal) {
            by_entry.entry(entry).or_default().push(journal);
        }
    }
    let mut seen = BTreeSet::new();
    for entry in entries {
        let id = entry.id.to_ascii_lowercase();
        let posted = entry.state == TimeEntryState::Posted as i32;
        let approved = entry.state == TimeEntryState::Approved as i32;
        if !posted && !approved {
            continue;
        }
        seen.insert(id.clone());
        let psa_value = format!("{} h, {}", entry.hours, show_money(entry.amount.as_ref()));
        let Some(found_journals) = by_entry.get(&id) else {
            if posted {
                found.add(
                    DifferenceKind::MissingInErp,
                    "time_entry",
                    &entry.id,
                    psa_value,
                    String::new(),
                    format!(
                        "time entry {} is POSTED in PSA but ERP holds no journal for it",
                        entry.id
                    ),
                );
            }
            continue;
        };
        let mut per_entity: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for journal in found_journals {
            let entity = journal
                .lines
                .first()
                .map(|l| l.legal_entity.as_str())
                .unwrap_or_default();
            per_entity.entry(entity).or_default().push(journal.id.as_str());
        }
        if let Some((_, ids)) = per_entity.iter().find(|(_, ids)| ids.len() > 1) {
            found.add(
                DifferenceKind::Duplicated,
                "time_entry",
                &entry.id,
                psa_value,
                ids.join(","),
                format!(
                    "time entry {} is posted in {} ERP journals: {}",
                    entry.id,
                    ids.len(),
                    ids.join(", ")
                ),
            );
            continue;
        }
        let hours = found_journals.iter().find_map(|j| journal_hours(j));
        let revenue: Vec<Money> = found_journals.iter().filter_map(|j| journal_revenue(j)).collect();
        let psa_hours = entry.hours.trim().parse::<Decimal>().ok();
        let hours_differ = hours.is_some() && hours.map(|h| h.normalize()) != psa_hours.map(|h| h.normalize());
        let psa_amount = if entry.billable {
            money(entry.amount.as_ref())
        } else {
            None
        };
        let amount_differs = match revenue.as_slice() {
            [] => false,
            [one] => psa_amount.as_ref() != Some(one),
            _ => true,
        };
        if hours_differ || amount_differs {
            // A journal without a revenue credit (time posted at cost) shows its hours only.
            let erp_value = [
                Some(format!(
                    "{} h",
                    hours.map(|h| h.normalize().to_string()).unwrap_or_default()
                )),
                revenue
                    .first()
                    .map(|m| format!("{} {}", m.amount(), m.currency().code())),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            found.add(
                DifferenceKind::Altered,
                "time_entry",
                &entry.id,
                psa_value.clone(),
                erp_value.clone(),
                format!("time entry {} is {psa_value} in PSA but {erp_value} in ERP", entry.id),
            );
        }
    }
    for (entry_id, found_journals) in &by_entry {
        if seen.contains(entry_id) {
            continue;
        }
        let state = entries
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(entry_id))
            .map(|e| state_name(e.state))
            .unwrap_or("absent");
        let ids: Vec<&str> = found_journals.iter().map(|j| j.id.as_str()).collect();
        found.add(
            DifferenceKind::MissingInPsa,
            "time_entry",
            entry_id,
            state.to_string(),
            ids.join(","),
            format!(
                "ERP journals {} post time entry {entry_id}, which PSA holds as {state}",
                ids.join(", ")
            ),
        );
    }
}

fn compare_milestones(
    found: &mut Found<'_>,
    project: &Project,
    code: &ProjectCode,
    erp: &[BillingMilestone],
    invoices: &[Invoice],
) {
    for milestone in &project.milestones {
        let psa_value = format!("{:?} {}", milestone.name, show_money(milestone.amount.as_ref()));
        let record_id = milestone.id.clone();
        let matches = erp_matches(milestone, erp);
        let erp_milestone = match matches.as_slice() {
            [] => {
                found.add(
                    DifferenceKind::MissingInErp,
                    "milestone",
                    &record_id,
                    psa_value,
                    String::new(),
                    format!("{} has no billing milestone named {:?}", code.code, milestone.name),
                );
                continue;
            }
            [one] => *one,
            many => {
                let ids: Vec<&str> = many.iter().map(|m| m.id.as_str()).collect();
                found.add(
                    DifferenceKind::Duplicated,
                    "milestone",
                    &record_id,
                    psa_value,
                    ids.join(","),
                    format!(
                        "{} has {} billing milestones named {:?}",
                        code.code,
                        many.len(),
                        milestone.name
                    ),
                );
                continue;
            }
        };
        let psa_amount = money(milestone.amount.as_ref());
        if psa_amount.is_none() || psa_amount != money(erp_milestone.amount.as_ref()) {
            found.add(
                DifferenceKind::Altered,
                "milestone",
                &record_id,
                psa_value.clone(),
                show_money(erp_milestone.amount.as_ref()),
                format!(
                    "milestone {:?} bills {} in PSA but {} in ERP",
                    milestone.name,
                    show_money(milestone.amount.as_ref()),
                    show_money(erp_milestone.amount.as_ref())
                ),
            );
        }
        compare_invoices(found, milestone, erp_milestone, psa_amount, invoices);
    }
    for orphan in erp
        .iter()
        .filter(|m| !project.milestones.iter().any(|p| p.name.trim() == m.name.trim()))
    {
        found.add(
            DifferenceKind::MissingInPsa,
            "milestone",
            &orphan.id,
            String::new(),
            format!("{:?} {}", orphan.name, show_money(orphan.amount.as_ref())),
            format!("ERP billing milestone {:?} names no PSA milestone", orphan.name),
        );
    }
}

fn compare_invoices(
    found: &mut Found<'_>,
    milestone: &keel_proto::psa::Milestone,
    erp_milestone: &BillingMilestone,
    psa_amount: Option<Money>,
    invoices: &[Invoice],
) {
    let on = invoices_for(&erp_milestone.id, invoices);
    let record_id = milestone.id.clone();
    match on.as_slice() {
        [] if erp_milestone.status == MilestoneStatus::Invoiced as i32 => found.add(
            DifferenceKind::MissingInErp,
            "invoice",
            &record_id,
            show_money(milestone.amount.as_ref()),
            String::new(),
            format!(
                "ERP billing milestone {} is INVOICED but on no invoice",
                erp_milestone.id
            ),
        ),
        [] => {}
        [invoice] => {
            let source = format!("milestone:{}", erp_milestone.id);
            let billed: Vec<Option<Money>> = invoice
                .lines
                .iter()
                .filter(|l| l.source.eq_ignore_ascii_case(&source))
                .map(|l| money(l.amount.as_ref()))
                .collect();
            let altered = psa_amount.is_none() || billed.len() != 1 || billed[0] != psa_amount;
            if altered {
                let shown: Vec<String> = invoice
                    .lines
                    .iter()
                    .filter(|l| l.source.eq_ignore_ascii_case(&source))
                    .map(|l| show_money(l.amount.as_ref()))
                    .collect();
                found.add(
                    DifferenceKind::Altered,
                    "invoice",
                    &record_id,
                    show_money(milestone.amount.as_ref()),
                    shown.join(","),
                    format!(
                        "invoice {} bills milestone {:?} at {}; PSA's amount is {}",
                        invoice.id,
                        milestone.name,
                        shown.join(" + "),
                        show_money(milestone.amount.as_ref())
                    ),
                );
            }
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|i| i.id.as_str()).collect();
            found.add(
                DifferenceKind::Duplicated,
                "invoice",
                &record_id,
                show_money(milestone.amount.as_ref()),
                ids.join(","),
                format!(
                    "milestone {:?} is on {} invoices: {}",
                    milestone.name,
                    ids.len(),
                    ids.join(", ")
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
