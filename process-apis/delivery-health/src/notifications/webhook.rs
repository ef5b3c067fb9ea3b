//! The outbound webhook: POSTs each PENDING notification's Slack-compatible JSON to the
//! configured URL, signed with HMAC-SHA256, from the `notifications` table, so a restart loses
//! nothing. A failed attempt is retried with exponential backoff and jitter (`backon`); a
//! notification is claimed under a lease before it is sent, so replicas never send it
//! together, and marked DELIVERED once the receiver answers 2xx.
//!
//! Headers: `X-Keel-Timestamp` (Unix seconds), `X-Keel-Signature: v1=<hex>` where the hex is
//! HMAC-SHA256 with the secret over `v1:<timestamp>:<body>`, and `X-Keel-Notification-Id`
//! (the same on every attempt, so a receiver can drop a repeat after a lost answer).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use hmac::{Hmac, Mac};
use keel_config::Secret;
use keel_core::Error;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, Condition, DatabaseConnection, QueryOrder, QuerySelect};
use serde::Deserialize;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::{delivery, entity};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-keel-signature";
/// The header carrying the timestamp the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-keel-timestamp";
/// The header carrying the notification id.
pub const NOTIFICATION_ID_HEADER: &str = "x-keel-notification-id";

/// The `[notifications.webhook]` settings. No `url`: the webhook is off and notifications are
/// only stored and broadcast.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where notifications are POSTed (http or https).
    pub url: Option<String>,
    /// The HMAC-SHA256 key; required with a URL.
    pub secret: Secret<String>,
    /// Deadline of one POST, in milliseconds. Default 5000.
    pub timeout_ms: u64,
    /// First retry delay, in milliseconds. Default 1000.
    pub initial_backoff_ms: u64,
    /// Longest retry delay, in milliseconds. Default 300000 (5 minutes).
    pub max_backoff_ms: u64,
    /// Attempts before a notification is marked FAILED. Default 100.
    pub max_attempts: u32,
    /// How often the queue is polled, in milliseconds. Default 1000.
    pub poll_interval_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            url: None,
            secret: Secret::default(),
            timeout_ms: 5_000,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            max_attempts: 100,
            poll_interval_ms: 1_000,
        }
    }
}

impl WebhookSettings {
    /// Whether a URL is configured.
    pub fn enabled(&self) -> bool {
        self.url.as_deref().is_some_and(|url| !url.trim().is_empty())
    }

    /// Checks the settings, naming the key at fault.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return Err(Error::invalid(
                        "notifications.webhook.url",
                        "must be an http or https URL",
                    ));
                }
            }
            if self.secret.expose().len() < 16 {
                return Err(Error::invalid(
                    "notifications.webhook.secret",
                    "must be at least 16 characters when a URL is set",
                ));
            }
        }
        if self.timeout_ms == 0 {
            return Err(Error::invalid("notifications.webhook.timeout_ms", "must be above 0"));
        }
        if self.initial_backoff_ms == 0 || self.max_backoff_ms < self.initial_backoff_ms {
            return Err(Error::invalid(
                "notifications.webhook.max_backoff_ms",
                "must be at least initial_backoff_ms, which must be above 0",
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("notifications.webhook.max_attempts", "must be above 0"));
        }
        Ok(())
    }

    /// The delay before attempt `attempt + 1`, after `attempt` (from 1) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let max = Duration::from_millis(self.max_backoff_ms);
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.initial_backoff_ms))
            .with_factor(2.0)
            .with_max_delay(max)
            .with_jitter()
            .with_max_times(attempt.max(1) as usize)
            .build();
        backoff.nth(attempt.max(1) as usize - 1).unwrap_or(max).min(max)
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(format!("v1:{timestamp}:").as_bytes());
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends PENDING notifications to the webhook.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    db: DatabaseConnection,
    client: reqwest::Client,
    url: String,
    settings: WebhookSettings,
}

/// Notifications claimed per round.
const BATCH: u64 = 32;

impl WebhookDelivery {
    /// The delivery worker, or `None` when no URL is configured.
    pub fn new(db: DatabaseConnection, settings: WebhookSettings) -> Result<Option<WebhookDelivery>, Error> {
        settings.validate()?;
        let Some(url) = settings.url.clone().filter(|_| settings.enabled()) else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()
            .map_err(Error::internal)?;
        Ok(Some(WebhookDelivery {
            db,
            client,
            url,
            settings,
        }))
    }

    /// How long a claimed notification is kept from other workers.
    fn lease(&self) -> Duration {
        Duration::from_millis(self.settings.timeout_ms.saturating_mul(2).max(1_000))
    }

