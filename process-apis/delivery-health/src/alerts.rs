//! Alerts: one open alert per (project, kind), opened when an evaluation finds the breach,
//! updated in place with the latest numbers while it lasts, resolved when it clears. Each
//! opening, change, resolution and acknowledgement is audited in the same transaction.

use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::health as pb;
use keel_store::audit::{self, AuditEntry};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::health::{Breach, ProjectHealth, kind};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "health_alerts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub kind: String,
        pub state: String,
        /// `<project>/<kind>` while the alert is open or acknowledged; NULL once resolved.
        pub open_key: Option<String>,
        pub measured: String,
        pub threshold: String,
        pub summary: String,
        /// JSON array of [`Recipient`](super::Recipient).
        pub recipients: String,
        pub policy_version: String,
        pub evaluations: i32,
        pub acknowledged_by: Option<String>,
        pub opened_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub acknowledged_at: Option<DateTimeUtc>,
        pub resolved_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The states of an alert.
pub mod state {
    pub const OPEN: &str = "OPEN";
    pub const ACKNOWLEDGED: &str = "ACKNOWLEDGED";
    pub const RESOLVED: &str = "RESOLVED";
    pub const ALL: [&str; 3] = [OPEN, ACKNOWLEDGED, RESOLVED];
}

/// The record type in audit entries.
const RECORD_TYPE: &str = "health_alert";

/// Who an alert goes to: a Keel role, and the person when Keel knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub role: String,
    /// Empty: everyone holding the role.
    #[serde(default)]
    pub employee_id: String,
}

impl Recipient {
    pub fn to_proto(&self) -> pb::Recipient {
        pb::Recipient {
            role: self.role.clone(),
            employee_id: self.employee_id.clone(),
        }
    }
}

/// Recipients stored as JSON, read back (an unreadable value reads as none).
pub fn recipients_of(json: &str) -> Vec<Recipient> {
    serde_json::from_str(json).unwrap_or_default()
}

fn open_key(project_id: &str, kind: &str) -> String {
    format!("{project_id}/{kind}")
}

/// The gRPC view of an alert.
pub fn to_proto(row: &entity::Model) -> pb::Alert {
    let at = |t: Option<DateTimeUtc>| t.map(keel_core::time::to_timestamp);
    pb::Alert {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        kind: row.kind.clone(),
        state: row.state.clone(),
        measured: row.measured.clone(),
        threshold: row.threshold.clone(),
        summary: row.summary.clone(),
        recipients: recipients_of(&row.recipients).iter().map(Recipient::to_proto).collect(),
        policy_version: row.policy_version.clone(),
        evaluations: u32::try_from(row.evaluations).unwrap_or(0),
        acknowledged_by: row.acknowledged_by.clone().unwrap_or_default(),
        opened_at: at(Some(row.opened_at)),
        updated_at: at(Some(row.updated_at)),
        acknowledged_at: at(row.acknowledged_at),
        resolved_at: at(row.resolved_at),
    }
}

/// What one evaluation did to the project's alerts.
#[derive(Debug, Default)]
pub struct AlertChanges {
    /// Alerts opened by this evaluation (each gets a notification).
    pub opened: Vec<entity::Model>,
    /// Open alerts whose numbers this evaluation updated.
    pub updated: Vec<entity::Model>,
    /// Alerts this evaluation resolved.
    pub resolved: Vec<entity::Model>,
}

async fn open_alert<C: ConnectionTrait>(db: &C, project_id: &str, kind: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::OpenKey.eq(open_key(project_id, kind)))
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

fn numbers(breach: &Breach) -> serde_json::Value {
    json!({
        "kind": breach.kind,
        "measured": breach.measured.to_string(),
        "threshold": breach.threshold.to_string(),
        "summary": breach.summary,
    })
}

