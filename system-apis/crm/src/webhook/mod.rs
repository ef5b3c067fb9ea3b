//! HubSpot's deal webhooks, received over HTTP: `POST /webhooks/hubspot`.
//!
//! A delivery is checked before anything is read from it: the v3 signature over method, URL,
//! body and timestamp with the app's client secret (constant-time), and a timestamp no older
//! than five minutes. Each event in it is then mapped ([`transform`]): a deal moved to a won
//! stage marks the linked opportunity won (which emits `crm.opportunity.won` and starts project
//! setup); to a lost stage, lost. Deals link to opportunities through their external id
//! (source [`HUBSPOT_SOURCE`], set with `UpdateOpportunity`).
//!
//! Every event is recorded by its delivery id once handled, so a replayed delivery is
//! acknowledged without effect. Rejections (401 for a missing, bad or stale signature, 400 for
//! a malformed body) and events without effect are logged with their reason and counted in
//! [`WebhookCounters`].

pub mod signature;
pub mod transform;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, Method, StatusCode};
use keel_core::Error;
use serde::Serialize;

use crate::adapter::CrmAdapter;
use crate::domain::LostOpportunity;
use signature::{SignatureError, SignedRequest};
use transform::{DealClosed, HubSpotEvent, Mapped, StageIds};

/// The route HubSpot posts to.
pub const WEBHOOK_PATH: &str = "/webhooks/hubspot";
/// The external-id source of HubSpot deal ids.
pub const HUBSPOT_SOURCE: &str = "hubspot";
/// The actor the audit log names for changes a webhook made.
pub const WEBHOOK_ACTOR: &str = "hubspot-webhook";
/// The largest delivery accepted (HubSpot sends at most 100 events per request).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The HubSpot app's client secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> ClientSecret {
        ClientSecret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(****)")
    }
}

/// How the webhook checks and maps HubSpot's deliveries.
#[derive(Debug, Clone)]
pub struct HubSpotWebhookConfig {
    /// The HubSpot app's client secret, which signs every delivery.
    pub client_secret: ClientSecret,
    /// Scheme and host HubSpot calls, as in the app's target URL (`https://keel.example.com`);
    /// the signature covers the full URL, which a server behind a proxy cannot see.
    pub public_url: String,
    /// Oldest delivery accepted (HubSpot: five minutes).
    pub max_age: Duration,
    /// Deal stage ids that mean won (default pipeline: `closedwon`).
    pub won_stages: Vec<String>,
    /// Deal stage ids that mean lost (default pipeline: `closedlost`).
    pub lost_stages: Vec<String>,
    /// When set, events from other HubSpot portals are ignored.
    pub portal_id: Option<u64>,
}

impl HubSpotWebhookConfig {
    /// The defaults HubSpot documents: five minutes, the default pipeline's closed stages.
    pub fn new(client_secret: ClientSecret, public_url: impl Into<String>) -> HubSpotWebhookConfig {
        HubSpotWebhookConfig {
            client_secret,
            public_url: public_url.into(),
            max_age: Duration::from_secs(5 * 60),
            won_stages: vec!["closedwon".into()],
            lost_stages: vec!["closedlost".into()],
            portal_id: None,
        }
    }

    /// Names the first setting that cannot work.
    pub fn validate(&self) -> Result<(), Error> {
        if self.client_secret.expose().trim().is_empty() {
            return Err(Error::invalid("crm.hubspot.client_secret", "must not be empty"));
        }
        let url = self.public_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() <= "https://".len() {
            return Err(Error::invalid(
                "crm.hubspot.public_url",
                "must be the scheme and host HubSpot calls, e.g. https://keel.example.com",
            ));
        }
        if self.max_age.is_zero() {
            return Err(Error::invalid("crm.hubspot.max_age", "must be more than zero"));
        }
        if self.won_stages.iter().any(|w| self.lost_stages.contains(w)) {
            return Err(Error::invalid(
                "crm.hubspot.won_stages",
                "a deal stage cannot mean both won and lost",
            ));
        }
        Ok(())
    }
}

/// Why a delivery or an event had no effect; the label of its counter and log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingSignature,
    BadSignature,
    StaleTimestamp,
    Malformed,
    Replayed,
    UnknownDeal,
    Refused,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::Malformed => "malformed",
            Rejection::Replayed => "replayed",
            Rejection::UnknownDeal => "unknown_deal",
            Rejection::Refused => "refused",
        }
    }
}

/// Counts of what the webhook did, since it started.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    applied: AtomicU64,
    ignored: AtomicU64,
    missing_signature: AtomicU64,
    bad_signature: AtomicU64,
    stale_timestamp: AtomicU64,
    malformed: AtomicU64,
    replayed: AtomicU64,
    unknown_deal: AtomicU64,
    refused: AtomicU64,
}

