//! The tower layer that authenticates every gRPC request a server receives, except health
//! checks and reflection.
//!
//! ```no_run
//! # async fn serve(verifier: std::sync::Arc<keel_auth::Verifier>, address: std::net::SocketAddr)
//! # -> Result<(), tonic::transport::Error> {
//! let (_reporter, health) = tonic_health::server::health_reporter();
//! tonic::transport::Server::builder()
//!     .layer(keel_auth::GrpcAuthLayer::new(verifier))
//!     .add_service(health) // reachable without a token
//!     // .add_service(ErpServer::new(erp)) // needs one
//!     .serve(address)
//!     .await
//! # }
//! ```
//!
//! A request with a valid bearer token reaches the service with its [`Identity`] in the
//! `http::Request` extensions, which tonic hands on as `tonic::Request::extensions()` (read it
//! with [`identity`](crate::identity) or [`authorize`](crate::authorize)). Any other request
//! gets a trailers-only gRPC answer, `UNAUTHENTICATED` with the reason, and never reaches the
//! service.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use http::header::AUTHORIZATION;
use tower::{Layer, Service};

use crate::grpc::bearer_token;
use crate::identity::Identity;
use crate::verifier::Verifier;

/// Path prefixes served without a token: the standard health and reflection services.
pub const UNAUTHENTICATED_PATH_PREFIXES: [&str; 2] = ["/grpc.health.v1.", "/grpc.reflection."];

/// Wraps a gRPC service in [`GrpcAuthService`].
#[derive(Debug, Clone)]
pub struct GrpcAuthLayer {
    verifier: Arc<Verifier>,
}

impl GrpcAuthLayer {
    /// A layer verifying tokens with `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> GrpcAuthLayer {
        GrpcAuthLayer { verifier }
    }
}

impl<S> Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuthService<S>;

    fn layer(&self, inner: S) -> GrpcAuthService<S> {
        GrpcAuthService {
            inner,
            verifier: Arc::clone(&self.verifier),
        }
    }
}

/// A gRPC service that only lets authenticated requests through (see the module docs).
#[derive(Debug, Clone)]
pub struct GrpcAuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcAuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<http::Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        if UNAUTHENTICATED_PATH_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
        {
            return Either::Left(self.inner.call(request));
        }
        match self.authenticate(&request) {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
                Either::Left(self.inner.call(request))
            }
            Err(error) => {
                tracing::debug!(rpc.path = %request.uri().path(), reason = %error, "request refused: unauthenticated");
                Either::Right(ready(Ok(tonic::Status::from(error).into_http())))
            }
        }
    }
}

impl<S> GrpcAuthService<S> {
    fn authenticate<B>(&self, request: &http::Request<B>) -> Result<Identity, keel_core::Error> {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .map(|value| value.to_str().map_err(|_| ()));
        self.verifier.verify(bearer_token(header)?)
    }
}
