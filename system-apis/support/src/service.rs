//! The `keel.support.v1.SupportService` gRPC service: authorize, parse, call the adapter.

use keel_core::validate::parse_id;
use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_proto::common::PageResponse;
use keel_proto::support::support_service_server::{SupportService, SupportServiceServer};
use keel_proto::support::{
    ChangeTicketStatusRequest, EscalateTicketRequest, GetProjectSupportSummaryRequest, GetTicketRequest,
    ListTicketsRequest, ListTicketsResponse, OpenTicketRequest, ProjectSupportSummary, Ticket,
};
use tonic::{Request, Response, Status};

use crate::adapter::SupportAdapter;
use crate::domain::{Escalation, NewTicket, StatusChange, TicketFilter};

/// Roles that may change tickets: process APIs acting as `service`, and administrators.
const WRITERS: &[Role] = &[Role::Service, Role::Admin];
/// Every authenticated role may read.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::ResourceManager,
    Role::Finance,
    Role::Executive,
    Role::Consultant,
    Role::Operations,
    Role::Service,
    Role::Admin,
];

pub struct SupportGrpcService {
    adapter: Arc<dyn SupportAdapter>,
}

impl SupportGrpcService {
    pub fn new(adapter: Arc<dyn SupportAdapter>) -> SupportGrpcService {
        SupportGrpcService { adapter }
    }
}

/// The tonic server for an adapter.
pub fn server(adapter: Arc<dyn SupportAdapter>) -> SupportServiceServer<SupportGrpcService> {
    SupportServiceServer::new(SupportGrpcService::new(adapter))
}

#[tonic::async_trait]
impl SupportService for SupportGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "OpenTicket"))]
    async fn open_ticket(&self, request: Request<OpenTicketRequest>) -> Result<Response<Ticket>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, ticket) = NewTicket::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.open_ticket(&caller.subject, &key, ticket).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetTicket"))]
    async fn get_ticket(&self, request: Request<GetTicketRequest>) -> Result<Response<Ticket>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_ticket(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListTickets"))]
    async fn list_tickets(
        &self,
        request: Request<ListTicketsRequest>,
    ) -> Result<Response<ListTicketsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let filter = TicketFilter::parse(req)?;
        let tickets = self.adapter.list_tickets(page, filter).await?;
        let last = tickets.last().and_then(|t| t.id.parse().ok());
        let next_page_token = page.next_token(tickets.len(), last);
        Ok(Response::new(ListTicketsResponse {
            tickets,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ChangeTicketStatus"))]
    async fn change_ticket_status(
        &self,
        request: Request<ChangeTicketStatusRequest>,
    ) -> Result<Response<Ticket>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, change) = StatusChange::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.change_ticket_status(&caller.subject, &key, change).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "EscalateTicket"))]
    async fn escalate_ticket(&self, request: Request<EscalateTicketRequest>) -> Result<Response<Ticket>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, escalation) = Escalation::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.escalate_ticket(&caller.subject, &key, escalation).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetProjectSupportSummary"))]
    async fn get_project_support_summary(
        &self,
        request: Request<GetProjectSupportSummaryRequest>,
    ) -> Result<Response<ProjectSupportSummary>, Status> {
        authorize(&request, READERS)?;
        let project_id = parse_id("project_id", &request.get_ref().project_id)?;
        Ok(Response::new(self.adapter.project_support_summary(project_id).await?))
    }
}
