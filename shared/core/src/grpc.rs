//! Calling another Keel service over gRPC: the answer read back into Keel's [`Error`], with a
//! deadline that holds even when the server never answers; and the connections a gRPC server
//! accepts ([`incoming`]).

use std::future::Future;
use std::time::Duration;

use crate::error::Error;

/// The answer of `call`, or [`Error::Unavailable`] naming `what` when it takes longer than
/// `deadline`. A status from the server becomes the matching [`Error`], field violations kept.
pub async fn answer<T>(
    what: &str,
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Error> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(Error::from(status)),
        Err(_elapsed) => Err(Error::Unavailable(format!(
            "{what} did not answer within {} ms",
            deadline.as_millis()
        ))),
    }
}

/// `None` for a record the service does not have; any other error stays an error.
pub fn optional<T>(answer: Result<T, Error>) -> Result<Option<T>, Error> {
    match answer {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The connections a tonic server accepts on `listener`, with `TCP_NODELAY` set.
///
/// A server fed the bare listener (`TcpListenerStream`) keeps Nagle's algorithm on its
/// accepted sockets: a unary answer goes out as several small writes (headers, message,
/// trailers), the later ones wait for the client's delayed acknowledgement, and every call
/// takes about 40 ms more on loopback. Serve with `serve_with_incoming(incoming(listener))`.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        use tokio_stream::StreamExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let server_side = accepted.next().await.unwrap().unwrap();
        assert!(server_side.nodelay().unwrap(), "TCP_NODELAY on the accepted socket");
    }

    #[tokio::test]
    async fn a_silent_server_is_unavailable_after_the_deadline() {
        let never = std::future::pending::<Result<tonic::Response<()>, tonic::Status>>();
        let error = answer("ERP GetProjectCode", Duration::from_millis(20), never)
            .await
            .unwrap_err();
        assert!(error.is_transient());
        assert!(error.to_string().contains("ERP GetProjectCode"));
    }

    #[tokio::test]
    async fn statuses_and_missing_records_read_back() {
        let rejected = answer("PSA", Duration::from_secs(1), async {
            Err::<tonic::Response<()>, _>(tonic::Status::invalid_argument("bad id"))
        })
        .await;
        assert_eq!(rejected.unwrap_err().code(), crate::ErrorCode::BadUserInput);
        assert_eq!(optional::<()>(Err(Error::not_found("project", "p1"))).unwrap(), None);
        assert_eq!(optional(Ok(7)).unwrap(), Some(7));
        assert!(optional::<()>(Err(Error::Unavailable("down".into()))).is_err());
    }
}
