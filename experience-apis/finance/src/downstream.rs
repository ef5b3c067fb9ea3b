//! The calls this view makes, each on behalf of the caller (their token, a deadline) and
//! counted in the request's `backendCalls` under its service and kind of lookup. The batch
//! calls take the ids of a whole page of projects, so a page costs one call per kind.

use async_graphql::Context;
use keel_core::Error;
use keel_experience_common::Downstream;
use keel_proto::billing::{
    ListMilestoneReadinessRequest, ListReconciliationDifferencesRequest, ListReconciliationDifferencesResponse,
    MilestoneReadiness,
};
use keel_proto::common::PageRequest;
use keel_proto::erp::{
    ListInvoicesRequest, ListInvoicesResponse, ListProjectCodesOfProjectsRequest, ProjectFinancials,
};
use keel_proto::psa::{ListProjectsRequest, ListProjectsResponse, ProjectActuals, ProjectIdsRequest};
use keel_proto::workflow::{Counts, GetCountsRequest};

use crate::{ALLOWED_ROLES, Backends};

/// The backends and the caller of one GraphQL request.
#[derive(Clone)]
pub(crate) struct Calls {
    backends: Backends,
    downstream: Downstream,
}

impl Calls {
    /// The backends and the verified caller from the context, the caller's role checked again
    /// (the gateway checks it first; this keeps the view safe wherever it is mounted).
    pub(crate) fn from_context(ctx: &Context<'_>) -> Result<Calls, Error> {
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the finance view was mounted without its backends"))?
            .clone();
        let downstream = Downstream::from_context(ctx, ALLOWED_ROLES, backends.timeout)?;
        Ok(Calls { backends, downstream })
    }

    /// One page of PSA projects, in creation order.
    pub(crate) async fn list_projects(&self, page: PageRequest) -> Result<ListProjectsResponse, Error> {
        let request = self.downstream.request(ListProjectsRequest { page: Some(page) })?;
        self.downstream
            .call("PSA ListProjects", self.backends.psa.clone().list_projects(request))
            .await
    }

    /// The actuals (approved and posted time at the rate card) of the projects `ids`.
    pub(crate) async fn actuals(&self, ids: Vec<String>) -> Result<Vec<ProjectActuals>, Error> {
        let request = self.downstream.request(ProjectIdsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "PSA ListActualsOfProjects",
                self.backends.psa.clone().list_actuals_of_projects(request),
            )
            .await?
            .actuals)
    }

    /// What ERP holds of the money of the projects `ids` that have a project code.
    pub(crate) async fn financials(&self, ids: Vec<String>) -> Result<Vec<ProjectFinancials>, Error> {
        let request = self
            .downstream
            .request(ListProjectCodesOfProjectsRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "ERP ListProjectFinancialsOfProjects",
                self.backends.erp.clone().list_project_financials_of_projects(request),
            )
            .await?
            .financials)
    }

    /// The readiness of every milestone of the projects `ids`, with its invoice.
    pub(crate) async fn readiness(&self, ids: Vec<String>) -> Result<Vec<MilestoneReadiness>, Error> {
        let request = self
            .downstream
            .request(ListMilestoneReadinessRequest { project_ids: ids })?;
        Ok(self
            .downstream
            .call(
                "Billing ListMilestoneReadiness",
                self.backends.billing.clone().list_milestone_readiness(request),
            )
            .await?
            .milestones)
    }

    /// One page of the differences each project's latest reconciliation found.
    pub(crate) async fn reconciliation_differences(
        &self,
        page: PageRequest,
    ) -> Result<ListReconciliationDifferencesResponse, Error> {
        let request = self
            .downstream
            .request(ListReconciliationDifferencesRequest { page: Some(page) })?;
        self.downstream
            .call(
                "Billing ListReconciliationDifferences",
                self.backends.billing.clone().list_reconciliation_differences(request),
            )
            .await
    }

    /// One page of ERP invoices, of one project code or of all.
    pub(crate) async fn invoices(
        &self,
        project_code: String,
        page: PageRequest,
    ) -> Result<ListInvoicesResponse, Error> {
        let request = self.downstream.request(ListInvoicesRequest {
            project_code,
            page: Some(page),
        })?;
        self.downstream
            .call("ERP ListInvoices", self.backends.erp.clone().list_invoices(request))
            .await
    }

    /// How many workflow instances are in each status, by kind, in the time-capture process.
    pub(crate) async fn posting_counts(&self) -> Result<Counts, Error> {
        let request = self.downstream.request(GetCountsRequest {})?;
        self.downstream
            .call(
                "TimeCapture GetCounts",
                self.backends.postings.clone().get_counts(request),
            )
            .await
    }
}
