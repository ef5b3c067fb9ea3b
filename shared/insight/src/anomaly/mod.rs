//! Time-entry anomalies per consultant and project. Each flag says what is unusual, why, and
//! with which numbers; a person reviews it. Nothing here changes or rejects an entry.
//!
//! - [`AnomalyKind::Duplicate`]: the same consultant, project, date, hours and narrative again.
//! - [`AnomalyKind::HoursOutlier`]: a day's hours far above the consultant's usual day on that
//!   project, by the robust z-score `0.6745 × (hours − median) / MAD` (median and median
//!   absolute deviation of the consultant's days on the project; only upward, since short days
//!   are ordinary).
//! - [`AnomalyKind::UnusualWeekday`]: an entry on a weekday the consultant almost never logs.
//! - [`AnomalyKind::RoundNumberPadding`]: a week in which every entry is a whole number of hours,
//!   when at the consultant's share of whole-hour entries in other weeks (p) a run of that
//!   length (n) would be rare by chance (p^n at most the configured chance).
//! - [`AnomalyKind::AboveAllocation`]: a week's hours on a project far above the assignment's
//!   weekly allocation.
//!
//! Hours are decimals throughout, so the figures in a flag are exact.

mod detect;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use detect::detect;

/// One submitted time entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeEntry {
    pub id: String,
    pub consultant: String,
    pub project: String,
    pub date: NaiveDate,
    pub hours: Decimal,
    pub narrative: String,
}

/// A consultant's assignment to a project: the hours a week they are allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub consultant: String,
    pub project: String,
    pub weekly_hours: Decimal,
}

/// Thresholds of the detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyConfig {
    /// A day is an outlier above this robust z-score.
    pub outlier_z: Decimal,
    /// A floor on the MAD, in hours, so that a very regular consultant's ordinary variation is
    /// not an outlier.
    pub min_mad_hours: Decimal,
    /// Entries a series needs before its statistics are trusted.
    pub min_history: usize,
    /// A weekday holding at most this share of a consultant's entries is unusual.
    pub unusual_weekday_share: Decimal,
    /// A week needs at least this many entries to be judged for padding.
    pub padding_min_entries: usize,
    /// A week of whole hours is padding when, at the consultant's usual share of whole-hour
    /// entries, so many in a row would happen by chance at most this often.
    pub padding_max_chance: Decimal,
    /// A week's hours on a project above the allocation times this factor are flagged.
    pub allocation_factor: Decimal,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            outlier_z: Decimal::new(35, 1),
            min_mad_hours: Decimal::new(5, 1),
            min_history: 8,
            unusual_weekday_share: Decimal::new(5, 2),
            padding_min_entries: 4,
            padding_max_chance: Decimal::new(2, 3),
            allocation_factor: Decimal::new(125, 2),
        }
    }
}

/// What kind of anomaly a flag reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    Duplicate,
    HoursOutlier,
    UnusualWeekday,
    RoundNumberPadding,
    AboveAllocation,
}

/// A named number behind a flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: Decimal,
}

/// What a flag is about: one entry, or a consultant's week (on one project, or on all).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subject {
    Entry(String),
    Week {
        consultant: String,
        project: Option<String>,
        iso_year: i32,
        iso_week: u32,
    },
}

/// One anomaly, with its reason and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyFlag {
    pub kind: AnomalyKind,
    pub subject: Subject,
    pub consultant: String,
    /// The project, when the flag is about one.
    pub project: Option<String>,
    /// The entries the flag is about.
    pub entries: Vec<String>,
    pub reason: String,
    pub figures: Vec<Figure>,
}

impl AnomalyFlag {
    /// The figure named `name`.
    pub fn figure(&self, name: &str) -> Option<Decimal> {
        self.figures
            .iter()
            .find(|figure| figure.name == name)
            .map(|figure| figure.value)
    }
}
