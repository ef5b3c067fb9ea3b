//! Storing projects: a `projects` row and its children (phases, tasks, milestones, budget
//! lines), written together and read back into the contract's `Project`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use keel_core::{Currency, Error, Money};
use keel_proto::psa::{BudgetBaseline, BudgetLine, Milestone, Phase, Project, ProjectStatus, Task};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect, TransactionSession, TransactionTrait};
use uuid::Uuid;

use super::entities::{project, project_budget_line, project_milestone, project_phase, project_task};
use super::templates;
use crate::domain::{NewProject, ProjectPlan, ProjectStatusChange, decimal_text};

/// A project with all its child rows.
#[derive(Debug, Clone)]
pub(crate) struct ProjectRecord {
    pub(crate) project: project::Model,
    pub(crate) phases: Vec<project_phase::Model>,
    pub(crate) tasks: Vec<project_task::Model>,
    pub(crate) milestones: Vec<project_milestone::Model>,
    pub(crate) budget_lines: Vec<project_budget_line::Model>,
}

/// `planned`, the status of a new project.
const PLANNED: &str = "planned";

fn status(text: &str) -> ProjectStatus {
    match text {
        PLANNED => ProjectStatus::Planned,
        "active" => ProjectStatus::Active,
        "on_hold" => ProjectStatus::OnHold,
        "closed" => ProjectStatus::Closed,
        _ => ProjectStatus::Unspecified,
    }
}

/// The stored text of a status.
fn status_text(status: ProjectStatus) -> &'static str {
    match status {
        ProjectStatus::Planned => PLANNED,
        ProjectStatus::Active => "active",
        ProjectStatus::OnHold => "on_hold",
        ProjectStatus::Closed => "closed",
        ProjectStatus::Unspecified => "unspecified",
    }
}

