//! Employee rows: conversions to the contract, applying checked changes, the audit diff and
//! the versioned write.

use chrono::{DateTime, Utc};
use keel_core::{Currency, Error, Money};
use keel_events::{EventEnvelope, outbox};
use keel_proto::hris::Employee;
use keel_store::audit::{self, AuditEntry};
use rust_decimal::Decimal;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::NotSet, ConnectionTrait};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::entities::employee;
use crate::SERVICE_NAME;
use crate::domain::profile::{self, Availability, Certification, Language, Skill, TimeOff};
use crate::domain::{EmployeeDetails, ImportColumns, NewEmployee};

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(Error::internal)
}

fn decimal(text: &str) -> Result<Decimal, Error> {
    text.parse::<Decimal>().map_err(Error::internal)
}

/// The stored profile, read back into checked values.
pub(crate) struct StoredProfile {
    pub skills: Vec<Skill>,
    pub certifications: Vec<Certification>,
    pub languages: Vec<Language>,
    pub availability: Availability,
}

impl StoredProfile {
    pub fn read(row: &employee::Model) -> Result<StoredProfile, Error> {
        Ok(StoredProfile {
            skills: from_json(&row.skills)?,
            certifications: from_json(&row.certifications)?,
            languages: from_json(&row.languages)?,
            availability: Availability {
                weekly_capacity_hours: decimal(&row.weekly_capacity_hours)?,
                time_off: from_json::<Vec<TimeOff>>(&row.time_off)?,
            },
        })
    }
}

pub(crate) fn to_proto(row: &employee::Model) -> Result<Employee, Error> {
    let currency = Currency::parse(&row.currency).map_err(Error::internal)?;
    let p = StoredProfile::read(row)?;
    Ok(Employee {
        id: row.id.clone(),
        employee_number: row.employee_number.clone(),
        name: row.name.clone(),
        email: row.email.clone(),
        legal_entity: row.legal_entity.clone(),
        location: row.location.clone(),
        region: row.region.clone(),
        labor_category: row.labor_category.clone(),
        cost_rate: Some(Money::from_minor_units(row.cost_rate_minor, currency).to_proto()),
        utilization_target: row.utilization_target.clone(),
        manager_employee_number: row.manager_employee_number.clone(),
        active: row.active,
        skills: p.skills.iter().map(profile::skill_to_proto).collect(),
        certifications: p.certifications.iter().map(profile::certification_to_proto).collect(),
        languages: p.languages.iter().map(profile::language_to_proto).collect(),
        weekly_capacity_hours: row.weekly_capacity_hours.clone(),
        time_off: p.availability.time_off.iter().map(profile::time_off_to_proto).collect(),
        version: row.version,
        audit: Some(keel_core::time::audit_info(
            row.created_at,
            &row.created_by,
            row.updated_at,
            &row.updated_by,
        )),
    })
}

