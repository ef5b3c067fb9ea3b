//! Budget burn: approved and posted time by role against the project's baseline. Amounts are
//! sums of the entries' exact amounts, rounded once to the currency's minor unit.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use keel_core::{Currency, Error, Money};
use keel_proto::psa::{ProjectActuals, RoleActuals};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::ConnectionTrait;

use super::entities::time_entry;
use super::{projects, time_entries};
use crate::domain::decimal_text;

#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    baseline_hours: Decimal,
    baseline_amount: Decimal,
    approved_hours: Decimal,
    approved_amount: Decimal,
    posted_hours: Decimal,
    posted_amount: Decimal,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.baseline_hours += other.baseline_hours;
        self.baseline_amount += other.baseline_amount;
        self.approved_hours += other.approved_hours;
        self.approved_amount += other.approved_amount;
        self.posted_hours += other.posted_hours;
        self.posted_amount += other.posted_amount;
    }

    fn to_proto(self, role: &str, currency: Currency) -> Result<RoleActuals, Error> {
        let money = |amount: Decimal| -> Result<keel_proto::common::Money, Error> {
            let rounded =
                amount.round_dp_with_strategy(currency.minor_unit_digits(), RoundingStrategy::MidpointNearestEven);
            Ok(Money::new(rounded, currency).map_err(Error::internal)?.to_proto())
        };
        Ok(RoleActuals {
            role: role.to_string(),
            baseline_hours: decimal_text(self.baseline_hours),
            baseline_amount: Some(money(self.baseline_amount)?),
            approved_hours: decimal_text(self.approved_hours),
            approved_amount: Some(money(self.approved_amount)?),
            posted_hours: decimal_text(self.posted_hours),
            posted_amount: Some(money(self.posted_amount)?),
            remaining_hours: decimal_text(self.baseline_hours - self.approved_hours - self.posted_hours),
            remaining_amount: Some(money(self.baseline_amount - self.approved_amount - self.posted_amount)?),
        })
    }
}

fn decimal(text: &str) -> Result<Decimal, Error> {
    Decimal::from_str(text).map_err(Error::internal)
}

pub(crate) async fn get<C: ConnectionTrait>(db: &C, project_id: &str) -> Result<ProjectActuals, Error> {
    let record = projects::load(db, project_id).await?;
    let entries = time_entries::of_project_in(db, project_id, &time_entries::ACTUAL_STATES).await?;
    of_record(&record, &entries)
}

/// The actuals of the projects of `ids` that exist, in the order asked: three reads whatever the
/// count (the projects with their budget lines, and their approved and posted entries).
pub(crate) async fn of_projects<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<ProjectActuals>, Error> {
    let records = projects::of_ids(db, ids).await?;
    let entries = time_entries::of_projects_in(db, ids, &time_entries::ACTUAL_STATES).await?;
    let mut by_project: HashMap<String, Vec<time_entry::Model>> = HashMap::new();
    for entry in entries {
        by_project.entry(entry.project_id.clone()).or_default().push(entry);
    }
    let records: HashMap<&str, &projects::ProjectRecord> = records.iter().map(|r| (r.project.id.as_str(), r)).collect();
    let mut all = Vec::with_capacity(records.len());
    for id in ids {
        if let Some(record) = records.get(id.as_str()) {
            let entries = by_project.get(id).map(Vec::as_slice).unwrap_or_default();
            all.push(of_record(record, entries)?);
        }
    }
    Ok(all)
}

fn of_record(record: &projects::ProjectRecord, entries: &[time_entry::Model]) -> Result<ProjectActuals, Error> {
    let project_id = record.project.id.as_str();
    let currency = Currency::parse(&record.project.currency).map_err(Error::internal)?;
    let mut lines = record.budget_lines.clone();
    lines.sort_by_key(|l| l.position);
    let mut order: Vec<String> = Vec::new();
    let mut by_role: BTreeMap<String, Sums> = BTreeMap::new();
    for line in &lines {
        let sums = by_role.entry(line.role.clone()).or_insert_with(|| {
            order.push(line.role.clone());
            Sums::default()
        });
        sums.baseline_hours += decimal(&line.hours)?;
        sums.baseline_amount += Money::from_minor_units(line.amount_minor, currency).amount();
    }
    let mut extra: Vec<String> = Vec::new();
    for entry in entries {
        let sums = by_role.entry(entry.role.clone()).or_insert_with(|| {
            extra.push(entry.role.clone());
            Sums::default()
        });
        let hours = decimal(&entry.hours)?;
        let amount = decimal(&entry.exact_amount)?;
        if entry.state == time_entries::POSTED_STATE {
            sums.posted_hours += hours;
            sums.posted_amount += amount;
        } else {
            sums.approved_hours += hours;
            sums.approved_amount += amount;
        }
    }
    extra.sort();
    order.extend(extra);
    let mut total = Sums::default();
    let mut roles = Vec::with_capacity(order.len());
    for role in &order {
        let sums = by_role.get(role).copied().unwrap_or_default();
        total.add(&sums);
        roles.push(sums.to_proto(role, currency)?);
    }
    Ok(ProjectActuals {
        project_id: project_id.to_string(),
        roles,
        total: Some(total.to_proto("", currency)?),
    })
}
