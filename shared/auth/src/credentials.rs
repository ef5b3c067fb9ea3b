//! A process API's own credentials, for calls it makes on its own behalf rather than for a
//! person (a scheduled sync, an event consumer).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keel_core::Error;

use crate::grpc::set_bearer;
use crate::local_key::LocalKey;
use crate::role::Role;

/// How long a minted service token is valid.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// A cached token is replaced this long before it expires.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// The token a service presents when it calls as itself: either a fixed token from
/// configuration (distributed mode, issued by the identity provider) or short-lived
/// `service`-role tokens minted with the local key (embedded mode) for subject
/// `service:<name>`. Cheap to clone; clones share the cached token.
#[derive(Clone)]
pub struct ServiceCredentials {
    source: Arc<Source>,
}

enum Source {
    Fixed(String),
    Minted {
        key: LocalKey,
        issuer: String,
        audience: String,
        subject: String,
        ttl: Duration,
        cached: Mutex<Option<Cached>>,
    },
}

struct Cached {
    token: String,
    renew_at: Instant,
}

impl ServiceCredentials {
    /// Always presents `token`. Renewing it when it expires is the deployment's job.
    pub fn fixed(token: impl Into<String>) -> ServiceCredentials {
        ServiceCredentials {
            source: Arc::new(Source::Fixed(token.into())),
        }
    }

    /// Mints `service` tokens for `service:<service_name>` with `key`, valid for
    /// [`SERVICE_TOKEN_TTL`].
    pub fn minted(
        key: LocalKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        service_name: &str,
    ) -> ServiceCredentials {
        ServiceCredentials::minted_with_ttl(key, issuer, audience, service_name, SERVICE_TOKEN_TTL)
    }

    /// Like [`minted`](Self::minted) with another lifetime. A token is reused until one minute
    /// before it expires, so a `ttl` of a minute or less mints a token per call.
    pub fn minted_with_ttl(
        key: LocalKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        service_name: &str,
        ttl: Duration,
    ) -> ServiceCredentials {
        ServiceCredentials {
            source: Arc::new(Source::Minted {
                key,
                issuer: issuer.into(),
                audience: audience.into(),
                subject: format!("service:{service_name}"),
                ttl,
                cached: Mutex::new(None),
            }),
        }
    }

    /// The token to present now.
    pub fn token(&self) -> String {
        match &*self.source {
            Source::Fixed(token) => token.clone(),
            Source::Minted {
                key,
                issuer,
                audience,
                subject,
                ttl,
                cached,
            } => {
                let mut cached = cached.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(current) = cached.as_ref()
                    && Instant::now() < current.renew_at
                {
                    return current.token.clone();
                }
                let renew_at = Instant::now() + ttl.saturating_sub(RENEW_BEFORE_EXPIRY);
                let token = key.issue(issuer, audience, subject, &[Role::Service], *ttl);
                *cached = Some(Cached {
                    token: token.clone(),
                    renew_at,
                });
                token
            }
        }
    }

    /// Sets `authorization: Bearer <token>` on an outgoing request.
    pub fn attach<T>(&self, request: &mut tonic::Request<T>) -> Result<(), Error> {
        set_bearer(&self.token(), request)
    }

    /// An outgoing call as a process API makes it: `message` with a deadline of `timeout`,
    /// these credentials, and the current span's trace context.
    pub fn request<T>(&self, message: T, timeout: std::time::Duration) -> Result<tonic::Request<T>, Error> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        self.attach(&mut request)?;
        keel_telemetry::inject_grpc(&tracing::Span::current(), request.metadata_mut());
        Ok(request)
    }
}

impl fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.source {
            Source::Fixed(_) => f.write_str("ServiceCredentials::Fixed(<redacted>)"),
            Source::Minted { subject, ttl, .. } => f
                .debug_struct("ServiceCredentials::Minted")
                .field("subject", subject)
                .field("ttl", ttl)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LocalKey {
        LocalKey::from_bytes(vec![7; 32]).unwrap()
    }

    fn renew_at(credentials: &ServiceCredentials) -> Instant {
        match &*credentials.source {
            Source::Minted { cached, .. } => cached.lock().unwrap().as_ref().unwrap().renew_at,
            Source::Fixed(_) => unreachable!(),
        }
    }

    #[test]
    fn a_minted_token_is_reused_until_a_minute_before_expiry() {
        let credentials = ServiceCredentials::minted(key(), "keel", "keel-internal", "project-setup");
        let first = credentials.token();
        let first_renewal = renew_at(&credentials);
        assert_eq!(credentials.token(), first);
        assert_eq!(renew_at(&credentials), first_renewal, "the cached token was replaced");
        assert!(first_renewal > Instant::now() + Duration::from_secs(3 * 60));
        assert!(first_renewal <= Instant::now() + SERVICE_TOKEN_TTL - RENEW_BEFORE_EXPIRY);
    }

    #[test]
    fn a_token_within_a_minute_of_expiry_is_replaced() {
        let credentials =
            ServiceCredentials::minted_with_ttl(key(), "keel", "keel-internal", "sync", Duration::from_secs(60));
        credentials.token();
        let first_renewal = renew_at(&credentials);
        std::thread::sleep(Duration::from_millis(5));
        credentials.token();
        assert!(renew_at(&credentials) > first_renewal, "the stale token was reused");
    }

    #[test]
    fn debug_hides_the_fixed_token() {
        let shown = format!("{:?}", ServiceCredentials::fixed("eyJ.secret.sig"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
