use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::api::registry::Registry;
use crate::client::options::DeleteOptions;
use crate::client::{Client, LocalClient};
use crate::resources::{configmap, namespace};
use crate::store::Store;

fn cm(ns: &str, name: &str, v: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"namespace": ns, "name": name}, "data": {"v": v}})
}

fn value(c: &ConfigMap) -> String {
    c.data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default()
}

/// A client over a new store holding the `default` namespace.
async fn client_in(dir: &std::path::Path) -> LocalClient {
    let client = LocalClient::new(Registry::new(Store::open(dir, 64).unwrap()));
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}});
    client.create(&namespace::RESOURCE, "", ns).await.unwrap();
    client
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_cache_follows_creates_updates_and_deletes_and_handlers_hear_each() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path()).await;
    client
        .create(
            &configmap::RESOURCE,
            "default",
            cm("default", "before", "1"),
        )
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let informers = Informers::new(client.clone(), shutdown.clone());
    let maps = informers.get::<ConfigMap>().unwrap();
    maps.wait_synced().await;
    assert_eq!(value(&maps.get("default", "before").unwrap()), "1");

    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    maps.on_change(move |c| {
        let line = match c {
            Change::Added(o) => format!("added {}", value(o)),
            Change::Updated { old, new } => format!("updated {} -> {}", value(old), value(new)),
            Change::Deleted(o) => format!("deleted {}", value(o)),
        };
        h.lock().unwrap().push(line);
    });
    client
        .create(&configmap::RESOURCE, "default", cm("default", "later", "2"))
        .await
        .unwrap();
    client
        .patch(
            &configmap::RESOURCE,
            "default",
            "before",
            crate::client::options::PatchType::Merge,
            &json!({"data": {"v": "3"}}),
            crate::client::options::Subresource::Main,
        )
        .await
        .unwrap();
    client
        .delete(
            &configmap::RESOURCE,
            "default",
            "later",
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    until("the delete reaches the cache", || {
        maps.get("default", "later").is_none() && heard.lock().unwrap().len() == 4
    })
    .await;
    assert_eq!(
        *heard.lock().unwrap(),
        ["added 1", "added 2", "updated 1 -> 3", "deleted 2"]
    );
    // The same informer is shared, not a second list and watch.
    let again = informers.get::<ConfigMap>().unwrap();
    assert_eq!(value(&again.get("default", "before").unwrap()), "3");
    shutdown.cancel();
    informers.stopped().await;
}

#[tokio::test]
async fn a_relist_tells_what_changed_while_away_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path()).await;
    for (n, v) in [("kept", "1"), ("changed", "1"), ("gone", "1")] {
        client
            .create(&configmap::RESOURCE, "default", cm("default", n, v))
            .await
            .unwrap();
    }
    let informer = Informer::<ConfigMap>::new(&configmap::RESOURCE);
    reflector::relist(&client, &informer).await.unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    informer.on_change(move |c| {
        let kind = match c {
            Change::Added(_) => "added",
            Change::Updated { .. } => "updated",
            Change::Deleted(_) => "deleted",
        };
        let name = c.object().metadata.name.clone().unwrap_or_default();
        h.lock().unwrap().push(format!("{kind} {name}"));
    });
    heard.lock().unwrap().clear();
    client
        .patch(
            &configmap::RESOURCE,
            "default",
            "changed",
            crate::client::options::PatchType::Merge,
            &json!({"data": {"v": "2"}}),
            crate::client::options::Subresource::Main,
        )
        .await
        .unwrap();
    client
        .delete(
            &configmap::RESOURCE,
            "default",
            "gone",
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    client
        .create(&configmap::RESOURCE, "default", cm("default", "new", "1"))
        .await
        .unwrap();
    reflector::relist(&client, &informer).await.unwrap();
    let mut got = heard.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, ["added new", "deleted gone", "updated changed"]);
    assert_eq!(value(&informer.get("default", "changed").unwrap()), "2");
}
