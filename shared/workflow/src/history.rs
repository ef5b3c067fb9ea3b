//! The exception history: every stay of an instance in the exception queue, read back from
//! the audit log the engine and operations already write (`exception_raised`, then the
//! operator's `retried`, `resolved` or `abandon_requested`). Nothing new is recorded for it,
//! so the history reaches back to the first instance the store ever ran, and it is as
//! tamper-evident as the audit chain itself.
//!
//! The engine does not know which project an instance belongs to: an episode carries the
//! instance's kind, business key and input, and the reader decides (the close-out matches
//! business keys against the project's records).

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_core::paging::Page;
use keel_store::audit;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use crate::engine::{Engine, RECORD_TYPE};
use crate::entities::instance;

/// The audit action that puts an instance in the exception queue.
pub const RAISED: &str = "exception_raised";

/// How an episode ended: the operator's action that took the instance out of the queue.
const ENDINGS: [(&str, &str); 3] = [
    ("retried", "retried"),
    ("resolved", "resolved"),
    ("abandon_requested", "abandoned"),
];

/// One stay of an instance in the exception queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionEpisode {
    /// The audit entry that raised it (UUIDv7: episodes page in the order they were raised).
    pub id: Uuid,
    pub instance_id: Uuid,
    pub kind: String,
    pub business_key: String,
    pub owning_team: String,
    /// `FAILED_PRECONDITION`, `RETRIES_EXHAUSTED`, `APPROVAL_TIMED_OUT`, ...
    pub reason: String,
    pub error: String,
    pub raised_at: DateTime<Utc>,
    /// `retried`, `resolved` or `abandoned`; `None` while the instance is still in the queue.
    pub outcome: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// The note operations gave when resolving or abandoning.
    pub note: Option<String>,
    /// The instance's input, so a reader can tell what it was about.
    pub input: Value,
}

fn db_error(e: sea_orm::DbErr) -> Error {
    keel_store::db_error(e)
}

fn text(detail: &Value, key: &str) -> String {
    detail.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Engine {
    /// Exception episodes raised at or after `raised_since` (all when `None`), in the order
    /// they were raised, a page at a time (keyset on the raising audit entry's id).
    pub async fn exception_history(
        &self,
        raised_since: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<Vec<ExceptionEpisode>, Error> {
        let mut query = audit::entity::Entity::find()
            .filter(audit::entity::Column::RecordType.eq(RECORD_TYPE))
            .filter(audit::entity::Column::Action.eq(RAISED))
            .order_by_asc(audit::entity::Column::Id)
            .limit(page.size);
        if let Some(since) = raised_since {
            query = query.filter(audit::entity::Column::At.gte(since));
        }
        if let Some(after) = page.after {
            query = query.filter(audit::entity::Column::Id.gt(after.to_string()));
        }
        let raised = query.all(self.db()).await.map_err(db_error)?;
        let mut episodes = Vec::with_capacity(raised.len());
        for entry in raised {
            let Some(row) = instance::Entity::find_by_id(entry.record_id.clone())
                .one(self.db())
                .await
                .map_err(db_error)?
            else {
                continue;
            };
            let ending = audit::history(self.db(), RECORD_TYPE, &entry.record_id)
                .await?
                .into_iter()
                .filter(|later| later.seq > entry.seq)
                .find_map(|later| {
                    ENDINGS
                        .iter()
                        .find(|(action, _)| *action == later.action)
                        .map(|(_, outcome)| (*outcome, later))
                });
            let detail: Value = serde_json::from_str(&entry.detail).unwrap_or(Value::Null);
            let (outcome, closed_at, closed_by, note) = match ending {
                Some((outcome, closing)) => {
                    let closing_detail: Value = serde_json::from_str(&closing.detail).unwrap_or(Value::Null);
                    let note = text(&closing_detail, "note");
                    (
                        Some(outcome.to_string()),
                        Some(closing.at),
                        Some(closing.actor),
                        (!note.is_empty()).then_some(note),
                    )
                }
                None => (None, None, None, None),
            };
            let mut error = text(&detail, "error");
            let role = text(&detail, "role");
            if error.is_empty() && !role.is_empty() {
                // An approval that timed out records the role that did not decide.
                error = format!("no decision from {role} in time");
            }
            episodes.push(ExceptionEpisode {
                id: Uuid::parse_str(&entry.id).map_err(Error::internal)?,
                instance_id: Uuid::parse_str(&row.id).map_err(Error::internal)?,
                kind: row.kind,
                business_key: row.business_key,
                owning_team: row.owning_team,
                reason: text(&detail, "reason"),
                error,
                raised_at: entry.at,
                outcome,
                closed_at,
                closed_by,
                note,
                input: serde_json::from_str(&row.input).unwrap_or(Value::Null),
            });
        }
        Ok(episodes)
    }
}
