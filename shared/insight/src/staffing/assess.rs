//! The assessment: checks the input, then looks for over-allocation, certifications and
//! critical skills held by one person or none.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use super::{Assignment, Person, ProjectStaffing, StaffingFlag, StaffingRisk};
use crate::InsightError;

/// The most people or assignments one call may take.
pub const MAX_ROWS: usize = 50_000;

/// Flags the staffing risks of `project`, given the `people` who can be staffed and all their
/// `assignments` (on every project, so that over-allocation sees the whole week). Bad input is
/// [`InsightError::InvalidInput`] naming the field, and nothing is flagged.
pub fn assess(
    project: &ProjectStaffing,
    people: &[Person],
    assignments: &[Assignment],
) -> Result<Vec<StaffingFlag>, InsightError> {
    check(project, people, assignments)?;
    let people: BTreeMap<&str, &Person> = people.iter().map(|p| (p.id.as_str(), p)).collect();
    let team: Vec<&Assignment> = assignments
        .iter()
        .filter(|a| a.project == project.project && a.from <= project.ends && a.to >= project.starts)
        .collect();
    let mut flags = Vec::new();
    over_allocation(project, &team, assignments, &mut flags);
    certifications(project, &people, &team, &mut flags);
    critical_skills(project, &people, &team, &mut flags);
    Ok(flags)
}

