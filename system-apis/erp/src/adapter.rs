//! The ERP adapter trait: one method per operation of the ERP contract.
//!
//! Methods take input already checked by [`crate::domain`] and return the canonical proto
//! types. Changes carry the caller's subject (`actor`, for the audit log); their idempotency
//! key travels inside the checked input. An adapter that cannot do an operation returns
//! [`Error::NotSupported`]: every ledger operation defaults to that, so an adapter for an ERP
//! that only keeps project codes implements the first four methods and no more.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::erp::{
    Account, BillingMilestone, Budget, ConvertAmountResponse, CostCenter, ExchangeRate, Invoice, Journal,
    LegalEntity as LegalEntityRecord, ListAccountsResponse, ListBillingMilestonesResponse, ListInvoicesResponse,
    ListJournalsResponse, ListLegalEntitiesResponse, ListProjectCodesResponse, PostWorkResponse, ProjectCode,
    ProjectFinancials, RecognizeRevenueResponse, RevenueSchedule, TrialBalance,
};
use uuid::Uuid;

use crate::domain::billing::{
    BudgetUpdate, InvoiceIssue, NewDraftInvoice, NewMilestone, NewRevenueSchedule, Recognition, VersionedChange,
    WorkBatch,
};
use crate::domain::change_order::{MilestoneUpdate, RevenueRevision};
use crate::domain::ledger::{
    Conversion, JournalFilter, JournalReversal, LegalEntityUpdate, NewAccount, NewCostCenter, NewExchangeRate,
    NewJournal, NewLegalEntity,
};
use crate::domain::{LegalEntity, NewBudget, NewProjectCode, ProjectCodeLookup, ProjectCodeNumber};