/// A snapshot of [`WebhookCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WebhookCounts {
    /// Events that closed an opportunity.
    pub applied: u64,
    /// Events that were not deal-stage closes (or from another portal).
    pub ignored: u64,
    pub missing_signature: u64,
    pub bad_signature: u64,
    pub stale_timestamp: u64,
    pub malformed: u64,
    pub replayed: u64,
    pub unknown_deal: u64,
    /// Events CRM refused (e.g. a lost opportunity cannot be won).
    pub refused: u64,
}

impl WebhookCounters {
    fn count(&self, rejection: Rejection) {
        let counter = match rejection {
            Rejection::MissingSignature => &self.missing_signature,
            Rejection::BadSignature => &self.bad_signature,
            Rejection::StaleTimestamp => &self.stale_timestamp,
            Rejection::Malformed => &self.malformed,
            Rejection::Replayed => &self.replayed,
            Rejection::UnknownDeal => &self.unknown_deal,
            Rejection::Refused => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> WebhookCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WebhookCounts {
            applied: get(&self.applied),
            ignored: get(&self.ignored),
            missing_signature: get(&self.missing_signature),
            bad_signature: get(&self.bad_signature),
            stale_timestamp: get(&self.stale_timestamp),
            malformed: get(&self.malformed),
            replayed: get(&self.replayed),
            unknown_deal: get(&self.unknown_deal),
            refused: get(&self.refused),
        }
    }
}

/// The HubSpot webhook over a CRM adapter.
#[derive(Clone)]
pub struct HubSpotWebhook {
    adapter: Arc<dyn CrmAdapter>,
    config: Arc<HubSpotWebhookConfig>,
    counters: Arc<WebhookCounters>,
}

impl std::fmt::Debug for HubSpotWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotWebhook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The router serving [`WEBHOOK_PATH`] for `adapter`. Mount it on the platform's HTTP server
/// (`Router::merge`). Use [`HubSpotWebhook`] to read its counters too.
pub fn router(adapter: Arc<dyn CrmAdapter>, config: HubSpotWebhookConfig) -> Router {
    HubSpotWebhook::new(adapter, config).router()
}

/// What a delivery came to, as the response body.
#[derive(Debug, Default, Serialize)]
struct Summary {
    received: usize,
    applied: usize,
    ignored: usize,
    replayed: usize,
    unknown_deal: usize,
    refused: usize,
}

impl HubSpotWebhook {
    pub fn new(adapter: Arc<dyn CrmAdapter>, config: HubSpotWebhookConfig) -> HubSpotWebhook {
        HubSpotWebhook {
            adapter,
            config: Arc::new(config),
            counters: Arc::new(WebhookCounters::default()),
        }
    }

    /// The live counters (shared with every clone and the router).
    pub fn counters(&self) -> Arc<WebhookCounters> {
        self.counters.clone()
    }

    /// `POST` [`WEBHOOK_PATH`].
    pub fn router(self) -> Router {
        Router::new()
            .route(WEBHOOK_PATH, post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self)
    }

    fn reject(&self, rejection: Rejection, status: StatusCode) -> Response {
        tracing::warn!(
            reason = rejection.as_str(),
            http.response.status_code = status.as_u16(),
            "hubspot webhook delivery rejected"
        );
        self.counters.count(rejection);
        (status, axum::Json(serde_json::json!({ "error": rejection.as_str() }))).into_response()
    }

    fn note(&self, rejection: Rejection, event: &HubSpotEvent, detail: &str) {
        tracing::warn!(
            reason = rejection.as_str(),
            hubspot.event_id = event.event_id,
            hubspot.object_id = event.object_id,
            detail,
            "hubspot webhook event had no effect"
        );
        self.counters.count(rejection);
    }

