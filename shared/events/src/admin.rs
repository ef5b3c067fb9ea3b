//! `keel.events.v1.OutboxAdmin`: operators list what each service's outbox holds and replay
//! an event after an incident. Replaying is safe: consumers dedupe by event id.

use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::{Error, Violations};
use keel_proto::events::outbox_admin_server::{OutboxAdmin, OutboxAdminServer};
use keel_proto::events::{ListEventsRequest, ListEventsResponse, OutboxEvent, ReplayEventRequest, ReplayEventResponse};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::bus::Bus;
use crate::outbox;

const OPERATORS: &[Role] = &[Role::Operations];
const MAX_LIST: u64 = 500;

/// The outboxes of the services in this process, and the bus to replay onto.
pub struct OutboxAdminService {
    outboxes: Vec<(String, DatabaseConnection)>,
    bus: Arc<dyn Bus>,
}

impl OutboxAdminService {
    pub fn new(outboxes: Vec<(String, DatabaseConnection)>, bus: Arc<dyn Bus>) -> OutboxAdminService {
        OutboxAdminService { outboxes, bus }
    }
}

/// The tonic server.
pub fn server(service: OutboxAdminService) -> OutboxAdminServer<OutboxAdminService> {
    OutboxAdminServer::new(service)
}

fn to_proto(row: &outbox::entity::Model) -> OutboxEvent {
    OutboxEvent {
        id: row.id.clone(),
        event_type: row.event_type.clone(),
        source: row.source.clone(),
        aggregate_id: row.aggregate_id.clone(),
        occurred_at: row.occurred_at.to_rfc3339(),
        published: row.published_at.is_some(),
    }
}

#[tonic::async_trait]
impl OutboxAdmin for OutboxAdminService {
    #[tracing::instrument(skip_all, fields(rpc.method = "ReplayEvent"))]
    async fn replay_event(
        &self,
        request: Request<ReplayEventRequest>,
    ) -> Result<Response<ReplayEventResponse>, Status> {
        let caller = authorize(&request, OPERATORS)?;
        let mut v = Violations::new();
        let id = v.uuid("event_id", &request.get_ref().event_id);
        v.finish()?;
        let id = id.map(|i| i.to_string()).unwrap_or_default();
        for (service, db) in &self.outboxes {
            if let Some(row) = outbox::find(db, &id).await? {
                if row.published_at.is_none() {
                    return Err(Error::FailedPrecondition(format!(
                        "event {id} is still waiting in the {service} outbox; the relay will publish it"
                    ))
                    .into());
                }
                let event = outbox::to_envelope(&row)?;
                self.bus.republish(&event).await?;
                tracing::info!(event.id = %id, event.type = %row.event_type, operator = %caller.subject, "event replayed");
                return Ok(Response::new(ReplayEventResponse {
                    event_id: id,
                    event_type: row.event_type,
                }));
            }
        }
        Err(Error::not_found("event", id).into())
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListEvents"))]
    async fn list_events(&self, request: Request<ListEventsRequest>) -> Result<Response<ListEventsResponse>, Status> {
        authorize(&request, OPERATORS)?;
        let req = request.get_ref();
        let limit = match u64::from(req.limit) {
            0 => 50,
            n if n > MAX_LIST => return Err(Error::invalid("limit", format!("must be at most {MAX_LIST}")).into()),
            n => n,
        };
        let event_type = (!req.event_type.is_empty()).then_some(req.event_type.as_str());
        let mut events = Vec::new();
        for (_, db) in &self.outboxes {
            events.extend(outbox::recent(db, event_type, limit).await?.iter().map(to_proto));
        }
        // Newest first across services (ids are time-ordered).
        events.sort_by(|a, b| b.id.cmp(&a.id));
        events.truncate(limit as usize);
        Ok(Response::new(ListEventsResponse { events }))
    }
}
