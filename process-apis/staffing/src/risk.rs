//! Staffing risk: a project's team assessed with keel-insight's [`keel_insight::staffing::assess`]
//! (over-allocation, certifications expiring before the work ends or missing, critical skills
//! held by one person or nobody), each flag recorded once per project, kind, person and skill
//! with its reason, figures, inputs and the model and policy versions, status `OPEN`.
//!
//! A resource manager decides an open flag once: `ACKNOWLEDGED` or `DISMISSED`, with a note. A
//! recorded flag that a later assessment no longer finds is closed as `RESOLVED`, saying when
//! and why; one that comes back is reopened. Every new flag, decision, resolution and reopening
//! is audited in the same transaction. Nothing here changes an assignment.
//!
//! What is assessed, read from PSA and HRIS as staffing reads them: the project's ACTIVE
//! assignments and every other ACTIVE assignment of the people on them; the roles and their
//! required certifications from the project's resource requests (not cancelled); the critical
//! skills: those the requests ask for at the policy's `critical_skill_proficiency` or above; each
//! person's HRIS skills and certifications (a certification counts for the skill of its name).
//! The project runs from its start date (or its first assignment) to the latest of its
//! assignments, resource requests and milestones. A project with nobody assigned is not assessed.
//!
//! Two assessments of one project may run at once (two fills, a fill and a person's request):
//! the one that read PSA and HRIS later wins. Each records when it read
//! (`staffing_assessments.read_at`) and records its flags only if no assessment that read later
//! has recorded first; otherwise it changes nothing and answers the flags that hold.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDate, SubsecRound, Utc};
use keel_core::Error;
use keel_insight::staffing::{
    Assignment as RiskAssignment, Certification, Person, ProjectStaffing, RoleRequirement, StaffingFlag, StaffingRisk,
};
use keel_insight::{Insight, InsightError};
use keel_proto::psa::{AssignmentState, ResourceRequestState};
use keel_proto::staffing::StaffingRisk as RiskMessage;
use keel_store::audit::{self, AuditEntry};
use rust_decimal::Decimal;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, QueryOrder, QuerySelect, Set};

use crate::clients::Downstream;
use crate::policy::InsightSwitches;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staffing_risks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        /// keel-insight's kind: `over-allocated`, `certification-expiring`, ...
        pub kind: String,
        /// The person at risk; empty for a critical skill nobody holds.
        pub employee_id: String,
        /// The skill or certification at risk; empty for over-allocation.
        pub skill: String,
        pub reason: String,
        /// keel-insight's `StaffingRisk`, as JSON.
        pub figures: String,
        /// What the assessment read (project, people, assignments), as JSON.
        pub inputs: String,
        pub model_version: String,
        pub policy_version: String,
        /// `OPEN`, `ACKNOWLEDGED`, `DISMISSED` or `RESOLVED`.
        pub status: String,
        pub created_at: DateTimeUtc,
        pub assessed_at: DateTimeUtc,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub note: Option<String>,
        pub decision_key: Option<String>,
        pub resolved_at: Option<DateTimeUtc>,
        pub resolution: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// When each project's recorded assessment read PSA and HRIS: the latest recorded reading.
pub mod reading {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staffing_assessments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        /// When the recorded assessment began reading the project's staffing.
        pub read_at: DateTimeUtc,
        pub recorded_at: DateTimeUtc,
        pub actor: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub const OPEN: &str = "OPEN";
pub const ACKNOWLEDGED: &str = "ACKNOWLEDGED";
pub const DISMISSED: &str = "DISMISSED";
pub const RESOLVED: &str = "RESOLVED";
pub const STATUSES: &[&str] = &[OPEN, ACKNOWLEDGED, DISMISSED, RESOLVED];
/// The decisions a resource manager may take on an open flag.
pub const DECISIONS: &[&str] = &[ACKNOWLEDGED, DISMISSED];

const RECORD_TYPE: &str = "staffing_risk";

/// The model a flag was assessed with: keel-insight's rules at this release.
pub fn model_version() -> String {
    format!("keel-insight staffing::assess {}", env!("CARGO_PKG_VERSION"))
}

/// Staffing risk under the insight policy's switch.
#[derive(Debug, Clone)]
pub struct Risks {
    downstream: Downstream,
    switches: Arc<InsightSwitches>,
    critical_skill_proficiency: i32,
}

/// What one assessment did.
#[derive(Debug, Clone)]
pub struct Assessed {
    /// The project's flags that hold now.
    pub current: Vec<entity::Model>,
    /// New (or reopened) flags.
    pub flagged: u32,
    /// Flags closed as RESOLVED.
    pub resolved: u32,
    /// An assessment that read later had already recorded: this one changed nothing.
    pub superseded: bool,
}

/// What one reading of a project's staffing found, before it is recorded.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub project_id: String,
    /// When the reading began: of two assessments, the one that read later is recorded.
    pub read_at: DateTimeUtc,
    pub flags: Vec<StaffingFlag>,
    /// What the assessment read, as JSON (empty when nobody is assigned).
    pub inputs: String,
}

