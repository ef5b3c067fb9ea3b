//! The `keel.projectsetup.v1.ProjectSetupService` gRPC service: start a setup by hand, read
//! setups, and list the exception list.

use std::sync::Arc;

use keel_auth::{Role, authorize};
use keel_core::paging::Page;
use keel_core::{Error, Violations};
use keel_proto::crm::OpportunityStage;
use keel_proto::projectsetup::project_setup_service_server::{ProjectSetupService, ProjectSetupServiceServer};
use keel_proto::projectsetup::{
    GetSetupRequest, ListExceptionsRequest, ListSetupsRequest, ListSetupsResponse, Setup, StartSetupRequest,
};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::clients::Downstream;
use crate::setups;

/// Who may read setups and exceptions.
const READERS: &[Role] = &[
    Role::ProjectManager,
    Role::Operations,
    Role::Executive,
    Role::Finance,
    Role::Service,
];
/// Who may start a setup by hand.
const STARTERS: &[Role] = &[Role::Operations, Role::Service];

pub struct ProjectSetupGrpcService {
    db: DatabaseConnection,
    downstream: Downstream,
    worker_waker: Arc<Notify>,
}

impl ProjectSetupGrpcService {
    pub fn new(db: DatabaseConnection, downstream: Downstream, worker_waker: Arc<Notify>) -> ProjectSetupGrpcService {
        ProjectSetupGrpcService {
            db,
            downstream,
            worker_waker,
        }
    }
}

/// The tonic server.
pub fn server(service: ProjectSetupGrpcService) -> ProjectSetupServiceServer<ProjectSetupGrpcService> {
    ProjectSetupServiceServer::new(service)
}

fn page_of(page_size: u32, page_token: &str) -> Result<Page, Error> {
    Page::parse(page_size, page_token).map_err(|e| match e {
        // This contract has its paging fields at the top level.
        Error::InvalidInput(mut violations) => {
            for v in &mut violations {
                v.field = v.field.trim_start_matches("page.").to_string();
            }
            Error::InvalidInput(violations)
        }
        other => other,
    })
}

impl ProjectSetupGrpcService {
    async fn list(&self, state: Option<&str>, page_size: u32, page_token: &str) -> Result<ListSetupsResponse, Error> {
        let page = page_of(page_size, page_token)?;
        let rows = setups::list(&self.db, state, page).await?;
        let last = rows.last().and_then(|r| r.id.parse().ok());
        Ok(ListSetupsResponse {
            next_page_token: page.next_token(rows.len(), last),
            setups: rows.iter().map(setups::to_proto).collect(),
        })
    }
}

#[tonic::async_trait]
impl ProjectSetupService for ProjectSetupGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "StartSetup"))]
    async fn start_setup(&self, request: Request<StartSetupRequest>) -> Result<Response<Setup>, Status> {
        let caller = authorize(&request, STARTERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        v.idempotency_key(&req.idempotency_key);
        let opportunity_id = v.uuid("opportunity_id", &req.opportunity_id);
        v.finish()?;
        let opportunity_id = opportunity_id.ok_or_else(|| Error::invalid("opportunity_id", "is required"))?;
        let opportunity = match self.downstream.get_opportunity(&opportunity_id.to_string()).await {
            Err(Error::NotFound(_)) => {
                return Err(
                    Error::invalid("opportunity_id", format!("CRM has no opportunity {opportunity_id}")).into(),
                );
            }
            other => other?,
        };
        if opportunity.stage != OpportunityStage::Won as i32 {
            return Err(Error::FailedPrecondition(format!(
                "opportunity {opportunity_id} is not won; only won deals are set up"
            ))
            .into());
        }
        let txn = keel_store::begin_write(&self.db).await?;
        let (row, created) = setups::start(&txn, &opportunity, &caller.subject).await?;
        txn.commit().await.map_err(keel_store::db_error)?;
        if created {
            self.worker_waker.notify_one();
        }
        Ok(Response::new(setups::to_proto(&row)))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetSetup"))]
    async fn get_setup(&self, request: Request<GetSetupRequest>) -> Result<Response<Setup>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let row = match (req.id.is_empty(), req.opportunity_id.is_empty()) {
            (false, true) => {
                let id = v.uuid("id", &req.id);
                v.finish()?;
                setups::by_id(&self.db, &id.map(|i| i.to_string()).unwrap_or_default()).await?
            }
            (true, false) => {
                let id = v.uuid("opportunity_id", &req.opportunity_id);
                v.finish()?;
                setups::by_opportunity(&self.db, &id.map(|i| i.to_string()).unwrap_or_default()).await?
            }
            _ => return Err(Error::invalid("id", "set exactly one of id and opportunity_id").into()),
        };
        let key = if req.id.is_empty() {
            &req.opportunity_id
        } else {
            &req.id
        };
        row.map(|r| Response::new(setups::to_proto(&r)))
            .ok_or_else(|| Error::not_found("setup", key.clone()).into())
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListSetups"))]
    async fn list_setups(&self, request: Request<ListSetupsRequest>) -> Result<Response<ListSetupsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        Ok(Response::new(self.list(None, req.page_size, &req.page_token).await?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListExceptions"))]
    async fn list_exceptions(
        &self,
        request: Request<ListExceptionsRequest>,
    ) -> Result<Response<ListSetupsResponse>, Status> {
        authorize(&request, READERS)?;
        let req = request.get_ref();
        Ok(Response::new(
            self.list(Some(setups::EXCEPTION), req.page_size, &req.page_token)
                .await?,
        ))
    }
}
