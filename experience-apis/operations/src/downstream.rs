//! Calls to the project-setup process API on behalf of the caller: each one carries the
//! caller's bearer token (so the process API authorizes the person, not the gateway) and a
//! deadline, sent as `grpc-timeout` and enforced here as well.
//!
//! [`Downstream`] owns clones of the client and the identity so that a subscription's stream
//! can keep it past the request that started it.

use std::future::Future;

use async_graphql::Context;
use keel_auth::Identity;
use keel_core::Error;
use keel_experience_common::BackendCalls;
use keel_proto::projectsetup::{GetSetupRequest, ListExceptionsRequest, ListSetupsRequest, ListSetupsResponse, Setup};

use crate::{ALLOWED_ROLES, Backends};

/// The backends and the caller of one GraphQL operation.
#[derive(Clone)]
pub(crate) struct Downstream {
    backends: Backends,
    identity: Identity,
    calls: BackendCalls,
}

impl Downstream {
    /// Reads the backends and the verified caller from the context, and checks the caller's
    /// role again (the gateway checks it first; this keeps the view safe wherever it is mounted).
    pub(crate) fn from_context(ctx: &Context<'_>) -> Result<Downstream, Error> {
        let identity = ctx
            .data_opt::<Identity>()
            .ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()))?;
        identity.require(ALLOWED_ROLES)?;
        let backends = ctx
            .data_opt::<Backends>()
            .ok_or_else(|| Error::internal("the operations view was mounted without its backends"))?;
        Ok(Downstream {
            backends: backends.clone(),
            identity: identity.clone(),
            calls: ctx.data_opt::<BackendCalls>().cloned().unwrap_or_default(),
        })
    }

    /// One page of setups, in creation order.
    pub(crate) async fn list_setups(&self, page_size: u32, page_token: String) -> Result<ListSetupsResponse, Error> {
        let request = self.request(ListSetupsRequest { page_size, page_token })?;
        self.answer(
            "project-setup ListSetups",
            self.backends.project_setup.clone().list_setups(request),
        )
        .await
    }

    /// One page of the setups in the exception list, in creation order.
    pub(crate) async fn list_exceptions(
        &self,
        page_size: u32,
        page_token: String,
    ) -> Result<ListSetupsResponse, Error> {
        let request = self.request(ListExceptionsRequest { page_size, page_token })?;
        self.answer(
            "project-setup ListExceptions",
            self.backends.project_setup.clone().list_exceptions(request),
        )
        .await
    }

    /// The setup of a won opportunity; `None` when there is none.
    pub(crate) async fn get_setup_by_opportunity(&self, opportunity_id: String) -> Result<Option<Setup>, Error> {
        let request = self.request(GetSetupRequest {
            id: String::new(),
            opportunity_id,
        })?;
        let answer = self
            .answer(
                "project-setup GetSetup",
                self.backends.project_setup.clone().get_setup(request),
            )
            .await;
        keel_core::grpc::optional(answer)
    }

    /// A request carrying the caller's token and the deadline.
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.backends.timeout);
        keel_auth::forward(&self.identity, &mut request)?;
        Ok(request)
    }

    /// The answer of `call`, or `Unavailable` when it takes longer than the deadline.
    async fn answer<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Error> {
        self.calls.record(what);
        keel_core::grpc::answer(what, self.backends.timeout, call).await
    }
}
