//! Support's tables.

pub mod ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub account_id: String,
        pub project_id: String,
        pub title: String,
        pub description: String,
        /// `keel.support.v1.Severity` as its number, so `>=` means "at least as severe".
        pub severity: i32,
        /// `keel.support.v1.TicketStatus` as its number.
        pub status: i32,
        pub escalated: bool,
        pub escalation_count: i32,
        pub escalation_reason: String,
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
