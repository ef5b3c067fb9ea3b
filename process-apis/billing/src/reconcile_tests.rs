//! The comparison, case by case.

use keel_proto::common::Money as WireMoney;
use keel_proto::erp::{Budget, Invoice, InvoiceLine, JournalLine};
use keel_proto::psa::{BudgetBaseline, Milestone};

use super::*;

fn eur(amount: &str) -> Option<WireMoney> {
    Some(WireMoney {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

const ENTRY: &str = "0193a3f0-0000-7000-8000-0000000000e1";

fn project() -> Project {
    Project {
        id: "p".into(),
        name: "Rollout".into(),
        budget_baseline: Some(BudgetBaseline {
            total: eur("100000.00"),
            ..BudgetBaseline::default()
        }),
        milestones: vec![Milestone {
            name: "Kickoff".into(),
            amount: eur("30000.00"),
            due_date: "2026-12-01".into(),
            id: "1".into(),
        }],
        ..Project::default()
    }
}

fn code() -> ProjectCode {
    ProjectCode {
        code: "PRJ-1".into(),
        project_id: "p".into(),
        budget: Some(Budget {
            total: eur("100000"),
            ..Budget::default()
        }),
        ..ProjectCode::default()
    }
}

fn entry(state: TimeEntryState) -> TimeEntry {
    TimeEntry {
        id: ENTRY.into(),
        hours: "1.5".into(),
        amount: eur("277.50"),
        billable: true,
        state: state as i32,
        ..TimeEntry::default()
    }
}

fn journal(id: &str, source: &str, description: &str, entity: &str, hours: &str, revenue: Option<&str>) -> Journal {
    let memo = format!("time {hours} h on 2026-12-03");
    let mut lines = vec![JournalLine {
        legal_entity: entity.into(),
        account_code: "5000".into(),
        debit: eur("0.01"),
        memo: memo.clone(),
        ..JournalLine::default()
    }];
    if let Some(amount) = revenue {
        lines.push(JournalLine {
            legal_entity: entity.into(),
            account_code: REVENUE_ACCOUNT.into(),
            credit: eur(amount),
            memo,
            ..JournalLine::default()
        });
    }
    Journal {
        id: id.into(),
        source: source.into(),
        description: description.into(),
        lines,
        ..Journal::default()
    }
}

fn posted_journal(id: &str) -> Journal {
    journal(id, &format!("time:{ENTRY}"), "", "GB", "1.5", Some("277.50"))
}

fn erp_milestone(id: &str, name: &str, amount: &str, status: MilestoneStatus) -> BillingMilestone {
    BillingMilestone {
        id: id.into(),
        name: name.into(),
        amount: eur(amount),
        status: status as i32,
        ..BillingMilestone::default()
    }
}

fn invoice(id: &str, milestone: &str, amount: &str) -> Invoice {
    Invoice {
        id: id.into(),
        lines: vec![InvoiceLine {
            description: "Kickoff".into(),
            amount: eur(amount),
            source: format!("milestone:{milestone}"),
        }],
        ..Invoice::default()
    }
}

fn clean() -> ProjectFacts {
    ProjectFacts {
        project_id: "p".into(),
        project: Some(project()),
        code: Some(code()),
        entries: vec![entry(TimeEntryState::Posted)],
        journals: vec![posted_journal("j1")],
        milestones: vec![erp_milestone("m1", "Kickoff", "30000", MilestoneStatus::Invoiced)],
        invoices: vec![invoice("i1", "m1", "30000.00")],
    }
}

#[test]
fn each_disagreement_is_reported_with_its_kind_and_record() {
    use DifferenceKind::*;
    let reversal = Journal {
        id: "r1".into(),
        source: "reversal:JE-1".into(),
        reverses_journal_id: "j1".into(),
        ..Journal::default()
    };
    type Expected = Vec<(DifferenceKind, &'static str, &'static str)>;
    let cases: Vec<(&str, ProjectFacts, Expected)> = vec![
        ("clean", clean(), vec![]),
        (
            "approved, not yet posted, without a journal: in flight",
            ProjectFacts {
                entries: vec![entry(TimeEntryState::Approved)],
                journals: vec![],
                ..clean()
            },
            vec![],
        ),
        (
            "an intercompany entry has one journal per legal entity",
            ProjectFacts {
                journals: vec![
                    posted_journal("j1"),
                    journal("j2", &format!("time:{ENTRY}"), "", "NL", "1.5", None),
                ],
                ..clean()
            },
            vec![],
        ),
        (
            "no project code",
            ProjectFacts { code: None, ..clean() },
            vec![(MissingInErp, "project_code", "p")],
        ),
        (
            "no PSA project",
            ProjectFacts {
                project: None,
                ..clean()
            },
            vec![(MissingInPsa, "project", "p")],
        ),
        (
            "no budget",
            ProjectFacts {
                code: Some(ProjectCode { budget: None, ..code() }),
                ..clean()
            },
            vec![(MissingInErp, "budget", "PRJ-1")],
        ),
        (
            "another budget total",
            ProjectFacts {
                code: Some(ProjectCode {
                    budget: Some(Budget {
                        total: eur("99999.99"),
                        ..Budget::default()
                    }),
                    ..code()
                }),
                ..clean()
            },
            vec![(Altered, "budget", "PRJ-1")],
        ),
        (
            "posted without a journal",
            ProjectFacts {
                journals: vec![],
                ..clean()
            },
            vec![(MissingInErp, "time_entry", ENTRY)],
        ),
        (
            "its journal reversed",
            ProjectFacts {
                journals: vec![posted_journal("j1"), reversal.clone()],
                ..clean()
            },
            vec![(MissingInErp, "time_entry", ENTRY)],
        ),
        (
            "a second journal posted by hand naming the entry",
            ProjectFacts {
                journals: vec![
                    posted_journal("j1"),
                    journal(
                        "j2",
                        "manual",
                        &format!("Re-keyed time:{ENTRY} again"),
                        "GB",
                        "1.5",
                        Some("277.50"),
                    ),
                ],
                ..clean()
            },
            vec![(Duplicated, "time_entry", ENTRY)],
        ),
        (
            "a manual journal naming no entry is not the entry's",
            ProjectFacts {
                journals: vec![
                    posted_journal("j1"),
                    journal("j2", "manual", "Accrual", "GB", "1.5", Some("277.50")),
                ],
                ..clean()
            },
            vec![],
        ),
        (
            "other hours",
            ProjectFacts {
                journals: vec![journal("j1", &format!("time:{ENTRY}"), "", "GB", "2", Some("277.50"))],
                ..clean()
            },
            vec![(Altered, "time_entry", ENTRY)],
        ),
        (
            "another amount",
            ProjectFacts {
                journals: vec![journal(
                    "j1",
                    &format!("time:{ENTRY}"),
                    "",
                    "GB",
                    "1.50",
                    Some("277.49"),
                )],
                ..clean()
            },
            vec![(Altered, "time_entry", ENTRY)],
        ),
        (
            "a journal for an entry PSA holds as submitted",
            ProjectFacts {
                entries: vec![entry(TimeEntryState::Submitted)],
                ..clean()
            },
            vec![(MissingInPsa, "time_entry", ENTRY)],
        ),
        (
            "no ERP milestone",
            ProjectFacts {
                milestones: vec![],
                invoices: vec![],
                ..clean()
            },
            vec![(MissingInErp, "milestone", "1")],
        ),
        (
            "two ERP milestones of the name",
            ProjectFacts {
                milestones: vec![
                    erp_milestone("m1", "Kickoff", "30000", MilestoneStatus::Planned),
                    erp_milestone("m2", "Kickoff", "30000", MilestoneStatus::Planned),
                ],
                invoices: vec![],
                ..clean()
            },
            vec![(Duplicated, "milestone", "1")],
        ),
        (
            "another milestone amount",
            ProjectFacts {
                milestones: vec![erp_milestone("m1", "Kickoff", "31000", MilestoneStatus::Planned)],
                invoices: vec![],
                ..clean()
            },
            vec![(Altered, "milestone", "1")],
        ),
        (
            "an ERP milestone PSA does not name",
            ProjectFacts {
                milestones: vec![
                    erp_milestone("m1", "Kickoff", "30000", MilestoneStatus::Invoiced),
                    erp_milestone("m9", "Hypercare", "5000", MilestoneStatus::Planned),
                ],
                ..clean()
            },
            vec![(MissingInPsa, "milestone", "m9")],
        ),
        (
            "invoiced at another amount",
            ProjectFacts {
                invoices: vec![invoice("i1", "m1", "29000.00")],
                ..clean()
            },
            vec![(Altered, "invoice", "1")],
        ),
        (
            "on two invoices",
            ProjectFacts {
                invoices: vec![invoice("i1", "m1", "30000.00"), invoice("i2", "m1", "30000.00")],
                ..clean()
            },
            vec![(Duplicated, "invoice", "1")],
        ),
        (
            "INVOICED without an invoice",
            ProjectFacts {
                invoices: vec![],
                ..clean()
            },
            vec![(MissingInErp, "invoice", "1")],
        ),
    ];
    for (name, facts, expected) in cases {
        let got: Vec<(DifferenceKind, String, String)> = compare(&facts)
            .into_iter()
            .map(|d| (d.kind, d.record_type, d.record_id))
            .collect();
        let expected: Vec<(DifferenceKind, String, String)> = expected
            .into_iter()
            .map(|(k, t, id)| (k, t.to_string(), id.to_string()))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_difference_has_the_same_identity_in_every_run() {
    let facts = ProjectFacts {
        journals: vec![],
        ..clean()
    };
    let first = compare(&facts);
    let second = compare(&facts);
    assert_eq!(first[0].identity(), format!("p/MISSING_IN_ERP/time_entry/{ENTRY}"));
    assert_eq!(first[0].identity(), second[0].identity());
    assert!(first[0].identity().len() <= 200, "fits a workflow business key");
}
