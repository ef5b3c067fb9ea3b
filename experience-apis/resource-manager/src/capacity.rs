//! Utilization against target and the availability forecast, computed from HRIS's people and
//! PSA's time entries and assignments. Hours stay decimal; nothing here calls a backend.
//!
//! Capacity is HRIS's weekly capacity × the working weeks of a period, a working week being
//! five weekdays (Monday to Friday): 40 hours a week over 7 weekdays is 56 hours. Time off is
//! not taken out. Billable hours are the billable time entries PSA holds as APPROVED or
//! POSTED dated in the period; drafts, submitted and rejected time do not count.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use keel_core::Error;
use keel_proto::{hris, psa};
use rust_decimal::{Decimal, RoundingStrategy};

/// The longest period utilization is computed over, in days.
pub(crate) const MAX_PERIOD_DAYS: i64 = 731;
/// The most weeks the availability forecast looks ahead.
pub(crate) const MAX_WEEKS: i32 = 26;
/// Decimal places of a utilization fraction.
const FRACTION_DP: u32 = 4;

/// Both dates of a period, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The period from `from` to `to` (both `YYYY-MM-DD`, inclusive), or bad input naming the
    /// argument at fault.
    pub(crate) fn parse(from: &str, to: &str) -> Result<Period, Error> {
        let date = |field: &str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| Error::invalid(field, format!("must be a date as YYYY-MM-DD, got {text:?}")))
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if to < from {
            return Err(Error::invalid(
                "to",
                format!("must be on or after from ({from}), got {to}"),
            ));
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err(Error::invalid(
                "to",
                format!("must be less than {MAX_PERIOD_DAYS} days after from ({from}), got {to}"),
            ));
        }
        Ok(Period { from, to })
    }

    fn contains(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// The weekdays (Monday to Friday) of the period.
    fn weekdays(&self) -> u32 {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .map(|_| 1)
            .sum()
    }

    /// The period both this and `other` cover, if any.
    fn overlap(&self, other: &Period) -> Option<Period> {
        let from = self.from.max(other.from);
        let to = self.to.min(other.to);
        (from <= to).then_some(Period { from, to })
    }
}

/// HRIS's weekly capacity × the working weeks in `weekdays` weekdays.
fn capacity(weekly: Decimal, weekdays: u32) -> Decimal {
    weekly * Decimal::from(weekdays) / Decimal::from(5)
}

fn fraction(value: Decimal) -> String {
    value
        .round_dp_with_strategy(FRACTION_DP, RoundingStrategy::MidpointNearestEven)
        .normalize()
        .to_string()
}

fn hours(value: Decimal) -> String {
    value.normalize().to_string()
}

fn decimal(what: &str, text: &str, default: Decimal) -> Result<Decimal, Error> {
    if text.trim().is_empty() {
        return Ok(default);
    }
    text.trim()
        .parse()
        .map_err(|e| Error::internal(format!("{what} {text:?} is not a decimal: {e}")))
}

/// One person as HRIS holds them, with their numbers parsed.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: String,
    pub name: String,
    /// HRIS's labor category: the practice a person belongs to.
    pub practice: String,
    pub region: String,
    pub active: bool,
    pub weekly_capacity: Decimal,
    /// A decimal fraction, `None` when HRIS holds none.
    pub target: Option<Decimal>,
}

impl Person {
    pub(crate) fn from_hris(e: &hris::Employee) -> Result<Person, Error> {
        let target = if e.utilization_target.trim().is_empty() {
            None
        } else {
            Some(decimal(
                "HRIS utilization target",
                &e.utilization_target,
                Decimal::ZERO,
            )?)
        };
        Ok(Person {
            id: e.id.clone(),
            name: e.name.clone(),
            practice: e.labor_category.clone(),
            region: e.region.clone(),
            active: e.active,
            weekly_capacity: decimal("HRIS weekly capacity", &e.weekly_capacity_hours, Decimal::from(40))?,
            target,
        })
    }
}