/// A row for a new employee at version 1.
pub(crate) fn new_row(new: &NewEmployee, actor: &str, now: DateTime<Utc>) -> Result<employee::Model, Error> {
    let mut row = employee::Model {
        id: keel_core::ids::new_id().to_string(),
        employee_number: new.employee_number.clone(),
        name: String::new(),
        email: String::new(),
        legal_entity: String::new(),
        location: String::new(),
        region: String::new(),
        labor_category: String::new(),
        cost_rate_minor: 0,
        currency: String::new(),
        utilization_target: String::new(),
        manager_employee_number: String::new(),
        active: true,
        skills: to_json(&new.skills)?,
        certifications: to_json(&new.certifications)?,
        languages: to_json(&new.languages)?,
        time_off: "[]".into(),
        weekly_capacity_hours: new.weekly_capacity_hours.to_string(),
        version: 1,
        created_at: now,
        created_by: actor.to_string(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    apply_details(&mut row, &new.details, true);
    Ok(row)
}

/// Replaces the details; `manager_and_active: false` keeps the row's manager and flag (an
/// import whose file lacks those columns).
pub(crate) fn apply_details(row: &mut employee::Model, d: &EmployeeDetails, manager_and_active: bool) {
    row.name = d.name.clone();
    row.email = d.email.clone();
    row.legal_entity = d.legal_entity.clone();
    row.location = d.location.clone();
    row.region = d.region.clone();
    row.labor_category = d.labor_category.clone();
    row.cost_rate_minor = d.cost_rate.to_minor_units();
    row.currency = d.cost_rate.currency().code().to_string();
    row.utilization_target = d.utilization_target.to_string();
    if manager_and_active {
        row.manager_employee_number = d.manager_employee_number.clone();
        row.active = d.active;
    }
}

/// Applies an imported row to an existing employee, leaving alone what the file lacks.
pub(crate) fn apply_import(row: &mut employee::Model, new: &NewEmployee, columns: &ImportColumns) -> Result<(), Error> {
    let manager = row.manager_employee_number.clone();
    let active = row.active;
    apply_details(row, &new.details, true);
    if !columns.manager_employee_number {
        row.manager_employee_number = manager;
    }
    if !columns.active {
        row.active = active;
    }
    if columns.skills {
        row.skills = to_json(&new.skills)?;
    }
    if columns.certifications {
        row.certifications = to_json(&new.certifications)?;
    }
    if columns.languages {
        row.languages = to_json(&new.languages)?;
    }
    if columns.weekly_capacity_hours {
        row.weekly_capacity_hours = new.weekly_capacity_hours.to_string();
    }
    Ok(())
}

/// The fields an audit entry compares.
pub(crate) fn snapshot(row: &employee::Model) -> Map<String, Value> {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.into()));
    let cost_rate = Currency::parse(&row.currency)
        .map(|c| Money::from_minor_units(row.cost_rate_minor, c).amount().to_string())
        .unwrap_or_default();
    let mut map = Map::new();
    for (field, value) in [
        ("employee_number", json!(row.employee_number)),
        ("name", json!(row.name)),
        ("email", json!(row.email)),
        ("legal_entity", json!(row.legal_entity)),
        ("location", json!(row.location)),
        ("region", json!(row.region)),
        ("labor_category", json!(row.labor_category)),
        ("cost_rate", json!(cost_rate)),
        ("currency", json!(row.currency)),
        ("utilization_target", json!(row.utilization_target)),
        ("manager_employee_number", json!(row.manager_employee_number)),
        ("active", json!(row.active)),
        ("skills", parsed(&row.skills)),
        ("certifications", parsed(&row.certifications)),
        ("languages", parsed(&row.languages)),
        ("time_off", parsed(&row.time_off)),
        ("weekly_capacity_hours", json!(row.weekly_capacity_hours)),
    ] {
        map.insert(field.to_string(), value);
    }
    map
}

/// `{field: {"before": .., "after": ..}}` for each field that changed.
pub(crate) fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut changes = Map::new();
    for (field, new) in after {
        let old = before.get(field).unwrap_or(&Value::Null);
        if old != new {
            changes.insert(field.clone(), json!({ "before": old, "after": new }));
        }
    }
    changes
}

/// Writes `row` (already at its new version) if the stored one is still at `expected`.
pub(crate) async fn save_versioned<C: ConnectionTrait>(
    txn: &C,
    row: &employee::Model,
    expected: i64,
) -> Result<(), Error> {
    let mut update = employee::ActiveModel::from(row.clone()).reset_all();
    update.id = NotSet;
    update.created_at = NotSet;
    update.created_by = NotSet;
    let result = employee::Entity::update_many()
        .set(update)
        .filter(employee::Column::Id.eq(row.id.clone()))
        .filter(employee::Column::Version.eq(expected))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    let actual = employee::Entity::find_by_id(row.id.clone())
        .one(txn)
        .await
        .map_err(keel_store::db_error)?
        .map_or(0, |r| r.version);
    Err(Error::stale("employee", row.id.clone(), expected, actual))
}

/// The audit entry and the event for a change to `row`, in the caller's transaction.
pub(crate) async fn record<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    row: &employee::Model,
    action: &str,
    detail: Value,
    event_type: &str,
) -> Result<Employee, Error> {
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "employee",
            record_id: &row.id,
            action,
            detail,
        },
    )
    .await?;
    let employee = to_proto(row)?;
    let mut event = EventEnvelope::new(event_type, SERVICE_NAME, &row.id, &employee);
    keel_telemetry::inject_headers(&tracing::Span::current(), &mut event.headers);
    outbox::enqueue(txn, &event).await?;
    Ok(employee)
}
