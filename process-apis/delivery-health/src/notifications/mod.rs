//! Notifications: every alert, and every approval request another workflow reports through
//! [`Notifier::approval_requested`], stored once (unique per kind and subject), broadcast to
//! in-process subscribers (a GraphQL subscription subscribes with [`Notifier::subscribe`]),
//! and, when an outbound webhook is configured, queued for [`webhook::WebhookDelivery`],
//! which sends it from the table until it is delivered.

pub mod approvals;
pub mod slack;
pub mod webhook;

use chrono::Utc;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::health as pb;
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryOrder, QuerySelect};
use tokio::sync::broadcast;

use crate::alerts::{self, Recipient, recipients_of};

pub use webhook::{WebhookDelivery, WebhookSettings};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub subject_id: String,
        pub project_id: String,
        pub text: String,
        /// The Slack-compatible JSON body the webhook receives.
        pub payload: String,
        pub recipients: String,
        pub delivery: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub lease_until: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What a notification is about.
pub mod kind {
    pub const ALERT: &str = "ALERT";
    pub const APPROVAL_REQUEST: &str = "APPROVAL_REQUEST";
}

/// Where a notification stands with the outbound webhook.
pub mod delivery {
    /// Waiting for (another) attempt.
    pub const PENDING: &str = "PENDING";
    pub const DELIVERED: &str = "DELIVERED";
    /// No webhook was configured when it was stored.
    pub const NOT_SENT: &str = "NOT_SENT";
    /// Attempts exhausted (`max_attempts`); operations may look at `last_error`.
    pub const FAILED: &str = "FAILED";
}

/// How many notifications a slow subscriber may fall behind before it misses some.
pub const BROADCAST_CAPACITY: usize = 1024;

/// An approval request another workflow wants people told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The request's stable id (a workflow approval id): one notification per id.
    pub id: String,
    pub project_id: String,
    /// What is to be approved, in words.
    pub title: String,
    /// Who decides.
    pub recipients: Vec<Recipient>,
    /// Who asked.
    pub requested_by: String,
}

/// Stores notifications and broadcasts them. Clones share the channel.
#[derive(Debug, Clone)]
pub struct Notifier {
    sender: broadcast::Sender<pb::Notification>,
    webhook_enabled: bool,
}

/// A notification about to be stored.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub kind: &'static str,
    pub subject_id: String,
    pub project_id: String,
    pub title: String,
    pub text: String,
    pub details: Vec<(String, String)>,
    pub recipients: Vec<Recipient>,
}

/// The gRPC view of a notification.
pub fn to_proto(row: &entity::Model) -> pb::Notification {
    pb::Notification {
        id: row.id.clone(),
        kind: row.kind.clone(),
        subject_id: row.subject_id.clone(),
        project_id: row.project_id.clone(),
        text: row.text.clone(),
        recipients: recipients_of(&row.recipients).iter().map(Recipient::to_proto).collect(),
        delivery: row.delivery.clone(),
        delivery_attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_error: row.last_error.clone().unwrap_or_default(),
        created_at: Some(keel_core::time::to_timestamp(row.created_at)),
        delivered_at: row.delivered_at.map(keel_core::time::to_timestamp),
    }
}

impl Notifier {
    /// A notifier; `webhook_enabled` says whether stored notifications are queued for the
    /// outbound webhook (a URL is configured) or marked NOT_SENT.
    pub fn new(webhook_enabled: bool) -> Notifier {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        Notifier {
            sender,
            webhook_enabled,
        }
    }

