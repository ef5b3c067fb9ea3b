//! The reference PSA: a complete [`PsaAdapter`] persisted with sea-orm on SQLite or
//! PostgreSQL, so Keel runs without a vendor PSA.
//!
//! Every change runs inside [`keel_store::idempotency::run_once`]: the records and their
//! audit entry are written in one transaction with the stored response, so a replay returns
//! the first result and changes nothing. The PSA publishes no events yet.

mod entities;
mod migrations;
mod projects;
mod templates;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::common::PageResponse;
use keel_proto::psa::{DeliveryTemplate, ListProjectsResponse, Project};
use keel_store::idempotency::run_once;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio::sync::Notify;
use uuid::Uuid;

pub use templates::MAX_TEMPLATES;

use crate::adapter::PsaAdapter;
use crate::domain::{NewProject, NewTemplate, ProjectLookup};

/// Idempotency scopes of the PSA's changes.
const UPSERT_TEMPLATE_SCOPE: &str = "psa.upsert_delivery_template";
const CREATE_PROJECT_SCOPE: &str = "psa.create_project";

/// The reference PSA's migrations: the shared tables (idempotency keys, audit log, outbox,
/// inbox), then delivery templates and projects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = keel_store::migrations::platform();
        all.extend(keel_events::migrations::events());
        all.extend(migrations::psa());
        all
    }
}

/// The reference adapter. Holds only its database and the relay waker.
#[derive(Debug, Clone)]
pub struct ReferencePsa {
    db: DatabaseConnection,
    #[expect(
        dead_code,
        reason = "the PSA contract emits no events yet; the waker is wired for when it does"
    )]
    relay_waker: Arc<Notify>,
}

impl ReferencePsa {
    /// An adapter over `db`, migrated with [`Migrator`]. `relay_waker` is notified after a
    /// commit that wrote an event to the outbox.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferencePsa {
        ReferencePsa { db, relay_waker }
    }
}

/// Now, to the microsecond both databases keep, so a created record and its read-back agree.
fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// On SQLite, takes the database's write lock before the change reads anything, as
/// `BEGIN IMMEDIATE` would: a deferred transaction that reads first and then writes fails at
/// once (`SQLITE_BUSY`) when another writer committed in between, while waiting for the lock
/// up front lets the busy timeout queue concurrent writers. PostgreSQL needs nothing: row
/// locks, the unique constraints and the audit log's table lock order its writers.
async fn take_write_lock<C: ConnectionTrait>(txn: &C) -> Result<(), Error> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        // A write that touches no row still starts the write transaction.
        txn.execute_unprepared("UPDATE delivery_templates SET version = version WHERE 1 = 0")
            .await
            .map_err(keel_store::db_error)?;
    }
    Ok(())
}

#[async_trait]
impl PsaAdapter for ReferencePsa {
    async fn upsert_delivery_template(&self, actor: &str, template: NewTemplate) -> Result<DeliveryTemplate, Error> {
        let request = template.to_request();
        let actor = actor.to_string();
        let key = template.idempotency_key.clone();
        run_once(&self.db, UPSERT_TEMPLATE_SCOPE, &key, &request, move |txn| {
            Box::pin(async move {
                take_write_lock(txn).await?;
                templates::upsert(txn, &actor, &template.template, now()).await
            })
        })
        .await
    }

    async fn list_delivery_templates(&self) -> Result<Vec<DeliveryTemplate>, Error> {
        templates::list(&self.db).await
    }

    async fn create_project(&self, actor: &str, project: NewProject) -> Result<Project, Error> {
        let request = project.to_request();
        let actor = actor.to_string();
        let key = project.idempotency_key.clone();
        run_once(&self.db, CREATE_PROJECT_SCOPE, &key, &request, move |txn| {
            Box::pin(async move {
                take_write_lock(txn).await?;
                projects::create(txn, &actor, &project, now()).await
            })
        })
        .await
    }

    async fn get_project(&self, lookup: ProjectLookup) -> Result<Project, Error> {
        let found = match lookup {
            ProjectLookup::Id(id) => projects::get_by_id(&self.db, id).await?,
            ProjectLookup::OpportunityId(opportunity_id) => {
                projects::get_by_opportunity(&self.db, opportunity_id).await?
            }
        };
        match (found, lookup) {
            (Some(record), _) => record.to_proto(),
            (None, ProjectLookup::Id(id)) => Err(Error::not_found("project", id.to_string())),
            (None, ProjectLookup::OpportunityId(id)) => {
                Err(Error::not_found("project for opportunity", id.to_string()))
            }
        }
    }

    async fn list_projects(&self, page: Page) -> Result<ListProjectsResponse, Error> {
        let records = projects::list(&self.db, page.after, page.size).await?;
        let projects = records
            .iter()
            .map(|record| record.to_proto())
            .collect::<Result<Vec<_>, Error>>()?;
        let last = projects
            .last()
            .map(|p| Uuid::parse_str(&p.id))
            .transpose()
            .map_err(Error::internal)?;
        let next_page_token = page.next_token(projects.len(), last);
        Ok(ListProjectsResponse {
            projects,
            page: Some(PageResponse { next_page_token }),
        })
    }
}
