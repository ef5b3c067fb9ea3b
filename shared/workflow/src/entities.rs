//! The engine's tables.

/// One workflow instance.
pub mod instance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflow_instances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub business_key: String,
        /// `kind/business_key` while the instance is open, `NULL` once closed: a unique index on
        /// it allows at most one open instance per business key.
        pub open_key: Option<String>,
        /// See [`crate::Status`].
        pub status: String,
        pub input: String,
        pub versions: String,
        /// Index of the next step to run.
        pub step_index: i32,
        /// Attempts of the current step so far.
        pub attempts: i32,
        pub next_run_at: DateTimeUtc,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        /// Why the instance is in the exception queue (`RETRIES_EXHAUSTED`, `INVALID_INPUT`, ...).
        pub reason: Option<String>,
        pub last_error: Option<String>,
        pub owning_team: String,
        pub note: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The journal: one row per step done (and undone).
pub mod step {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflow_steps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub instance_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub step: String,
        pub result: String,
        pub attempts: i32,
        pub completed_at: DateTimeUtc,
        pub compensated_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A person's decision a step waits for.
pub mod approval {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflow_approvals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub instance_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub step: String,
        pub role: String,
        pub submitter: String,
        pub summary: String,
        pub requested_at: DateTimeUtc,
        pub due_at: DateTimeUtc,
        pub escalate_to: Option<String>,
        pub escalated: bool,
        /// `approved` or `rejected` once decided.
        pub decision: Option<String>,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An outage of a system API as the engine saw it: opened by the first transient failure,
/// closed by the first success after it.
pub mod incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflow_incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub system: String,
        /// `system` while the incident is open, `NULL` once closed (one open incident per system).
        pub open_system: Option<String>,
        pub opened_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        pub first_error: String,
        /// Failures seen during the incident.
        pub failures: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