impl Risks {
    pub fn new(downstream: Downstream, switches: InsightSwitches, critical_skill_proficiency: i32) -> Risks {
        Risks {
            downstream,
            switches: Arc::new(switches),
            critical_skill_proficiency,
        }
    }

    pub fn switches(&self) -> &InsightSwitches {
        &self.switches
    }

    /// `Ok` when `insight.staffing_risk` is on; otherwise FAILED_PRECONDITION naming it.
    pub fn require(&self) -> Result<(), Error> {
        self.switches
            .insight
            .require(keel_insight::Capability::StaffingRisk)
            .map_err(insight_error)
    }

    /// Reads the project's staffing from PSA and HRIS; `None` when nobody is assigned.
    pub async fn gather(
        &self,
        project_id: &str,
    ) -> Result<Option<(ProjectStaffing, Vec<Person>, Vec<RiskAssignment>)>, Error> {
        let project = self.downstream.project(project_id).await?;
        let team: Vec<RiskAssignment> = self
            .downstream
            .assignments_on(project_id)
            .await?
            .iter()
            .filter_map(active_assignment)
            .collect();
        if team.is_empty() {
            return Ok(None);
        }
        let requests: Vec<_> = self
            .downstream
            .resource_requests_of(project_id)
            .await?
            .into_iter()
            .filter(|r| r.state != ResourceRequestState::Cancelled as i32)
            .collect();
        let members: BTreeSet<String> = team.iter().map(|a| a.person.clone()).collect();
        let mut people = Vec::with_capacity(members.len());
        let mut assignments: Vec<RiskAssignment> = Vec::new();
        for member in &members {
            assignments.extend(
                self.downstream
                    .assignments_of(member)
                    .await?
                    .iter()
                    .filter_map(active_assignment),
            );
            let employee = match self.downstream.employee(member).await {
                Ok(employee) => employee,
                // Someone PSA staffs and HRIS does not know holds no skill or certification.
                Err(Error::NotFound(_)) => keel_proto::hris::Employee {
                    id: member.clone(),
                    ..Default::default()
                },
                Err(e) => return Err(e),
            };
            people.push(Person {
                id: employee.id,
                skills: employee.skills.into_iter().map(|s| s.name).collect(),
                certifications: employee
                    .certifications
                    .into_iter()
                    .map(|c| Certification {
                        skill: c.name.clone(),
                        expires: NaiveDate::parse_from_str(&c.expires_on, "%Y-%m-%d").ok(),
                        name: c.name,
                    })
                    .collect(),
            });
        }
        let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut critical = BTreeSet::new();
        let mut dates: Vec<NaiveDate> = team.iter().flat_map(|a| [a.from, a.to]).collect();
        for request in &requests {
            roles
                .entry(request.role.clone())
                .or_default()
                .extend(request.certifications.iter().cloned());
            critical.extend(
                request
                    .skills
                    .iter()
                    .filter(|s| s.min_proficiency >= self.critical_skill_proficiency)
                    .map(|s| s.name.clone()),
            );
            dates.extend(NaiveDate::parse_from_str(&request.end_date, "%Y-%m-%d").ok());
        }
        dates.extend(
            project
                .milestones
                .iter()
                .filter_map(|m| NaiveDate::parse_from_str(&m.due_date, "%Y-%m-%d").ok()),
        );
        let first = team.iter().map(|a| a.from).min().unwrap_or_default();
        let starts = NaiveDate::parse_from_str(&project.start_date, "%Y-%m-%d")
            .map(|d| d.min(first))
            .unwrap_or(first);
        let ends = dates.into_iter().max().unwrap_or(starts).max(starts);
        let staffing = ProjectStaffing {
            project: project_id.to_string(),
            starts,
            ends,
            roles: roles
                .into_iter()
                .map(|(role, certified)| RoleRequirement {
                    role,
                    certified_skills: certified.into_iter().collect(),
                })
                .collect(),
            critical_skills: critical.into_iter().collect(),
        };
        Ok(Some((staffing, people, assignments)))
    }

