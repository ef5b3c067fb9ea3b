//! Setup records: their table, their states and steps, and the transitions the worker and
//! the service make. Every transition is audited in the same transaction.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_proto::crm::Opportunity;
use keel_proto::projectsetup::{Setup, SetupState};
use keel_store::audit::{self, AuditEntry};
use prost::Message;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, ExprTrait, QueryOrder, QuerySelect};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "setups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub opportunity_id: String,
        pub opportunity_name: String,
        /// The won opportunity as the event carried it (`keel.crm.v1.Opportunity`).
        pub opportunity: Vec<u8>,
        pub state: String,
        pub step: String,
        pub template_id: String,
        /// The PSA version of the template the setup selected (0 before it selects one).
        pub template_version: i64,
        pub project_id: String,
        pub project_code: String,
        pub exception_code: Option<String>,
        pub exception_reason: Option<String>,
        /// JSON array of field names.
        pub exception_fields: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub started_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
pub const EXCEPTION: &str = "exception";

/// The steps, in order.
pub mod step {
    pub const VALIDATE: &str = "validate";
    pub const SELECT_TEMPLATE: &str = "select-template";
    pub const CREATE_PROJECT: &str = "create-project";
    pub const OPEN_PROJECT_CODE: &str = "open-project-code";
    pub const POST_BUDGET: &str = "post-budget";
    pub const CREATE_BILLING_MILESTONES: &str = "create-billing-milestones";
    pub const OPEN_WORKSPACE: &str = "open-workspace";
    pub const FILE_SOW: &str = "file-sow";
    pub const DONE: &str = "done";
}

pub fn to_proto(row: &entity::Model) -> Setup {
    let state = match row.state.as_str() {
        RUNNING => SetupState::Running,
        COMPLETED => SetupState::Completed,
        EXCEPTION => SetupState::Exception,
        _ => SetupState::Unspecified,
    };
    Setup {
        id: row.id.clone(),
        opportunity_id: row.opportunity_id.clone(),
        state: state as i32,
        step: row.step.clone(),
        template_id: row.template_id.clone(),
        project_id: row.project_id.clone(),
        project_code: row.project_code.clone(),
        template_version: u32::try_from(row.template_version).unwrap_or(0),
        exception_reason: row.exception_reason.clone().unwrap_or_default(),
        exception_code: row.exception_code.clone().unwrap_or_default(),
        exception_fields: serde_json::from_str(&row.exception_fields).unwrap_or_default(),
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        created_at: Some(keel_core::time::to_timestamp(row.created_at)),
        updated_at: Some(keel_core::time::to_timestamp(row.updated_at)),
        opportunity_name: row.opportunity_name.clone(),
    }
}

/// The opportunity a setup was started from.
pub fn opportunity_of(row: &entity::Model) -> Result<Opportunity, Error> {
    Opportunity::decode(row.opportunity.as_slice()).map_err(Error::internal)
}

/// Records a new setup for a won opportunity, unless one exists. Returns the setup and
/// whether it was created now.
pub async fn start<C: ConnectionTrait>(
    txn: &C,
    opportunity: &Opportunity,
    actor: &str,
) -> Result<(entity::Model, bool), Error> {
    if let Some(existing) = by_opportunity(txn, &opportunity.id).await? {
        return Ok((existing, false));
    }
    let now = Utc::now();
    let row = entity::Model {
        id: keel_core::ids::new_id().to_string(),
        opportunity_id: opportunity.id.clone(),
        opportunity_name: opportunity.name.clone(),
        opportunity: opportunity.encode_to_vec(),
        state: RUNNING.into(),
        step: step::VALIDATE.into(),
        template_id: String::new(),
        template_version: 0,
        project_id: String::new(),
        project_code: String::new(),
        exception_code: None,
        exception_reason: None,
        exception_fields: "[]".into(),
        attempts: 0,
        next_attempt_at: now,
        lease_owner: None,
        lease_until: None,
        started_by: actor.to_string(),
        created_at: now,
        updated_at: now,
    };
    entity::Entity::insert(entity::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "setup",
            record_id: &row.id,
            action: "started",
            detail: serde_json::json!({ "opportunity_id": opportunity.id }),
        },
    )
    .await?;
    Ok((row, true))
}

