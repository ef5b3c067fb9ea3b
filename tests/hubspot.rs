//! HubSpot's deal webhook through the real binary: a correctly signed `closedwon` marks the
//! linked opportunity won and project setup makes its project; a forged, stale or replayed
//! delivery is refused and changes nothing.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{HUBSPOT_PUBLIC_URL, HUBSPOT_SECRET, Keel, eventually};
use hmac::{Hmac, Mac};
use keel_auth::Role;
use keel_proto::common::PageRequest;
use keel_proto::crm::{
    ExternalId, GetOpportunityRequest, ListOpportunitiesRequest, Opportunity, OpportunityStage,
    UpdateOpportunityRequest,
};
use keel_proto::events::ListEventsRequest;
use keel_proto::projectsetup::{ListSetupsRequest, SetupState};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(30);
const DEAL_ID: &str = "18264120993";

/// base64(HMAC-SHA256(secret, method + URL + body + timestamp)), as HubSpot signs v3.
fn sign(secret: &str, body: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST{HUBSPOT_PUBLIC_URL}/webhooks/hubspot{body}{timestamp_ms}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn closed_won(event_id: u64) -> String {
    serde_json::json!([{
        "eventId": event_id,
        "subscriptionId": 3_100_442,
        "portalId": 62515,
        "appId": 1_160_452,
        "occurredAt": chrono_now_ms(),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": DEAL_ID.parse::<u64>().unwrap(),
        "propertyName": "dealstage",
        "propertyValue": "closedwon",
        "changeSource": "CRM_UI"
    }])
    .to_string()
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn post(keel: &Keel, body: &str, timestamp_ms: i64, signature: &str) -> u16 {
    keel.http_client()
        .post(format!("{}/webhooks/hubspot", keel.http))
        .header("content-type", "application/json")
        .header("X-HubSpot-Request-Timestamp", timestamp_ms.to_string())
        .header("X-HubSpot-Signature-v3", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn demo_deal(keel: &Keel, name: &str) -> Opportunity {
    let list = ListOpportunitiesRequest {
        page: Some(PageRequest {
            page_size: 100,
            page_token: String::new(),
        }),
        stage: 0,
    };
    keel.crm()
        .list_opportunities(keel.request(Role::Admin, list))
        .await
        .unwrap()
        .into_inner()
        .opportunities
        .into_iter()
        .find(|o| o.name == name)
        .unwrap()
}

async fn stage(keel: &Keel, id: &str) -> i32 {
    keel.crm()
        .get_opportunity(keel.request(Role::Admin, GetOpportunityRequest { id: id.into() }))
        .await
        .unwrap()
        .into_inner()
        .stage
}

/// `crm.*` events in the outbox.
async fn events(keel: &Keel) -> usize {
    let mut total = 0;
    for event_type in ["crm.opportunity.won", "crm.opportunity.lost", "crm.opportunity.updated"] {
        total += won_events(keel, event_type).await;
    }
    total
}

async fn won_events(keel: &Keel, event_type: &str) -> usize {
    keel.outbox()
        .list_events(keel.request(
            Role::Operations,
            ListEventsRequest {
                event_type: event_type.into(),
                limit: 100,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events
        .len()
}

#[tokio::test]
async fn a_signed_hubspot_closedwon_starts_project_setup_and_forged_stale_or_replayed_ones_change_nothing() {
    let keel = Keel::start().await;
    let deal = demo_deal(&keel, "Northwind S/4 finance rollout").await;
    // Link the HubSpot deal to the Keel opportunity, as the CRM sync would.
    let linked = keel
        .crm()
        .update_opportunity(keel.request(
            Role::Admin,
            UpdateOpportunityRequest {
                idempotency_key: "link-hubspot-deal".into(),
                id: deal.id.clone(),
                expected_version: deal.version,
                name: deal.name.clone(),
                service_line: deal.service_line.clone(),
                contract_type: deal.contract_type.clone(),
                region: deal.region.clone(),
                client_tier: deal.client_tier.clone(),
                amount: deal.amount.clone(),
                close_date: deal.close_date.clone(),
                sow_reference: deal.sow_reference.clone(),
                external_ids: vec![ExternalId {
                    source: "hubspot".into(),
                    id: DEAL_ID.into(),
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(linked.version, deal.version + 1);
    let events_before = events(&keel).await;

    // Forged: signed with another secret.
    let now = chrono_now_ms();
    let body = closed_won(1001);
    assert_eq!(post(&keel, &body, now, &sign("not-the-secret", &body, now)).await, 401);
    // Stale: correctly signed, but six minutes old.
    let old = now - 6 * 60 * 1000;
    assert_eq!(post(&keel, &body, old, &sign(HUBSPOT_SECRET, &body, old)).await, 401);
    // Tampered: the body changed after signing.
    let tampered = body.replace("closedwon", "closedlost");
    assert_eq!(
        post(&keel, &tampered, now, &sign(HUBSPOT_SECRET, &body, now)).await,
        401
    );
    assert_eq!(stage(&keel, &deal.id).await, deal.stage);
    assert_eq!(events(&keel).await, events_before, "refused deliveries change nothing");

    // Genuine.
    assert_eq!(post(&keel, &body, now, &sign(HUBSPOT_SECRET, &body, now)).await, 200);
    assert_eq!(stage(&keel, &deal.id).await, OpportunityStage::Won as i32);
    assert_eq!(won_events(&keel, "crm.opportunity.won").await, 1);
    let setup = eventually(WAIT, || async {
        keel.setup()
            .list_setups(keel.request(Role::Operations, ListSetupsRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .setups
            .into_iter()
            .find(|s| s.opportunity_id == deal.id && s.state == SetupState::Completed as i32)
    })
    .await;
    assert!(setup.project_code.starts_with("PRJ-"), "{setup:?}");
    let events_after = events(&keel).await;

    // HubSpot retries the same delivery: acknowledged, nothing new.
    let later = chrono_now_ms();
    assert_eq!(
        post(&keel, &body, later, &sign(HUBSPOT_SECRET, &body, later)).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events(&keel).await, events_after, "a replayed delivery changes nothing");
}
