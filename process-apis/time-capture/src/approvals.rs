//! The approval chain's progress, kept in time capture's own store. PSA keeps one approved
//! state per entry; an entry the policy's chain gives two steps is approved in PSA only at
//! its last step. Each step given so far is a row here, keyed by the entry and its PSA
//! version at the time: a rejection or an edit moves the version on, so the chain of the
//! next submission starts again from its first step.

use chrono::{DateTime, Utc};
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "time_approval_steps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub time_entry_id: String,
        /// The entry's PSA version when the step was given.
        pub entry_version: i64,
        /// 1 for the project manager's approval, 2 for the second step.
        pub step: i32,
        /// The steps the chain asked of this entry when the step was given.
        pub steps_required: i32,
        pub approver_id: String,
        pub approved_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One approval given in an entry's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepApproval {
    pub step: u32,
    pub steps_required: u32,
    pub approver_id: String,
    pub approved_at: DateTime<Utc>,
}

/// The approvals given so far to an entry at its PSA `version`, in step order.
pub async fn given(db: &impl ConnectionTrait, time_entry_id: &str, version: i64) -> Result<Vec<StepApproval>, Error> {
    let rows = entity::Entity::find()
        .filter(entity::Column::TimeEntryId.eq(time_entry_id))
        .filter(entity::Column::EntryVersion.eq(version))
        .order_by_asc(entity::Column::Step)
        .all(db)
        .await
        .map_err(keel_store::db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| StepApproval {
            step: r.step as u32,
            steps_required: r.steps_required as u32,
            approver_id: r.approver_id,
            approved_at: r.approved_at,
        })
        .collect())
}

/// Records a step's approval (in the caller's transaction). A second approval of the same
/// step at the same version is refused by the table's unique key.
pub async fn record(
    db: &impl ConnectionTrait,
    time_entry_id: &str,
    version: i64,
    approval: &StepApproval,
) -> Result<(), Error> {
    entity::Entity::insert(entity::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        time_entry_id: Set(time_entry_id.to_string()),
        entry_version: Set(version),
        step: Set(approval.step as i32),
        steps_required: Set(approval.steps_required as i32),
        approver_id: Set(approval.approver_id.clone()),
        approved_at: Set(approval.approved_at),
    })
    .exec(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Aborted(format!(
            "step {} of time entry {time_entry_id} was approved meanwhile; read the entry again",
            approval.step
        )),
        _ => keel_store::db_error(e),
    })?;
    Ok(())
}
