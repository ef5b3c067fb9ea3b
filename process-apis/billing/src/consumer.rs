//! The `erp.milestone.reached` consumer: starts the `billing-readiness` instance of the PSA
//! milestone an ERP billing milestone stands for, once per event (the inbox, in billing's own
//! store) and once per milestone (the engine keeps one open instance per business key, and a
//! milestone already invoiced is not started again).
//!
//! The ERP milestone is mapped back to PSA through its project code (whose `project_id` is the
//! PSA project) and its name (the PSA milestone of that name in the project).

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::erp::BillingMilestone;
use keel_workflow::Engine;
use sea_orm::EntityTrait;
use serde_json::json;
use tracing::Instrument;

use crate::clients::Downstream;
use crate::readiness::MilestoneRef;
use crate::workflow::{BillingReadiness, KIND};

/// The event type this consumer takes (ERP's billing milestone reached).
pub const MILESTONE_REACHED: &str = "erp.milestone.reached";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "billing.milestone-reached";

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An instance was started (or the open one found) for this PSA milestone.
    Started(MilestoneRef),
    /// The event was applied before.
    Duplicate,
    /// The milestone's invoice was prepared already by an earlier instance.
    AlreadyPrepared,
    /// The ERP milestone stands for no PSA milestone (no code, project or milestone of that
    /// name); nothing to start.
    Unmapped,
}

/// Starts invoice preparations from ERP's milestone events. The engine must be the one the
/// platform runs.
#[derive(Debug, Clone)]
pub struct MilestoneReachedConsumer {
    engine: Engine,
    downstream: Downstream,
}

impl MilestoneReachedConsumer {
    pub fn new(engine: Engine, downstream: Downstream) -> MilestoneReachedConsumer {
        MilestoneReachedConsumer { engine, downstream }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![MILESTONE_REACHED.into()],
        }
    }

    /// The PSA milestone an ERP billing milestone stands for.
    pub async fn map(&self, milestone: &BillingMilestone) -> Result<Option<MilestoneRef>, Error> {
        let Some(code) = self.downstream.project_code(&milestone.project_code).await? else {
            return Ok(None);
        };
        let Some(project) = self.downstream.project(&code.project_id).await? else {
            return Ok(None);
        };
        Ok(project
            .milestones
            .iter()
            .find(|m| m.name.trim() == milestone.name.trim())
            .map(|m| MilestoneRef {
                project_id: project.id.clone(),
                milestone_id: m.id.clone(),
            }))
    }

    /// Applies one delivery. The instance is started before the inbox entry commits: a crash
    /// between the two redelivers the event, which then finds the open (or done) instance.
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.engine.db();
        let seen = inbox::entity::Entity::find_by_id((SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            tracing::info!(event.id = %event.id, "event already applied; skipped");
            return Ok(Outcome::Duplicate);
        }
        let milestone: BillingMilestone = event.decode()?;
        let outcome = match self.map(&milestone).await? {
            None => {
                tracing::warn!(event.id = %event.id, erp.milestone = %milestone.id, "ERP milestone maps to no PSA milestone; skipped");
                Outcome::Unmapped
            }
            Some(at) => {
                let key = at.business_key();
                let started = self
                    .engine
                    .start_once(
                        KIND,
                        &key,
                        BillingReadiness::input(&at),
                        json!({}),
                        &format!("event:{}", event.id),
                    )
                    .await?;
                if started.done {
                    Outcome::AlreadyPrepared
                } else {
                    tracing::info!(workflow.id = %started.id, milestone = %key, created = started.created, "invoice preparation started");
                    Outcome::Started(at)
                }
            }
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for MilestoneReachedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
