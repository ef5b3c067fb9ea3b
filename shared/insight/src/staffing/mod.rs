//! Staffing risk on a project's team. Each flag says who or what is at risk, why, and with
//! which dates and figures; a resource manager decides. Nothing here changes an assignment.
//!
//! - [`StaffingRisk::OverAllocated`]: a person on the project whose assignments (on every
//!   project) add up to more than 100% in a week of the project; consecutive weeks are one
//!   flag, with the peak and the assignments at the peak. An assignment counts in a week when
//!   it covers any working day (Monday to Friday) of it.
//! - [`StaffingRisk::CertificationExpiring`]: a certification that the person's role on the
//!   project requires expires before the person's assignment ends (their assignment's end, or
//!   the project's when that is earlier): the days left uncovered.
//!   [`StaffingRisk::CertificationMissing`]: the person holds no such certification at all.
//! - [`StaffingRisk::SinglePointOfFailure`]: one person only, among those assigned to the
//!   project, holds a skill the project marks critical. [`StaffingRisk::CriticalSkillUncovered`]:
//!   nobody does. A skill is held when it is among the person's skills or certifications.

mod assess;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use assess::assess;

/// A certification a person holds for a skill; `expires` is empty when it does not expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    pub skill: String,
    pub name: String,
    pub expires: Option<NaiveDate>,
}

/// A person who can be staffed, with what they can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub skills: Vec<String>,
    pub certifications: Vec<Certification>,
}

/// A person's assignment to a project, at a share of their week, over dates (both included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub person: String,
    pub project: String,
    pub role: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Share of the person's week, in percent (50 is half time).
    pub percent: Decimal,
}

/// A role on the project and the skills it must hold a valid certification for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRequirement {
    pub role: String,
    pub certified_skills: Vec<String>,
}

/// The project whose team is assessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectStaffing {
    pub project: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
    pub roles: Vec<RoleRequirement>,
    /// Skills the project cannot deliver without.
    pub critical_skills: Vec<String>,
}

/// One risk and the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum StaffingRisk {
    OverAllocated {
        person: String,
        /// Monday of the first and last weeks over 100%.
        first_week: NaiveDate,
        last_week: NaiveDate,
        weeks: u32,
        peak_percent: Decimal,
        peak_week: NaiveDate,
        /// The assignments in the peak week: project and percent.
        at_peak: Vec<(String, Decimal)>,
    },
    CertificationExpiring {
        person: String,
        role: String,
        skill: String,
        certification: String,
        expires: NaiveDate,
        needed_until: NaiveDate,
        days_uncovered: i64,
    },
    CertificationMissing {
        person: String,
        role: String,
        skill: String,
        needed_until: NaiveDate,
    },
    SinglePointOfFailure {
        skill: String,
        person: String,
    },
    CriticalSkillUncovered {
        skill: String,
    },
}

/// A staffing risk with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffingFlag {
    pub risk: StaffingRisk,
    pub reason: String,
}
