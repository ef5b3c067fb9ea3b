//! Reconciliation reports in billing's own tables: one row per run, one per difference it
//! found. A run's rows are written by its `compare` step in one transaction (a retried step
//! replaces them), and each difference later carries the exception-queue instance raised for
//! it.

use chrono::Utc;
use keel_core::Error;
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, PaginatorTrait, QueryOrder, QuerySelect};
use serde_json::json;

use crate::reconcile::Difference;

/// The audit record type of runs.
pub const RECORD_TYPE: &str = "reconciliation_run";

pub mod run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reconciliation_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Empty: every project.
        pub project_id: String,
        pub requested_by: String,
        pub created_at: DateTimeUtc,
        pub compared_at: Option<DateTimeUtc>,
        pub projects_compared: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod difference {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reconciliation_differences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub run_id: String,
        pub position: i32,
        pub identity: String,
        pub project_id: String,
        pub kind: String,
        pub record_type: String,
        pub record_id: String,
        pub psa_value: String,
        pub erp_value: String,
        pub message: String,
        /// The `reconciliation-difference` instance raised for it.
        pub exception_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records a requested run (inside the caller's transaction), audited.
pub async fn create_run<C: ConnectionTrait>(db: &C, id: &str, project_id: &str, actor: &str) -> Result<(), Error> {
    run::Entity::insert(run::ActiveModel {
        id: Set(id.to_string()),
        project_id: Set(project_id.to_string()),
        requested_by: Set(actor.to_string()),
        created_at: Set(Utc::now()),
        compared_at: Set(None),
        projects_compared: Set(0),
    })
    .exec(db)
    .await
    .map_err(db_error)?;
    audit::append(
        db,
        AuditEntry {
            actor,
            record_type: RECORD_TYPE,
            record_id: id,
            action: "requested",
            detail: json!({ "project_id": project_id }),
        },
    )
    .await
}

pub async fn find_run(db: &DatabaseConnection, id: &str) -> Result<Option<run::Model>, Error> {
    run::Entity::find_by_id(id.to_string()).one(db).await.map_err(db_error)
}

/// Stores what a run's comparison found, replacing what an earlier attempt stored.
pub async fn store_comparison(
    db: &DatabaseConnection,
    run_id: &str,
    projects_compared: usize,
    differences: &[Difference],
    actor: &str,
) -> Result<(), Error> {
    let txn = keel_store::begin_write(db).await?;
    difference::Entity::delete_many()
        .filter(difference::Column::RunId.eq(run_id))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    let rows: Vec<difference::ActiveModel> = differences
        .iter()
        .enumerate()
        .map(|(position, d)| {
            Ok(difference::ActiveModel::from(difference::Model {
                id: keel_core::ids::new_id().to_string(),
                run_id: run_id.to_string(),
                position: i32::try_from(position).map_err(Error::internal)?,
                identity: d.identity(),
                project_id: d.project_id.clone(),
                kind: d.kind.as_str().to_string(),
                record_type: d.record_type.clone(),
                record_id: d.record_id.clone(),
                psa_value: d.psa_value.clone(),
                erp_value: d.erp_value.clone(),
                message: d.message.clone(),
                exception_id: None,
            }))
        })
        .collect::<Result<_, Error>>()?;
    // Inserted in chunks: one statement stays under the databases' bound-parameter limits.
    for chunk in rows.chunks(500) {
        difference::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await
            .map_err(db_error)?;
    }
    let compared = i32::try_from(projects_compared).map_err(Error::internal)?;
    let changed = run::Entity::update_many()
        .col_expr(run::Column::ComparedAt, Expr::value(Some(Utc::now())))
        .col_expr(run::Column::ProjectsCompared, Expr::value(compared))
        .filter(run::Column::Id.eq(run_id))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    if changed.rows_affected != 1 {
        return Err(Error::internal(format!("reconciliation run {run_id} is not recorded")));
    }
    audit::append(
        &txn,
        AuditEntry {
            actor,
            record_type: RECORD_TYPE,
            record_id: run_id,
            action: "compared",
            detail: json!({ "projects_compared": projects_compared, "differences": differences.len() }),
        },
    )
    .await?;
    txn.commit().await.map_err(db_error)
}

/// A run's differences, in the order found: all of them, or the first `limit`.
pub async fn differences_of(
    db: &DatabaseConnection,
    run_id: &str,
    limit: Option<u64>,
) -> Result<Vec<difference::Model>, Error> {
    difference::Entity::find()
        .filter(difference::Column::RunId.eq(run_id))
        .order_by_asc(difference::Column::Position)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_error)
}

/// How many differences a run found.
pub async fn count_differences(db: &DatabaseConnection, run_id: &str) -> Result<u64, Error> {
    difference::Entity::find()
        .filter(difference::Column::RunId.eq(run_id))
        .count(db)
        .await
        .map_err(db_error)
}

/// Records the exception-queue instance raised for a difference.
pub async fn set_exception(db: &DatabaseConnection, difference_id: &str, instance_id: &str) -> Result<(), Error> {
    difference::Entity::update_many()
        .col_expr(
            difference::Column::ExceptionId,
            Expr::value(Some(instance_id.to_string())),
        )
        .filter(difference::Column::Id.eq(difference_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The differences each project's latest compared run found (a run of that project, or of
/// every project, whichever was compared last), in the order found (by id), the first `limit`
/// after the difference `after`.
pub async fn latest_differences(
    db: &DatabaseConnection,
    after: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<difference::Model>, Error> {
    let runs = run::Entity::find()
        .filter(run::Column::ComparedAt.is_not_null())
        .order_by_asc(run::Column::ComparedAt)
        .all(db)
        .await
        .map_err(db_error)?;
    let Some(scope) = latest_scope(&runs) else {
        return Ok(Vec::new());
    };
    let mut query = difference::Entity::find()
        .filter(scope)
        .order_by_asc(difference::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(difference::Column::Id.gt(after.to_string()));
    }
    query.all(db).await.map_err(db_error)
}

/// Which stored differences are the latest of their project, given every compared run in the
/// order compared: `None` when there is none.
fn latest_scope(runs: &[run::Model]) -> Option<sea_orm::Condition> {
    use sea_orm::Condition;
    let whole = runs.iter().rposition(|r| r.project_id.is_empty());
    // Per project, its latest run compared after the latest run of every project.
    let mut own: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for run in &runs[whole.map_or(0, |w| w + 1)..] {
        if !run.project_id.is_empty() {
            own.insert(&run.project_id, &run.id);
        }
    }
    if whole.is_none() && own.is_empty() {
        return None;
    }
    let mut scope = Condition::any();
    for (project, run_id) in &own {
        scope = scope.add(
            Condition::all()
                .add(difference::Column::RunId.eq(*run_id))
                .add(difference::Column::ProjectId.eq(*project)),
        );
    }
    if let Some(whole) = whole {
        let mut of_whole = Condition::all().add(difference::Column::RunId.eq(runs[whole].id.clone()));
        if !own.is_empty() {
            of_whole = of_whole.add(difference::Column::ProjectId.is_not_in(own.keys().map(|p| String::from(*p))));
        }
        scope = scope.add(of_whole);
    }
    Some(scope)
}
