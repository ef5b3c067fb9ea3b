//! Staffing risks on a constructed team: each risk appears with its figures, and a team
//! without it raises nothing.

use chrono::NaiveDate;
use keel_insight::InsightError;
use keel_insight::staffing::{
    Assignment, Certification, Person, ProjectStaffing, RoleRequirement, StaffingRisk, assess,
};
use rust_decimal::Decimal;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn person(id: &str, skills: &[&str], certifications: &[(&str, Option<&str>)]) -> Person {
    Person {
        id: id.into(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        certifications: certifications
            .iter()
            .map(|(skill, expires)| Certification {
                skill: skill.to_string(),
                name: format!("{skill} certified"),
                expires: expires.map(day),
            })
            .collect(),
    }
}

fn assignment(person: &str, project: &str, role: &str, from: &str, to: &str, percent: i64) -> Assignment {
    Assignment {
        person: person.into(),
        project: project.into(),
        role: role.into(),
        from: day(from),
        to: day(to),
        percent: Decimal::from(percent),
    }
}

/// An S/4 rollout from Monday 7 December 2026 to Friday 26 March 2027. Architects must hold a
/// valid `sap-s4` certification; `sap-s4`, `abap`, `data-migration` and `security-hardening`
/// are critical.
fn project() -> ProjectStaffing {
    ProjectStaffing {
        project: "PRJ-S4".into(),
        starts: day("2026-12-07"),
        ends: day("2027-03-26"),
        roles: vec![
            RoleRequirement {
                role: "architect".into(),
                certified_skills: vec!["sap-s4".into()],
            },
            RoleRequirement {
                role: "developer".into(),
                certified_skills: vec![],
            },
        ],
        critical_skills: vec![
            "sap-s4".into(),
            "abap".into(),
            "data-migration".into(),
            "security-hardening".into(),
        ],
    }
}

fn people() -> Vec<Person> {
    vec![
        // Two sap-s4 certifications: the later one (15 February) is the one that counts.
        person(
            "ana",
            &["sap-s4", "abap"],
            &[("sap-s4", Some("2026-12-31")), ("sap-s4", Some("2027-02-15"))],
        ),
        person("ben", &["abap"], &[]),
        person("cara", &["data-migration"], &[("sap-s4", None)]),
        person("dan", &["sap-s4"], &[]),
        // Holds data-migration but is not on the project: does not cover it.
        person("eve", &["data-migration"], &[]),
    ]
}

fn assignments() -> Vec<Assignment> {
    vec![
        assignment("ana", "PRJ-S4", "architect", "2026-12-07", "2027-03-26", 80),
        // Ben: 60% here all along, 60% elsewhere for four weeks of January, and 40% more in the
        // third of them.
        assignment("ben", "PRJ-S4", "developer", "2026-12-07", "2027-03-26", 60),
        assignment("ben", "PRJ-X", "developer", "2027-01-04", "2027-01-29", 60),
        assignment("ben", "PRJ-Y", "developer", "2027-01-18", "2027-01-22", 40),
        // Cara at exactly 100% (50 + 50): not over-allocated; certified without expiry.
        assignment("cara", "PRJ-S4", "architect", "2026-12-07", "2027-03-26", 50),
        assignment("cara", "PRJ-Z", "architect", "2026-12-07", "2027-03-26", 50),
        // Dan: an architect until the end of January without the certification.
        assignment("dan", "PRJ-S4", "architect", "2026-12-07", "2027-01-31", 100),
        assignment("eve", "PRJ-Z", "developer", "2026-12-07", "2027-03-26", 100),
    ]
}

#[test]
fn each_risk_on_a_constructed_team_is_flagged_with_its_figures() {
    let flags = assess(&project(), &people(), &assignments()).unwrap();
    let risks: Vec<&StaffingRisk> = flags.iter().map(|f| &f.risk).collect();
    let expected = [
        StaffingRisk::OverAllocated {
            person: "ben".into(),
            first_week: day("2027-01-04"),
            last_week: day("2027-01-25"),
            weeks: 4,
            peak_percent: Decimal::from(160),
            peak_week: day("2027-01-18"),
            at_peak: vec![
                ("PRJ-S4".into(), Decimal::from(60)),
                ("PRJ-X".into(), Decimal::from(60)),
                ("PRJ-Y".into(), Decimal::from(40)),
            ],
        },
        StaffingRisk::CertificationExpiring {
            person: "ana".into(),
            role: "architect".into(),
            skill: "sap-s4".into(),
            certification: "sap-s4 certified".into(),
            expires: day("2027-02-15"),
            needed_until: day("2027-03-26"),
            // 13 days left of February and 26 of March.
            days_uncovered: 39,
        },
        StaffingRisk::CertificationMissing {
            person: "dan".into(),
            role: "architect".into(),
            skill: "sap-s4".into(),
            needed_until: day("2027-01-31"),
        },
        StaffingRisk::SinglePointOfFailure {
            skill: "data-migration".into(),
            person: "cara".into(),
        },
        StaffingRisk::CriticalSkillUncovered {
            skill: "security-hardening".into(),
        },
    ];
    assert_eq!(risks, expected.iter().collect::<Vec<_>>());
    let reasons: Vec<&str> = flags.iter().map(|f| f.reason.as_str()).collect();
    for (reason, figures) in reasons.iter().zip([
        &["ben", "4 week(s)", "160%", "2027-01-18", "PRJ-X 60%"][..],
        &["ana", "2027-02-15", "39 days", "2027-03-26"][..],
        &["dan", "architect", "sap-s4", "holds none"][..],
        &["cara", "only one of the 4 people", "data-migration"][..],
        &["Nobody of the 4 people", "security-hardening"][..],
    ]) {
        for figure in figures {
            assert!(reason.contains(figure), "{figure} missing from: {reason}");
        }
    }
}

#[test]
fn a_well_staffed_team_raises_nothing() {
    let mut project = project();
    project.critical_skills.retain(|s| s != "security-hardening");
    let mut people = people();
    // Ana renews her certification, Dan gets his, Eve joins and shares data-migration.
    people[0].certifications.push(Certification {
        skill: "sap-s4".into(),
        name: "sap-s4 recertified".into(),
        expires: Some(day("2028-02-15")),
    });
    people[3].certifications.push(Certification {
        skill: "sap-s4".into(),
        name: "sap-s4 certified".into(),
        expires: Some(day("2027-01-31")),
    });
    let mut assignments: Vec<Assignment> = assignments()
        .into_iter()
        .filter(|a| a.project != "PRJ-Y" && a.person != "eve")
        .collect();
    assignments.push(assignment("eve", "PRJ-S4", "developer", "2026-12-07", "2027-03-26", 40));
    // Ben's January elsewhere drops to 40%: exactly 100% is not over.
    assignments
        .iter_mut()
        .filter(|a| a.project == "PRJ-X")
        .for_each(|a| a.percent = Decimal::from(40));
    let flags = assess(&project, &people, &assignments).unwrap();
    assert!(flags.is_empty(), "{flags:#?}");
}

#[test]
fn over_allocation_outside_the_project_is_not_its_risk_and_separate_runs_are_separate_flags() {
    let mut assignments = assignments();
    // Ben's overload moved to after the project: no flag. Two separate weeks inside: two flags.
    assignments.retain(|a| a.project != "PRJ-X" && a.project != "PRJ-Y");
    assignments.push(assignment("ben", "PRJ-X", "developer", "2027-04-05", "2027-04-30", 60));
    assignments.push(assignment("ben", "PRJ-Y", "developer", "2026-12-14", "2026-12-18", 50));
    assignments.push(assignment("ben", "PRJ-Y", "developer", "2027-02-03", "2027-02-03", 50));
    let flags = assess(&project(), &people(), &assignments).unwrap();
    let runs: Vec<(NaiveDate, u32, Decimal)> = flags
        .iter()
        .filter_map(|f| match &f.risk {
            StaffingRisk::OverAllocated {
                first_week,
                weeks,
                peak_percent,
                ..
            } => Some((*first_week, *weeks, *peak_percent)),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            (day("2026-12-14"), 1, Decimal::from(110)),
            // A single Wednesday counts for its week.
            (day("2027-02-01"), 1, Decimal::from(110)),
        ]
    );
}

#[test]
fn bad_input_names_its_field_and_flags_nothing() {
    let field_of =
        |project: ProjectStaffing, assignments: Vec<Assignment>| match assess(&project, &people(), &assignments) {
            Err(InsightError::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        };
    let mut zero = assignments();
    zero[1].percent = Decimal::ZERO;
    assert_eq!(field_of(project(), zero), "assignments[1].percent");
    let mut backwards = assignments();
    backwards[2].to = day("2026-01-01");
    assert_eq!(field_of(project(), backwards), "assignments[2].to");
    let mut nameless = assignments();
    nameless[0].person = "".into();
    assert_eq!(field_of(project(), nameless), "assignments[0].person");
    let early_end = ProjectStaffing {
        ends: day("2026-11-01"),
        ..project()
    };
    assert_eq!(field_of(early_end, assignments()), "ends");
}
