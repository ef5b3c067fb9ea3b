//! The identity on gRPC requests: reading it in handlers ([`identity`], [`authorize`]),
//! passing it on to downstream calls ([`forward`]), and a plain tonic interceptor
//! ([`GrpcAuth`]) for clients or servers that cannot use [`GrpcAuthLayer`](crate::GrpcAuthLayer).

use std::sync::Arc;

use keel_core::Error;
use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;

use crate::identity::Identity;
use crate::role::Role;
use crate::verifier::Verifier;

/// The metadata key (and HTTP header) that carries the bearer token.
pub const AUTHORIZATION: &str = "authorization";

/// The verified caller of `request`, as put there by [`GrpcAuthLayer`](crate::GrpcAuthLayer)
/// or [`GrpcAuth`]. `UNAUTHENTICATED` when there is none (an unauthenticated path, or a server
/// built without the layer).
pub fn identity<T>(request: &tonic::Request<T>) -> Result<&Identity, Status> {
    request
        .extensions()
        .get::<Identity>()
        .ok_or_else(|| Error::Unauthenticated("request carries no verified identity".into()).into())
}

/// The caller of `request`, if they hold one of `allowed` (or are admin); `UNAUTHENTICATED`
/// or `PERMISSION_DENIED` otherwise.
pub fn authorize<T>(request: &tonic::Request<T>, allowed: &[Role]) -> Result<Identity, Status> {
    let caller = identity(request)?;
    caller.require(allowed)?;
    Ok(caller.clone())
}

/// Sets `authorization: Bearer <token>` on an outgoing request so that the downstream service
/// sees the original caller. Fails only if the token cannot be sent as metadata (which a
/// token that passed verification always can).
pub fn forward<T>(identity: &Identity, request: &mut tonic::Request<T>) -> Result<(), Error> {
    set_bearer(&identity.token, request)
}

/// Sets `authorization: Bearer <token>`, marked sensitive so HTTP/2 header compression does
/// not index it.
pub(crate) fn set_bearer<T>(token: &str, request: &mut tonic::Request<T>) -> Result<(), Error> {
    let mut value = MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Error::Unauthenticated("bearer token holds characters not allowed in metadata".into()))?;
    value.set_sensitive(true);
    request.metadata_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// The token in an `authorization` value (`Bearer <token>`, scheme case-insensitive).
pub(crate) fn bearer_token(value: Option<Result<&str, ()>>) -> Result<&str, Error> {
    let value = match value {
        None => return Err(Error::Unauthenticated("missing bearer token".into())),
        Some(Err(())) => return Err(Error::Unauthenticated("authorization header is not valid text".into())),
        Some(Ok(value)) => value.trim(),
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(Error::Unauthenticated(
            "authorization header is not a bearer token".into(),
        )),
    }
}

/// A tonic interceptor that verifies the bearer token and puts the [`Identity`] in the
/// request's extensions. It sees no request path, so it cannot let health checks through
/// without a token: on servers, prefer [`GrpcAuthLayer`](crate::GrpcAuthLayer).
#[derive(Debug, Clone)]
pub struct GrpcAuth {
    /// Verifies the incoming tokens.
    pub verifier: Arc<Verifier>,
}

impl Interceptor for GrpcAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let header = request
            .metadata()
            .get(AUTHORIZATION)
            .map(|value| value.to_str().map_err(|_| ()));
        let identity = self.verifier.verify(bearer_token(header)?)?;
        request.extensions_mut().insert(identity);
        Ok(request)
    }
}
