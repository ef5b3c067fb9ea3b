//! The `keel.crm.v1.CrmService` gRPC service: authorize, parse, call the adapter.

use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::common::PageResponse;
use keel_proto::crm::crm_service_server::{CrmService, CrmServiceServer};
use keel_proto::crm::{
    Account, CreateAccountRequest, CreateOpportunityRequest, GetAccountRequest, GetOpportunityRequest,
    ListAccountsRequest, ListAccountsResponse, ListOpportunitiesRequest, ListOpportunitiesResponse,
    MarkOpportunityWonRequest, Opportunity, OpportunityStage,
};
use tonic::{Request, Response, Status};

use crate::adapter::CrmAdapter;
use crate::domain::{NewAccount, NewOpportunity};

/// Roles that may change CRM records: process APIs acting as `service`, and administrators.
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
];

pub struct CrmGrpcService {
    adapter: Arc<dyn CrmAdapter>,
}

impl CrmGrpcService {
    pub fn new(adapter: Arc<dyn CrmAdapter>) -> CrmGrpcService {
        CrmGrpcService { adapter }
    }
}

/// The tonic server for an adapter.
pub fn server(adapter: Arc<dyn CrmAdapter>) -> CrmServiceServer<CrmGrpcService> {
    CrmServiceServer::new(CrmGrpcService::new(adapter))
}

fn parse_id(field: &str, value: &str) -> Result<uuid::Uuid, Error> {
    let mut v = Violations::new();
    let id = v.uuid(field, value);
    v.finish()?;
    id.ok_or_else(|| Error::invalid(field, "is required"))
}

#[tonic::async_trait]
impl CrmService for CrmGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "CreateAccount"))]
    async fn create_account(&self, request: Request<CreateAccountRequest>) -> Result<Response<Account>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, account) = NewAccount::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_account(&caller.subject, &key, account).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetAccount"))]
    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<Account>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_account(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListAccounts"))]
    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        authorize(&request, READERS)?;
        let page = Page::from_proto(request.get_ref().page.as_ref())?;
        let accounts = self.adapter.list_accounts(page).await?;
        let last = accounts.last().and_then(|a| a.id.parse().ok());
        let next_page_token = page.next_token(accounts.len(), last);
        Ok(Response::new(ListAccountsResponse {
            accounts,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateOpportunity"))]
    async fn create_opportunity(
        &self,
        request: Request<CreateOpportunityRequest>,
    ) -> Result<Response<Opportunity>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, opportunity) = NewOpportunity::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter
                .create_opportunity(&caller.subject, &key, opportunity)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetOpportunity"))]
    async fn get_opportunity(&self, request: Request<GetOpportunityRequest>) -> Result<Response<Opportunity>, Status> {
        authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(self.adapter.get_opportunity(id).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListOpportunities"))]
    async fn list_opportunities(
        &self,
        request: Request<ListOpportunitiesRequest>,
    ) -> Result<Response<ListOpportunitiesResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let page = Page::from_proto(req.page.as_ref())?;
        let stage = match OpportunityStage::try_from(req.stage) {
            Ok(OpportunityStage::Unspecified) => None,
            Ok(stage) => Some(stage),
            Err(_) => return Err(Error::invalid("stage", format!("{} is not an opportunity stage", req.stage)).into()),
        };
        let opportunities = self.adapter.list_opportunities(page, stage).await?;
        let last = opportunities.last().and_then(|o| o.id.parse().ok());
        let next_page_token = page.next_token(opportunities.len(), last);
        Ok(Response::new(ListOpportunitiesResponse {
            opportunities,
            page: Some(PageResponse { next_page_token }),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkOpportunityWon"))]
    async fn mark_opportunity_won(
        &self,
        request: Request<MarkOpportunityWonRequest>,
    ) -> Result<Response<Opportunity>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&req.idempotency_key);
        let id = v.uuid("id", &req.id);
        v.finish()?;
        let id = id.ok_or_else(|| Error::invalid("id", "is required"))?;
        Ok(Response::new(
            self.adapter.mark_opportunity_won(&caller.subject, &key, id).await?,
        ))
    }
}
