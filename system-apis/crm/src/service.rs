//! The `keel.crm.v1.CrmService` gRPC service: authorize, parse, call the adapter.

use keel_core::validate::parse_id;
use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::common::PageResponse;
use keel_proto::crm::crm_service_server::{CrmService, CrmServiceServer};
use keel_proto::crm::{
    Account, AdvanceOpportunityStageRequest, Contact, CreateAccountRequest, CreateContactRequest,
    CreateOpportunityRequest, GetAccountRequest, GetOpportunityRequest, ListAccountsRequest, ListAccountsResponse,
    ListContactsRequest, ListContactsResponse, ListOpportunitiesRequest, ListOpportunitiesResponse,
    MarkOpportunityLostRequest, MarkOpportunityWonRequest, Opportunity, OpportunityStage, UpdateOpportunityRequest,
};
use tonic::{Request, Response, Status};

use crate::adapter::CrmAdapter;
use crate::domain::{LostOpportunity, NewAccount, NewContact, NewOpportunity, OpportunityUpdate, StageAdvance};

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

    #[tracing::instrument(skip_all, fields(rpc.method = "UpdateOpportunity"))]
    async fn update_opportunity(
        &self,
        request: Request<UpdateOpportunityRequest>,
    ) -> Result<Response<Opportunity>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, update) = OpportunityUpdate::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.update_opportunity(&caller.subject, &key, update).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "AdvanceOpportunityStage"))]
    async fn advance_opportunity_stage(
        &self,
        request: Request<AdvanceOpportunityStageRequest>,
    ) -> Result<Response<Opportunity>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, advance) = StageAdvance::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter
                .advance_opportunity_stage(&caller.subject, &key, advance)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "MarkOpportunityLost"))]
    async fn mark_opportunity_lost(
        &self,
        request: Request<MarkOpportunityLostRequest>,
    ) -> Result<Response<Opportunity>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, lost) = LostOpportunity::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.mark_opportunity_lost(&caller.subject, &key, lost).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CreateContact"))]
    async fn create_contact(&self, request: Request<CreateContactRequest>) -> Result<Response<Contact>, Status> {
        let caller = authorize(&request, WRITERS)?;
        let (key, contact) = NewContact::parse(request.get_ref())?;
        Ok(Response::new(
            self.adapter.create_contact(&caller.subject, &key, contact).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListContacts"))]
    async fn list_contacts(
        &self,
        request: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let account_id = v.uuid("account_id", &req.account_id);
        let page = v.take(Page::from_proto(req.page.as_ref()).map_err(|e| e.field_violations().to_vec()));
        v.finish()?;
        let (Some(account_id), Some(page)) = (account_id, page) else {
            return Err(Error::internal("checked fields missing after validation").into());
        };
        let contacts = self.adapter.list_contacts(account_id, page).await?;
        let last = contacts.last().and_then(|c| c.id.parse().ok());
        let next_page_token = page.next_token(contacts.len(), last);
        Ok(Response::new(ListContactsResponse {
            contacts,
            page: Some(PageResponse { next_page_token }),
        }))
    }
}