/// A person's or a group's billable hours over capacity, against target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Utilization {
    pub key: String,
    pub name: String,
    pub practice: Option<String>,
    pub region: Option<String>,
    pub people: u32,
    pub billable: Decimal,
    pub capacity: Decimal,
    /// Σ target × capacity of the people with a target, and their capacity.
    target_hours: Decimal,
    targeted_capacity: Decimal,
}

impl Utilization {
    /// Billable ÷ capacity, `None` without capacity.
    pub(crate) fn utilization(&self) -> Option<String> {
        (!self.capacity.is_zero()).then(|| fraction(self.billable / self.capacity))
    }

    /// The target, weighted by capacity for a group; `None` when nobody has one.
    pub(crate) fn target(&self) -> Option<Decimal> {
        (!self.targeted_capacity.is_zero()).then(|| self.target_hours / self.targeted_capacity)
    }

    pub(crate) fn target_text(&self) -> Option<String> {
        self.target().map(fraction)
    }

    /// Utilization minus target, in the same fraction: negative below target.
    pub(crate) fn variance(&self) -> Option<String> {
        let target = self.target()?;
        (!self.capacity.is_zero()).then(|| fraction(self.billable / self.capacity - target))
    }

    pub(crate) fn billable_text(&self) -> String {
        hours(self.billable)
    }

    pub(crate) fn capacity_text(&self) -> String {
        hours(self.capacity)
    }

    fn add(&mut self, other: &Utilization) {
        self.people += other.people;
        self.billable += other.billable;
        self.capacity += other.capacity;
        self.target_hours += other.target_hours;
        self.targeted_capacity += other.targeted_capacity;
    }
}

/// Whether PSA's time entry counts as billable time worked: billable, APPROVED or POSTED.
pub(crate) fn counts_as_billable(entry: &psa::TimeEntry) -> bool {
    entry.billable
        && matches!(
            psa::TimeEntryState::try_from(entry.state),
            Ok(psa::TimeEntryState::Approved | psa::TimeEntryState::Posted)
        )
}

/// Each person's utilization over `period`: the active people, and anyone no longer active
/// who recorded billable time in it.
pub(crate) fn by_person(
    people: &[Person],
    entries: &[psa::TimeEntry],
    period: &Period,
) -> Result<Vec<Utilization>, Error> {
    let mut billable: HashMap<&str, Decimal> = HashMap::new();
    for entry in entries.iter().filter(|e| counts_as_billable(e)) {
        let Ok(day) = NaiveDate::parse_from_str(&entry.date, "%Y-%m-%d") else {
            return Err(Error::internal(format!(
                "PSA sent the time entry date {:?}",
                entry.date
            )));
        };
        if period.contains(day) {
            *billable.entry(entry.employee_id.as_str()).or_default() +=
                decimal("PSA time entry hours", &entry.hours, Decimal::ZERO)?;
        }
    }
    let weekdays = period.weekdays();
    Ok(people
        .iter()
        .filter_map(|p| {
            let worked = billable.get(p.id.as_str()).copied().unwrap_or_default();
            if !p.active && worked.is_zero() {
                return None;
            }
            let capacity = capacity(p.weekly_capacity, weekdays);
            Some(Utilization {
                key: p.id.clone(),
                name: p.name.clone(),
                practice: Some(p.practice.clone()),
                region: Some(p.region.clone()),
                people: 1,
                billable: worked,
                capacity,
                target_hours: p.target.map(|t| t * capacity).unwrap_or_default(),
                targeted_capacity: if p.target.is_some() { capacity } else { Decimal::ZERO },
            })
        })
        .collect())
}

/// The people's figures summed by `group` (a practice or a region), in the group's order.
pub(crate) fn rolled_up(
    people: &[Utilization],
    group: impl Fn(&Utilization) -> Option<String>,
    practice: bool,
) -> Vec<Utilization> {
    let mut groups: BTreeMap<String, Utilization> = BTreeMap::new();
    for person in people {
        let key = group(person).unwrap_or_default();
        let total = groups.entry(key.clone()).or_insert_with(|| Utilization {
            key: key.clone(),
            name: key.clone(),
            practice: practice.then(|| key.clone()),
            region: (!practice).then(|| key.clone()),
            ..Utilization::default()
        });
        total.add(person);
    }
    groups.into_values().collect()
}

