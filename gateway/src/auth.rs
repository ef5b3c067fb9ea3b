//! Who is calling: the bearer token of an HTTP request or of a WebSocket `connection_init`
//! payload, verified into an [`Identity`], and the 401 answer when there is none.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_auth::{Identity, Verifier};
use keel_core::{Error, ErrorCode};

/// The verified caller of an HTTP request, from its `Authorization: Bearer <jwt>` header.
pub(crate) async fn from_headers(verifier: &Verifier, headers: &HeaderMap) -> Result<Identity, Error> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))?
        .to_str()
        .map_err(|_| Error::Unauthenticated("authorization header is not valid text".into()))?;
    verifier.verify_with_refresh(bearer_token(value)?).await
}

/// The verified caller of a WebSocket connection, from the `connection_init` payload
/// `{"Authorization": "Bearer <jwt>"}` (the key in any case).
pub(crate) async fn from_connection_init(verifier: &Verifier, payload: &serde_json::Value) -> Result<Identity, Error> {
    let value = payload
        .as_object()
        .and_then(|fields| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case("authorization")))
        .ok_or_else(|| Error::Unauthenticated("connection_init payload carries no Authorization".into()))?
        .1
        .as_str()
        .ok_or_else(|| Error::Unauthenticated("connection_init Authorization is not a string".into()))?;
    verifier.verify_with_refresh(bearer_token(value)?).await
}

/// The token in `Bearer <token>` (scheme in any case).
fn bearer_token(value: &str) -> Result<&str, Error> {
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(Error::Unauthenticated("authorization is not a bearer token".into())),
    }
}

/// HTTP 401 with a GraphQL-shaped body whose `extensions.code` is `UNAUTHENTICATED`, and a
/// `WWW-Authenticate: Bearer` challenge.
pub(crate) fn unauthenticated(error: &Error) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": error.public_message(),
            "extensions": { "code": ErrorCode::Unauthenticated.as_str() },
        }]
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_bearer_token_is_read() {
        let table = [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
            ("abc", None),
        ];
        for (value, expected) in table {
            assert_eq!(bearer_token(value).ok(), expected, "{value:?}");
        }
    }
}