/// Opens, updates or resolves the project's alerts from `health`, inside the caller's
/// transaction. A concurrent evaluation that opened the same alert first makes this one fail
/// with a unique violation; the caller evaluates again and then updates it.
pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    health: &ProjectHealth,
    recipients: &[Recipient],
    actor: &str,
) -> Result<AlertChanges, Error> {
    let now = Utc::now();
    let recipients_json = serde_json::to_string(recipients).map_err(Error::internal)?;
    let mut changes = AlertChanges::default();
    for kind in kind::ALL {
        let existing = open_alert(txn, &health.project_id, kind).await?;
        match (health.breach(kind), existing) {
            (Some(breach), None) => {
                let row = entity::Model {
                    id: keel_core::ids::new_id().to_string(),
                    project_id: health.project_id.clone(),
                    kind: kind.to_string(),
                    state: state::OPEN.into(),
                    open_key: Some(open_key(&health.project_id, kind)),
                    measured: breach.measured.to_string(),
                    threshold: breach.threshold.to_string(),
                    summary: breach.summary.clone(),
                    recipients: recipients_json.clone(),
                    policy_version: health.policy_version.clone(),
                    evaluations: 1,
                    acknowledged_by: None,
                    opened_at: now,
                    updated_at: now,
                    acknowledged_at: None,
                    resolved_at: None,
                };
                entity::Entity::insert(entity::ActiveModel::from(row.clone()))
                    .exec(txn)
                    .await
                    .map_err(|e| {
                        if keel_store::is_unique_violation(&e) {
                            Error::Aborted(format!("a concurrent evaluation opened the {kind} alert first"))
                        } else {
                            keel_store::db_error(e)
                        }
                    })?;
                let mut detail = numbers(breach);
                detail["recipients"] = json!(recipients);
                detail["policy_version"] = json!(health.policy_version);
                audit_alert(txn, actor, &row.id, "opened", detail).await?;
                changes.opened.push(row);
            }
            (Some(breach), Some(row)) => {
                let changed = row.measured != breach.measured.to_string()
                    || row.summary != breach.summary
                    || row.threshold != breach.threshold.to_string()
                    || row.recipients != recipients_json;
                let evaluations = row.evaluations.saturating_add(1);
                let mut active: entity::ActiveModel = row.into();
                active.measured = Set(breach.measured.to_string());
                active.threshold = Set(breach.threshold.to_string());
                active.summary = Set(breach.summary.clone());
                active.recipients = Set(recipients_json.clone());
                active.policy_version = Set(health.policy_version.clone());
                active.evaluations = Set(evaluations);
                active.updated_at = Set(now);
                let row = active.update(txn).await.map_err(keel_store::db_error)?;
                if changed {
                    let mut detail = numbers(breach);
                    detail["policy_version"] = json!(health.policy_version);
                    audit_alert(txn, actor, &row.id, "updated", detail).await?;
                }
                changes.updated.push(row);
            }
            (None, Some(row)) => {
                let mut active: entity::ActiveModel = row.into();
                active.state = Set(state::RESOLVED.into());
                active.open_key = Set(None);
                active.resolved_at = Set(Some(now));
                active.updated_at = Set(now);
                let row = active.update(txn).await.map_err(keel_store::db_error)?;
                let detail = json!({ "kind": kind, "policy_version": health.policy_version });
                audit_alert(txn, actor, &row.id, "resolved", detail).await?;
                changes.resolved.push(row);
            }
            (None, None) => {}
        }
    }
    Ok(changes)
}

async fn audit_alert<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    id: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), Error> {
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: RECORD_TYPE,
            record_id: id,
            action,
            detail,
        },
    )
    .await
}

/// One alert by id.
pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<entity::Model, Error> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)?
        .ok_or_else(|| Error::not_found("alert", id))
}

/// Whether `caller` is among the people an alert goes to: named as a recipient, or holding the
/// role of a recipient that names nobody. An admin passes.
pub fn is_recipient(recipients: &[Recipient], caller: &keel_auth::Identity) -> bool {
    caller.has_any(&[])
        || recipients.iter().any(|r| {
            if r.employee_id.is_empty() {
                caller.roles.iter().any(|role| role.as_str() == r.role)
            } else {
                r.employee_id == caller.subject
            }
        })
}

/// Marks an open alert acknowledged by `caller`, audited. Only the alert's recipients (the
/// project's manager, the finance partner) acknowledge it. An alert already acknowledged is
/// answered as it is; a resolved one cannot be acknowledged.
pub async fn acknowledge<C: ConnectionTrait>(
    txn: &C,
    id: &str,
    caller: &keel_auth::Identity,
) -> Result<entity::Model, Error> {
    let row = get(txn, id).await?;
    if !is_recipient(&recipients_of(&row.recipients), caller) {
        return Err(Error::Forbidden(format!(
            "{} is not among the recipients of alert {id} on project {}, so may not acknowledge it",
            caller.subject, row.project_id
        )));
    }
    let actor = caller.subject.as_str();
    match row.state.as_str() {
        state::ACKNOWLEDGED => Ok(row),
        state::RESOLVED => Err(Error::FailedPrecondition(format!(
            "alert {id} is resolved; there is nothing to acknowledge"
        ))),
        _ => {
            let now = Utc::now();
            let mut active: entity::ActiveModel = row.into();
            active.state = Set(state::ACKNOWLEDGED.into());
            active.acknowledged_by = Set(Some(actor.to_string()));
            active.acknowledged_at = Set(Some(now));
            active.updated_at = Set(now);
            let row = active.update(txn).await.map_err(keel_store::db_error)?;
            audit_alert(txn, actor, &row.id, "acknowledged", json!({ "kind": row.kind })).await?;
            Ok(row)
        }
    }
}

/// Every alert of `project_ids`, newest first, optionally of one state.
pub async fn of_projects<C: ConnectionTrait>(
    db: &C,
    project_ids: &[String],
    state: Option<&str>,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find().filter(entity::Column::ProjectId.is_in(project_ids.iter().cloned()));
    if let Some(state) = state {
        query = query.filter(entity::Column::State.eq(state));
    }
    query
        .order_by_desc(entity::Column::Id)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// A page of alerts, newest first, optionally of one project and one state.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    project_id: Option<&str>,
    state: Option<&str>,
    page: &Page,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find();
    if let Some(project_id) = project_id {
        query = query.filter(entity::Column::ProjectId.eq(project_id));
    }
    if let Some(state) = state {
        query = query.filter(entity::Column::State.eq(state));
    }
    if let Some(after) = page.after {
        query = query.filter(entity::Column::Id.lt(after.to_string()));
    }
    query
        .order_by_desc(entity::Column::Id)
        .limit(page.size)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}
