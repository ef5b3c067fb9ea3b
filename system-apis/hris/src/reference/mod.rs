//! The reference HRIS: employees persisted with sea-orm, each change in one transaction with
//! its audit entry, its idempotency record and its event; CSV imports in batches.

mod entities;
mod import;
mod migrations;
mod records;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::hris::{Candidate, Employee, ImportReport};
use keel_store::idempotency::run_once;
use prost::Message;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, QueryOrder, QuerySelect};
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::{HrisAdapter, ImportProgressSink};
use crate::domain::candidates::Profile;
use crate::domain::{
    CandidateQuery, Change, ChangeRequest, EmployeeChange, EmployeeFilter, EmployeeImport, NewEmployee,
};
use crate::{EMPLOYEE_CREATED, EMPLOYEE_UPDATED};
use entities::employee;
use records::StoredProfile;

/// Rows a candidate search reads per query.
const SEARCH_CHUNK: u64 = 200;

/// The persisted HRIS.
#[derive(Clone)]
pub struct ReferenceHris {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceHris {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceHris").finish_non_exhaustive()
    }
}

impl ReferenceHris {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceHris {
        ReferenceHris { db, relay_waker }
    }

    async fn apply<R: Message>(
        &self,
        actor: &str,
        key: &str,
        request: &R,
        change: EmployeeChange,
    ) -> Result<Employee, Error> {
        let scope = format!("hris.{}", change.operation());
        let actor = actor.to_string();
        let result = run_once(&self.db, &scope, key, request, move |txn| {
            Box::pin(async move {
                let id = change.id;
                let mut row = employee::Entity::find_by_id(id.to_string())
                    .one(txn)
                    .await
                    .map_err(keel_store::db_error)?
                    .ok_or_else(|| Error::not_found("employee", id.to_string()))?;
                if row.version != change.expected_version {
                    return Err(Error::stale(
                        "employee",
                        id.to_string(),
                        change.expected_version,
                        row.version,
                    ));
                }
                let before = records::snapshot(&row);
                let action = match &change.change {
                    Change::Details(d) => {
                        records::apply_details(&mut row, d, true);
                        "updated"
                    }
                    Change::Skills(s) => {
                        row.skills = records::to_json(s)?;
                        "skills_set"
                    }
                    Change::Certifications(c) => {
                        row.certifications = records::to_json(c)?;
                        "certifications_set"
                    }
                    Change::Languages(l) => {
                        row.languages = records::to_json(l)?;
                        "languages_set"
                    }
                    Change::Availability(a) => {
                        row.weekly_capacity_hours = a.weekly_capacity_hours.to_string();
                        row.time_off = records::to_json(&a.time_off)?;
                        "availability_set"
                    }
                };
                let changes = records::diff(&before, &records::snapshot(&row));
                if changes.is_empty() {
                    return records::to_proto(&row);
                }
                row.version += 1;
                row.updated_at = Utc::now();
                row.updated_by = actor.clone();
                records::save_versioned(txn, &row, change.expected_version).await?;
                records::record(
                    txn,
                    &actor,
                    &row,
                    action,
                    json!({ "version": row.version, "changes": changes }),
                    EMPLOYEE_UPDATED,
                )
                .await
            })
        })
        .await;
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }
}

