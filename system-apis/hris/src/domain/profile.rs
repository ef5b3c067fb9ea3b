//! What an employee can do and when they are free: skills, certifications, languages, time off
//! and weekly capacity, parsed from the contract and stored as checked values.

use chrono::{Datelike, NaiveDate, Weekday};
use keel_core::Violations;
use keel_proto::hris as proto;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Proficiency runs from 1 (aware) to 5 (expert).
pub const PROFICIENCY: std::ops::RangeInclusive<i32> = 1..=5;
/// Time-off kinds Keel knows.
pub const TIME_OFF_KINDS: &[&str] = &["vacation", "sick", "parental", "training", "public-holiday", "other"];
/// The most hours a week Keel accepts as capacity.
pub const MAX_WEEKLY_HOURS: Decimal = Decimal::from_parts(80, 0, 0, false, 0);
/// Capacity when none is given.
pub const DEFAULT_WEEKLY_HOURS: Decimal = Decimal::from_parts(40, 0, 0, false, 0);

/// ISO 639-1 language codes.
const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm", "bn", "bo",
    "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo",
    "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi",
    "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka",
    "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng",
    "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn",
    "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su",
    "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur",
    "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// A skill at a proficiency from 1 to 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub proficiency: u8,
}

/// A certification; `expires_on: None` never expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    pub name: String,
    pub issued_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

impl Certification {
    /// Held for the whole of `start..=end`: issued by `start`, not expiring before `end`.
    pub fn valid_throughout(&self, start: NaiveDate, end: NaiveDate) -> bool {
        self.issued_on.is_none_or(|issued| issued <= start) && self.expires_on.is_none_or(|expiry| expiry >= end)
    }
}

/// CEFR levels, then native; ordered so a higher level meets a lower requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LanguageLevel {
    A1,
    A2,
    B1,
    B2,
    C1,
    C2,
    Native,
}

impl LanguageLevel {
    pub const ALL: [LanguageLevel; 7] = [
        LanguageLevel::A1,
        LanguageLevel::A2,
        LanguageLevel::B1,
        LanguageLevel::B2,
        LanguageLevel::C1,
        LanguageLevel::C2,
        LanguageLevel::Native,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LanguageLevel::A1 => "a1",
            LanguageLevel::A2 => "a2",
            LanguageLevel::B1 => "b1",
            LanguageLevel::B2 => "b2",
            LanguageLevel::C1 => "c1",
            LanguageLevel::C2 => "c2",
            LanguageLevel::Native => "native",
        }
    }

    /// Case-insensitive: "B2", "native".
    pub fn parse(value: &str) -> Option<LanguageLevel> {
        let value = value.trim().to_ascii_lowercase();
        LanguageLevel::ALL.into_iter().find(|l| l.as_str() == value)
    }
}

/// A language (ISO 639-1) at a level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language {
    pub code: String,
    pub level: LanguageLevel,
}

/// A period away from work, both dates inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOff {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub kind: String,
}

impl TimeOff {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// Weekly capacity and time off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub weekly_capacity_hours: Decimal,
    pub time_off: Vec<TimeOff>,
}

impl Availability {
    /// Hours free in `start..=end`: a fifth of the weekly capacity for each weekday not
    /// covered by time off. Weekends hold no capacity.
    pub fn available_hours(&self, start: NaiveDate, end: NaiveDate) -> Decimal {
        let per_day = self.weekly_capacity_hours / Decimal::from(5);
        let mut total = Decimal::ZERO;
        for day in start.iter_days().take_while(|d| *d <= end) {
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            if self.time_off.iter().any(|t| t.covers(day)) {
                continue;
            }
            total += per_day;
        }
        total.round_dp(2).normalize()
    }
}

/// A skill or certification name: lower-case letters, digits and `-+#.`, e.g. "c++", "aws-sa".
pub fn check_name(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-+#.".contains(c));
    if !valid {
        v.add(
            field,
            format!(
                "{:?} must be 1 to 64 letters, digits or -+#.",
                value.chars().take(40).collect::<String>()
            ),
        );
    }
    value
}