    /// Every notification stored from now on, as it is committed.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::Notification> {
        self.sender.subscribe()
    }

    /// Tells subscribers of committed notifications (none listening is fine).
    pub fn publish(&self, rows: &[entity::Model]) {
        for row in rows {
            let _ = self.sender.send(to_proto(row));
        }
    }

    /// Stores `new` inside the caller's transaction; publish it once committed.
    pub async fn record<C: ConnectionTrait>(&self, txn: &C, new: NewNotification) -> Result<entity::Model, Error> {
        let now = Utc::now();
        let row = entity::Model {
            id: keel_core::ids::new_id().to_string(),
            kind: new.kind.to_string(),
            subject_id: new.subject_id,
            project_id: new.project_id,
            payload: slack::payload(&new.title, &new.text, &new.details).to_string(),
            text: new.text,
            recipients: serde_json::to_string(&new.recipients).map_err(Error::internal)?,
            delivery: if self.webhook_enabled {
                delivery::PENDING
            } else {
                delivery::NOT_SENT
            }
            .to_string(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        };
        entity::Entity::insert(entity::ActiveModel::from(row.clone()))
            .exec(txn)
            .await
            .map_err(keel_store::db_error)?;
        Ok(row)
    }

    /// The notification of a newly opened alert.
    pub async fn alert_opened<C: ConnectionTrait>(
        &self,
        txn: &C,
        alert: &alerts::entity::Model,
        project_name: &str,
    ) -> Result<entity::Model, Error> {
        let project = if project_name.is_empty() {
            alert.project_id.clone()
        } else {
            project_name.to_string()
        };
        let title = format!("{project}: {}", alert.kind.replace('_', " ").to_lowercase());
        self.record(
            txn,
            NewNotification {
                kind: kind::ALERT,
                subject_id: alert.id.clone(),
                project_id: alert.project_id.clone(),
                text: format!("{title}. {}", alert.summary),
                title,
                details: vec![
                    ("Measured".into(), alert.measured.clone()),
                    ("Threshold".into(), alert.threshold.clone()),
                    ("Policy".into(), alert.policy_version.clone()),
                    ("Recipients".into(), recipient_names(&recipients_of(&alert.recipients))),
                ],
                recipients: recipients_of(&alert.recipients),
            },
        )
        .await
    }

    /// Stores and broadcasts the notification of an approval request, once per request id:
    /// a second call with the same id answers the first notification.
    pub async fn approval_requested(
        &self,
        db: &DatabaseConnection,
        request: ApprovalRequest,
    ) -> Result<pb::Notification, Error> {
        if let Some(existing) = find(db, kind::APPROVAL_REQUEST, &request.id).await? {
            return Ok(to_proto(&existing));
        }
        let txn = keel_store::begin_write(db).await?;
        let new = NewNotification {
            kind: kind::APPROVAL_REQUEST,
            subject_id: request.id.clone(),
            project_id: request.project_id.clone(),
            title: format!("Approval requested: {}", request.title),
            text: format!(
                "Approval requested by {}: {} (project {})",
                request.requested_by, request.title, request.project_id
            ),
            details: vec![("Approvers".into(), recipient_names(&request.recipients))],
            recipients: request.recipients,
        };
        let row = match self.record(&txn, new).await {
            Ok(row) => row,
            Err(error) => {
                drop(txn);
                // A concurrent call stored it first.
                return match find(db, kind::APPROVAL_REQUEST, &request.id).await? {
                    Some(existing) => Ok(to_proto(&existing)),
                    None => Err(error),
                };
            }
        };
        txn.commit().await.map_err(keel_store::db_error)?;
        self.publish(std::slice::from_ref(&row));
        Ok(to_proto(&row))
    }
}

fn recipient_names(recipients: &[Recipient]) -> String {
    recipients
        .iter()
        .map(|r| {
            if r.employee_id.is_empty() {
                r.role.clone()
            } else {
                format!("{} ({})", r.role, r.employee_id)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The notification of `subject_id`, if stored.
pub async fn find<C: ConnectionTrait>(db: &C, kind: &str, subject_id: &str) -> Result<Option<entity::Model>, Error> {
    entity::Entity::find()
        .filter(entity::Column::Kind.eq(kind))
        .filter(entity::Column::SubjectId.eq(subject_id))
        .one(db)
        .await
        .map_err(keel_store::db_error)
}

/// A page of notifications, newest first, optionally of one project.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    project_id: Option<&str>,
    page: &Page,
) -> Result<Vec<entity::Model>, Error> {
    let mut query = entity::Entity::find();
    if let Some(project_id) = project_id {
        query = query.filter(entity::Column::ProjectId.eq(project_id));
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
