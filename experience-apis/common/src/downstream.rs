//! Calls to process and system APIs on behalf of the caller of one GraphQL request.

use std::future::Future;
use std::time::Duration;

use async_graphql::Context;
use keel_auth::{Identity, Role};
use keel_core::Error;

use crate::calls::{BackendCalls, RequestMemo};

/// The verified caller of one GraphQL request (or WebSocket subscription) and the deadline of
/// every call made for them. Every call carries the caller's bearer token, so the API called
/// authorizes the person and not the gateway, and the deadline, sent as `grpc-timeout` and
/// enforced here too, so a stalled backend cannot hold a request open. Each call is counted
/// in the request's [`BackendCalls`].
///
/// Owned and cheap to clone, so a data loader or a subscription stream can keep one.
#[derive(Clone, Debug)]
pub struct Downstream {
    identity: Identity,
    timeout: Duration,
    calls: BackendCalls,
    memo: RequestMemo,
}

impl Downstream {
    /// The caller from the request's data, checked against `allowed` (admin passes too).
    /// `UNAUTHENTICATED` when the request carries no verified caller, `FORBIDDEN` when the
    /// caller holds none of the roles. Calls are counted in the request's [`BackendCalls`]
    /// when the gateway put one there.
    pub fn from_context(ctx: &Context<'_>, allowed: &[Role], timeout: Duration) -> Result<Downstream, Error> {
        let identity = ctx
            .data_opt::<Identity>()
            .ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()))?;
        identity.require(allowed)?;
        let calls = ctx.data_opt::<BackendCalls>().cloned().unwrap_or_default();
        let memo = ctx.data_opt::<RequestMemo>().cloned().unwrap_or_default();
        Ok(Downstream::new(identity.clone(), timeout, calls).with_memo(memo))
    }

    /// Calls made as `identity`, each within `timeout`, counted in `calls`.
    pub fn new(identity: Identity, timeout: Duration, calls: BackendCalls) -> Downstream {
        Downstream {
            identity,
            timeout,
            calls,
            memo: RequestMemo::default(),
        }
    }

    /// The same, sharing the answers of `memo` (the request's) in [`once`](Self::once).
    pub fn with_memo(mut self, memo: RequestMemo) -> Downstream {
        self.memo = memo;
        self
    }

    /// The answer of the lookup `key`, made at most once per request however many resolvers
    /// ask for it (see [`RequestMemo`]).
    pub async fn once<T, F, Fut>(&self, key: &str, lookup: F) -> Result<T, Error>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.memo.get_or_try(key, lookup).await
    }

    /// The caller.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The caller's person id (the token's subject).
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// Whether the caller holds one of `roles` (admin holds every role).
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.identity.has_any(roles)
    }

    /// The calls counted so far for this request.
    pub fn calls(&self) -> &BackendCalls {
        &self.calls
    }

    /// `message` as a request carrying the caller's token and the deadline.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        keel_auth::forward(&self.identity, &mut request)?;
        Ok(request)
    }

    /// The answer of `call`, counted as `what` (`"PSA ListProjects"`: the service and the kind
    /// of lookup), or `UNAVAILABLE` when it takes longer than the deadline.
    pub async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        self.calls.record(what);
        keel_core::grpc::answer(what, self.timeout, call).await
    }

    /// As [`call`](Self::call), with `NOT_FOUND` read as `None`.
    pub async fn optional<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<Option<T>, Error> {
        keel_core::grpc::optional(self.call(what, call).await)
    }
}
