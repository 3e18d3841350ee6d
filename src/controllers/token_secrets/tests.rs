use std::time::Duration;

use super::*;
use crate::client::informer::Informers;
use crate::client::LocalClient;
use crate::resources::namespace;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// A token Secret gets a working token once its account exists.
#[tokio::test]
async fn a_token_secret_is_filled_once_its_account_exists() {
    let dir = tempfile::tempdir().unwrap();
    let client = LocalClient::open_with_tokens(dir.path(), 64).unwrap();
    client
        .create(
            &namespace::RESOURCE,
            "",
            json!({"metadata": {"name": "apps"}}),
        )
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let informers = Informers::new(client.clone(), shutdown.clone());
    let (c, primary, queue) = TokenSecretsController::new(&informers, CA.into()).unwrap();
    let ready = c.ready();
    let task = tokio::spawn(super::super::runtime::run(
        c,
        primary,
        queue,
        ready,
        shutdown.clone(),
    ));
    // the Secret first, as a file listing it before its account would
    client
        .create(
            &secret::RESOURCE,
            "apps",
            json!({"metadata": {"name": "ci-token", "annotations": {ACCOUNT_NAME_ANNOTATION: "ci"}},
                   "type": TOKEN_SECRET_TYPE}),
        )
        .await
        .unwrap();
    let sa = client
        .create(
            &serviceaccount::RESOURCE,
            "apps",
            json!({"metadata": {"name": "ci"}}),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let filled = loop {
        let s = client
            .get(&secret::RESOURCE, "apps", "ci-token")
            .await
            .unwrap();
        if s.pointer("/data/token").is_some() {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token never came: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let decode = |k: &str| {
        let b = base64::engine::general_purpose::STANDARD
            .decode(filled["data"][k].as_str().unwrap())
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    assert_eq!(decode("namespace"), "apps");
    assert_eq!(decode("ca.crt"), CA);
    assert_eq!(
        filled["metadata"]["annotations"][ACCOUNT_UID_ANNOTATION],
        sa["metadata"]["uid"]
    );
    assert_eq!(
        client.token_user(&decode("token")).as_deref(),
        Some("system:serviceaccount:apps:ci")
    );
    // deleting the Secret revokes the token
    client
        .delete(&secret::RESOURCE, "apps", "ci-token", &Default::default())
        .await
        .unwrap();
    assert_eq!(client.token_user(&decode("token")), None);
    shutdown.cancel();
    task.await.unwrap();
    informers.stopped().await;
}