    /// Assesses the project now and records what it finds (see the module's description).
    /// With the switch off: FAILED_PRECONDITION, nothing read or recorded.
    pub async fn assess(&self, db: &DatabaseConnection, project_id: &str, actor: &str) -> Result<Assessed, Error> {
        let assessment = self.evaluate(project_id).await?;
        self.record(db, &assessment, actor).await
    }

    /// Reads the project's staffing and assesses it, recording nothing.
    pub async fn evaluate(&self, project_id: &str) -> Result<Assessment, Error> {
        self.require()?;
        let read_at = Utc::now().trunc_subsecs(6);
        let (flags, inputs) = match self.gather(project_id).await? {
            Some((project, people, assignments)) => {
                let mut insight = Insight::new(self.switches.insight);
                let flags = insight
                    .assess_staffing(&project, &people, &assignments)
                    .map_err(insight_error)?;
                let inputs = insight
                    .take_records()
                    .pop()
                    .map(|r| r.input.to_string())
                    .unwrap_or_default();
                (flags, inputs)
            }
            None => (Vec::new(), String::new()),
        };
        Ok(Assessment {
            project_id: project_id.to_string(),
            read_at,
            flags,
            inputs,
        })
    }

    /// Records an assessment's flags, unless one that read the project later was recorded
    /// first: then nothing changes and the answer is `superseded`, with the flags that hold.
    pub async fn record(
        &self,
        db: &DatabaseConnection,
        assessment: &Assessment,
        actor: &str,
    ) -> Result<Assessed, Error> {
        use sea_orm::sea_query::ExprTrait as _;
        let Assessment {
            project_id,
            read_at,
            flags,
            inputs,
        } = assessment;
        let project_id = project_id.as_str();
        let now = Utc::now().trunc_subsecs(6);
        let txn = keel_store::begin_write(db).await?;
        // Claim the project's reading first: the row (its lock, on PostgreSQL) orders
        // concurrent recordings, and only a later reading replaces a recorded one.
        let claimed = reading::Entity::insert(reading::ActiveModel {
            project_id: Set(project_id.to_string()),
            read_at: Set(*read_at),
            recorded_at: Set(now),
            actor: Set(actor.to_string()),
        })
        .on_conflict(
            OnConflict::column(reading::Column::ProjectId)
                .update_columns([
                    reading::Column::ReadAt,
                    reading::Column::RecordedAt,
                    reading::Column::Actor,
                ])
                .action_and_where(Expr::col((reading::Entity, reading::Column::ReadAt)).lt(*read_at))
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(keel_store::db_error)?;
        if claimed == 0 {
            txn.rollback().await.map_err(keel_store::db_error)?;
            tracing::info!(project.id = %project_id, read_at = %read_at, "a later assessment was recorded first; this one changes nothing");
            return Ok(Assessed {
                current: current_flags(db, project_id).await?,
                flagged: 0,
                resolved: 0,
                superseded: true,
            });
        }
        let model = model_version();
        let policy = self.switches.version.clone();
        // One flag per project, kind, person and skill: the first found (for over-allocation,
        // the earliest run of weeks).
        let mut found: BTreeMap<(String, String, String), &StaffingFlag> = BTreeMap::new();
        for flag in flags {
            found.entry(key_of(&flag.risk)).or_insert(flag);
        }
        let existing = entity::Entity::find()
            .filter(entity::Column::ProjectId.eq(project_id))
            .all(&txn)
            .await
            .map_err(keel_store::db_error)?;
        let mut by_key: BTreeMap<(String, String, String), entity::Model> = existing
            .into_iter()
            .map(|r| ((r.kind.clone(), r.employee_id.clone(), r.skill.clone()), r))
            .collect();
        let (mut flagged, mut resolved) = (0, 0);
        for (key, flag) in &found {
            let figures = serde_json::to_string(&flag.risk).map_err(Error::internal)?;
            match by_key.remove(key) {
                None => {
                    let row = entity::Model {
                        id: uuid::Uuid::now_v7().to_string(),
                        project_id: project_id.to_string(),
                        kind: key.0.clone(),
                        employee_id: key.1.clone(),
                        skill: key.2.clone(),
                        reason: flag.reason.clone(),
                        figures,
                        inputs: inputs.to_string(),
                        model_version: model.clone(),
                        policy_version: policy.clone(),
                        status: OPEN.into(),
                        created_at: now,
                        assessed_at: now,
                        decided_by: None,
                        decided_at: None,
                        note: None,
                        decision_key: None,
                        resolved_at: None,
                        resolution: None,
                    };
                    entity::Entity::insert(entity::ActiveModel::from(row.clone()))
                        .exec(&txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    audit_flag(&txn, actor, &row, "flagged").await?;
                    flagged += 1;
                }
                Some(row) => {
                    let reopened = row.status == RESOLVED;
                    let mut update = entity::Entity::update_many()
                        .col_expr(entity::Column::Reason, Expr::value(flag.reason.clone()))
                        .col_expr(entity::Column::Figures, Expr::value(figures))
                        .col_expr(entity::Column::Inputs, Expr::value(inputs.to_string()))
                        .col_expr(entity::Column::ModelVersion, Expr::value(model.clone()))
                        .col_expr(entity::Column::PolicyVersion, Expr::value(policy.clone()))
                        .col_expr(entity::Column::AssessedAt, Expr::value(now));
                    if reopened {
                        // The risk is back: a new occurrence for a person to decide.
                        update = update
                            .col_expr(entity::Column::Status, Expr::value(OPEN))
                            .col_expr(entity::Column::DecidedBy, Expr::value(Option::<String>::None))
                            .col_expr(entity::Column::DecidedAt, Expr::value(Option::<DateTimeUtc>::None))
                            .col_expr(entity::Column::Note, Expr::value(Option::<String>::None))
                            .col_expr(entity::Column::DecisionKey, Expr::value(Option::<String>::None))
                            .col_expr(entity::Column::ResolvedAt, Expr::value(Option::<DateTimeUtc>::None))
                            .col_expr(entity::Column::Resolution, Expr::value(Option::<String>::None));
                    }
                    update
                        .filter(entity::Column::Id.eq(row.id.clone()))
                        .exec(&txn)
                        .await
                        .map_err(keel_store::db_error)?;
                    if reopened {
                        audit_flag(&txn, actor, &row, "reopened").await?;
                        flagged += 1;
                    }
                }
            }
        }
        for row in by_key.into_values().filter(|r| r.status != RESOLVED) {
            let resolution = format!(
                "No longer found when {actor} assessed the project's staffing at {}: {}",
                now.to_rfc3339(),
                no_longer(&row)
            );
            entity::Entity::update_many()
                .col_expr(entity::Column::Status, Expr::value(RESOLVED))
                .col_expr(entity::Column::ResolvedAt, Expr::value(now))
                .col_expr(entity::Column::Resolution, Expr::value(resolution.clone()))
                .filter(entity::Column::Id.eq(row.id.clone()))
                .exec(&txn)
                .await
                .map_err(keel_store::db_error)?;
            audit::append(
                &txn,
                AuditEntry {
                    actor,
                    record_type: RECORD_TYPE,
                    record_id: &row.id,
                    action: "resolved",
                    detail: serde_json::json!({
                        "project_id": row.project_id, "kind": row.kind, "employee_id": row.employee_id,
                        "skill": row.skill, "was": row.status, "resolution": resolution,
                    }),
                },
            )
            .await?;
            resolved += 1;
        }
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(Assessed {
            current: current_flags(db, project_id).await?,
            flagged,
            resolved,
            superseded: false,
        })
    }
}

/// The project's flags that hold: every one not RESOLVED, oldest first.
async fn current_flags<C: ConnectionTrait>(db: &C, project_id: &str) -> Result<Vec<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::ProjectId.eq(project_id))
        .filter(entity::Column::Status.ne(RESOLVED))
        .order_by_asc(entity::Column::Id)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

fn no_longer(row: &entity::Model) -> String {
    match row.kind.as_str() {
        "over-allocated" => format!("{} is no longer allocated over 100%", row.employee_id),
        "certification-expiring" | "certification-missing" => format!(
            "{} holds a valid {} certification for their assignment, or no longer needs one",
            row.employee_id, row.skill
        ),
        "single-point-of-failure" => format!("{} is no longer held by {} alone", row.skill, row.employee_id),
        "critical-skill-uncovered" => format!("someone on the team now holds {}", row.skill),
        _ => "the risk no longer holds".to_string(),
    }
}

async fn audit_flag<C: ConnectionTrait>(txn: &C, actor: &str, row: &entity::Model, action: &str) -> Result<(), Error> {
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: RECORD_TYPE,
            record_id: &row.id,
            action,
            detail: serde_json::json!({
                "project_id": row.project_id, "kind": row.kind, "employee_id": row.employee_id,
                "skill": row.skill, "reason": row.reason, "model_version": row.model_version,
                "policy_version": row.policy_version,
            }),
        },
    )
    .await
}

