//! Storing delivery templates: the current version in `delivery_templates`, every version in
//! `delivery_template_versions`, the content as JSON (decimals as text).

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_proto::psa::{DeliveryTemplate, TemplateMilestone, TemplatePhase, TemplateTask};
use keel_store::audit::{self, AuditEntry};
use keel_store::db_error;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::entities::{delivery_template, delivery_template_version};
use crate::domain::TemplateSpec;

/// The most delivery templates one PSA holds, so that listing them stays bounded.
pub const MAX_TEMPLATES: u64 = 500;

/// A template's content as stored: the contract's fields, decimals as text.
#[derive(Debug, Serialize, Deserialize)]
struct StoredTemplate {
    name: String,
    service_line: String,
    contract_type: String,
    region: String,
    client_tier: String,
    phases: Vec<StoredPhase>,
    milestones: Vec<StoredMilestone>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredPhase {
    name: String,
    tasks: Vec<StoredTask>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTask {
    name: String,
    role: String,
    hours: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredMilestone {
    name: String,
    percent_of_fee: String,
    due_after_days: u32,
}

impl StoredTemplate {
    fn of(spec: &TemplateSpec) -> StoredTemplate {
        let proto = spec.to_proto(0);
        StoredTemplate {
            name: proto.name,
            service_line: proto.service_line,
            contract_type: proto.contract_type,
            region: proto.region,
            client_tier: proto.client_tier,
            phases: proto
                .phases
                .into_iter()
                .map(|phase| StoredPhase {
                    name: phase.name,
                    tasks: phase
                        .tasks
                        .into_iter()
                        .map(|task| StoredTask {
                            name: task.name,
                            role: task.role,
                            hours: task.hours,
                        })
                        .collect(),
                })
                .collect(),
            milestones: proto
                .milestones
                .into_iter()
                .map(|m| StoredMilestone {
                    name: m.name,
                    percent_of_fee: m.percent_of_fee,
                    due_after_days: m.due_after_days,
                })
                .collect(),
        }
    }

    fn into_proto(self, id: &str, version: u32) -> DeliveryTemplate {
        DeliveryTemplate {
            id: id.to_string(),
            name: self.name,
            version,
            service_line: self.service_line,
            contract_type: self.contract_type,
            region: self.region,
            client_tier: self.client_tier,
            phases: self
                .phases
                .into_iter()
                .map(|phase| TemplatePhase {
                    name: phase.name,
                    tasks: phase
                        .tasks
                        .into_iter()
                        .map(|task| TemplateTask {
                            name: task.name,
                            role: task.role,
                            hours: task.hours,
                        })
                        .collect(),
                })
                .collect(),
            milestones: self
                .milestones
                .into_iter()
                .map(|m| TemplateMilestone {
                    name: m.name,
                    percent_of_fee: m.percent_of_fee,
                    due_after_days: m.due_after_days,
                })
                .collect(),
        }
    }
}

fn version_of(row: &delivery_template::Model) -> Result<u32, Error> {
    u32::try_from(row.version)
        .map_err(|_| Error::internal(format!("delivery template {} has version {}", row.id, row.version)))
}

/// The contract's form of a stored template.
pub(crate) fn to_proto(row: &delivery_template::Model) -> Result<DeliveryTemplate, Error> {
    let stored: StoredTemplate = serde_json::from_str(&row.content)
        .map_err(|e| Error::internal(format!("delivery template {} does not read back: {e}", row.id)))?;
    Ok(stored.into_proto(&row.id, version_of(row)?))
}

/// The checked form of a stored template, and its version.
pub(crate) fn to_spec(row: &delivery_template::Model) -> Result<(TemplateSpec, u32), Error> {
    let proto = to_proto(row)?;
    let spec = TemplateSpec::parse("template", Some(&proto)).map_err(|e| {
        Error::internal(format!(
            "stored delivery template {} no longer passes its checks: {e}",
            row.id
        ))
    })?;
    Ok((spec, proto.version))
}

/// The template with `id`, at its current version.
pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<delivery_template::Model>, Error> {
    delivery_template::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_error)
}

/// Every template at its current version, by id.
pub(crate) async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<DeliveryTemplate>, Error> {
    let rows = delivery_template::Entity::find()
        .order_by_asc(delivery_template::Column::Id)
        .limit(MAX_TEMPLATES)
        .all(db)
        .await
        .map_err(db_error)?;
    rows.iter().map(to_proto).collect()
}

/// Stores `spec` inside the caller's transaction: version 1 for a new id, the next version
/// when the content changed (with an audit entry each time), nothing when it did not.
pub(crate) async fn upsert<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    spec: &TemplateSpec,
    now: DateTime<Utc>,
) -> Result<DeliveryTemplate, Error> {
    let id = spec.id().as_str();
    let content = serde_json::to_string(&StoredTemplate::of(spec)).map_err(Error::internal)?;
    let selector = spec.selector();
    let (version, action, row) = match find(txn, id).await? {
        None => {
            let count = delivery_template::Entity::find().count(txn).await.map_err(db_error)?;
            if count >= MAX_TEMPLATES {
                return Err(Error::FailedPrecondition(format!(
                    "the PSA already holds {MAX_TEMPLATES} delivery templates, the most it keeps"
                )));
            }
            let row = delivery_template::ActiveModel {
                id: Set(id.to_string()),
                name: Set(spec.name().to_string()),
                version: Set(1),
                service_line: Set(selector.service_line.clone()),
                contract_type: Set(selector.contract_type.clone()),
                region: Set(selector.region.clone()),
                client_tier: Set(selector.client_tier.clone()),
                content: Set(content.clone()),
                created_at: Set(now),
                created_by: Set(actor.to_string()),
                updated_at: Set(now),
                updated_by: Set(actor.to_string()),
            };
            delivery_template::Entity::insert(row)
                .exec_without_returning(txn)
                .await
                .map_err(|e| conflict(id, e))?;
            (1, "created", None)
        }
        Some(current) => {
            let (current_spec, current_version) = to_spec(&current)?;
            if current_spec == *spec {
                return to_proto(&current);
            }
            let version = current.version + 1;
            let mut row: delivery_template::ActiveModel = current.into();
            row.name = Set(spec.name().to_string());
            row.version = Set(version);
            row.service_line = Set(selector.service_line.clone());
            row.contract_type = Set(selector.contract_type.clone());
            row.region = Set(selector.region.clone());
            row.client_tier = Set(selector.client_tier.clone());
            row.content = Set(content.clone());
            row.updated_at = Set(now);
            row.updated_by = Set(actor.to_string());
            (version, "updated", Some((row, current_version)))
        }
    };
    // The version row comes first: its primary key refuses a concurrent writer of the same
    // version before the current row changes.
    let history = delivery_template_version::ActiveModel {
        template_id: Set(id.to_string()),
        version: Set(version),
        content: Set(content),
        created_at: Set(now),
        created_by: Set(actor.to_string()),
    };
    delivery_template_version::Entity::insert(history)
        .exec_without_returning(txn)
        .await
        .map_err(|e| conflict(id, e))?;
    let previous_version = match row {
        Some((row, previous)) => {
            row.update(txn).await.map_err(db_error)?;
            Some(previous)
        }
        None => None,
    };
    audit::append(
        txn,
        AuditEntry {
            actor,
            record_type: "delivery_template",
            record_id: id,
            action,
            detail: serde_json::json!({ "version": version, "previous_version": previous_version }),
        },
    )
    .await?;
    let stored = find(txn, id)
        .await?
        .ok_or_else(|| Error::internal(format!("delivery template {id} vanished")))?;
    to_proto(&stored)
}

/// A concurrent change to the same template lost the race: the caller may retry.
fn conflict(id: &str, error: DbErr) -> Error {
    if keel_store::is_unique_violation(&error) {
        Error::Unavailable(format!(
            "delivery template {id} was changed concurrently; retry the call"
        ))
    } else {
        db_error(error)
    }
}
