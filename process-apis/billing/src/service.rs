//! The gRPC service `keel.billing.v1.BillingService`: authorize, parse the request once, then
//! record an acceptance, assess a milestone, start a workflow, or show one.

use keel_auth::Role;
use keel_core::Error;
use keel_core::validate::Violations;
use keel_proto::billing::billing_service_server::{BillingService, BillingServiceServer};
use keel_proto::billing::{
    BillingReadiness, CheckBillingReadinessRequest, DeliverableAcceptance, Difference, GetInvoicePreparationRequest,
    GetReconciliationRequest, InvoicePreparation, ListMilestoneReadinessRequest, ListMilestoneReadinessResponse,
    ListReconciliationDifferencesRequest, ListReconciliationDifferencesResponse, MilestoneInvoice, MilestoneReadiness,
    PrepareInvoiceRequest, PrepareInvoiceResponse, Reconciliation, RecordDeliverableAcceptanceRequest,
    StartReconciliationRequest, StartReconciliationResponse,
};
use keel_store::idempotency::{self, run_once};
use keel_workflow::{Engine, InstanceView, Status as WorkflowStatus};
use prost::Message;
use sea_orm::{DatabaseConnection, EntityTrait};
use tonic::{Request, Response, Status};

use crate::acceptance::{self, NewAcceptance};
use crate::clients::Downstream;
use crate::readiness::{self, MilestoneRef};
use crate::reconciliation::{self, Reconciliation as ReconciliationWorkflow};
use crate::reports;
use crate::workflow::{self, BillingReadiness as ReadinessWorkflow, DraftedInvoice};

/// Who may record a client's acceptance.
const ACCEPT_ROLES: &[Role] = &[Role::ProjectManager, Role::Finance, Role::Service];
/// Who may read readiness, preparations and reconciliations.
const READ_ROLES: &[Role] = &[
    Role::Finance,
    Role::ProjectManager,
    Role::Operations,
    Role::Executive,
    Role::Service,
];
/// Who may prepare an invoice.
const PREPARE_ROLES: &[Role] = &[Role::Finance, Role::Service];
/// Who may start a reconciliation.
const RECONCILE_ROLES: &[Role] = &[Role::Finance, Role::Operations, Role::Service];
/// The differences `GetReconciliation` lists at most.
pub const MAX_DIFFERENCES_SHOWN: u64 = 1000;
/// The most projects one `ListMilestoneReadiness` names.
pub const MAX_BATCH_PROJECTS: usize = 100;
/// The longest acceptance note, in characters.
pub const MAX_NOTE_LEN: usize = 2000;

const PREPARE_SCOPE: &str = "billing.prepare_invoice";
const RECONCILE_SCOPE: &str = "billing.start_reconciliation";

/// The tonic service.
#[derive(Debug, Clone)]
pub struct BillingGrpcService {
    engine: Engine,
    downstream: Downstream,
}

impl BillingGrpcService {
    /// The service over the engine the platform runs (billing's store) and PSA and ERP.
    pub fn new(engine: Engine, downstream: Downstream) -> BillingGrpcService {
        BillingGrpcService { engine, downstream }
    }

    pub fn into_server(self) -> BillingServiceServer<BillingGrpcService> {
        BillingServiceServer::new(self)
    }

    fn db(&self) -> &DatabaseConnection {
        self.engine.db()
    }
}

/// The billing service ready to add to a tonic server.
pub fn server(engine: Engine, downstream: Downstream) -> BillingServiceServer<BillingGrpcService> {
    BillingGrpcService::new(engine, downstream).into_server()
}

/// The response stored under an idempotency key, if the key was used: a key used for another
/// request is `key_mismatch`.
async fn stored<Req: Message, Resp: Message + Default>(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    request: &Req,
) -> Result<Option<Resp>, Error> {
    let found = idempotency::entity::Entity::find_by_id((scope.to_string(), key.to_string()))
        .one(db)
        .await
        .map_err(keel_store::db_error)?;
    match found {
        None => Ok(None),
        Some(row) if row.fingerprint != idempotency::fingerprint(request) => Err(Error::key_mismatch(
            "was already used for a different request; use a new key for a new change",
        )),
        Some(row) => Resp::decode(row.response.as_slice()).map(Some).map_err(Error::internal),
    }
}

fn status_name(status: WorkflowStatus) -> String {
    status.as_str().to_ascii_uppercase()
}