    /// Claims `row` under a lease; false when another worker has it.
    async fn claim(&self, row: &entity::Model) -> Result<bool, Error> {
        let now = Utc::now();
        let until = now + self.lease();
        let claimed = entity::Entity::update_many()
            .col_expr(entity::Column::LeaseUntil, Expr::value(Some(until)))
            .filter(entity::Column::Id.eq(row.id.clone()))
            .filter(entity::Column::Delivery.eq(delivery::PENDING))
            .filter(
                Condition::any()
                    .add(entity::Column::LeaseUntil.is_null())
                    .add(entity::Column::LeaseUntil.lt(now)),
            )
            .exec(&self.db)
            .await
            .map_err(keel_store::db_error)?;
        Ok(claimed.rows_affected == 1)
    }

    /// One POST; the error in words when it was not delivered.
    async fn post(&self, row: &entity::Model) -> Result<(), String> {
        let timestamp = Utc::now().timestamp();
        let signature = sign(self.settings.secret.expose().as_bytes(), timestamp, &row.payload);
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(NOTIFICATION_ID_HEADER, &row.id)
            .body(row.payload.clone())
            .send()
            .await
            .map_err(|e| format!("webhook unreachable: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {status}"))
        }
    }

    /// Sends what is due; returns how many notifications were delivered.
    pub async fn deliver_due(&self) -> Result<usize, Error> {
        let now = Utc::now();
        let due = entity::Entity::find()
            .filter(entity::Column::Delivery.eq(delivery::PENDING))
            .filter(entity::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(entity::Column::LeaseUntil.is_null())
                    .add(entity::Column::LeaseUntil.lt(now)),
            )
            .order_by_asc(entity::Column::NextAttemptAt)
            .limit(BATCH)
            .all(&self.db)
            .await
            .map_err(keel_store::db_error)?;
        let mut delivered = 0;
        for row in due {
            if !self.claim(&row).await? {
                continue;
            }
            let attempts = row.attempts.saturating_add(1);
            let outcome = self.post(&row).await;
            let mut active: entity::ActiveModel = row.into();
            active.attempts = Set(attempts);
            active.lease_until = Set(None);
            match outcome {
                Ok(()) => {
                    active.delivery = Set(delivery::DELIVERED.into());
                    active.delivered_at = Set(Some(Utc::now()));
                    active.last_error = Set(None);
                    delivered += 1;
                }
                Err(problem) => {
                    let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
                    tracing::warn!(attempt, error = %problem, "webhook delivery failed; will retry");
                    if attempt >= self.settings.max_attempts {
                        active.delivery = Set(delivery::FAILED.into());
                    }
                    let delay =
                        chrono::Duration::from_std(self.settings.delay_after(attempt)).unwrap_or(chrono::Duration::MAX);
                    active.next_attempt_at = Set(Utc::now() + delay);
                    active.last_error = Set(Some(problem));
                }
            }
            active.update(&self.db).await.map_err(keel_store::db_error)?;
        }
        Ok(delivered)
    }

    /// Delivers until `cancel` fires, polling every `poll_interval_ms`.
    pub async fn run(self, cancel: CancellationToken) {
        let interval = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(error = %error, "webhook delivery round failed");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_version_timestamp_and_body() {
        // Computed independently: printf 'v1:1700000000:{"text":"hi"}' | openssl dgst -sha256 -hmac 'secret'
        assert_eq!(
            sign(b"secret", 1_700_000_000, r#"{"text":"hi"}"#),
            "v1=853e6e26f18a0a2b6c523384f23781d9f1e0caea44db492316981d24b0190ce8"
        );
    }

    #[test]
    fn settings_are_checked_naming_the_key() {
        let off = WebhookSettings::default();
        assert!(!off.enabled());
        assert!(off.validate().is_ok());
        let bad_url = WebhookSettings {
            url: Some("ftp://example".into()),
            secret: Secret::new("0123456789abcdef".into()),
            ..WebhookSettings::default()
        };
        assert_eq!(
            bad_url.validate().unwrap_err().field_violations()[0].field,
            "notifications.webhook.url"
        );
        let short_secret = WebhookSettings {
            url: Some("https://hooks.example/keel".into()),
            secret: Secret::new("short".into()),
            ..WebhookSettings::default()
        };
        assert_eq!(
            short_secret.validate().unwrap_err().field_violations()[0].field,
            "notifications.webhook.secret"
        );
        let delays: Vec<Duration> = (1..=12).map(|n| off.delay_after(n)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(off.max_backoff_ms)));
    }
}
