//! Versioned updates, stage transitions, won and lost, and contacts through the gRPC service
//! on the reference adapter, with what the reference writes (audit entries, outbox events)
//! read back from its database.

mod support;

use keel_auth::Role;
use keel_crm::{CONTACT_CREATED, OPPORTUNITY_LOST, OPPORTUNITY_STAGE_ADVANCED, OPPORTUNITY_UPDATED, OPPORTUNITY_WON};
use keel_events::outbox;
use keel_proto::common::{Money, PageRequest};
use keel_proto::crm::{
    AdvanceOpportunityStageRequest, CreateContactRequest, ExternalId, ListContactsRequest, MarkOpportunityLostRequest,
    MarkOpportunityWonRequest, OpportunityLost, OpportunityStage, OpportunityStageAdvanced,
};
use support::Crm;
use tonic::Code;

fn advance(id: &str, version: i64, stage: OpportunityStage) -> AdvanceOpportunityStageRequest {
    AdvanceOpportunityStageRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        id: id.into(),
        expected_version: version,
        stage: stage as i32,
    }
}

fn lose(id: &str, version: i64) -> MarkOpportunityLostRequest {
    MarkOpportunityLostRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        id: id.into(),
        reason: "went with a competitor".into(),
        expected_version: version,
    }
}

fn win(id: &str) -> MarkOpportunityWonRequest {
    MarkOpportunityWonRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        id: id.into(),
    }
}

#[tokio::test]
async fn an_update_bumps_the_version_and_a_stale_one_is_aborted_and_changes_nothing() {
    let crm = Crm::start().await;
    let created = crm.opportunity().await;
    assert_eq!(created.version, 1);

    let mut update = Crm::update_of(&created);
    update.amount = Some(Money {
        amount: "1300000.00".into(),
        currency: "EUR".into(),
    });
    update.sow_reference = "SOW-2026-118-A".into();
    let updated = crm
        .client()
        .update_opportunity(crm.service(update))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.amount.as_ref().unwrap().amount, "1300000.00");

    // Someone still holding version 1 loses.
    let mut stale = Crm::update_of(&created);
    stale.name = "A stale rename".into();
    let status = crm.client().update_opportunity(crm.service(stale)).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert!(status.message().contains("opportunity") && status.message().contains(&created.id));
    let stored = crm.get(&created.id).await;
    assert_eq!((stored.version, stored.name.as_str()), (2, created.name.as_str()));

    // The audit entry carries before and after of what changed, and one event was written.
    let history = keel_store::audit::history(&crm.db, "opportunity", &created.id)
        .await
        .unwrap();
    let entry = history.iter().find(|e| e.action == "updated").unwrap();
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["amount"]["before"], "1250000.00 EUR");
    assert_eq!(detail["amount"]["after"], "1300000.00 EUR");
    assert_eq!(detail["sow_reference"]["after"], "SOW-2026-118-A");
    assert!(detail.get("name").is_none(), "{detail}");
    assert_eq!(history.iter().filter(|e| e.action == "updated").count(), 1);
    assert_eq!(
        outbox::recent(&crm.db, Some(OPPORTUNITY_UPDATED), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        keel_store::audit::verify(&crm.db).await.unwrap(),
        keel_store::audit::ChainReport::Intact {
            entries: keel_store::audit::history(&crm.db, "opportunity", &created.id)
                .await
                .unwrap()
                .len() as u64
                + 1
        }
    );
}