/// A PSA assignment as the assessment reads it, when ACTIVE and well formed.
fn active_assignment(a: &keel_proto::psa::Assignment) -> Option<RiskAssignment> {
    if a.state != AssignmentState::Active as i32 {
        return None;
    }
    let from = NaiveDate::parse_from_str(&a.start_date, "%Y-%m-%d").ok()?;
    let to = NaiveDate::parse_from_str(&a.end_date, "%Y-%m-%d").ok()?;
    let percent = Decimal::from_str(a.allocation_percent.trim()).ok()?;
    if to < from || percent <= Decimal::ZERO || percent > Decimal::ONE_HUNDRED || a.role.trim().is_empty() {
        return None;
    }
    Some(RiskAssignment {
        person: a.employee_id.clone(),
        project: a.project_id.clone(),
        role: a.role.clone(),
        from,
        to,
        percent,
    })
}

/// The key a flag is recorded once under: kind, person, skill.
fn key_of(risk: &StaffingRisk) -> (String, String, String) {
    let (kind, person, skill) = match risk {
        StaffingRisk::OverAllocated { person, .. } => ("over-allocated", person.as_str(), ""),
        StaffingRisk::CertificationExpiring { person, skill, .. } => {
            ("certification-expiring", person.as_str(), skill.as_str())
        }
        StaffingRisk::CertificationMissing { person, skill, .. } => {
            ("certification-missing", person.as_str(), skill.as_str())
        }
        StaffingRisk::SinglePointOfFailure { person, skill } => {
            ("single-point-of-failure", person.as_str(), skill.as_str())
        }
        StaffingRisk::CriticalSkillUncovered { skill } => ("critical-skill-uncovered", "", skill.as_str()),
    };
    (kind.to_string(), person.to_string(), skill.to_string())
}