#[async_trait]
impl HrisAdapter for ReferenceHris {
    async fn create_employee(&self, actor: &str, idempotency_key: &str, new: NewEmployee) -> Result<Employee, Error> {
        let request = new.to_request(idempotency_key);
        let actor = actor.to_string();
        let result = run_once(
            &self.db,
            "hris.create_employee",
            idempotency_key,
            &request,
            move |txn| {
                Box::pin(async move {
                    let taken = employee::Entity::find()
                        .filter(employee::Column::EmployeeNumber.eq(new.employee_number.clone()))
                        .one(txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    if taken.is_some() {
                        return Err(Error::AlreadyExists(format!(
                            "employee number {} is already on file",
                            new.employee_number
                        )));
                    }
                    let row = records::new_row(&new, &actor, Utc::now())?;
                    employee::Entity::insert(employee::ActiveModel::from(row.clone()))
                        .exec(txn)
                        .await
                        .map_err(|e| {
                            if keel_store::is_unique_violation(&e) {
                                Error::AlreadyExists(format!(
                                    "employee number {} is already on file",
                                    new.employee_number
                                ))
                            } else {
                                keel_store::db_error(e)
                            }
                        })?;
                    let detail = json!({ "version": 1, "employee": records::snapshot(&row) });
                    records::record(txn, &actor, &row, "created", detail, EMPLOYEE_CREATED).await
                })
            },
        )
        .await;
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }

    async fn get_employee(&self, id: Uuid) -> Result<Employee, Error> {
        let row = employee::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .map_err(keel_store::db_error)?
            .ok_or_else(|| Error::not_found("employee", id.to_string()))?;
        records::to_proto(&row)
    }

    async fn list_employees(&self, filter: EmployeeFilter, page: Page) -> Result<Vec<Employee>, Error> {
        let mut query = employee::Entity::find()
            .order_by_asc(employee::Column::Id)
            .limit(page.size);
        if let Some(after) = page.after {
            query = query.filter(employee::Column::Id.gt(after.to_string()));
        }
        if let Some(v) = filter.legal_entity {
            query = query.filter(employee::Column::LegalEntity.eq(v));
        }
        if let Some(v) = filter.region {
            query = query.filter(employee::Column::Region.eq(v));
        }
        if let Some(v) = filter.labor_category {
            query = query.filter(employee::Column::LaborCategory.eq(v));
        }
        let rows = query.all(&self.db).await.map_err(keel_store::db_error)?;
        rows.iter().map(records::to_proto).collect()
    }

    async fn update_employee(
        &self,
        actor: &str,
        idempotency_key: &str,
        change: EmployeeChange,
    ) -> Result<Employee, Error> {
        match change.to_request(idempotency_key) {
            ChangeRequest::Details(r) => self.apply(actor, idempotency_key, &r, change).await,
            ChangeRequest::Skills(r) => self.apply(actor, idempotency_key, &r, change).await,
            ChangeRequest::Certifications(r) => self.apply(actor, idempotency_key, &r, change).await,
            ChangeRequest::Languages(r) => self.apply(actor, idempotency_key, &r, change).await,
            ChangeRequest::Availability(r) => self.apply(actor, idempotency_key, &r, change).await,
        }
    }

    async fn find_candidates(&self, query: CandidateQuery, page: Page) -> Result<Vec<Candidate>, Error> {
        let mut found = Vec::new();
        let mut after = page.after.map(|id| id.to_string());
        loop {
            let mut select = employee::Entity::find()
                .filter(employee::Column::Active.eq(true))
                .order_by_asc(employee::Column::Id)
                .limit(SEARCH_CHUNK);
            if let Some(after) = &after {
                select = select.filter(employee::Column::Id.gt(after.clone()));
            }
            if let Some(region) = &query.region {
                select = select.filter(employee::Column::Region.eq(region.clone()));
            }
            let rows = select.all(&self.db).await.map_err(keel_store::db_error)?;
            for row in &rows {
                let p = StoredProfile::read(row)?;
                let profile = Profile {
                    active: row.active,
                    region: &row.region,
                    location: &row.location,
                    skills: &p.skills,
                    certifications: &p.certifications,
                    languages: &p.languages,
                    availability: &p.availability,
                };
                if let Some(hours) = query.matches(&profile) {
                    found.push(Candidate {
                        employee: Some(records::to_proto(row)?),
                        available_hours: hours.to_string(),
                    });
                    if found.len() as u64 == page.size {
                        return Ok(found);
                    }
                }
            }
            if (rows.len() as u64) < SEARCH_CHUNK {
                return Ok(found);
            }
            after = rows.last().map(|r| r.id.clone());
        }
    }

    async fn import_employees(
        &self,
        actor: &str,
        idempotency_key: &str,
        import: EmployeeImport,
        progress: ImportProgressSink,
    ) -> Result<ImportReport, Error> {
        import::run(self, actor, idempotency_key, import, progress).await
    }
}