#[tokio::test]
async fn concurrent_updates_at_one_version_let_exactly_one_through() {
    let crm = Crm::start().await;
    let created = crm.opportunity().await;
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let mut client = crm.client();
            let mut update = Crm::update_of(&created);
            update.name = format!("Rename {i}");
            let request = crm.service(update);
            tokio::spawn(async move { client.update_opportunity(request).await })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => succeeded += 1,
            Err(status) => assert!(matches!(status.code(), Code::Aborted | Code::Unavailable), "{status:?}"),
        }
    }
    assert_eq!(succeeded, 1);
    assert_eq!(crm.get(&created.id).await.version, 2);
    assert_eq!(
        outbox::recent(&crm.db, Some(OPPORTUNITY_UPDATED), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn stages_advance_one_step_at_a_time_and_closed_deals_stay_closed() {
    let crm = Crm::start().await;
    let deal = crm.opportunity().await;
    let mut client = crm.client();

    // Skipping a stage, or going back, is refused.
    let status = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 1, OpportunityStage::Negotiating)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let proposing = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 1, OpportunityStage::Proposing)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (proposing.stage, proposing.version),
        (OpportunityStage::Proposing as i32, 2)
    );
    let status = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 1, OpportunityStage::Negotiating)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "a stale version: {status:?}");
    let negotiating = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 2, OpportunityStage::Negotiating)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(negotiating.stage, OpportunityStage::Negotiating as i32);
    let status = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 3, OpportunityStage::Proposing)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let status = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 3, OpportunityStage::Won)))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "won goes through MarkOpportunityWon: {status:?}"
    );

    // Won: it cannot be lost, advanced or updated.
    let won = client
        .mark_opportunity_won(crm.service(win(&deal.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((won.stage, won.version), (OpportunityStage::Won as i32, 4));
    let status = client
        .mark_opportunity_lost(crm.service(lose(&deal.id, 0)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .advance_opportunity_stage(crm.service(advance(&deal.id, 4, OpportunityStage::Proposing)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .update_opportunity(crm.service(Crm::update_of(&won)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // Lost: it cannot be won; losing it again changes nothing.
    let other = crm.opportunity().await;
    let status = client
        .mark_opportunity_lost(crm.service(lose(&other.id, 7)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let lost = client
        .mark_opportunity_lost(crm.service(lose(&other.id, 1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (lost.stage, lost.lost_reason.as_str()),
        (OpportunityStage::Lost as i32, "went with a competitor")
    );
    let again = client
        .mark_opportunity_lost(crm.service(lose(&other.id, 0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.version, lost.version);
    let status = client
        .mark_opportunity_won(crm.service(win(&other.id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // Exactly one event per change, with its payload.
    let advanced = outbox::recent(&crm.db, Some(OPPORTUNITY_STAGE_ADVANCED), 10)
        .await
        .unwrap();
    assert_eq!(advanced.len(), 2);
    let first: OpportunityStageAdvanced = outbox::to_envelope(&advanced[1]).unwrap().decode().unwrap();
    assert_eq!(first.previous_stage, OpportunityStage::Qualifying as i32);
    assert_eq!(
        outbox::recent(&crm.db, Some(OPPORTUNITY_WON), 10).await.unwrap().len(),
        1
    );
    let lost_events = outbox::recent(&crm.db, Some(OPPORTUNITY_LOST), 10).await.unwrap();
    assert_eq!(lost_events.len(), 1);
    let payload: OpportunityLost = outbox::to_envelope(&lost_events[0]).unwrap().decode().unwrap();
    assert_eq!(
        (payload.reason.as_str(), payload.opportunity.unwrap().id),
        ("went with a competitor", other.id.clone())
    );
    let actions: Vec<String> = keel_store::audit::history(&crm.db, "opportunity", &deal.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["created", "stage_advanced", "stage_advanced", "marked_won"]);
}

#[tokio::test]
async fn a_hubspot_deal_links_to_one_opportunity_only() {
    let crm = Crm::start().await;
    let linked = crm.hubspot_deal("777").await;
    assert_eq!(
        linked.external_ids,
        [ExternalId {
            source: "hubspot".into(),
            id: "777".into()
        }]
    );
    let other = crm.opportunity().await;
    let mut update = Crm::update_of(&other);
    update.external_ids = linked.external_ids.clone();
    let status = crm.client().update_opportunity(crm.service(update)).await.unwrap_err();
    let error = keel_core::Error::from(status);
    assert_eq!(error.field_violations()[0].field, "external_ids[0].id");
    assert_eq!(crm.get(&other.id).await.version, 1);
    use keel_crm::CrmAdapter;
    let found = crm
        .adapter
        .find_opportunity_by_external_id("hubspot", "777")
        .await
        .unwrap();
    assert_eq!(found.id, linked.id);
}

#[tokio::test]
async fn contacts_are_added_to_an_account_and_listed_by_page() {
    let crm = Crm::start().await;
    let account = crm.account().await;
    let other_account = crm.account().await;
    let mut client = crm.client();
    let contact = |account: &str, i: usize| CreateContactRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        account_id: account.into(),
        name: format!("Contact {i}"),
        email: format!("Contact.{i}@Northwind.example"),
        role: "sponsor".into(),
    };
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            client
                .create_contact(crm.service(contact(&account, i)))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    client
        .create_contact(crm.service(contact(&other_account, 9)))
        .await
        .unwrap();
    assert_eq!(
        (created[0].email.as_str(), created[0].version),
        ("contact.0@northwind.example", 1)
    );

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_contacts(crm.as_role(
                Role::Consultant,
                ListContactsRequest {
                    page: Some(PageRequest {
                        page_size: 2,
                        page_token: token.clone(),
                    }),
                    account_id: account.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.contacts.into_iter().map(|c| c.id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, created.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    assert_eq!(
        outbox::recent(&crm.db, Some(CONTACT_CREATED), 10).await.unwrap().len(),
        6
    );

    let mut bad = contact(&account, 7);
    bad.email = "not an email".into();
    let status = client.create_contact(crm.service(bad)).await.unwrap_err();
    assert_eq!(keel_core::Error::from(status).field_violations()[0].field, "email");
    let status = client
        .list_contacts(crm.as_role(
            Role::Finance,
            ListContactsRequest {
                page: None,
                account_id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .create_contact(crm.as_role(Role::Consultant, contact(&account, 8)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}
