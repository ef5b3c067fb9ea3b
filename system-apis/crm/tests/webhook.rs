//! HubSpot's deal webhook through a real HTTP server on loopback, over the reference CRM:
//! a correctly signed close wins or loses the linked opportunity exactly once; a bad or stale
//! signature, a malformed body and a replayed delivery are refused or acknowledged and change
//! nothing.

mod support;

use keel_crm::webhook::WebhookCounts;
use keel_crm::{OPPORTUNITY_LOST, OPPORTUNITY_WON};
use keel_events::outbox;
use keel_proto::crm::{OpportunityStage, OpportunityWon};
use support::{CLIENT_SECRET, Crm, Hook, deal_stage_change};

async fn crm_and_hook() -> (Crm, Hook) {
    let crm = Crm::start().await;
    let hook = Hook::serve(crm.adapter.clone()).await;
    (crm, hook)
}

#[tokio::test]
async fn a_signed_closedwon_delivery_wins_the_linked_opportunity_with_one_won_event() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9001").await;
    let before = crm.outbox().await;

    let (status, summary) = hook.post(&deal_stage_change(1001, "9001", "closedwon")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["applied"], 1, "{summary}");

    let won = crm.get(&deal.id).await;
    assert_eq!(won.stage, OpportunityStage::Won as i32);
    assert_eq!(won.version, deal.version + 1);
    let events = outbox::recent(&crm.db, Some(OPPORTUNITY_WON), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let payload: OpportunityWon = outbox::to_envelope(&events[0]).unwrap().decode().unwrap();
    let opportunity = payload.opportunity.unwrap();
    assert_eq!(
        (opportunity.id.as_str(), opportunity.stage),
        (deal.id.as_str(), OpportunityStage::Won as i32)
    );
    assert_eq!(opportunity.external_ids[0].id, "9001");
    assert_eq!(crm.outbox().await.len(), before.len() + 1);

    // The audit log names the webhook and the stage change.
    let history = keel_store::audit::history(&crm.db, "opportunity", &deal.id)
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("hubspot-webhook", "marked_won")
    );
    assert!(last.detail.contains("OPPORTUNITY_STAGE_WON"), "{}", last.detail);
    assert_eq!(
        hook.counters.snapshot(),
        WebhookCounts {
            applied: 1,
            ..WebhookCounts::default()
        }
    );
}

#[tokio::test]
async fn a_replayed_delivery_is_acknowledged_and_changes_nothing() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9002").await;
    let body = deal_stage_change(1002, "9002", "closedwon");
    let now = chrono::Utc::now().timestamp_millis();
    let signature = hook.sign(CLIENT_SECRET, &body, now);
    let (status, _) = hook
        .post_raw(&body, Some(now.to_string()), Some(signature.clone()))
        .await;
    assert_eq!(status, 200);
    let won = crm.get(&deal.id).await;
    let outbox_after_first = crm.outbox().await;
    let audit_after_first = keel_store::audit::history(&crm.db, "opportunity", &deal.id)
        .await
        .unwrap();

    // The very same request again (inside the five minutes), and HubSpot's retry of it with a
    // fresh signature: both are replays of event 1002.
    let (status, summary) = hook.post_raw(&body, Some(now.to_string()), Some(signature)).await;
    assert_eq!(
        (status, &summary["replayed"], &summary["applied"]),
        (200, &1.into(), &0.into())
    );
    let (status, summary) = hook.post(&body).await;
    assert_eq!((status, &summary["replayed"]), (200, &1.into()));

    assert_eq!(crm.get(&deal.id).await, won);
    assert_eq!(crm.outbox().await, outbox_after_first);
    assert_eq!(
        keel_store::audit::history(&crm.db, "opportunity", &deal.id)
            .await
            .unwrap(),
        audit_after_first
    );
    let counts = hook.counters.snapshot();
    assert_eq!((counts.applied, counts.replayed), (1, 2));
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_401_and_changes_nothing() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9003").await;
    let body = deal_stage_change(1003, "9003", "closedwon");
    let outbox_before = crm.outbox().await;
    let now = chrono::Utc::now().timestamp_millis();

    let wrong_secret = hook.sign("not-the-client-secret", &body, now);
    let other_body = hook.sign(CLIENT_SECRET, &deal_stage_change(1003, "9003", "closedlost"), now);
    for signature in [wrong_secret, other_body, "bm90IGEgc2lnbmF0dXJl".to_string()] {
        let (status, answer) = hook.post_raw(&body, Some(now.to_string()), Some(signature)).await;
        assert_eq!((status, answer["error"].as_str()), (401, Some("bad_signature")));
    }
    let (status, answer) = hook.post_raw(&body, Some(now.to_string()), None).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("missing_signature")));
    let signature = hook.sign(CLIENT_SECRET, &body, now);
    let (status, _) = hook.post_raw(&body, None, Some(signature)).await;
    assert_eq!(status, 401);

    assert_eq!(crm.get(&deal.id).await, deal);
    assert_eq!(crm.outbox().await, outbox_before);
    let counts = hook.counters.snapshot();
    assert_eq!(
        (counts.bad_signature, counts.missing_signature, counts.applied),
        (3, 2, 0)
    );

    // Nothing was recorded: the genuine delivery still works afterwards.
    let (status, summary) = hook.post(&body).await;
    assert_eq!((status, &summary["applied"]), (200, &1.into()));
}

