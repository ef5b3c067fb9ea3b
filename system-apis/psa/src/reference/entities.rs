//! The reference PSA's tables as sea-orm entities. Ids are UUIDv7 text (ordering by id is
//! creation order); money is integer minor units beside its currency; hours are decimal text.

/// A delivery template at its current version.
pub mod delivery_template {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "delivery_templates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub version: i32,
        pub service_line: String,
        pub contract_type: String,
        pub region: String,
        pub client_tier: String,
        /// The whole template (name, selector, phases, milestones) as JSON.
        pub content: String,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every version a delivery template has had; never updated.
pub mod delivery_template_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "delivery_template_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub template_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub content: String,
        pub created_at: DateTimeUtc,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A project; its phases, tasks, milestones and budget lines are child rows.
pub mod project {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Unique: one project per opportunity.
        pub opportunity_id: String,
        pub account_id: String,
        pub name: String,
        /// `planned`, `active` or `closed`.
        pub status: String,
        pub template_id: String,
        pub template_version: i32,
        pub service_line: String,
        pub contract_type: String,
        pub region: String,
        pub client_tier: String,
        pub currency: String,
        pub contract_value_minor: i64,
        pub start_date: Date,
        pub total_hours: String,
        /// Starts at 1, +1 per change.
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

/// A phase of a project, by position.
pub mod project_phase {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_phases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A task of a project phase, by position within the phase.
pub mod project_task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub phase_position: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub name: String,
        pub role: String,
        pub planned_hours: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A billing milestone of a project, by position.
pub mod project_milestone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_milestones")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub name: String,
        pub currency: String,
        pub amount_minor: i64,
        pub due_date: Date,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A line of a project's budget baseline: one labor role, by position.
pub mod project_budget_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_budget_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub role: String,
        pub hours: String,
        pub currency: String,
        pub amount_minor: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The entity boilerplate: no relations, default behaviour.
macro_rules! plain_entity {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// A project's rate card; the rates are JSON.
pub mod project_rate_card {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_rate_cards")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        pub currency: String,
        pub rates: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}

/// A person on a project.
pub mod assignment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assignments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub employee_id: String,
        pub person_name: String,
        pub role: String,
        pub bill_role: String,
        pub start_date: Date,
        pub end_date: Date,
        pub allocation_percent: String,
        /// `active` or `ended`.
        pub state: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}

/// Hours a person worked on a project.
pub mod time_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "time_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub employee_id: String,
        pub assignment_id: String,
        pub task: String,
        pub work_date: Date,
        pub hours: String,
        pub narrative: String,
        pub billable: bool,
        pub role: String,
        pub currency: String,
        pub rate_minor: i64,
        pub amount_minor: i64,
        pub exact_amount: String,
        /// `draft`, `submitted`, `approved`, `rejected` or `posted`.
        pub state: String,
        pub rejection_reason: String,
        pub approver_id: String,
        pub reapproval_required: bool,
        pub journal_reference: String,
        pub version: i64,
        /// When the entry was first submitted; `None` while it never was.
        pub submitted_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}

/// A change to a project's scope, hours and money.
pub mod change_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub title: String,
        pub description: String,
        pub role: String,
        pub delta_hours: String,
        pub currency: String,
        pub delta_amount_minor: i64,
        pub affected_milestones: String,
        /// `draft`, `submitted`, `approved`, `rejected` or `applied`.
        pub state: String,
        pub reason: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}

/// An expense: what a person spent on a project.
pub mod expense {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "expenses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub employee_id: String,
        pub assignment_id: String,
        pub expense_date: Date,
        pub category: String,
        pub description: String,
        pub currency: String,
        pub amount_minor: i64,
        pub billable: bool,
        /// Empty when there is no receipt.
        pub receipt_document_id: String,
        /// `draft`, `submitted`, `approved`, `rejected` or `posted`.
        pub state: String,
        pub rejection_reason: String,
        pub approver_id: String,
        pub journal_reference: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}

/// A resource request: a role a project needs staffed, with its requirements.
pub mod resource_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "resource_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub role: String,
        pub bill_role: String,
        pub start_date: Date,
        pub end_date: Date,
        pub allocation_percent: String,
        /// Skills, certifications and languages as JSON.
        pub requirements: String,
        pub region: String,
        pub location: String,
        pub requested_by: String,
        pub notes: String,
        /// `open`, `proposed`, `filled` or `cancelled`.
        pub state: String,
        pub proposed_employee_id: String,
        pub assignment_id: String,
        pub reason: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    plain_entity!();
}