/// Maps keel-insight's errors to Keel's at this edge.
pub fn insight_error(error: InsightError) -> Error {
    match error {
        InsightError::Disabled(switch) => Error::FailedPrecondition(format!(
            "staffing risk is switched off by policy {switch}; nothing is assessed or recorded"
        )),
        InsightError::InvalidInput { field, reason } => Error::invalid(field, reason),
        other => Error::internal(other.to_string()),
    }
}

pub async fn by_id<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// A page of flags, oldest first, of some projects (all when none) and statuses (all when none).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    project_ids: &[String],
    statuses: &[String],
    page: keel_core::paging::Page,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find().order_by_asc(entity::Column::Id).limit(page.size);
    if !project_ids.is_empty() {
        query = query.filter(entity::Column::ProjectId.is_in(project_ids.iter().cloned()));
    }
    if !statuses.is_empty() {
        query = query.filter(entity::Column::Status.is_in(statuses.iter().cloned()));
    }
    if let Some(after) = page.after {
        query = query.filter(entity::Column::Id.gt(after.to_string()));
    }
    query.all(db).await.map_err(keel_store::db_error)
}

/// A resource manager's decision on an open flag, once, audited in the same transaction. The
/// same decision asked again (same key, same person) answers the flag unchanged; any other
/// decision on a decided or resolved flag is refused and changes nothing.
pub async fn review(
    db: &DatabaseConnection,
    id: &str,
    decision: &str,
    note: &str,
    decided_by: &str,
    decision_key: &str,
) -> Result<entity::Model, Error> {
    let row = by_id(db, id)
        .await?
        .ok_or_else(|| Error::not_found("staffing risk", id.to_string()))?;
    if row.decision_key.as_deref() == Some(decision_key) && row.decided_by.as_deref() == Some(decided_by) {
        return Ok(row);
    }
    if row.status != OPEN {
        return Err(Error::FailedPrecondition(
            match (&row.decided_by, row.status.as_str()) {
                (_, RESOLVED) => format!(
                    "staffing risk {id} was RESOLVED: {}",
                    row.resolution.clone().unwrap_or_default()
                ),
                (Some(by), status) => format!("staffing risk {id} was already {status} by {by}"),
                (None, status) => format!("staffing risk {id} is {status}"),
            },
        ));
    }
    let now = Utc::now().trunc_subsecs(6);
    let txn = keel_store::begin_write(db).await?;
    // Decided once, whoever gets there first: the update only takes an open row.
    let updated = entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(decision))
        .col_expr(entity::Column::DecidedBy, Expr::value(decided_by.to_string()))
        .col_expr(entity::Column::DecidedAt, Expr::value(now))
        .col_expr(entity::Column::Note, Expr::value(note.to_string()))
        .col_expr(entity::Column::DecisionKey, Expr::value(decision_key.to_string()))
        .filter(entity::Column::Id.eq(row.id.clone()))
        .filter(entity::Column::Status.eq(OPEN))
        .exec(&txn)
        .await
        .map_err(keel_store::db_error)?;
    if updated.rows_affected != 1 {
        return Err(Error::FailedPrecondition(format!(
            "staffing risk {id} was decided meanwhile"
        )));
    }
    audit::append(
        &txn,
        AuditEntry {
            actor: decided_by,
            record_type: RECORD_TYPE,
            record_id: &row.id,
            action: &decision.to_ascii_lowercase(),
            detail: serde_json::json!({
                "project_id": row.project_id, "kind": row.kind, "employee_id": row.employee_id,
                "skill": row.skill, "note": note,
            }),
        },
    )
    .await?;
    txn.commit().await.map_err(keel_store::db_error)?;
    by_id(db, id)
        .await?
        .ok_or_else(|| Error::not_found("staffing risk", id.to_string()))
}