/// One person's hours in one forecast week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeekAvailability {
    /// The week's Monday.
    pub week: NaiveDate,
    pub person: String,
    pub name: String,
    pub practice: String,
    pub region: String,
    pub capacity: Decimal,
    pub allocated: Decimal,
    /// The PSA assignments the allocation comes from.
    pub assignments: Vec<String>,
}

impl WeekAvailability {
    /// Capacity minus allocation; negative when over-allocated.
    pub(crate) fn available(&self) -> Decimal {
        self.capacity - self.allocated
    }

    pub(crate) fn key(&self) -> String {
        format!("{}|{}", self.week, self.person)
    }
}

/// The Monday on or after `today`: the first week the forecast covers.
pub(crate) fn first_week(today: NaiveDate) -> NaiveDate {
    let ahead = (7 - today.weekday().num_days_from_monday()) % 7;
    today + Days::new(u64::from(ahead))
}

/// Each active person's capacity, allocation and availability in each of `weeks` weeks from
/// `start` (a Monday): an assignment of P% takes P% of the person's weekly capacity for each of
/// its weekdays in the week. Ended assignments count up to the day they ended.
pub(crate) fn forecast(
    people: &[Person],
    assignments: &[psa::Assignment],
    start: NaiveDate,
    weeks: u32,
) -> Result<Vec<WeekAvailability>, Error> {
    let mut by_person: HashMap<&str, Vec<(Period, Decimal, &str)>> = HashMap::new();
    for a in assignments {
        let date = |text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| Error::internal(format!("PSA sent the assignment date {text:?}")))
        };
        let period = Period {
            from: date(&a.start_date)?,
            to: date(&a.end_date)?,
        };
        let percent = decimal("PSA allocation percent", &a.allocation_percent, Decimal::ZERO)?;
        by_person
            .entry(a.employee_id.as_str())
            .or_default()
            .push((period, percent, a.id.as_str()));
    }
    let mut rows = Vec::new();
    for week in (0..weeks).map(|n| start + Days::new(7 * u64::from(n))) {
        let days = Period {
            from: week,
            to: week + Days::new(4),
        };
        for person in people.iter().filter(|p| p.active) {
            let mut allocated = Decimal::ZERO;
            let mut ids = Vec::new();
            for (period, percent, id) in by_person.get(person.id.as_str()).into_iter().flatten() {
                if let Some(overlap) = days.overlap(period) {
                    allocated += capacity(person.weekly_capacity, overlap.weekdays()) * percent / Decimal::ONE_HUNDRED;
                    ids.push((*id).to_string());
                }
            }
            rows.push(WeekAvailability {
                week,
                person: person.id.clone(),
                name: person.name.clone(),
                practice: person.practice.clone(),
                region: person.region.clone(),
                capacity: capacity(person.weekly_capacity, 5),
                allocated,
                assignments: ids,
            });
        }
    }
    Ok(rows)
}

