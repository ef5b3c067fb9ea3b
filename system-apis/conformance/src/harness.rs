//! A real gRPC server on loopback for one system API, with Keel's authentication in front.

use std::convert::Infallible;
use std::time::Duration;

use keel_auth::{GrpcAuthLayer, KeySource, LocalKey, Role, Verifier, VerifierConfig};
use keel_store::testing::TestStore;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

const ISSUER: &str = "keel-conformance";
const AUDIENCE: &str = "keel";
/// The receive limit every Keel service sets explicitly.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// A served system API and tokens to call it with.
pub struct Harness {
    key: LocalKey,
    channel: Channel,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    /// Serves `service` (a tonic server, its receive limit already set) on a free loopback
    /// port behind the gRPC authentication layer.
    pub async fn serve<S>(service: S) -> Harness
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let key = LocalKey::from_bytes(b"conformance-kit-key-long-enough-for-hs256".to_vec()).expect("test key");
        let verifier = Verifier::new(VerifierConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway_seconds: 0,
            keys: KeySource::Hs256(key.secret().to_vec()),
        })
        .await
        .expect("verifier");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .layer(GrpcAuthLayer::new(std::sync::Arc::new(verifier)))
                .add_service(service)
                .serve_with_incoming(keel_core::grpc::incoming(listener))
                .await;
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("loopback uri")
            .connect()
            .await
            .expect("connect to the served system API");
        Harness { key, channel, server }
    }

    /// A channel to the served API; clients built on it share one connection.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `message` carrying a token for `subject` with `role`.
    pub fn request_as<T>(&self, subject: &str, role: Role, message: T) -> Request<T> {
        let token = self
            .key
            .issue(ISSUER, AUDIENCE, subject, &[role], Duration::from_secs(300));
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("ascii token"));
        request
    }

    /// `message` as a process API calling in (role `service`).
    pub fn service<T>(&self, message: T) -> Request<T> {
        self.request_as("conformance-kit", Role::Service, message)
    }

    /// `message` as a reader with `role`.
    pub fn reader<T>(&self, role: Role, message: T) -> Request<T> {
        self.request_as("conformance-reader", role, message)
    }
}

/// A fresh store for `service` (SQLite, or PostgreSQL under `KEEL_TEST_DATABASE_URL`),
/// migrated by `M`. Keep the [`TestStore`] alive as long as the connection.
pub async fn migrated_store<M: MigratorTrait>(service: &str) -> (TestStore, DatabaseConnection) {
    let store = TestStore::new(service);
    let db = keel_store::connect(&store.options)
        .await
        .expect("connect the test store");
    M::up(&db, None).await.expect("migrate the test store");
    (store, db)
}

/// The code and message of a failed call, for reports.
pub(crate) fn describe(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}