pub async fn by_id<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

pub async fn by_opportunity<C: ConnectionTrait>(db: &C, opportunity_id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::OpportunityId.eq(opportunity_id))
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// A page of setups, oldest first, optionally only those in one state.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    state: Option<&str>,
    page: keel_core::paging::Page,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find().order_by_asc(entity::Column::Id).limit(page.size);
    if let Some(state) = state {
        query = query.filter(entity::Column::State.eq(state));
    }
    if let Some(after) = page.after {
        query = query.filter(entity::Column::Id.gt(after.to_string()));
    }
    query.all(db).await.map_err(keel_store::db_error)
}

/// Running setups due now whose lease is free or lapsed.
pub async fn due<C: ConnectionTrait>(db: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::State.eq(RUNNING))
        .filter(entity::Column::NextAttemptAt.lte(now))
        .filter(
            entity::Column::LeaseUntil
                .is_null()
                .or(entity::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(entity::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
        .map_err(keel_store::db_error)
}

/// Takes the lease on a setup for `owner` until `until`; false when another worker holds it.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, Error> {
    let result = entity::Entity::update_many()
        .col_expr(entity::Column::LeaseOwner, Expr::value(owner.to_string()))
        .col_expr(entity::Column::LeaseUntil, Expr::value(until))
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::State.eq(RUNNING))
        .filter(
            entity::Column::LeaseUntil
                .is_null()
                .or(entity::Column::LeaseUntil.lt(now)),
        )
        .exec(db)
        .await
        .map_err(keel_store::db_error)?;
    Ok(result.rows_affected == 1)
}

/// What a step changed.
#[derive(Debug, Default, Clone)]
pub struct Advance {
    pub step: &'static str,
    pub template_id: Option<String>,
    /// The selected template's PSA version, with `template_id`.
    pub template_version: Option<u32>,
    pub project_id: Option<String>,
    pub project_code: Option<String>,
    /// The intake recommendation whose decision chose the template, and who decided it.
    pub approval: Option<(String, String)>,
}

/// Moves a setup to its next step (or to done), audited.
pub async fn advance<C: ConnectionTrait>(
    txn: &C,
    row: &entity::Model,
    advance: Advance,
) -> Result<entity::Model, Error> {
    let mut next = row.clone();
    next.step = advance.step.to_string();
    // Attempts and the retry note belong to the step just finished.
    next.attempts = 0;
    next.exception_reason = None;
    if let Some(t) = advance.template_id {
        next.template_id = t;
    }
    if let Some(v) = advance.template_version {
        next.template_version = i64::from(v);
    }
    if let Some(p) = advance.project_id {
        next.project_id = p;
    }
    if let Some(c) = advance.project_code {
        next.project_code = c;
    }
    if advance.step == step::DONE {
        next.state = COMPLETED.into();
        next.lease_owner = None;
        next.lease_until = None;
    }
    next.updated_at = Utc::now();
    save(txn, &next).await?;
    audit::append(
        txn,
        AuditEntry {
            actor: crate::SERVICE_NAME,
            record_type: "setup",
            record_id: &row.id,
            action: if advance.step == step::DONE {
                "completed"
            } else {
                "step_completed"
            },
            detail: serde_json::json!({
                "from": row.step, "to": next.step, "template_id": next.template_id,
                "template_version": next.template_version,
                "project_id": next.project_id, "project_code": next.project_code,
                "recommendation_id": advance.approval.as_ref().map(|a| a.0.as_str()),
                "approved_by": advance.approval.as_ref().map(|a| a.1.as_str()),
            }),
        },
    )
    .await?;
    Ok(next)
}