/// An ERP product behind the ERP system API.
#[async_trait]
pub trait ErpAdapter: Send + Sync + 'static {
    /// Opens a project code for a PSA project, assigning its code (`PRJ-000042`). One code per
    /// project: a second project code for the same project is [`Error::AlreadyExists`] naming
    /// the existing code, unless it replays the same idempotency key, which returns the first
    /// result.
    async fn create_project_code(&self, actor: &str, project_code: NewProjectCode) -> Result<ProjectCode, Error>;

    /// One project code, by code or PSA project id, with its budget once posted.
    async fn get_project_code(&self, lookup: ProjectCodeLookup) -> Result<ProjectCode, Error>;

    /// Project codes in creation order, one page at a time.
    async fn list_project_codes(&self, page: Page) -> Result<ListProjectCodesResponse, Error>;

    /// The project codes (with their budgets) of the PSA projects named that have one, in id
    /// order.
    async fn list_project_codes_of_projects(&self, project_ids: Vec<Uuid>) -> Result<Vec<ProjectCode>, Error> {
        let _ = project_ids;
        Err(Error::not_supported("ListProjectCodesOfProjects"))
    }

    /// The money of each PSA project named that has a project code, in id order: invoiced
    /// and in draft, its revenue schedule, the cost booked to it. By default read through this
    /// adapter's own list operations ([`crate::financials`]); an adapter may answer it in one
    /// query instead.
    async fn list_project_financials_of_projects(
        &self,
        project_ids: Vec<Uuid>,
    ) -> Result<Vec<ProjectFinancials>, Error> {
        crate::financials::of_projects(self, project_ids).await
    }

    /// Posts the budget of a project code. A code has one budget: a second one is
    /// [`Error::FailedPrecondition`], unless it replays the same idempotency key.
    async fn post_budget(&self, actor: &str, budget: NewBudget) -> Result<Budget, Error>;

    /// Replaces a posted budget's lines (a change order) if its version is still
    /// `expected_version`, else [`Error::Aborted`].
    async fn update_budget(&self, actor: &str, update: BudgetUpdate) -> Result<Budget, Error> {
        let _ = (actor, update);
        Err(Error::not_supported("UpdateBudget"))
    }

    /// Creates a legal entity with the default chart of accounts
    /// ([`crate::domain::ledger::DEFAULT_CHART`]).
    async fn create_legal_entity(&self, actor: &str, entity: NewLegalEntity) -> Result<LegalEntityRecord, Error> {
        let _ = (actor, entity);
        Err(Error::not_supported("CreateLegalEntity"))
    }

    async fn get_legal_entity(&self, code: LegalEntity) -> Result<LegalEntityRecord, Error> {
        let _ = code;
        Err(Error::not_supported("GetLegalEntity"))
    }

    async fn list_legal_entities(&self, page: Page) -> Result<ListLegalEntitiesResponse, Error> {
        let _ = page;
        Err(Error::not_supported("ListLegalEntities"))
    }

    async fn update_legal_entity(&self, actor: &str, update: LegalEntityUpdate) -> Result<LegalEntityRecord, Error> {
        let _ = (actor, update);
        Err(Error::not_supported("UpdateLegalEntity"))
    }

    /// Records the rate of a currency pair on a date; one rate per pair and date.
    async fn set_exchange_rate(&self, actor: &str, rate: NewExchangeRate) -> Result<ExchangeRate, Error> {
        let _ = (actor, rate);
        Err(Error::not_supported("SetExchangeRate"))
    }

    /// Converts with the latest rate on or before the date (half-even to the minor unit).
    async fn convert_amount(&self, conversion: Conversion) -> Result<ConvertAmountResponse, Error> {
        let _ = conversion;
        Err(Error::not_supported("ConvertAmount"))
    }

    async fn create_account(&self, actor: &str, account: NewAccount) -> Result<Account, Error> {
        let _ = (actor, account);
        Err(Error::not_supported("CreateAccount"))
    }

    async fn list_accounts(&self, legal_entity: LegalEntity, page: Page) -> Result<ListAccountsResponse, Error> {
        let _ = (legal_entity, page);
        Err(Error::not_supported("ListAccounts"))
    }

    async fn create_cost_center(&self, actor: &str, cost_center: NewCostCenter) -> Result<CostCenter, Error> {
        let _ = (actor, cost_center);
        Err(Error::not_supported("CreateCostCenter"))
    }

    /// Posts a journal already known to balance per legal entity and currency; every line's
    /// legal entity, account, cost center and project code must exist.
    async fn post_journal(&self, actor: &str, journal: NewJournal) -> Result<Journal, Error> {
        let _ = (actor, journal);
        Err(Error::not_supported("PostJournal"))
    }

    /// Posts a new journal with every line of the given one on the other side.
    async fn reverse_journal(&self, actor: &str, reversal: JournalReversal) -> Result<Journal, Error> {
        let _ = (actor, reversal);
        Err(Error::not_supported("ReverseJournal"))
    }

    async fn get_journal(&self, id: Uuid) -> Result<Journal, Error> {
        let _ = id;
        Err(Error::not_supported("GetJournal"))
    }

    async fn list_journals(&self, filter: JournalFilter, page: Page) -> Result<ListJournalsResponse, Error> {
        let _ = (filter, page);
        Err(Error::not_supported("ListJournals"))
    }

    async fn trial_balance(&self, legal_entity: LegalEntity) -> Result<TrialBalance, Error> {
        let _ = legal_entity;
        Err(Error::not_supported("GetTrialBalance"))
    }

    /// Posts approved time entries or expenses, each entry once whatever key it comes under:
    /// an entry posted before answers with the first posting's journals.
    async fn post_work(&self, actor: &str, batch: WorkBatch) -> Result<PostWorkResponse, Error> {
        let _ = (actor, batch);
        Err(Error::not_supported("PostTimeEntries"))
    }

    async fn create_billing_milestone(&self, actor: &str, milestone: NewMilestone) -> Result<BillingMilestone, Error> {
        let _ = (actor, milestone);
        Err(Error::not_supported("CreateBillingMilestone"))
    }

    /// PLANNED → REACHED, if the milestone's version is still `expected_version`.
    async fn mark_milestone_reached(&self, actor: &str, change: VersionedChange) -> Result<BillingMilestone, Error> {
        let _ = (actor, change);
        Err(Error::not_supported("MarkMilestoneReached"))
    }

    /// Moves a PLANNED or REACHED milestone's amount and/or due date (a change order) if its
    /// version is still `expected_version` (else [`Error::Aborted`]); a milestone invoiced or on
    /// an invoice is [`Error::FailedPrecondition`].
    async fn update_billing_milestone(&self, actor: &str, update: MilestoneUpdate) -> Result<BillingMilestone, Error> {
        let _ = (actor, update);
        Err(Error::not_supported("UpdateBillingMilestone"))
    }

    async fn list_billing_milestones(
        &self,
        project_code: ProjectCodeNumber,
        page: Page,
    ) -> Result<ListBillingMilestonesResponse, Error> {
        let _ = (project_code, page);
        Err(Error::not_supported("ListBillingMilestones"))
    }

    async fn create_draft_invoice(&self, actor: &str, draft: NewDraftInvoice) -> Result<Invoice, Error> {
        let _ = (actor, draft);
        Err(Error::not_supported("CreateDraftInvoice"))
    }

    /// DRAFT → ISSUED: assigns the number and posts the receivable journal.
    async fn issue_invoice(&self, actor: &str, issue: InvoiceIssue) -> Result<Invoice, Error> {
        let _ = (actor, issue);
        Err(Error::not_supported("IssueInvoice"))
    }

    async fn get_invoice(&self, id: Uuid) -> Result<Invoice, Error> {
        let _ = id;
        Err(Error::not_supported("GetInvoice"))
    }

    async fn list_invoices(
        &self,
        project_code: Option<ProjectCodeNumber>,
        page: Page,
    ) -> Result<ListInvoicesResponse, Error> {
        let _ = (project_code, page);
        Err(Error::not_supported("ListInvoices"))
    }

    async fn set_revenue_schedule(&self, actor: &str, schedule: NewRevenueSchedule) -> Result<RevenueSchedule, Error> {
        let _ = (actor, schedule);
        Err(Error::not_supported("SetRevenueSchedule"))
    }

    /// Moves an existing schedule's contract value (a change order) if its version is still
    /// `expected_version`; never below what is recognised ([`Error::FailedPrecondition`]).
    async fn revise_revenue_schedule(&self, actor: &str, revision: RevenueRevision) -> Result<RevenueSchedule, Error> {
        let _ = (actor, revision);
        Err(Error::not_supported("ReviseRevenueSchedule"))
    }

    async fn get_revenue_schedule(&self, project_code: ProjectCodeNumber) -> Result<RevenueSchedule, Error> {
        let _ = project_code;
        Err(Error::not_supported("GetRevenueSchedule"))
    }

    async fn recognize_revenue(
        &self,
        actor: &str,
        recognition: Recognition,
    ) -> Result<RecognizeRevenueResponse, Error> {
        let _ = (actor, recognition);
        Err(Error::not_supported("RecognizeRevenue"))
    }
}
