//! HubSpot's webhook wire format and its mapping onto CRM operations.
//!
//! HubSpot POSTs a JSON array of up to 100 events. A deal moving stage arrives as
//! `subscriptionType` "deal.propertyChange" with `propertyName` "dealstage" and the new stage
//! id in `propertyValue` ("closedwon", "closedlost" in the default pipeline). Unknown fields are
//! ignored: HubSpot adds fields without notice.

use serde::Deserialize;

/// One event of a HubSpot webhook delivery, as HubSpot spells it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotEvent {
    pub event_id: u64,
    pub subscription_id: u64,
    pub portal_id: u64,
    #[serde(default)]
    pub app_id: Option<u64>,
    /// When the change happened, in milliseconds since the epoch.
    pub occurred_at: i64,
    /// `deal.propertyChange`, `deal.creation`, `contact.propertyChange`, ...
    pub subscription_type: String,
    #[serde(default)]
    pub attempt_number: Option<u32>,
    /// The HubSpot id of the changed object: for deal events, the deal id.
    pub object_id: u64,
    #[serde(default)]
    pub property_name: Option<String>,
    #[serde(default)]
    pub property_value: Option<String>,
    #[serde(default)]
    pub change_source: Option<String>,
}

/// Parses a delivery's body: a JSON array of events.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<HubSpotEvent>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The subscription type of a deal's property change.
pub const DEAL_PROPERTY_CHANGE: &str = "deal.propertyChange";
/// The deal property holding its pipeline stage.
pub const DEAL_STAGE_PROPERTY: &str = "dealstage";

/// How a deal closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealClosed {
    Won,
    Lost,
}

/// What Keel does with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Close the opportunity linked to HubSpot deal `deal_id`.
    Close { deal_id: String, outcome: DealClosed },
    /// Nothing to do; the reason is logged.
    Ignore(&'static str),
}

/// Which deal stage ids mean won and lost (pipelines may define their own).
#[derive(Debug, Clone, Copy)]
pub struct StageIds<'a> {
    pub won: &'a [String],
    pub lost: &'a [String],
}

/// Maps one event onto a CRM operation.
pub fn map(event: &HubSpotEvent, stages: StageIds<'_>) -> Mapped {
    if event.subscription_type != DEAL_PROPERTY_CHANGE {
        return Mapped::Ignore("not a deal property change");
    }
    if event.property_name.as_deref() != Some(DEAL_STAGE_PROPERTY) {
        return Mapped::Ignore("not a deal stage change");
    }
    let value = event.property_value.as_deref().unwrap_or_default();
    let outcome = if stages.won.iter().any(|s| s == value) {
        DealClosed::Won
    } else if stages.lost.iter().any(|s| s == value) {
        DealClosed::Lost
    } else {
        return Mapped::Ignore("the deal stage is not a closed stage");
    };
    Mapped::Close {
        deal_id: event.object_id.to_string(),
        outcome,
    }
}

/// The id Keel records a delivered event under. HubSpot does not promise `eventId` alone is
/// unique, so the portal and subscription are part of it; a retry of one event keeps all three.
pub fn delivery_id(event: &HubSpotEvent) -> String {
    format!("{}-{}-{}", event.portal_id, event.subscription_id, event.event_id)
}

/// The reason recorded on an opportunity HubSpot closed as lost.
pub fn lost_reason(deal_id: &str) -> String {
    format!("closed lost in HubSpot (deal {deal_id})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"[{"eventId":1001,"subscriptionId":77,"portalId":62515,"appId":54321,
        "occurredAt":1764000000000,"subscriptionType":"deal.propertyChange","attemptNumber":0,
        "objectId":9001,"propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM_UI",
        "sourceId":"userId:1"}]"#;

    fn stages() -> (Vec<String>, Vec<String>) {
        (vec!["closedwon".into()], vec!["closedlost".into()])
    }

    #[test]
    fn a_closed_won_deal_stage_change_closes_the_deal_as_won() {
        let events = parse_delivery(BODY.as_bytes()).unwrap();
        let (won, lost) = stages();
        let stages = StageIds { won: &won, lost: &lost };
        assert_eq!(
            map(&events[0], stages),
            Mapped::Close {
                deal_id: "9001".into(),
                outcome: DealClosed::Won
            }
        );
        assert_eq!(delivery_id(&events[0]), "62515-77-1001");
    }

    #[test]
    fn other_events_are_ignored() {
        let event = parse_delivery(BODY.as_bytes()).unwrap().remove(0);
        let (won, lost) = stages();
        let stages = StageIds { won: &won, lost: &lost };
        type Edit = fn(&mut HubSpotEvent);
        let table: &[(Edit, Mapped)] = &[
            (
                |e| e.property_value = Some("closedlost".into()),
                Mapped::Close {
                    deal_id: "9001".into(),
                    outcome: DealClosed::Lost,
                },
            ),
            (
                |e| e.property_value = Some("appointmentscheduled".into()),
                Mapped::Ignore("the deal stage is not a closed stage"),
            ),
            (
                |e| e.property_name = Some("amount".into()),
                Mapped::Ignore("not a deal stage change"),
            ),
            (|e| e.property_name = None, Mapped::Ignore("not a deal stage change")),
            (
                |e| e.subscription_type = "contact.propertyChange".into(),
                Mapped::Ignore("not a deal property change"),
            ),
        ];
        for (edit, expected) in table {
            let mut e = event.clone();
            edit(&mut e);
            assert_eq!(&map(&e, stages), expected, "{e:?}");
        }
    }

    #[test]
    fn malformed_deliveries_do_not_parse() {
        for body in [
            "",
            "{}",
            r#"[{"eventId":"x"}]"#,
            r#"[{"eventId":1,"subscriptionId":1,"portalId":1,"occurredAt":1,"subscriptionType":"deal.creation"}]"#,
        ] {
            assert!(parse_delivery(body.as_bytes()).is_err(), "{body}");
        }
        assert_eq!(parse_delivery(b"[]").unwrap(), vec![]);
    }
}