#[tokio::test]
async fn a_stale_timestamp_is_401_and_changes_nothing() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9004").await;
    let body = deal_stage_change(1004, "9004", "closedwon");
    let outbox_before = crm.outbox().await;
    let six_minutes_ago = chrono::Utc::now().timestamp_millis() - 6 * 60 * 1000;
    let signature = hook.sign(CLIENT_SECRET, &body, six_minutes_ago);

    let (status, answer) = hook
        .post_raw(&body, Some(six_minutes_ago.to_string()), Some(signature))
        .await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("stale_timestamp")));
    assert_eq!(crm.get(&deal.id).await.stage, OpportunityStage::Qualifying as i32);
    assert_eq!(crm.outbox().await, outbox_before);
    assert_eq!(hook.counters.snapshot().stale_timestamp, 1);
}

#[tokio::test]
async fn a_malformed_body_is_400_and_changes_nothing() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9005").await;
    let outbox_before = crm.outbox().await;
    for body in ["not json", r#"{"eventId":1}"#, r#"[{"eventId":"one"}]"#] {
        let (status, answer) = hook.post(body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some("malformed")), "{body}");
    }
    assert_eq!(crm.get(&deal.id).await, deal);
    assert_eq!(crm.outbox().await, outbox_before);
    assert_eq!(hook.counters.snapshot().malformed, 3);
}

#[tokio::test]
async fn closedlost_loses_the_deal_and_a_lost_deal_is_not_won_later() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9006").await;

    let (status, summary) = hook.post(&deal_stage_change(1006, "9006", "closedlost")).await;
    assert_eq!((status, &summary["applied"]), (200, &1.into()));
    let lost = crm.get(&deal.id).await;
    assert_eq!(lost.stage, OpportunityStage::Lost as i32);
    assert!(lost.lost_reason.contains("9006"), "{}", lost.lost_reason);
    assert_eq!(
        outbox::recent(&crm.db, Some(OPPORTUNITY_LOST), 10).await.unwrap().len(),
        1
    );

    // Reopened and won in HubSpot: CRM refuses, logs and counts it, and emits nothing.
    let (status, summary) = hook.post(&deal_stage_change(1007, "9006", "closedwon")).await;
    assert_eq!((status, &summary["refused"]), (200, &1.into()));
    assert_eq!(crm.get(&deal.id).await, lost);
    assert!(
        outbox::recent(&crm.db, Some(OPPORTUNITY_WON), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(hook.counters.snapshot().refused, 1);
}

#[tokio::test]
async fn unknown_deals_and_other_events_change_nothing() {
    let (crm, hook) = crm_and_hook().await;
    let deal = crm.hubspot_deal("9008").await;
    let outbox_before = crm.outbox().await;
    let (status, summary) = hook.post(&deal_stage_change(1008, "123456", "closedwon")).await;
    assert_eq!((status, &summary["unknown_deal"]), (200, &1.into()));
    let (status, summary) = hook.post(&deal_stage_change(1009, "9008", "contractsent")).await;
    assert_eq!((status, &summary["ignored"]), (200, &1.into()));
    assert_eq!(crm.get(&deal.id).await, deal);
    assert_eq!(crm.outbox().await, outbox_before);
}

#[tokio::test]
async fn a_batch_of_events_is_handled_event_by_event() {
    let (crm, hook) = crm_and_hook().await;
    let first = crm.hubspot_deal("9101").await;
    let second = crm.hubspot_deal("9102").await;
    let mut events: Vec<serde_json::Value> =
        serde_json::from_str(&deal_stage_change(2001, "9101", "closedwon")).unwrap();
    events.extend(
        serde_json::from_str::<Vec<serde_json::Value>>(&deal_stage_change(2002, "9102", "closedlost")).unwrap(),
    );
    let body = serde_json::Value::Array(events).to_string();
    let (status, summary) = hook.post(&body).await;
    assert_eq!(
        (status, &summary["received"], &summary["applied"]),
        (200, &2.into(), &2.into())
    );
    assert_eq!(crm.get(&first.id).await.stage, OpportunityStage::Won as i32);
    assert_eq!(crm.get(&second.id).await.stage, OpportunityStage::Lost as i32);
}
