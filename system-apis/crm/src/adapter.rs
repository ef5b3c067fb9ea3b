//! The seam between the CRM contract and a CRM product.

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::crm::{Account, Contact, Opportunity, OpportunityStage};

use crate::domain::{LostOpportunity, NewAccount, NewContact, NewOpportunity, OpportunityUpdate, StageAdvance};

/// What a CRM must do for Keel. Changes take the caller (`actor`, for the audit log) and the
/// idempotency key; a replay returns the first result.
///
/// The methods added after the first release answer `NotSupported` by default, so an adapter
/// written against the first contract keeps compiling; the conformance kit says what is left.
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

    /// Replaces an open opportunity's commercial fields and external ids if it is still at
    /// `expected_version` (else `Aborted`); emits `crm.opportunity.updated`.
    async fn update_opportunity(
        &self,
        _actor: &str,
        _idempotency_key: &str,
        _update: OpportunityUpdate,
    ) -> Result<Opportunity, Error> {
        Err(Error::not_supported("UpdateOpportunity"))
    }

    /// Moves an open opportunity to the stage after its current one; emits
    /// `crm.opportunity.stage_advanced`. Any other move is `FailedPrecondition`.
    async fn advance_opportunity_stage(
        &self,
        _actor: &str,
        _idempotency_key: &str,
        _advance: StageAdvance,
    ) -> Result<Opportunity, Error> {
        Err(Error::not_supported("AdvanceOpportunityStage"))
    }

    /// Closes the opportunity as lost and emits `crm.opportunity.lost`. Losing a lost one again
    /// changes nothing; a won one cannot be lost.
    async fn mark_opportunity_lost(
        &self,
        _actor: &str,
        _idempotency_key: &str,
        _lost: LostOpportunity,
    ) -> Result<Opportunity, Error> {
        Err(Error::not_supported("MarkOpportunityLost"))
    }

    /// Adds a contact to an existing account; emits `crm.contact.created`.
    async fn create_contact(
        &self,
        _actor: &str,
        _idempotency_key: &str,
        _contact: NewContact,
    ) -> Result<Contact, Error> {
        Err(Error::not_supported("CreateContact"))
    }

    /// The account's contacts, by id; `NotFound` for an unknown account.
    async fn list_contacts(&self, _account_id: uuid::Uuid, _page: Page) -> Result<Vec<Contact>, Error> {
        Err(Error::not_supported("ListContacts"))
    }

    /// The opportunity another system knows as `external_id` (`source` "hubspot": a deal id).
    async fn find_opportunity_by_external_id(&self, _source: &str, _external_id: &str) -> Result<Opportunity, Error> {
        Err(Error::not_supported("finding an opportunity by external id"))
    }

    /// Whether an inbound delivery (a webhook event, by its id at `source`) was recorded.
    async fn inbound_delivery_seen(&self, _source: &str, _delivery_id: &str) -> Result<bool, Error> {
        Err(Error::not_supported("recording inbound deliveries"))
    }

    /// Records an inbound delivery with what came of it; `false` if it was already recorded.
    async fn record_inbound_delivery(&self, _source: &str, _delivery_id: &str, _outcome: &str) -> Result<bool, Error> {
        Err(Error::not_supported("recording inbound deliveries"))
    }
}
