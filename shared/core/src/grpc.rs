//! Calling another Keel service over gRPC: the answer read back into Keel's [`Error`], with a
//! deadline that holds even when the server never answers.

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

#[cfg(test)]
mod tests {
    use super::*;

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
