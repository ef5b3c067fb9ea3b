//! The documents tables.

pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// `keel.documents.v1.DocumentType` as its number.
        pub document_type: i32,
        pub title: String,
        pub client_id: String,
        pub project_id: Option<String>,
        /// Optimistic concurrency: 1 when created, +1 per change.
        pub version: i64,
        /// How many content versions exist; the latest is this number.
        pub version_count: i32,
        /// YYYY-MM-DD.
        pub retain_until: Option<String>,
        pub legal_hold: bool,
        pub legal_hold_reason: String,
        /// The envelope out for signature, if one is; at most one at a time.
        pub signing_envelope_id: Option<String>,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod document_version {
    use sea_orm::entity::prelude::*;

    /// A version's description; its bytes are in `document_contents`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "document_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub document_id: String,
        pub number: i32,
        pub file_name: String,
        pub content_type: String,
        pub size_bytes: i64,
        /// Lower-case hex SHA-256 of the content.
        pub sha256: String,
        pub created_at: DateTimeUtc,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod document_content {
    use sea_orm::entity::prelude::*;

    /// The bytes of one version, kept apart so listing versions never loads them.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "document_contents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version_id: String,
        pub content: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod envelope {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "envelopes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub document_id: String,
        /// The document version being signed.
        pub document_version: i32,
        /// `keel.documents.v1.EnvelopeStatus` as its number.
        pub status: i32,
        /// The signers in order, as JSON (`reference::envelopes::StoredSigner`).
        pub signers: String,
        pub declined_by: String,
        pub decline_reason: String,
        pub completed_at: Option<DateTimeUtc>,
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