/// Stops a setup with a reason a person must act on.
pub async fn to_exception<C: ConnectionTrait>(
    txn: &C,
    row: &entity::Model,
    code: &str,
    reason: &str,
    fields: &[String],
) -> Result<entity::Model, Error> {
    let mut next = row.clone();
    next.state = EXCEPTION.into();
    next.exception_code = Some(code.to_string());
    next.exception_reason = Some(reason.to_string());
    next.exception_fields = serde_json::to_string(fields).unwrap_or_else(|_| "[]".into());
    next.lease_owner = None;
    next.lease_until = None;
    next.updated_at = Utc::now();
    save(txn, &next).await?;
    audit::append(
        txn,
        AuditEntry {
            actor: crate::SERVICE_NAME,
            record_type: "setup",
            record_id: &row.id,
            action: "exception",
            detail: serde_json::json!({ "step": row.step, "code": code, "reason": reason, "fields": fields }),
        },
    )
    .await?;
    Ok(next)
}

/// How long a setup waiting on a person's decision sleeps before it looks again, should the
/// decision's wake-up be lost.
pub const DECISION_RECHECK: chrono::Duration = chrono::Duration::minutes(10);

/// Holds a setup at `select-template` until a person decides its intake recommendation: it
/// stays running, releases its lease, and says what it waits for. Audited once per wait.
pub async fn wait_for_decision<C: ConnectionTrait>(
    txn: &C,
    row: &entity::Model,
    recommendation_id: &str,
) -> Result<(), Error> {
    let note = format!("waiting for a person to decide intake recommendation {recommendation_id}");
    let first = row.exception_reason.as_deref() != Some(note.as_str());
    let mut next = row.clone();
    next.next_attempt_at = Utc::now() + DECISION_RECHECK;
    next.lease_owner = None;
    next.lease_until = None;
    next.exception_reason = Some(note);
    next.updated_at = Utc::now();
    save(txn, &next).await?;
    if first {
        audit::append(
            txn,
            AuditEntry {
                actor: crate::SERVICE_NAME,
                record_type: "setup",
                record_id: &row.id,
                action: "awaiting_decision",
                detail: serde_json::json!({ "step": row.step, "recommendation_id": recommendation_id }),
            },
        )
        .await?;
    }
    Ok(())
}

/// Makes a running setup of `opportunity_id` that waits at `select-template` due now.
pub async fn wake_waiting<C: ConnectionTrait>(txn: &C, opportunity_id: &str) -> Result<(), Error> {
    entity::Entity::update_many()
        .col_expr(entity::Column::NextAttemptAt, Expr::value(Utc::now()))
        .filter(entity::Column::OpportunityId.eq(opportunity_id))
        .filter(entity::Column::State.eq(RUNNING))
        .filter(entity::Column::Step.eq(step::SELECT_TEMPLATE))
        .exec(txn)
        .await
        .map_err(keel_store::db_error)?;
    Ok(())
}

/// Schedules another attempt of the current step after a transient failure.
pub async fn retry_later<C: ConnectionTrait>(
    db: &C,
    row: &entity::Model,
    at: DateTime<Utc>,
    error: &str,
) -> Result<(), Error> {
    let mut next = row.clone();
    next.attempts += 1;
    next.next_attempt_at = at;
    next.lease_owner = None;
    next.lease_until = None;
    next.exception_reason = Some(format!("retrying: {error}"));
    next.updated_at = Utc::now();
    save(db, &next).await
}

async fn save<C: ConnectionTrait>(db: &C, row: &entity::Model) -> Result<(), Error> {
    let active = entity::ActiveModel {
        id: Set(row.id.clone()),
        state: Set(row.state.clone()),
        step: Set(row.step.clone()),
        template_id: Set(row.template_id.clone()),
        template_version: Set(row.template_version),
        project_id: Set(row.project_id.clone()),
        project_code: Set(row.project_code.clone()),
        exception_code: Set(row.exception_code.clone()),
        exception_reason: Set(row.exception_reason.clone()),
        exception_fields: Set(row.exception_fields.clone()),
        attempts: Set(row.attempts),
        next_attempt_at: Set(row.next_attempt_at),
        lease_owner: Set(row.lease_owner.clone()),
        lease_until: Set(row.lease_until),
        updated_at: Set(row.updated_at),
        ..Default::default()
    };
    entity::Entity::update(active)
        .exec(db)
        .await
        .map_err(keel_store::db_error)?;
    Ok(())
}
