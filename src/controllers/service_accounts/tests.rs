use std::time::Duration;

use super::*;
use crate::client::informer::Informers;
use crate::client::options::DeleteOptions;
use crate::client::LocalClient;
use crate::resources::namespace;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new namespace gets its default account and the CA; both come back when deleted or
/// changed.
#[tokio::test]
async fn every_namespace_gets_a_default_account_and_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let client = LocalClient::open(dir.path(), 64).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let informers = Informers::new(client.clone(), shutdown.clone());
    let (c, primary, queue) = ServiceAccountsController::new(&informers, CA.into()).unwrap();
    let ready = c.ready();
    let task = tokio::spawn(super::super::runtime::run(
        c,
        primary,
        queue,
        ready,
        shutdown.clone(),
    ));
    client
        .create(
            &namespace::RESOURCE,
            "",
            json!({"metadata": {"name": "apps"}}),
        )
        .await
        .unwrap();
    let sa = || client.get(&serviceaccount::RESOURCE, "apps", DEFAULT_NAME);
    let ca = || client.get(&configmap::RESOURCE, "apps", ROOT_CA_CONFIGMAP);
    eventually("default account made", || async { sa().await.is_ok() }).await;
    eventually("CA published", || async {
        ca().await.is_ok_and(|cm| cm["data"]["ca.crt"] == CA)
    })
    .await;

    let first_uid = sa().await.unwrap()["metadata"]["uid"].clone();
    client
        .delete(
            &serviceaccount::RESOURCE,
            "apps",
            DEFAULT_NAME,
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    eventually("default account made again", || async {
        sa().await.is_ok_and(|s| s["metadata"]["uid"] != first_uid)
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();
    informers.stopped().await;
}

/// A CA ConfigMap changed by hand is set right on the namespace's next reconcile.
#[tokio::test]
async fn a_changed_ca_is_set_right() {
    let dir = tempfile::tempdir().unwrap();
    let client = LocalClient::open(dir.path(), 64).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let informers = Informers::new(client.clone(), shutdown.clone());
    let (c, namespaces, _) = ServiceAccountsController::new(&informers, CA.into()).unwrap();
    let ns = client
        .create(
            &namespace::RESOURCE,
            "",
            json!({"metadata": {"name": "apps"}}),
        )
        .await
        .unwrap();
    client
        .create(
            &configmap::RESOURCE,
            "apps",
            json!({"metadata": {"name": ROOT_CA_CONFIGMAP}, "data": {"ca.crt": "stale"}}),
        )
        .await
        .unwrap();
    c.ready().await;
    let _ = namespaces;
    c.reconcile(Arc::new(serde_json::from_value(ns).unwrap()))
        .await
        .unwrap();
    let cm = client
        .get(&configmap::RESOURCE, "apps", ROOT_CA_CONFIGMAP)
        .await
        .unwrap();
    assert_eq!(cm["data"]["ca.crt"], CA);
    shutdown.cancel();
    informers.stopped().await;
}
