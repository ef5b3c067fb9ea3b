//! `FindCandidates`: who has the skills, certifications and languages a piece of work needs,
//! where it is, and how many hours they have free in its date range.

use chrono::NaiveDate;
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::hris::FindCandidatesRequest;
use rust_decimal::Decimal;

use super::profile::{self, Availability, Certification, Language, LanguageLevel, Skill};

/// The longest range a search may span, in days.
pub const MAX_RANGE_DAYS: i64 = 366;

/// A checked candidate search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateQuery {
    /// Skill names with their minimum proficiency.
    pub skills: Vec<Skill>,
    /// Certifications that must be valid throughout the range.
    pub certifications: Vec<String>,
    /// Language codes, each with an optional minimum level.
    pub languages: Vec<(String, Option<LanguageLevel>)>,
    pub region: Option<String>,
    /// Compared without regard to case.
    pub location: Option<String>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub min_available_hours: Decimal,
}

/// What a search looks at in one employee.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    pub active: bool,
    pub region: &'a str,
    pub location: &'a str,
    pub skills: &'a [Skill],
    pub certifications: &'a [Certification],
    pub languages: &'a [Language],
    pub availability: &'a Availability,
}

impl CandidateQuery {
    pub fn parse(request: &FindCandidatesRequest) -> Result<(CandidateQuery, Page), Error> {
        let mut v = Violations::new();
        let page = v.take(Page::from_proto(request.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        let mut skills = Vec::new();
        for (i, s) in request.skills.iter().enumerate() {
            let name = profile::check_name(&mut v, &format!("skills[{i}].name"), &s.name);
            let min = if s.min_proficiency == 0 {
                1
            } else {
                profile::check_proficiency(&mut v, &format!("skills[{i}].min_proficiency"), s.min_proficiency)
            };
            skills.push(Skill { name, proficiency: min });
        }
        let certifications = request
            .certifications
            .iter()
            .enumerate()
            .map(|(i, c)| profile::check_name(&mut v, &format!("certifications[{i}]"), c))
            .collect();
        let mut languages = Vec::new();
        for (i, l) in request.languages.iter().enumerate() {
            let code = profile::check_language_code(&mut v, &format!("languages[{i}].code"), &l.code);
            let level = if l.min_level.trim().is_empty() {
                None
            } else {
                profile::check_level(&mut v, &format!("languages[{i}].min_level"), &l.min_level)
            };
            languages.push((code, level));
        }
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let region = some(&request.region);
        if let Some(r) = &region
            && !super::REGIONS.contains(&r.as_str())
        {
            v.add("region", format!("{r:?} is not one of {}", super::REGIONS.join(", ")));
        }
        let start = v.date("start_date", &request.start_date);
        let end = v.date("end_date", &request.end_date);
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                v.add("end_date", "must not be before start_date");
            } else if (end - start).num_days() > MAX_RANGE_DAYS {
                v.add(
                    "end_date",
                    format!("must be at most {MAX_RANGE_DAYS} days after start_date"),
                );
            }
        }
        let min_available_hours = if request.min_available_hours.trim().is_empty() {
            Decimal::ZERO
        } else {
            v.non_negative_decimal("min_available_hours", &request.min_available_hours)
                .unwrap_or_default()
        };
        v.finish()?;
        let (Some(page), Some(start), Some(end)) = (page, start, end) else {
            return Err(Error::internal("checked fields missing after validation"));
        };
        Ok((
            CandidateQuery {
                skills,
                certifications,
                languages,
                region,
                location: some(&request.location),
                start,
                end,
                min_available_hours,
            },
            page,
        ))
    }

    /// The employee's available hours in the range when they meet every requirement.
    pub fn matches(&self, p: &Profile<'_>) -> Option<Decimal> {
        if !p.active {
            return None;
        }
        if self.region.as_deref().is_some_and(|r| r != p.region) {
            return None;
        }
        if self
            .location
            .as_deref()
            .is_some_and(|l| !l.eq_ignore_ascii_case(p.location.trim()))
        {
            return None;
        }
        let has_skill = |need: &Skill| {
            p.skills
                .iter()
                .any(|s| s.name == need.name && s.proficiency >= need.proficiency)
        };
        if !self.skills.iter().all(has_skill) {
            return None;
        }
        // An expired certification (expiry before the range ends) never matches.
        let has_cert = |name: &String| {
            p.certifications
                .iter()
                .any(|c| &c.name == name && c.valid_throughout(self.start, self.end))
        };
        if !self.certifications.iter().all(has_cert) {
            return None;
        }
        let speaks = |(code, min): &(String, Option<LanguageLevel>)| {
            p.languages
                .iter()
                .any(|l| &l.code == code && min.is_none_or(|min| l.level >= min))
        };
        if !self.languages.iter().all(speaks) {
            return None;
        }
        let hours = p.availability.available_hours(self.start, self.end);
        (hours >= self.min_available_hours).then_some(hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::hris::{LanguageRequirement, SkillRequirement};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn query() -> CandidateQuery {
        CandidateQuery::parse(&FindCandidatesRequest {
            skills: vec![SkillRequirement {
                name: "rust".into(),
                min_proficiency: 3,
            }],
            certifications: vec!["aws-sa".into()],
            languages: vec![LanguageRequirement {
                code: "de".into(),
                min_level: "b2".into(),
            }],
            region: "emea".into(),
            start_date: "2027-01-04".into(),
            end_date: "2027-01-15".into(),
            ..Default::default()
        })
        .unwrap()
        .0
    }

    #[test]
    fn every_requirement_must_hold() {
        let q = query();
        let availability = Availability {
            weekly_capacity_hours: Decimal::from(40),
            time_off: vec![],
        };
        let skills = [Skill {
            name: "rust".into(),
            proficiency: 4,
        }];
        let valid = [Certification {
            name: "aws-sa".into(),
            issued_on: None,
            expires_on: Some(day("2027-06-01")),
        }];
        let expired = [Certification {
            name: "aws-sa".into(),
            issued_on: None,
            expires_on: Some(day("2027-01-14")),
        }];
        let german = [Language {
            code: "de".into(),
            level: LanguageLevel::C1,
        }];
        let weak_german = [Language {
            code: "de".into(),
            level: LanguageLevel::A2,
        }];
        let base = Profile {
            active: true,
            region: "emea",
            location: "Berlin",
            skills: &skills,
            certifications: &valid,
            languages: &german,
            availability: &availability,
        };
        assert_eq!(q.matches(&base), Some(Decimal::from(80)));
        assert_eq!(
            q.matches(&Profile {
                certifications: &expired,
                ..base
            }),
            None
        );
        assert_eq!(
            q.matches(&Profile {
                languages: &weak_german,
                ..base
            }),
            None
        );
        assert_eq!(q.matches(&Profile { region: "na", ..base }), None);
        assert_eq!(q.matches(&Profile { active: false, ..base }), None);
    }

    #[test]
    fn a_backwards_or_endless_range_is_refused() {
        for (start, end) in [("2027-01-10", "2027-01-01"), ("2027-01-01", "2029-01-01")] {
            let err = CandidateQuery::parse(&FindCandidatesRequest {
                start_date: start.into(),
                end_date: end.into(),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.field_violations()[0].field, "end_date");
        }
    }
}
