//! The reference ERP's tables as sea-orm entities.
//!
//! Ids are UUIDv7 text, so ordering by id is creation order. Money is integer minor units plus
//! a currency column, never a float or decimal column; decimals such as hours are text.

/// Named counters for document numbers (`project_code` gives `PRJ-000001`, ...). A number is
/// taken by incrementing its row inside the transaction that uses it, so numbers are unique,
/// and gap-free because a rolled-back change gives its number back.
pub mod number_sequence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "number_sequences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// The last number handed out; 0 before the first.
        pub last_value: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A project code: the ERP's handle for a PSA project, which its budget and (later) its
/// journal lines are booked against.
pub mod project_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// `PRJ-000042`, unique.
        #[sea_orm(unique)]
        pub code: String,
        /// The PSA project; one code per project.
        #[sea_orm(unique)]
        pub project_id: String,
        pub name: String,
        pub legal_entity: String,
        /// ISO 4217; every amount booked against the code is in it.
        pub currency: String,
        /// `open` or `closed`.
        pub status: String,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
        /// 1 when opened, +1 per change.
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The budget of a project code (one per code), with its exact total.
pub mod budget {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "budgets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub project_code_id: String,
        pub currency: String,
        /// The sum of the lines' `amount_minor_units`.
        pub total_minor_units: i64,
        pub posted_at: DateTimeUtc,
        pub posted_by: String,
        /// 1 when posted, +1 per change order.
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One line of a budget: a role, its hours and its amount.
pub mod budget_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "budget_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub budget_id: String,
        /// The line's position in the posted budget, from 0.
        pub line_number: i32,
        pub role: String,
        /// A decimal, as text.
        pub hours: String,
        pub amount_minor_units: i64,
        pub currency: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