pub fn to_proto(row: &entity::Model) -> RiskMessage {
    let risk: Option<StaffingRisk> = serde_json::from_str(&row.figures).ok();
    let mut message = RiskMessage {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        kind: row.kind.clone(),
        employee_id: row.employee_id.clone(),
        skill: row.skill.clone(),
        reason: row.reason.clone(),
        figures_json: row.figures.clone(),
        status: row.status.clone(),
        model_version: row.model_version.clone(),
        policy_version: row.policy_version.clone(),
        created_at: Some(keel_core::time::to_timestamp(row.created_at)),
        assessed_at: Some(keel_core::time::to_timestamp(row.assessed_at)),
        decided_by: row.decided_by.clone().unwrap_or_default(),
        decided_at: row.decided_at.map(keel_core::time::to_timestamp),
        note: row.note.clone().unwrap_or_default(),
        resolved_at: row.resolved_at.map(keel_core::time::to_timestamp),
        resolution: row.resolution.clone().unwrap_or_default(),
        ..Default::default()
    };
    match risk {
        Some(StaffingRisk::OverAllocated {
            first_week,
            last_week,
            peak_percent,
            ..
        }) => {
            message.peak_percent = peak_percent.normalize().to_string();
            message.first_week = first_week.to_string();
            message.last_week = last_week.to_string();
        }
        Some(StaffingRisk::CertificationExpiring {
            expires,
            needed_until,
            days_uncovered,
            ..
        }) => {
            message.expires_on = expires.to_string();
            message.needed_until = needed_until.to_string();
            message.days_uncovered = days_uncovered;
        }
        Some(StaffingRisk::CertificationMissing { needed_until, .. }) => {
            message.needed_until = needed_until.to_string();
        }
        _ => {}
    }
    message
}