pub(crate) fn hours_text(value: Decimal) -> String {
    hours(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn person(id: &str, practice: &str, region: &str, target: &str) -> Person {
        Person {
            id: id.into(),
            name: id.to_uppercase(),
            practice: practice.into(),
            region: region.into(),
            active: true,
            weekly_capacity: Decimal::from(40),
            target: Some(target.parse().unwrap()),
        }
    }

    fn entry(employee: &str, date: &str, hours: &str, state: psa::TimeEntryState, billable: bool) -> psa::TimeEntry {
        psa::TimeEntry {
            employee_id: employee.into(),
            date: date.into(),
            hours: hours.into(),
            state: state as i32,
            billable,
            ..Default::default()
        }
    }

    #[test]
    fn a_bad_period_names_the_argument_at_fault() {
        for (from, to, field) in [
            ("2026-13-01", "2026-12-01", "from"),
            ("2026-11-01", "soon", "to"),
            ("2026-11-02", "2026-11-01", "to"),
            ("2024-01-01", "2026-01-01", "to"),
        ] {
            let error = Period::parse(from, to).unwrap_err();
            assert_eq!(error.field_violations()[0].field, field, "{from}..{to}");
        }
        assert!(Period::parse("2026-11-02", "2026-11-02").is_ok());
    }

    #[test]
    fn only_approved_and_posted_billable_time_in_the_period_counts() {
        use psa::TimeEntryState::*;
        let people = [person("a", "manager", "emea", "0.8")];
        let entries = [
            entry("a", "2026-11-02", "8", Approved, true),
            entry("a", "2026-11-03", "6", Posted, true),
            entry("a", "2026-11-04", "7", Submitted, true),
            entry("a", "2026-11-05", "5", Draft, true),
            entry("a", "2026-11-05", "4", Rejected, true),
            entry("a", "2026-11-06", "3", Approved, false),
            entry("a", "2026-11-09", "9", Approved, true),
        ];
        // Monday 2 to Friday 6 November: one working week, 40 hours.
        let period = Period::parse("2026-11-02", "2026-11-08").unwrap();
        let rows = by_person(&people, &entries, &period).unwrap();
        assert_eq!(rows[0].billable, Decimal::from(14));
        assert_eq!(rows[0].capacity, Decimal::from(40));
        assert_eq!(rows[0].utilization().as_deref(), Some("0.35"));
        assert_eq!(rows[0].target_text().as_deref(), Some("0.8"));
        assert_eq!(rows[0].variance().as_deref(), Some("-0.45"));
    }

    #[test]
    fn groups_sum_their_people_and_weight_targets_by_capacity() {
        let mut people = vec![
            person("a", "manager", "emea", "0.8"),
            person("b", "manager", "na", "0.6"),
            person("c", "director", "emea", "0.5"),
        ];
        people[1].weekly_capacity = Decimal::from(20);
        let entries = [
            entry("a", "2026-11-02", "30", psa::TimeEntryState::Posted, true),
            entry("b", "2026-11-02", "10", psa::TimeEntryState::Approved, true),
        ];
        let period = Period::parse("2026-11-02", "2026-11-06").unwrap();
        let rows = by_person(&people, &entries, &period).unwrap();
        let practices = rolled_up(&rows, |u| u.practice.clone(), true);
        let manager = practices.iter().find(|p| p.key == "manager").unwrap();
        assert_eq!(
            (manager.people, manager.billable, manager.capacity),
            (2, Decimal::from(40), Decimal::from(60))
        );
        assert_eq!(manager.utilization().as_deref(), Some("0.6667"));
        // (0.8 × 40 + 0.6 × 20) / 60
        assert_eq!(manager.target_text().as_deref(), Some("0.7333"));
        let regions = rolled_up(&rows, |u| u.region.clone(), false);
        let total: Decimal = regions.iter().map(|r| r.billable).sum();
        assert_eq!(total, Decimal::from(40));
        assert_eq!(regions.iter().map(|r| r.people).sum::<u32>(), 3);
    }

    #[test]
    fn an_assignment_takes_its_share_of_each_weekday_it_covers() {
        let people = [person("a", "manager", "emea", "0.8")];
        let assignment = psa::Assignment {
            id: "as-1".into(),
            employee_id: "a".into(),
            // Wednesday 4 to Tuesday 10 November at 50%.
            start_date: "2026-11-04".into(),
            end_date: "2026-11-10".into(),
            allocation_percent: "50".into(),
            ..Default::default()
        };
        let start = first_week(day("2026-10-29"));
        assert_eq!(start, day("2026-11-02"));
        assert_eq!(first_week(day("2026-11-02")), day("2026-11-02"));
        let rows = forecast(&people, &[assignment], start, 3).unwrap();
        let available: Vec<String> = rows.iter().map(|r| hours(r.available())).collect();
        // Three days at half of 8 hours, then two, then none.
        assert_eq!(available, ["28", "32", "40"]);
        assert_eq!(rows[0].assignments, ["as-1"]);
        assert!(rows[2].assignments.is_empty());
    }
}