fn monday(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

fn over_allocation(
    project: &ProjectStaffing,
    team: &[&Assignment],
    assignments: &[Assignment],
    flags: &mut Vec<StaffingFlag>,
) {
    let members: BTreeSet<&str> = team.iter().map(|a| a.person.as_str()).collect();
    for person in members {
        let theirs: Vec<&Assignment> = assignments.iter().filter(|a| a.person == person).collect();
        // Runs of consecutive weeks over 100%: (first, last, weeks, peak, peak week).
        let mut run: Option<(NaiveDate, NaiveDate, u32, Decimal, NaiveDate)> = None;
        let mut week = monday(project.starts);
        while week <= project.ends {
            let friday = week + Duration::days(4);
            let total: Decimal = theirs
                .iter()
                .filter(|a| a.from <= friday && a.to >= week)
                .map(|a| a.percent)
                .sum();
            if total > Decimal::ONE_HUNDRED {
                run = Some(match run {
                    Some((first, _, weeks, peak, _)) if total > peak => (first, week, weeks + 1, total, week),
                    Some((first, _, weeks, peak, peak_week)) => (first, week, weeks + 1, peak, peak_week),
                    None => (week, week, 1, total, week),
                });
            } else if let Some(done) = run.take() {
                flags.push(over_allocated(person, done, &theirs));
            }
            week += Duration::days(7);
        }
        if let Some(done) = run {
            flags.push(over_allocated(person, done, &theirs));
        }
    }
}

fn over_allocated(
    person: &str,
    (first_week, last_week, weeks, peak_percent, peak_week): (NaiveDate, NaiveDate, u32, Decimal, NaiveDate),
    theirs: &[&Assignment],
) -> StaffingFlag {
    let friday = peak_week + Duration::days(4);
    let at_peak: Vec<(String, Decimal)> = theirs
        .iter()
        .filter(|a| a.from <= friday && a.to >= peak_week)
        .map(|a| (a.project.clone(), a.percent))
        .collect();
    let parts: Vec<String> = at_peak.iter().map(|(p, pct)| format!("{p} {pct}%")).collect();
    let reason = format!(
        "{person} is allocated over 100% for {weeks} week(s) from the week of {first_week} to the \
         week of {last_week}, peaking at {peak_percent}% in the week of {peak_week} ({}).",
        parts.join(", ")
    );
    StaffingFlag {
        risk: StaffingRisk::OverAllocated {
            person: person.to_string(),
            first_week,
            last_week,
            weeks,
            peak_percent,
            peak_week,
            at_peak,
        },
        reason,
    }
}

fn certifications(
    project: &ProjectStaffing,
    people: &BTreeMap<&str, &Person>,
    team: &[&Assignment],
    flags: &mut Vec<StaffingFlag>,
) {
    for assignment in team {
        let Some(role) = project.roles.iter().find(|r| r.role == assignment.role) else {
            continue;
        };
        let needed_until = assignment.to.min(project.ends);
        let person = people.get(assignment.person.as_str());
        for skill in &role.certified_skills {
            // The certification that lasts longest: none expiring beats any date.
            let best = person
                .into_iter()
                .flat_map(|p| p.certifications.iter())
                .filter(|c| &c.skill == skill)
                .max_by_key(|c| c.expires.map_or((1, NaiveDate::MIN), |d| (0, d)));
            let (who, role_name) = (assignment.person.clone(), assignment.role.clone());
            match best {
                None => flags.push(StaffingFlag {
                    reason: format!(
                        "{who} is staffed as {role_name} until {needed_until}, which requires a \
                         certification in {skill}, and holds none."
                    ),
                    risk: StaffingRisk::CertificationMissing {
                        person: who,
                        role: role_name,
                        skill: skill.clone(),
                        needed_until,
                    },
                }),
                Some(cert) => {
                    let Some(expires) = cert.expires.filter(|&d| d < needed_until) else {
                        continue;
                    };
                    let days_uncovered = (needed_until - expires).num_days();
                    flags.push(StaffingFlag {
                        reason: format!(
                            "{who}'s {} certification ({skill}) expires on {expires}, {days_uncovered} \
                             days before their assignment as {role_name} ends on {needed_until}.",
                            cert.name
                        ),
                        risk: StaffingRisk::CertificationExpiring {
                            person: who,
                            role: role_name,
                            skill: skill.clone(),
                            certification: cert.name.clone(),
                            expires,
                            needed_until,
                            days_uncovered,
                        },
                    });
                }
            }
        }
    }
}

fn critical_skills(
    project: &ProjectStaffing,
    people: &BTreeMap<&str, &Person>,
    team: &[&Assignment],
    flags: &mut Vec<StaffingFlag>,
) {
    let members: BTreeSet<&str> = team.iter().map(|a| a.person.as_str()).collect();
    for skill in &project.critical_skills {
        let holders: Vec<&str> = members
            .iter()
            .copied()
            .filter(|id| {
                people.get(id).is_some_and(|p| {
                    p.skills.iter().any(|s| s == skill) || p.certifications.iter().any(|c| &c.skill == skill)
                })
            })
            .collect();
        match holders.as_slice() {
            [] => flags.push(StaffingFlag {
                reason: format!(
                    "Nobody of the {} people on {} holds {skill}, which the project marks critical.",
                    members.len(),
                    project.project
                ),
                risk: StaffingRisk::CriticalSkillUncovered { skill: skill.clone() },
            }),
            [only] => flags.push(StaffingFlag {
                reason: format!(
                    "{only} is the only one of the {} people on {} who holds {skill}, which the \
                     project marks critical: their absence would stop that work.",
                    members.len(),
                    project.project
                ),
                risk: StaffingRisk::SinglePointOfFailure {
                    skill: skill.clone(),
                    person: (*only).to_string(),
                },
            }),
            _ => {}
        }
    }
}

fn check(project: &ProjectStaffing, people: &[Person], assignments: &[Assignment]) -> Result<(), InsightError> {
    if project.project.trim().is_empty() {
        return Err(InsightError::invalid("project", "must not be empty"));
    }
    if project.ends < project.starts {
        return Err(InsightError::invalid("ends", "must not be before starts"));
    }
    if project.ends - project.starts > Duration::days(3660) {
        return Err(InsightError::invalid(
            "ends",
            "a project of at most ten years is assessed",
        ));
    }
    if people.len() > MAX_ROWS || assignments.len() > MAX_ROWS {
        return Err(InsightError::invalid(
            "assignments",
            format!("at most {MAX_ROWS} people and {MAX_ROWS} assignments per call"),
        ));
    }
    for (position, person) in people.iter().enumerate() {
        if person.id.trim().is_empty() {
            return Err(InsightError::invalid(
                format!("people[{position}].id"),
                "must not be empty",
            ));
        }
    }
    for (position, assignment) in assignments.iter().enumerate() {
        let field = |name: &str| format!("assignments[{position}].{name}");
        for (name, value) in [
            ("person", &assignment.person),
            ("project", &assignment.project),
            ("role", &assignment.role),
        ] {
            if value.trim().is_empty() {
                return Err(InsightError::invalid(field(name), "must not be empty"));
            }
        }
        if assignment.to < assignment.from {
            return Err(InsightError::invalid(field("to"), "must not be before from"));
        }
        if assignment.percent <= Decimal::ZERO || assignment.percent > Decimal::ONE_HUNDRED {
            return Err(InsightError::invalid(
                field("percent"),
                "must be more than 0 and at most 100",
            ));
        }
    }
    Ok(())
}
