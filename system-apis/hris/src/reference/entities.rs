//! HRIS's tables.

pub mod employee {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "employees")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub employee_number: String,
        pub name: String,
        pub email: String,
        pub legal_entity: String,
        pub location: String,
        pub region: String,
        pub labor_category: String,
        /// The hourly cost rate in minor units of `currency`.
        pub cost_rate_minor: i64,
        pub currency: String,
        /// A decimal string, a fraction from 0 to 1.
        pub utilization_target: String,
        pub manager_employee_number: String,
        pub active: bool,
        /// JSON arrays of the checked domain values.
        pub skills: String,
        pub certifications: String,
        pub languages: String,
        pub time_off: String,
        /// A decimal string.
        pub weekly_capacity_hours: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod employee_import {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "employee_imports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub idempotency_key: String,
        pub fingerprint: String,
        pub source: String,
        /// "running" or "completed".
        pub status: String,
        pub rows_total: i64,
        /// The encoded `keel.hris.v1.ImportReport` once completed.
        pub report: Vec<u8>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        /// Moved on after every batch; a running import whose heartbeat stopped may be taken over.
        pub heartbeat_at: DateTimeUtc,
        pub completed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