fn position(index: usize) -> Result<i32, Error> {
    i32::try_from(index).map_err(Error::internal)
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

impl ProjectRecord {
    /// The rows of a new project planned from a template.
    fn plan(
        id: Uuid,
        input: &NewProject,
        template_version: u32,
        plan: ProjectPlan,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ProjectRecord, Error> {
        let project_id = id.to_string();
        let currency = input.contract_value.currency().code().to_string();
        let project = project::Model {
            id: project_id.clone(),
            opportunity_id: input.opportunity_id.to_string(),
            account_id: input.account_id.to_string(),
            name: input.name.clone(),
            status: PLANNED.to_string(),
            template_id: input.template_id.as_str().to_string(),
            template_version: i32::try_from(template_version).map_err(Error::internal)?,
            service_line: input.selector.service_line.clone(),
            contract_type: input.selector.contract_type.clone(),
            region: input.selector.region.clone(),
            client_tier: input.selector.client_tier.clone(),
            currency: currency.clone(),
            contract_value_minor: input.contract_value.to_minor_units(),
            start_date: input.start_date,
            total_hours: decimal_text(plan.baseline.total_hours),
            version: 1,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
        };
        let mut phases = Vec::with_capacity(plan.phases.len());
        let mut tasks = Vec::new();
        for (p, phase) in plan.phases.into_iter().enumerate() {
            let phase_position = position(p)?;
            for (t, task) in phase.tasks.into_iter().enumerate() {
                tasks.push(project_task::Model {
                    project_id: project_id.clone(),
                    phase_position,
                    position: position(t)?,
                    name: task.name,
                    role: task.role,
                    planned_hours: decimal_text(task.planned_hours),
                });
            }
            phases.push(project_phase::Model {
                project_id: project_id.clone(),
                position: phase_position,
                name: phase.name,
            });
        }
        let milestones = plan
            .milestones
            .into_iter()
            .enumerate()
            .map(|(m, milestone)| {
                Ok(project_milestone::Model {
                    project_id: project_id.clone(),
                    position: position(m)?,
                    name: milestone.name,
                    currency: milestone.amount.currency().code().to_string(),
                    amount_minor: milestone.amount.to_minor_units(),
                    due_date: milestone.due_date,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let budget_lines = plan
            .baseline
            .lines
            .into_iter()
            .enumerate()
            .map(|(l, line)| {
                Ok(project_budget_line::Model {
                    project_id: project_id.clone(),
                    position: position(l)?,
                    role: line.role,
                    hours: decimal_text(line.hours),
                    currency: line.amount.currency().code().to_string(),
                    amount_minor: line.amount.to_minor_units(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(ProjectRecord {
            project,
            phases,
            tasks,
            milestones,
            budget_lines,
        })
    }

    /// The contract's `Project`.
    pub(crate) fn to_proto(&self) -> Result<Project, Error> {
        let p = &self.project;
        let money = |minor: i64, code: &str| -> Result<Money, Error> {
            let currency = Currency::parse(code)
                .map_err(|e| Error::internal(format!("project {} holds currency {code:?}: {e}", p.id)))?;
            Ok(Money::from_minor_units(minor, currency))
        };
        let mut phases: Vec<&project_phase::Model> = self.phases.iter().collect();
        phases.sort_by_key(|phase| phase.position);
        let mut tasks: Vec<&project_task::Model> = self.tasks.iter().collect();
        tasks.sort_by_key(|task| (task.phase_position, task.position));
        let mut milestones: Vec<&project_milestone::Model> = self.milestones.iter().collect();
        milestones.sort_by_key(|milestone| milestone.position);
        let mut lines: Vec<&project_budget_line::Model> = self.budget_lines.iter().collect();
        lines.sort_by_key(|line| line.position);
        let contract_value = money(p.contract_value_minor, &p.currency)?.to_proto();
        Ok(Project {
            id: p.id.clone(),
            opportunity_id: p.opportunity_id.clone(),
            account_id: p.account_id.clone(),
            name: p.name.clone(),
            status: status(&p.status) as i32,
            template_id: p.template_id.clone(),
            template_version: u32::try_from(p.template_version).map_err(Error::internal)?,
            service_line: p.service_line.clone(),
            contract_type: p.contract_type.clone(),
            region: p.region.clone(),
            client_tier: p.client_tier.clone(),
            contract_value: Some(contract_value.clone()),
            start_date: date_text(p.start_date),
            phases: phases
                .iter()
                .map(|phase| Phase {
                    name: phase.name.clone(),
                    tasks: tasks
                        .iter()
                        .filter(|task| task.phase_position == phase.position)
                        .map(|task| Task {
                            name: task.name.clone(),
                            role: task.role.clone(),
                            planned_hours: task.planned_hours.clone(),
                        })
                        .collect(),
                })
                .collect(),
            milestones: milestones
                .iter()
                .map(|m| {
                    Ok(Milestone {
                        name: m.name.clone(),
                        amount: Some(money(m.amount_minor, &m.currency)?.to_proto()),
                        due_date: date_text(m.due_date),
                        id: (m.position + 1).to_string(),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?,
            budget_baseline: Some(BudgetBaseline {
                lines: lines
                    .iter()
                    .map(|line| {
                        Ok(BudgetLine {
                            role: line.role.clone(),
                            hours: line.hours.clone(),
                            amount: Some(money(line.amount_minor, &line.currency)?.to_proto()),
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()?,
                total_hours: p.total_hours.clone(),
                total: Some(contract_value),
            }),
            version: p.version,
            audit: Some(keel_core::time::audit_info(
                p.created_at,
                &p.created_by,
                p.updated_at,
                &p.updated_by,
            )),
        })
    }

    /// Writes every row inside the caller's transaction.
    async fn insert<C: ConnectionTrait>(&self, txn: &C) -> Result<(), sea_orm::DbErr> {
        project::Entity::insert(project::ActiveModel::from(self.project.clone()))
            .exec_without_returning(txn)
            .await?;
        project_phase::Entity::insert_many(self.phases.iter().cloned().map(project_phase::ActiveModel::from))
            .exec_without_returning(txn)
            .await?;
        project_task::Entity::insert_many(self.tasks.iter().cloned().map(project_task::ActiveModel::from))
            .exec_without_returning(txn)
            .await?;
        project_milestone::Entity::insert_many(
            self.milestones
                .iter()
                .cloned()
                .map(project_milestone::ActiveModel::from),
        )
        .exec_without_returning(txn)
        .await?;
        project_budget_line::Entity::insert_many(
            self.budget_lines
                .iter()
                .cloned()
                .map(project_budget_line::ActiveModel::from),
        )
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }
}

/// The project made from `opportunity_id`, if any.
async fn find_by_opportunity<C: ConnectionTrait>(
    db: &C,
    opportunity_id: Uuid,
) -> Result<Option<project::Model>, Error> {
    project::Entity::find()
        .filter(project::Column::OpportunityId.eq(opportunity_id.to_string()))
        .one(db)
        .await
        .map_err(db_error)
}

fn already_exists(opportunity_id: Uuid, existing: &project::Model) -> Error {
    Error::AlreadyExists(format!(
        "opportunity {opportunity_id} already has project {}",
        existing.id
    ))
}

/// Creates the project inside the caller's transaction (see [`crate::PsaAdapter::create_project`]).
pub(crate) async fn create<C: ConnectionTrait + TransactionTrait>(
    txn: &C,
    actor: &str,
    input: &NewProject,
    now: DateTime<Utc>,
) -> Result<Project, Error> {
    if let Some(existing) = find_by_opportunity(txn, input.opportunity_id).await? {
        return Err(already_exists(input.opportunity_id, &existing));
    }
    let template = templates::find(txn, input.template_id.as_str()).await?.ok_or_else(|| {
        Error::FailedPrecondition(format!(
            "delivery template {:?} does not exist; upsert it before creating projects from it",
            input.template_id.as_str()
        ))
    })?;
    let (spec, template_version) = templates::to_spec(&template)?;
    let plan = ProjectPlan::instantiate(&spec, input.contract_value, input.start_date)?;
    let id = keel_core::ids::new_id();
    let record = ProjectRecord::plan(id, input, template_version, plan, actor, now)?;

    // A savepoint, so that losing a race for the opportunity leaves the transaction usable
    // for reading the winner.
    let savepoint = txn.begin().await.map_err(db_error)?;
    match record.insert(&savepoint).await {
        Ok(()) => savepoint.commit().await.map_err(db_error)?,
        Err(e) if keel_store::is_unique_violation(&e) => {
            savepoint.rollback().await.map_err(db_error)?;
            return match find_by_opportunity(txn, input.opportunity_id).await? {
                Some(existing) => Err(already_exists(input.opportunity_id, &existing)),
                None => Err(db_error(e)),
            };
        }
        Err(e) => return Err(db_error(e)),
    }

    let project = record.to_proto()?;
    let contract_value = input.contract_value.to_proto();
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "project",
            record_id: &project.id,
            action: "created",
            detail: serde_json::json!({
                "opportunity_id": project.opportunity_id,
                "template_id": project.template_id,
                "template_version": project.template_version,
                "contract_value": { "amount": contract_value.amount, "currency": contract_value.currency },
                "start_date": project.start_date,
            }),
        },
    )
    .await?;
    Ok(project)
}

/// The projects among `rows` with their children, in the order of `rows`.
async fn with_children<C: ConnectionTrait>(db: &C, rows: Vec<project::Model>) -> Result<Vec<ProjectRecord>, Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let phases = project_phase::Entity::find()
        .filter(project_phase::Column::ProjectId.is_in(ids.clone()))
        .order_by_asc(project_phase::Column::Position)
        .all(db)
        .await
        .map_err(db_error)?;
    let tasks = project_task::Entity::find()
        .filter(project_task::Column::ProjectId.is_in(ids.clone()))
        .all(db)
        .await
        .map_err(db_error)?;
    let milestones = project_milestone::Entity::find()
        .filter(project_milestone::Column::ProjectId.is_in(ids.clone()))
        .all(db)
        .await
        .map_err(db_error)?;
    let lines = project_budget_line::Entity::find()
        .filter(project_budget_line::Column::ProjectId.is_in(ids))
        .all(db)
        .await
        .map_err(db_error)?;

    let mut records: Vec<ProjectRecord> = Vec::with_capacity(rows.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        index.insert(row.id.clone(), i);
        records.push(ProjectRecord {
            project: row,
            phases: Vec::new(),
            tasks: Vec::new(),
            milestones: Vec::new(),
            budget_lines: Vec::new(),
        });
    }
    for phase in phases {
        if let Some(&i) = index.get(&phase.project_id) {
            records[i].phases.push(phase);
        }
    }
    for task in tasks {
        if let Some(&i) = index.get(&task.project_id) {
            records[i].tasks.push(task);
        }
    }
    for milestone in milestones {
        if let Some(&i) = index.get(&milestone.project_id) {
            records[i].milestones.push(milestone);
        }
    }
    for line in lines {
        if let Some(&i) = index.get(&line.project_id) {
            records[i].budget_lines.push(line);
        }
    }
    Ok(records)
}

/// One project by id.
pub(crate) async fn get_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<ProjectRecord>, Error> {
    let row = project::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?;
    Ok(with_children(db, row.into_iter().collect()).await?.pop())
}

/// The project made from an opportunity.
pub(crate) async fn get_by_opportunity<C: ConnectionTrait>(
    db: &C,
    opportunity_id: Uuid,
) -> Result<Option<ProjectRecord>, Error> {
    let row = find_by_opportunity(db, opportunity_id).await?;
    Ok(with_children(db, row.into_iter().collect()).await?.pop())
}

/// Up to `limit` projects with ids after `after`, by id.
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ProjectRecord>, Error> {
    let mut query = project::Entity::find().order_by_asc(project::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(project::Column::Id.gt(after.to_string()));
    }
    let rows = query.all(db).await.map_err(db_error)?;
    with_children(db, rows).await
}

/// The projects of `ids` that exist, with their children, in id order.
pub(crate) async fn of_ids<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<ProjectRecord>, Error> {
    let rows = project::Entity::find()
        .filter(project::Column::Id.is_in(ids.iter().cloned()))
        .order_by_asc(project::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    with_children(db, rows).await
}

/// The project row alone; [`Error::NotFound`] when there is none.
pub(crate) async fn find_row<C: ConnectionTrait>(db: &C, id: &str) -> Result<project::Model, Error> {
    project::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("project", id))
}

/// The project with its children; [`Error::NotFound`] when there is none.
pub(crate) async fn load<C: ConnectionTrait>(db: &C, id: &str) -> Result<ProjectRecord, Error> {
    let row = find_row(db, id).await?;
    with_children(db, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("project", id))
}

/// Sets the version to `expected + 1` (and the other given columns) if it is still
/// `expected`, as one conditional UPDATE; [`Error::stale`] otherwise.
pub(crate) async fn bump<C: ConnectionTrait>(
    txn: &C,
    id: &str,
    expected: i64,
    actor: &str,
    now: DateTime<Utc>,
    mut update: sea_orm::UpdateMany<project::Entity>,
) -> Result<(), Error> {
    update = update
        .col_expr(project::Column::Version, Expr::value(expected + 1))
        .col_expr(project::Column::UpdatedAt, Expr::value(now))
        .col_expr(project::Column::UpdatedBy, Expr::value(actor.to_string()))
        .filter(project::Column::Id.eq(id))
        .filter(project::Column::Version.eq(expected));
    let result = update.exec(txn).await.map_err(db_error)?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    let actual = find_row(txn, id).await?.version;
    Err(Error::stale("project", id, expected, actual))
}

/// Moves a project to a new status (see [`crate::PsaAdapter::update_project_status`]).
/// Returns the project and whether this change closed it.
pub(crate) async fn update_status<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    change: &ProjectStatusChange,
    now: DateTime<Utc>,
) -> Result<(Project, bool), Error> {
    let id = change.project_id.to_string();
    let row = find_row(txn, &id).await?;
    if row.version != change.expected_version {
        return Err(Error::stale("project", &id, change.expected_version, row.version));
    }
    let from = status(&row.status);
    if from == ProjectStatus::Closed {
        return Err(Error::FailedPrecondition(format!(
            "project {id} is closed; a closed project cannot move to {}",
            status_text(change.status)
        )));
    }
    if from == change.status {
        return Err(Error::FailedPrecondition(format!(
            "project {id} is already {}",
            status_text(change.status)
        )));
    }
    bump(
        txn,
        &id,
        change.expected_version,
        actor,
        now,
        project::Entity::update_many().col_expr(project::Column::Status, Expr::value(status_text(change.status))),
    )
    .await?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "project",
            record_id: &id,
            action: "status_changed",
            detail: serde_json::json!({
                "status": { "before": row.status, "after": status_text(change.status) },
                "version": { "before": row.version, "after": row.version + 1 },
            }),
        },
    )
    .await?;
    let project = load(txn, &id).await?.to_proto()?;
    Ok((project, change.status == ProjectStatus::Closed))
}

/// Whether the project accepts delivery records (time, assignments): not closed.
pub(crate) fn ensure_open(row: &project::Model) -> Result<(), Error> {
    if status(&row.status) == ProjectStatus::Closed {
        return Err(Error::FailedPrecondition(format!("project {} is closed", row.id)));
    }
    Ok(())
}
