//! The embedded-mode key file, tokens issued with it, service credentials and forwarding.

mod common;

use std::time::Duration;

use common::*;
use keel_auth::{
    GrpcAuth, Identity, LOCAL_KEY_FILE, LocalKey, Role, ServiceCredentials, Verifier, forward, issue_hs256,
};
use tonic::service::Interceptor;

#[tokio::test]
async fn the_local_key_is_created_once_privately_and_verifies_what_it_issues() {
    let data_dir = tempfile::tempdir().unwrap();
    let key = LocalKey::load_or_create(data_dir.path()).unwrap();
    let path = data_dir.path().join(LOCAL_KEY_FILE);
    assert!(path.ends_with("keys/local-hs256.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    assert_eq!(key.secret().len(), 32);
    // Nothing but the key file is left behind.
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

    let again = LocalKey::load_or_create(data_dir.path()).unwrap();
    assert_eq!(again.secret(), key.secret(), "a restart must keep the key");
    let elsewhere = LocalKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(elsewhere.secret(), key.secret(), "keys must be random");

    let verifier = Verifier::new(config(key.key_source())).await.unwrap();
    let token = again.issue(
        ISSUER,
        AUDIENCE,
        "u-7",
        &[Role::Consultant, Role::Operations],
        Duration::from_secs(60),
    );
    let identity = verifier.verify(&token).unwrap();
    assert_eq!(identity.subject, "u-7");
    assert_eq!(identity.roles, [Role::Consultant, Role::Operations]);
    assert!(
        verifier
            .verify(&elsewhere.issue(ISSUER, AUDIENCE, "u-7", &[], Duration::from_secs(60)))
            .is_err()
    );

    // A token that already ran out is refused.
    let expired = issue_hs256(key.secret(), ISSUER, AUDIENCE, "u-7", &[], Duration::ZERO);
    let lapsed = Verifier::new(keel_auth::VerifierConfig {
        leeway_seconds: 0,
        ..config(key.key_source())
    })
    .await
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert!(lapsed.verify(&expired).unwrap_err().to_string().contains("expired"));
}

#[test]
fn a_damaged_key_file_is_an_error_not_a_new_key() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data_dir.path().join("keys")).unwrap();
    std::fs::write(data_dir.path().join(LOCAL_KEY_FILE), "c2hvcnQ=\n").unwrap();
    assert!(LocalKey::load_or_create(data_dir.path()).is_err());
    assert!(LocalKey::from_bytes(vec![1; 31]).is_err());
    assert!(format!("{:?}", LocalKey::from_bytes(vec![1; 32]).unwrap()).contains("redacted"));
}

#[tokio::test]
async fn an_explicit_key_issues_tokens_the_verifier_accepts() {
    let verifier = hs256_verifier().await;
    let token = issue_hs256(
        SECRET,
        ISSUER,
        AUDIENCE,
        "u-1",
        &[Role::Executive],
        Duration::from_secs(60),
    );
    assert_eq!(verifier.verify(&token).unwrap().roles, [Role::Executive]);
}

#[tokio::test]
async fn minted_service_credentials_carry_the_service_role() {
    let key = LocalKey::from_bytes(SECRET.to_vec()).unwrap();
    let credentials = ServiceCredentials::minted(key, ISSUER, AUDIENCE, "project-setup");
    let token = credentials.token();
    assert_eq!(credentials.token(), token, "the token is cached");
    let identity = hs256_verifier().await.verify(&token).unwrap();
    assert_eq!(identity.subject, "service:project-setup");
    assert_eq!(identity.roles, [Role::Service]);
    assert!(!identity.has_any(&[Role::Finance]));

    let mut request = tonic::Request::new(());
    credentials.attach(&mut request).unwrap();
    assert_eq!(
        request.metadata().get("authorization").unwrap(),
        &format!("Bearer {token}")
    );

    let fixed = ServiceCredentials::fixed("issued.by.idp");
    assert_eq!(fixed.token(), "issued.by.idp");
}

#[tokio::test]
async fn forward_and_the_interceptor_carry_the_caller_across_a_hop() {
    let verifier = std::sync::Arc::new(hs256_verifier().await);
    let caller = verifier.verify(&sign_hs256(&good_claims())).unwrap();

    // A process API forwards the caller's token to a system API...
    let mut outgoing = tonic::Request::new(());
    forward(&caller, &mut outgoing).unwrap();
    assert_eq!(
        outgoing.metadata().get("authorization").unwrap(),
        &format!("Bearer {}", caller.token)
    );

    // ...whose interceptor sees the same caller.
    let mut interceptor = GrpcAuth {
        verifier: verifier.clone(),
    };
    let received = interceptor.call(outgoing).unwrap();
    assert_eq!(keel_auth::identity(&received).unwrap(), &caller);
    let authorized = keel_auth::authorize(&received, &[Role::Finance]).unwrap();
    assert_eq!(authorized.subject, "u-42");
    let denied = keel_auth::authorize(&received, &[Role::Executive]).unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("roles project_manager, finance may not"),
        "{}",
        denied.message()
    );

    let missing = interceptor.call(tonic::Request::new(())).unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    assert_eq!(missing.message(), "missing bearer token");
    let no_identity = keel_auth::identity(&tonic::Request::new(())).unwrap_err();
    assert_eq!(no_identity.code(), tonic::Code::Unauthenticated);

    let tampered = Identity {
        token: "not a token".into(),
        ..caller
    };
    let mut request = tonic::Request::new(());
    forward(&tampered, &mut request).unwrap();
    assert_eq!(interceptor.call(request).unwrap_err().message(), "malformed token");
}