/// A two-letter ISO 639-1 code, lower-cased.
pub fn check_language_code(v: &mut Violations, field: &str, value: &str) -> String {
    let code = value.trim().to_ascii_lowercase();
    if !ISO_639_1.contains(&code.as_str()) {
        v.add(
            field,
            format!(
                "{:?} is not an ISO 639-1 language code",
                code.chars().take(10).collect::<String>()
            ),
        );
    }
    code
}

pub fn check_level(v: &mut Violations, field: &str, value: &str) -> Option<LanguageLevel> {
    let level = LanguageLevel::parse(value);
    if level.is_none() {
        v.add(
            field,
            format!(
                "{:?} is not one of a1, a2, b1, b2, c1, c2, native",
                value.chars().take(10).collect::<String>()
            ),
        );
    }
    level
}

pub fn check_proficiency(v: &mut Violations, field: &str, value: i32) -> u8 {
    if !PROFICIENCY.contains(&value) {
        v.add(field, format!("{value} is not a proficiency from 1 to 5"));
        return 0;
    }
    value as u8
}

/// An optional `YYYY-MM-DD` date: empty is `None`.
pub fn optional_date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.trim().is_empty() {
        None
    } else {
        v.date(field, value)
    }
}

pub fn parse_skills(v: &mut Violations, field: &str, skills: &[proto::Skill]) -> Vec<Skill> {
    let mut out: Vec<Skill> = Vec::with_capacity(skills.len());
    for (i, skill) in skills.iter().enumerate() {
        let name = check_name(v, &format!("{field}[{i}].name"), &skill.name);
        let proficiency = check_proficiency(v, &format!("{field}[{i}].proficiency"), skill.proficiency);
        if out.iter().any(|s| s.name == name) {
            v.add(format!("{field}[{i}].name"), format!("{name:?} is listed twice"));
        }
        out.push(Skill { name, proficiency });
    }
    out
}

pub fn parse_certifications(v: &mut Violations, field: &str, certs: &[proto::Certification]) -> Vec<Certification> {
    let mut out: Vec<Certification> = Vec::with_capacity(certs.len());
    for (i, cert) in certs.iter().enumerate() {
        let name = check_name(v, &format!("{field}[{i}].name"), &cert.name);
        let issued_on = optional_date(v, &format!("{field}[{i}].issued_on"), &cert.issued_on);
        let expires_on = optional_date(v, &format!("{field}[{i}].expires_on"), &cert.expires_on);
        if let (Some(issued), Some(expires)) = (issued_on, expires_on)
            && expires < issued
        {
            v.add(format!("{field}[{i}].expires_on"), "must not be before issued_on");
        }
        if out.iter().any(|c| c.name == name) {
            v.add(format!("{field}[{i}].name"), format!("{name:?} is listed twice"));
        }
        out.push(Certification {
            name,
            issued_on,
            expires_on,
        });
    }
    out
}

pub fn parse_languages(v: &mut Violations, field: &str, languages: &[proto::Language]) -> Vec<Language> {
    let mut out: Vec<Language> = Vec::with_capacity(languages.len());
    for (i, language) in languages.iter().enumerate() {
        let code = check_language_code(v, &format!("{field}[{i}].code"), &language.code);
        let level = check_level(v, &format!("{field}[{i}].level"), &language.level);
        if out.iter().any(|l| l.code == code) {
            v.add(format!("{field}[{i}].code"), format!("{code:?} is listed twice"));
        }
        if let Some(level) = level {
            out.push(Language { code, level });
        }
    }
    out
}

pub fn parse_time_off(v: &mut Violations, field: &str, periods: &[proto::TimeOff]) -> Vec<TimeOff> {
    let mut out = Vec::with_capacity(periods.len());
    for (i, period) in periods.iter().enumerate() {
        let start = v.date(&format!("{field}[{i}].start_date"), &period.start_date);
        let end = v.date(&format!("{field}[{i}].end_date"), &period.end_date);
        let kind = period.kind.trim().to_string();
        if !TIME_OFF_KINDS.contains(&kind.as_str()) {
            v.add(
                format!("{field}[{i}].kind"),
                format!("{kind:?} is not one of {}", TIME_OFF_KINDS.join(", ")),
            );
        }
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                v.add(format!("{field}[{i}].end_date"), "must not be before start_date");
            }
            out.push(TimeOff { start, end, kind });
        }
    }
    out.sort_by_key(|t: &TimeOff| (t.start, t.end));
    out
}