    /// Handles one event; `Err` for a fault worth HubSpot retrying the whole delivery.
    async fn handle(&self, event: &HubSpotEvent, summary: &mut Summary) -> Result<(), Error> {
        let delivery = transform::delivery_id(event);
        if self.adapter.inbound_delivery_seen(HUBSPOT_SOURCE, &delivery).await? {
            self.note(Rejection::Replayed, event, "this event was already handled");
            summary.replayed += 1;
            return Ok(());
        }
        let stages = StageIds {
            won: &self.config.won_stages,
            lost: &self.config.lost_stages,
        };
        let mapped = match self.config.portal_id {
            Some(portal) if portal != event.portal_id => Mapped::Ignore("from another HubSpot portal"),
            _ => transform::map(event, stages),
        };
        let (deal_id, outcome) = match mapped {
            Mapped::Ignore(why) => {
                tracing::debug!(
                    hubspot.event_id = event.event_id,
                    reason = why,
                    "hubspot webhook event ignored"
                );
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                summary.ignored += 1;
                return self.record(event, &delivery, "ignored", summary).await;
            }
            Mapped::Close { deal_id, outcome } => (deal_id, outcome),
        };
        let opportunity = match self
            .adapter
            .find_opportunity_by_external_id(HUBSPOT_SOURCE, &deal_id)
            .await
        {
            Ok(opportunity) => opportunity,
            Err(Error::NotFound(why)) => {
                self.note(Rejection::UnknownDeal, event, &why);
                summary.unknown_deal += 1;
                return self.record(event, &delivery, "unknown_deal", summary).await;
            }
            Err(other) => return Err(other),
        };
        let id: uuid::Uuid = opportunity.id.parse().map_err(Error::internal)?;
        // The key makes a concurrent or retried delivery of this event change CRM once.
        let key = format!("hubspot-{delivery}");
        let result = match outcome {
            DealClosed::Won => self.adapter.mark_opportunity_won(WEBHOOK_ACTOR, &key, id).await,
            DealClosed::Lost => {
                let lost = LostOpportunity {
                    id,
                    reason: transform::lost_reason(&deal_id),
                    expected_version: None,
                };
                self.adapter.mark_opportunity_lost(WEBHOOK_ACTOR, &key, lost).await
            }
        };
        match result {
            Ok(_) => {
                tracing::info!(
                    hubspot.event_id = event.event_id,
                    opportunity.id = %id,
                    outcome = ?outcome,
                    "hubspot webhook closed an opportunity"
                );
                self.counters.applied.fetch_add(1, Ordering::Relaxed);
                summary.applied += 1;
                self.record(event, &delivery, "applied", summary).await
            }
            Err(Error::FailedPrecondition(why)) => {
                self.note(Rejection::Refused, event, &why);
                summary.refused += 1;
                self.record(event, &delivery, "refused", summary).await
            }
            Err(other) => Err(other),
        }
    }

    async fn record(
        &self,
        event: &HubSpotEvent,
        delivery: &str,
        outcome: &str,
        summary: &mut Summary,
    ) -> Result<(), Error> {
        if !self
            .adapter
            .record_inbound_delivery(HUBSPOT_SOURCE, delivery, outcome)
            .await?
        {
            // A concurrent delivery of the same event got there first; its change ran once.
            self.note(Rejection::Replayed, event, "a concurrent delivery handled this event");
            summary.replayed += 1;
        }
        Ok(())
    }
}

async fn receive(
    State(hook): State<HubSpotWebhook>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(WEBHOOK_PATH);
    let full_uri = format!("{}{path}", hook.config.public_url.trim().trim_end_matches('/'));
    let request = SignedRequest {
        method: method.as_str(),
        uri: &full_uri,
        body: &body,
        timestamp: header(signature::TIMESTAMP_HEADER),
        signature: header(signature::SIGNATURE_HEADER),
    };
    let now = chrono::Utc::now().timestamp_millis();
    match signature::verify(
        hook.config.client_secret.expose().as_bytes(),
        request,
        now,
        hook.config.max_age,
    ) {
        Ok(()) => {}
        Err(SignatureError::Missing) => return hook.reject(Rejection::MissingSignature, StatusCode::UNAUTHORIZED),
        Err(SignatureError::Stale) => return hook.reject(Rejection::StaleTimestamp, StatusCode::UNAUTHORIZED),
        Err(SignatureError::Mismatch) => return hook.reject(Rejection::BadSignature, StatusCode::UNAUTHORIZED),
    }
    let events = match transform::parse_delivery(&body) {
        Ok(events) => events,
        Err(error) => {
            tracing::debug!(error = %error, "hubspot webhook body did not parse");
            return hook.reject(Rejection::Malformed, StatusCode::BAD_REQUEST);
        }
    };
    let mut summary = Summary {
        received: events.len(),
        ..Summary::default()
    };
    for event in &events {
        if let Err(error) = hook.handle(event, &mut summary).await {
            // HubSpot retries a delivery answered 5xx; the events handled so far are recorded
            // and will count as replays.
            tracing::warn!(
                reason = "crm_unavailable",
                hubspot.event_id = event.event_id,
                error = %error,
                "hubspot webhook delivery failed; HubSpot will retry"
            );
            let status = if error.is_transient() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return (status, axum::Json(serde_json::json!({ "error": "crm_unavailable" }))).into_response();
        }
    }
    (StatusCode::OK, axum::Json(summary)).into_response()
}