/// The gRPC view of a `billing-readiness` instance.
pub fn preparation_view(view: &InstanceView) -> Result<InvoicePreparation, Error> {
    let at = MilestoneRef::from_business_key(&view.business_key)?;
    let drafted: Option<DraftedInvoice> = view
        .journal
        .iter()
        .find(|s| s.step == workflow::DRAFT_INVOICE)
        .map(|s| serde_json::from_value(s.result.clone()))
        .transpose()
        .map_err(Error::internal)?;
    Ok(InvoicePreparation {
        preparation_id: view.id.to_string(),
        project_id: at.project_id,
        milestone_id: at.milestone_id,
        status: status_name(view.status),
        step: view.step.clone().unwrap_or_default(),
        attempts: view.attempts,
        reason: view.reason.clone().unwrap_or_default(),
        last_error: view.last_error.clone().unwrap_or_default(),
        invoice_id: drafted.as_ref().map(|d| d.invoice_id.clone()).unwrap_or_default(),
        invoice_total: drafted.map(|d| keel_proto::common::Money {
            amount: d.total,
            currency: d.currency,
        }),
        created_at: Some(keel_core::time::to_timestamp(view.created_at)),
        updated_at: Some(keel_core::time::to_timestamp(view.updated_at)),
    })
}

fn parse_ref(project_id: &str, milestone_id: &str) -> Result<MilestoneRef, Error> {
    let mut v = Violations::new();
    let at = MilestoneRef::parse(&mut v, project_id, milestone_id);
    v.finish()?;
    at.ok_or_else(|| Error::invalid("milestone_id", "is required"))
}

/// The project ids of a batch request: 1 to [`MAX_BATCH_PROJECTS`] UUIDs, each bad one named.
fn parse_project_ids(ids: &[String]) -> Result<Vec<String>, Error> {
    let mut v = Violations::new();
    if ids.is_empty() {
        v.add("project_ids", "must name at least one project");
    } else if ids.len() > MAX_BATCH_PROJECTS {
        v.add(
            "project_ids",
            format!("may name at most {MAX_BATCH_PROJECTS} projects, got {}", ids.len()),
        );
    }
    let parsed: Vec<Option<uuid::Uuid>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| v.uuid(&format!("project_ids[{i}]"), id))
        .collect();
    v.finish()?;
    let mut unique: Vec<String> = Vec::new();
    for id in parsed.into_iter().flatten().map(|id| id.to_string()) {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Ok(unique)
}

/// The invoice of a milestone shown beside its readiness: the issued one if there is one,
/// else the latest draft.
fn milestone_invoice(erp_milestone_id: &str, invoices: &[keel_proto::erp::Invoice]) -> Option<MilestoneInvoice> {
    use keel_proto::erp::InvoiceStatus;
    let found = readiness::invoices_for(erp_milestone_id, invoices);
    let chosen = found
        .iter()
        .rev()
        .find(|i| i.status == InvoiceStatus::Issued as i32)
        .or_else(|| found.last())?;
    let status = InvoiceStatus::try_from(chosen.status)
        .map(|s| s.as_str_name().trim_start_matches("INVOICE_STATUS_").to_string())
        .unwrap_or_default();
    Some(MilestoneInvoice {
        invoice_id: chosen.id.clone(),
        number: chosen.number.clone(),
        status,
        total: chosen.total.clone(),
        issue_date: chosen.issue_date.clone(),
    })
}