/// Hours per week, 0 to 80; empty gives `default` when there is one.
pub fn parse_weekly_hours(v: &mut Violations, field: &str, value: &str, default: Option<Decimal>) -> Decimal {
    if value.trim().is_empty()
        && let Some(default) = default
    {
        return default;
    }
    match v.non_negative_decimal(field, value) {
        Some(hours) if hours > MAX_WEEKLY_HOURS => {
            v.add(field, format!("must be at most {MAX_WEEKLY_HOURS} hours a week"));
            hours
        }
        Some(hours) => hours.normalize(),
        None => Decimal::ZERO,
    }
}

pub fn skill_to_proto(s: &Skill) -> proto::Skill {
    proto::Skill {
        name: s.name.clone(),
        proficiency: i32::from(s.proficiency),
    }
}

pub fn certification_to_proto(c: &Certification) -> proto::Certification {
    proto::Certification {
        name: c.name.clone(),
        issued_on: c.issued_on.map(|d| d.to_string()).unwrap_or_default(),
        expires_on: c.expires_on.map(|d| d.to_string()).unwrap_or_default(),
    }
}

pub fn language_to_proto(l: &Language) -> proto::Language {
    proto::Language {
        code: l.code.clone(),
        level: l.level.as_str().to_string(),
    }
}

pub fn time_off_to_proto(t: &TimeOff) -> proto::TimeOff {
    proto::TimeOff {
        start_date: t.start.to_string(),
        end_date: t.end.to_string(),
        kind: t.kind.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn available_hours_count_weekdays_and_subtract_time_off() {
        let free = Availability {
            weekly_capacity_hours: Decimal::from(40),
            time_off: vec![],
        };
        // Mon 2026-12-07 .. Sun 2026-12-20: ten weekdays.
        assert_eq!(
            free.available_hours(day("2026-12-07"), day("2026-12-20")),
            Decimal::from(80)
        );
        let away = Availability {
            weekly_capacity_hours: Decimal::new(375, 1),
            time_off: vec![TimeOff {
                start: day("2026-12-10"),
                end: day("2026-12-14"),
                kind: "vacation".into(),
            }],
        };
        // Thu, Fri, Mon off: seven weekdays at 7.5 hours.
        assert_eq!(
            away.available_hours(day("2026-12-07"), day("2026-12-20")),
            Decimal::new(525, 1)
        );
    }

    #[test]
    fn a_certification_expiring_before_the_range_ends_is_not_valid() {
        let cert = |issued: Option<&str>, expires: Option<&str>| Certification {
            name: "aws-sa".into(),
            issued_on: issued.map(day),
            expires_on: expires.map(day),
        };
        let (start, end) = (day("2027-01-01"), day("2027-03-31"));
        let table = [
            (cert(None, None), true),
            (cert(Some("2026-01-01"), Some("2027-03-31")), true),
            (cert(Some("2026-01-01"), Some("2027-03-30")), false),
            (cert(None, Some("2026-12-31")), false),
            (cert(Some("2027-01-02"), None), false),
        ];
        for (c, valid) in table {
            assert_eq!(c.valid_throughout(start, end), valid, "{c:?}");
        }
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(LanguageLevel::Native > LanguageLevel::C2);
        assert!(LanguageLevel::B2 > LanguageLevel::B1);
        assert_eq!(LanguageLevel::parse("B2"), Some(LanguageLevel::B2));
        assert_eq!(LanguageLevel::parse("fluent"), None);
    }

    #[test]
    fn bad_profile_items_are_named_by_index() {
        let mut v = Violations::new();
        parse_skills(
            &mut v,
            "skills",
            &[
                proto::Skill {
                    name: "rust".into(),
                    proficiency: 4,
                },
                proto::Skill {
                    name: "sql".into(),
                    proficiency: 6,
                },
            ],
        );
        parse_languages(
            &mut v,
            "languages",
            &[proto::Language {
                code: "xx".into(),
                level: "b2".into(),
            }],
        );
        parse_time_off(
            &mut v,
            "time_off",
            &[proto::TimeOff {
                start_date: "2026-12-10".into(),
                end_date: "2026-12-01".into(),
                kind: "vacation".into(),
            }],
        );
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err.field_violations().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["skills[1].proficiency", "languages[0].code", "time_off[0].end_date"]
        );
    }
}
