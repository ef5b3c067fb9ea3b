//! The reference CRM: accounts, opportunities and contacts persisted with sea-orm, each change
//! in one transaction with its audit entry, its idempotency record and, when it emits one, its
//! event.

mod accounts;
mod contacts;
mod convert;
mod entities;
mod inbound;
mod migrations;
mod opportunities;

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::Error;
use keel_core::paging::Page;
use keel_proto::crm::{Account, Contact, Opportunity, OpportunityStage};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use uuid::Uuid;

pub use migrations::Migrator;

use crate::adapter::CrmAdapter;
use crate::domain::{LostOpportunity, NewAccount, NewContact, NewOpportunity, OpportunityUpdate, StageAdvance};

/// The persisted CRM.
#[derive(Clone)]
pub struct ReferenceCrm {
    db: DatabaseConnection,
    relay_waker: Arc<Notify>,
}

impl std::fmt::Debug for ReferenceCrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceCrm").finish_non_exhaustive()
    }
}

impl ReferenceCrm {
    /// `relay_waker` is notified after a commit that wrote an event.
    pub fn new(db: DatabaseConnection, relay_waker: Arc<Notify>) -> ReferenceCrm {
        ReferenceCrm { db, relay_waker }
    }

    /// Wakes the relay now rather than at its next interval, after a change that may have
    /// written an event.
    fn woke<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_ok() {
            self.relay_waker.notify_one();
        }
        result
    }
}

#[async_trait]
impl CrmAdapter for ReferenceCrm {
    async fn create_account(&self, actor: &str, idempotency_key: &str, new: NewAccount) -> Result<Account, Error> {
        accounts::create(self, actor, idempotency_key, new).await
    }

    async fn get_account(&self, id: Uuid) -> Result<Account, Error> {
        accounts::get(self, id).await
    }

    async fn list_accounts(&self, page: Page) -> Result<Vec<Account>, Error> {
        accounts::list(self, page).await
    }

    async fn create_opportunity(
        &self,
        actor: &str,
        idempotency_key: &str,
        new: NewOpportunity,
    ) -> Result<Opportunity, Error> {
        opportunities::create(self, actor, idempotency_key, new).await
    }

    async fn get_opportunity(&self, id: Uuid) -> Result<Opportunity, Error> {
        opportunities::get(self, id).await
    }

    async fn list_opportunities(&self, page: Page, stage: Option<OpportunityStage>) -> Result<Vec<Opportunity>, Error> {
        opportunities::list(self, page, stage).await
    }

    async fn mark_opportunity_won(&self, actor: &str, idempotency_key: &str, id: Uuid) -> Result<Opportunity, Error> {
        let result = opportunities::mark_won(self, actor, idempotency_key, id).await;
        self.woke(result)
    }

    async fn update_opportunity(
        &self,
        actor: &str,
        idempotency_key: &str,
        update: OpportunityUpdate,
    ) -> Result<Opportunity, Error> {
        let result = opportunities::update(self, actor, idempotency_key, update).await;
        self.woke(result)
    }

    async fn advance_opportunity_stage(
        &self,
        actor: &str,
        idempotency_key: &str,
        advance: StageAdvance,
    ) -> Result<Opportunity, Error> {
        let result = opportunities::advance(self, actor, idempotency_key, advance).await;
        self.woke(result)
    }

    async fn mark_opportunity_lost(
        &self,
        actor: &str,
        idempotency_key: &str,
        lost: LostOpportunity,
    ) -> Result<Opportunity, Error> {
        let result = opportunities::mark_lost(self, actor, idempotency_key, lost).await;
        self.woke(result)
    }

    async fn create_contact(&self, actor: &str, idempotency_key: &str, contact: NewContact) -> Result<Contact, Error> {
        let result = contacts::create(self, actor, idempotency_key, contact).await;
        self.woke(result)
    }

    async fn list_contacts(&self, account_id: Uuid, page: Page) -> Result<Vec<Contact>, Error> {
        contacts::list(self, account_id, page).await
    }

    async fn find_opportunity_by_external_id(&self, source: &str, external_id: &str) -> Result<Opportunity, Error> {
        opportunities::by_external_id(self, source, external_id).await
    }

    async fn inbound_delivery_seen(&self, source: &str, delivery_id: &str) -> Result<bool, Error> {
        inbound::seen(self, source, delivery_id).await
    }

    async fn record_inbound_delivery(&self, source: &str, delivery_id: &str, outcome: &str) -> Result<bool, Error> {
        inbound::record(self, source, delivery_id, outcome).await
    }
}