#[tonic::async_trait]
impl BillingService for BillingGrpcService {
    #[tracing::instrument(skip_all, fields(rpc.method = "RecordDeliverableAcceptance"))]
    async fn record_deliverable_acceptance(
        &self,
        request: Request<RecordDeliverableAcceptanceRequest>,
    ) -> Result<Response<DeliverableAcceptance>, Status> {
        let caller = keel_auth::authorize(&request, ACCEPT_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        v.idempotency_key(&message.idempotency_key);
        let at = MilestoneRef::parse(&mut v, &message.project_id, &message.milestone_id);
        let accepted_by = v.required_text("accepted_by", &message.accepted_by);
        if message.note.chars().count() > MAX_NOTE_LEN {
            v.add("note", format!("must be at most {MAX_NOTE_LEN} characters"));
        }
        v.finish()?;
        let at = at.ok_or_else(|| Error::invalid("milestone_id", "is required"))?;
        let (_, milestone) = readiness::psa_milestone(&self.downstream, &at).await?;
        let new = NewAcceptance {
            at,
            milestone_name: milestone.name,
            accepted_by,
            note: message.note.trim().to_string(),
        };
        let recorded = acceptance::record(self.db(), message, new, &caller.subject).await?;
        Ok(Response::new(recorded))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "CheckBillingReadiness"))]
    async fn check_billing_readiness(
        &self,
        request: Request<CheckBillingReadinessRequest>,
    ) -> Result<Response<BillingReadiness>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let at = parse_ref(&request.get_ref().project_id, &request.get_ref().milestone_id)?;
        let assessment = readiness::assess(&self.downstream, self.db(), &at).await?;
        Ok(Response::new(assessment.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListMilestoneReadiness"))]
    async fn list_milestone_readiness(
        &self,
        request: Request<ListMilestoneReadinessRequest>,
    ) -> Result<Response<ListMilestoneReadinessResponse>, Status> {
        use keel_proto::erp::MilestoneStatus;
        keel_auth::authorize(&request, READ_ROLES)?;
        let ids = parse_project_ids(&request.get_ref().project_ids)?;
        let mut projects = self.downstream.projects_of(ids.clone()).await?;
        let mut milestones = Vec::new();
        for id in &ids {
            let Some(index) = projects.iter().position(|p| &p.id == id) else {
                continue;
            };
            let facts = readiness::project_facts(&self.downstream, projects.swap_remove(index)).await?;
            for milestone in &facts.project.milestones {
                let at = MilestoneRef {
                    project_id: facts.project.id.clone(),
                    milestone_id: milestone.id.clone(),
                };
                let assessment = readiness::assess_in(self.db(), &facts, &at, milestone).await?;
                let erp = assessment.erp_milestone.as_ref();
                milestones.push(MilestoneReadiness {
                    readiness: Some(assessment.to_proto()),
                    erp_status: erp
                        .and_then(|m| MilestoneStatus::try_from(m.status).ok())
                        .filter(|s| *s != MilestoneStatus::Unspecified)
                        .map(|s| s.as_str_name().trim_start_matches("MILESTONE_STATUS_").to_string())
                        .unwrap_or_default(),
                    invoice: erp.and_then(|m| milestone_invoice(&m.id, &facts.invoices)),
                });
            }
        }
        Ok(Response::new(ListMilestoneReadinessResponse { milestones }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "PrepareInvoice"))]
    async fn prepare_invoice(
        &self,
        request: Request<PrepareInvoiceRequest>,
    ) -> Result<Response<PrepareInvoiceResponse>, Status> {
        let caller = keel_auth::authorize(&request, PREPARE_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&message.idempotency_key);
        let at = MilestoneRef::parse(&mut v, &message.project_id, &message.milestone_id);
        v.finish()?;
        let at = at.ok_or_else(|| Error::invalid("milestone_id", "is required"))?;
        if let Some(first) = stored::<_, PrepareInvoiceResponse>(self.db(), PREPARE_SCOPE, &key, message).await? {
            return Ok(Response::new(first));
        }
        readiness::psa_milestone(&self.downstream, &at).await?;
        let business_key = at.business_key();
        // Prepared already: the finished preparation answers, since a new instance would only
        // find the milestone invoiced.
        let started = self
            .engine
            .start_once(
                workflow::KIND,
                &business_key,
                ReadinessWorkflow::input(&at),
                serde_json::json!({}),
                &caller.subject,
            )
            .await?;
        let status = if started.done {
            WorkflowStatus::Done
        } else {
            self.engine.instance(started.id).await?.status
        };
        let answer = PrepareInvoiceResponse {
            preparation_id: started.id.to_string(),
            created: started.created,
            status: status_name(status),
        };
        let first = run_once(self.db(), PREPARE_SCOPE, &key, message, move |_| {
            Box::pin(async move { Ok(answer) })
        })
        .await?;
        Ok(Response::new(first))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetInvoicePreparation"))]
    async fn get_invoice_preparation(
        &self,
        request: Request<GetInvoicePreparationRequest>,
    ) -> Result<Response<InvoicePreparation>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let at = parse_ref(&request.get_ref().project_id, &request.get_ref().milestone_id)?;
        let view = self
            .engine
            .find(workflow::KIND, &at.business_key())
            .await?
            .ok_or_else(|| Error::not_found("invoice preparation of milestone", at.business_key()))?;
        Ok(Response::new(preparation_view(&view)?))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "StartReconciliation"))]
    async fn start_reconciliation(
        &self,
        request: Request<StartReconciliationRequest>,
    ) -> Result<Response<StartReconciliationResponse>, Status> {
        let caller = keel_auth::authorize(&request, RECONCILE_ROLES)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let key = v.idempotency_key(&message.idempotency_key);
        let project_id = if message.project_id.trim().is_empty() {
            Some(String::new())
        } else {
            v.uuid("project_id", &message.project_id).map(|id| id.to_string())
        };
        v.finish()?;
        let project_id = project_id.unwrap_or_default();
        if !project_id.is_empty()
            && stored::<_, StartReconciliationResponse>(self.db(), RECONCILE_SCOPE, &key, message)
                .await?
                .is_none()
        {
            let (project, code) = tokio::try_join!(
                self.downstream.project(&project_id),
                self.downstream.project_code_for_project(&project_id)
            )?;
            if project.is_none() && code.is_none() {
                return Err(Error::not_found("project", project_id).into());
            }
        }
        let run_id = keel_core::ids::new_id().to_string();
        let actor = caller.subject.clone();
        let (new_run, new_project) = (run_id.clone(), project_id.clone());
        let answer = run_once(self.db(), RECONCILE_SCOPE, &key, message, move |txn| {
            Box::pin(async move {
                reports::create_run(txn, &new_run, &new_project, &actor).await?;
                Ok(StartReconciliationResponse { run_id: new_run })
            })
        })
        .await?;
        // Started after the run is recorded: a replay after a crash in between starts it.
        self.engine
            .start_once(
                reconciliation::KIND,
                &answer.run_id,
                ReconciliationWorkflow::input(&answer.run_id, &project_id),
                serde_json::json!({}),
                &caller.subject,
            )
            .await?;
        Ok(Response::new(answer))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "GetReconciliation"))]
    async fn get_reconciliation(
        &self,
        request: Request<GetReconciliationRequest>,
    ) -> Result<Response<Reconciliation>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let mut v = Violations::new();
        let run_id = v.uuid("run_id", &request.get_ref().run_id);
        v.finish()?;
        let run_id = run_id
            .ok_or_else(|| Error::invalid("run_id", "is required"))?
            .to_string();
        let run = reports::find_run(self.db(), &run_id)
            .await?
            .ok_or_else(|| Error::not_found("reconciliation run", run_id.clone()))?;
        let instance = self.engine.find(reconciliation::KIND, &run_id).await?;
        let mut differences = Vec::new();
        let total = reports::count_differences(self.db(), &run_id).await?;
        for row in reports::differences_of(self.db(), &run_id, Some(MAX_DIFFERENCES_SHOWN)).await? {
            differences.push(self.difference_view(row).await?);
        }
        Ok(Response::new(Reconciliation {
            run_id: run.id,
            project_id: run.project_id,
            status: instance.as_ref().map(|i| status_name(i.status)).unwrap_or_default(),
            projects_compared: u32::try_from(run.projects_compared).unwrap_or(0),
            differences,
            requested_by: run.requested_by,
            last_error: instance.and_then(|i| i.last_error).unwrap_or_default(),
            created_at: Some(keel_core::time::to_timestamp(run.created_at)),
            compared_at: run.compared_at.map(keel_core::time::to_timestamp),
            differences_total: u32::try_from(total).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.method = "ListReconciliationDifferences"))]
    async fn list_reconciliation_differences(
        &self,
        request: Request<ListReconciliationDifferencesRequest>,
    ) -> Result<Response<ListReconciliationDifferencesResponse>, Status> {
        keel_auth::authorize(&request, READ_ROLES)?;
        let page = keel_core::paging::Page::from_proto(request.get_ref().page.as_ref())?;
        let rows = reports::latest_differences(self.db(), page.after, page.size).await?;
        let last = rows
            .last()
            .map(|r| uuid::Uuid::parse_str(&r.id))
            .transpose()
            .map_err(Error::internal)?;
        let returned = rows.len();
        let mut differences = Vec::with_capacity(returned);
        for row in rows {
            differences.push(self.difference_view(row).await?);
        }
        Ok(Response::new(ListReconciliationDifferencesResponse {
            differences,
            page: Some(keel_proto::common::PageResponse {
                next_page_token: page.next_token(returned, last),
            }),
        }))
    }
}

impl BillingGrpcService {
    /// A stored difference with its exception-queue instance's status now.
    async fn difference_view(&self, row: reports::difference::Model) -> Result<Difference, Error> {
        let exception_status = match &row.exception_id {
            Some(id) => match uuid::Uuid::parse_str(id) {
                Ok(id) => status_name(self.engine.instance(id).await?.status),
                Err(_) => String::new(),
            },
            None => String::new(),
        };
        Ok(Difference {
            identity: row.identity,
            project_id: row.project_id,
            kind: row.kind,
            record_type: row.record_type,
            record_id: row.record_id,
            psa_value: row.psa_value,
            erp_value: row.erp_value,
            message: row.message,
            exception_id: row.exception_id.unwrap_or_default(),
            exception_status,
        })
    }
}
