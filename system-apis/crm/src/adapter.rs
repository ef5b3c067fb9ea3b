//! The seam between the CRM contract and a CRM product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::crm::{Account, Opportunity, OpportunityStage};

use crate::domain::{NewAccount, NewOpportunity};

/// What a CRM must do for Keel. Changes take the caller (`actor`, for the audit log) and the
/// idempotency key; a replay returns the first result.
#[async_trait]
pub trait CrmAdapter: Send + Sync + 'static {
    async fn create_account(&self, actor: &str, idempotency_key: &str, account: NewAccount) -> Result<Account, Error>;
    async fn get_account(&self, id: uuid::Uuid) -> Result<Account, Error>;
    async fn list_accounts(&self, page: Page) -> Result<Vec<Account>, Error>;

    async fn create_opportunity(
        &self,
        actor: &str,
        idempotency_key: &str,
        opportunity: NewOpportunity,
    ) -> Result<Opportunity, Error>;
    async fn get_opportunity(&self, id: uuid::Uuid) -> Result<Opportunity, Error>;
    async fn list_opportunities(&self, page: Page, stage: Option<OpportunityStage>) -> Result<Vec<Opportunity>, Error>;

    /// Closes the opportunity as won and emits `crm.opportunity.won`. Winning a won
    /// opportunity again changes nothing and emits nothing; a lost one cannot be won.
    async fn mark_opportunity_won(
        &self,
        actor: &str,
        idempotency_key: &str,
        id: uuid::Uuid,
    ) -> Result<Opportunity, Error>;
}
