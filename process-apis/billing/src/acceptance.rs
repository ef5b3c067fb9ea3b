//! Deliverable acceptances: the client's acceptance of a milestone's deliverable, recorded by
//! billing in its own table (one row per PSA milestone), each recording audited and
//! idempotent.

use chrono::{SubsecRound, Utc};
use keel_core::Error;
use keel_proto::billing::{DeliverableAcceptance, RecordDeliverableAcceptanceRequest};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use keel_store::idempotency::run_once;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::json;

use crate::readiness::MilestoneRef;

/// The audit record type of acceptances.
pub const RECORD_TYPE: &str = "deliverable_acceptance";
const SCOPE: &str = "billing.record_deliverable_acceptance";

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliverable_acceptances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub milestone_id: String,
        pub milestone_name: String,
        pub accepted_by: String,
        pub note: String,
        pub recorded_by: String,
        pub recorded_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A checked acceptance, ready to record.
#[derive(Debug, Clone)]
pub struct NewAcceptance {
    pub at: MilestoneRef,
    pub milestone_name: String,
    pub accepted_by: String,
    pub note: String,
}

fn to_proto(row: &entity::Model) -> DeliverableAcceptance {
    DeliverableAcceptance {
        project_id: row.project_id.clone(),
        milestone_id: row.milestone_id.clone(),
        milestone_name: row.milestone_name.clone(),
        accepted_by: row.accepted_by.clone(),
        note: row.note.clone(),
        recorded_by: row.recorded_by.clone(),
        recorded_at: Some(keel_core::time::to_timestamp(row.recorded_at)),
    }
}

/// The acceptance of a milestone, if recorded.
pub async fn find<C: ConnectionTrait>(db: &C, at: &MilestoneRef) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find_by_id((at.project_id.clone(), at.milestone_id.clone()))
        .one(db)
        .await
        .map_err(db_error)
}

/// Records an acceptance once per idempotency key; a milestone already accepted answers its
/// first acceptance and records nothing.
pub async fn record(
    db: &DatabaseConnection,
    request: &RecordDeliverableAcceptanceRequest,
    new: NewAcceptance,
    actor: &str,
) -> Result<DeliverableAcceptance, Error> {
    let actor = actor.to_string();
    run_once(db, SCOPE, &request.idempotency_key, request, move |txn| {
        Box::pin(async move { insert(txn, new, &actor).await })
    })
    .await
}

async fn insert(txn: &DatabaseTransaction, new: NewAcceptance, actor: &str) -> Result<DeliverableAcceptance, Error> {
    if let Some(existing) = find(txn, &new.at).await? {
        return Ok(to_proto(&existing));
    }
    let row = entity::Model {
        project_id: new.at.project_id.clone(),
        milestone_id: new.at.milestone_id.clone(),
        milestone_name: new.milestone_name,
        accepted_by: new.accepted_by,
        note: new.note,
        recorded_by: actor.to_string(),
        // Microseconds: what every store keeps, so the first answer equals every later read.
        recorded_at: Utc::now().trunc_subsecs(6),
    };
    entity::Entity::insert(entity::ActiveModel::from(row.clone()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: RECORD_TYPE,
            record_id: &new.at.business_key(),
            action: "accepted",
            detail: json!({
                "project_id": row.project_id,
                "milestone_id": row.milestone_id,
                "milestone_name": row.milestone_name,
                "accepted_by": row.accepted_by,
                "note": row.note,
            }),
        },
    )
    .await?;
    Ok(to_proto(&row))
}
