//! The `psa.resource_request.opened` consumer: starts staffing for each opened request, once
//! per event (the inbox, in staffing's own store) and once per request (the engine keeps one
//! open instance per business key). The request's creator is the submitter: they can never
//! approve their own staffing.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;
use keel_events::{EventEnvelope, EventHandler, SubscriptionSpec, inbox};
use keel_proto::psa::{ResourceRequest, ResourceRequestChanged, ResourceRequestState};
use keel_workflow::Engine;
use sea_orm::EntityTrait;
use tracing::Instrument;

use crate::risk::Risks;
use crate::workflow::Staffing;

/// The event type this consumer takes (PSA's `RESOURCE_REQUEST_OPENED`).
pub const RESOURCE_REQUEST_OPENED: &str = "psa.resource_request.opened";
/// Its durable subscription name.
pub const SUBSCRIPTION: &str = "staffing.resource-request-opened";

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An instance was started (or the open one found).
    Started,
    /// The event was applied before.
    Duplicate,
    /// Not an open request.
    Skipped,
    /// The project's service line or region is not yet rolled out to automation
    /// (`[automation]` of the staffing policy): a resource manager starts staffing by hand.
    NotRolledOut,
}

/// Starts staffing from PSA's events. The engine must be the one the platform runs.
#[derive(Debug, Clone)]
pub struct ResourceRequestOpenedConsumer {
    engine: Engine,
    workflow: Arc<Staffing>,
}

impl ResourceRequestOpenedConsumer {
    pub fn new(engine: Engine, workflow: Arc<Staffing>) -> ResourceRequestOpenedConsumer {
        ResourceRequestOpenedConsumer { engine, workflow }
    }

    /// The subscription the platform registers this consumer under.
    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: SUBSCRIPTION.into(),
            event_types: vec![RESOURCE_REQUEST_OPENED.into()],
        }
    }

    /// Applies one delivery. The instance is started before the inbox entry commits: a crash
    /// between the two redelivers the event, which then finds the open instance.
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.engine.db();
        let seen = inbox::entity::Entity::find_by_id((SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            return Ok(Outcome::Duplicate);
        }
        let changed: ResourceRequestChanged = event.decode()?;
        let outcome = match changed.resource_request {
            Some(request)
                if request.state == ResourceRequestState::Open as i32 && !self.rolled_out(&request).await? =>
            {
                Outcome::NotRolledOut
            }
            Some(request) if request.state == ResourceRequestState::Open as i32 => {
                let submitter = request
                    .audit
                    .as_ref()
                    .map(|a| a.created_by.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| request.requested_by.clone());
                let started = crate::service::start(
                    &self.engine,
                    &self.workflow,
                    &request.id,
                    &submitter,
                    &format!("event:{}", event.id),
                )
                .await?;
                tracing::info!(workflow.id = %started.id, resource_request.id = %request.id, created = started.created, "staffing started");
                Outcome::Started
            }
            _ => Outcome::Skipped,
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

impl ResourceRequestOpenedConsumer {
    /// Whether the staffing policy's `[automation]` covers the request's project.
    async fn rolled_out(&self, request: &ResourceRequest) -> Result<bool, Error> {
        let automation = &self.workflow.policy().automation;
        if automation.everywhere() {
            return Ok(true);
        }
        let project = self.workflow.downstream().project(&request.project_id).await?;
        let covered = automation.covers(&project.service_line, &project.region);
        if !covered {
            tracing::info!(
                resource_request.id = %request.id,
                project.id = %project.id,
                service_line = %project.service_line,
                region = %project.region,
                "staffing automation is not rolled out here: a resource manager starts it by hand"
            );
        }
        Ok(covered)
    }
}

/// The event type that assesses staffing risk (PSA's `RESOURCE_REQUEST_FILLED`).
pub const RESOURCE_REQUEST_FILLED: &str = "psa.resource_request.filled";
/// Its durable subscription name.
pub const RISK_SUBSCRIPTION: &str = "staffing.risk-on-filled";

/// Assesses the staffing risk of a project each time one of its resource requests is filled
/// (staffing's own fills and a person's alike), once per event (the inbox). With
/// `insight.staffing_risk` off, the event is taken and nothing is assessed or recorded.
#[derive(Debug, Clone)]
pub struct ResourceRequestFilledConsumer {
    engine: Engine,
    risks: Risks,
}

impl ResourceRequestFilledConsumer {
    pub fn new(engine: Engine, risks: Risks) -> ResourceRequestFilledConsumer {
        ResourceRequestFilledConsumer { engine, risks }
    }

    pub fn subscription() -> SubscriptionSpec {
        SubscriptionSpec {
            name: RISK_SUBSCRIPTION.into(),
            event_types: vec![RESOURCE_REQUEST_FILLED.into()],
        }
    }

    /// Applies one delivery: `Started` when the project was assessed.
    pub async fn apply(&self, event: &EventEnvelope) -> Result<Outcome, Error> {
        let db = self.engine.db();
        let seen = inbox::entity::Entity::find_by_id((RISK_SUBSCRIPTION.to_string(), event.id.to_string()))
            .one(db)
            .await
            .map_err(keel_store::db_error)?;
        if seen.is_some() {
            return Ok(Outcome::Duplicate);
        }
        let changed: ResourceRequestChanged = event.decode()?;
        let outcome = match changed.resource_request {
            Some(request) if self.risks.switches().staffing_risk() => {
                let assessed = self
                    .risks
                    .assess(db, &request.project_id, &format!("event:{}", event.id))
                    .await?;
                tracing::info!(project.id = %request.project_id, flagged = assessed.flagged, resolved = assessed.resolved, superseded = assessed.superseded, "staffing risk assessed");
                Outcome::Started
            }
            _ => Outcome::Skipped,
        };
        let txn = keel_store::begin_write(db).await?;
        inbox::first_delivery(&txn, RISK_SUBSCRIPTION, event).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for ResourceRequestFilledConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}

#[async_trait]
impl EventHandler for ResourceRequestOpenedConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), Error> {
        let span = tracing::info_span!("event.consume", event.id = %event.id, event.type = %event.event_type);
        self.apply(event).instrument(span).await.map(|_| ())
    }
}
