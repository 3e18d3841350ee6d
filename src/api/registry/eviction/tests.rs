use serde_json::{json, Value};

use super::*;
use crate::resources::namespace;

async fn registry(dir: &std::path::Path) -> Registry {
    let registry = Registry::new(crate::store::Store::open(dir, 64).unwrap());
    let opts = WriteOptions::default();
    registry
        .create(
            &namespace::RESOURCE,
            "",
            json!({"metadata": {"name": "default"}}),
            &opts,
        )
        .await
        .unwrap();
    registry
}

/// A pod labelled `app: web` in `phase` (Ready when running).
async fn pod(r: &Registry, name: &str, phase: &str) {
    let opts = WriteOptions::default();
    let p = json!({"metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    r.create(&pod::RESOURCE, "default", p, &opts).await.unwrap();
    let mut current = r.get(&pod::RESOURCE, "default", name).unwrap();
    current["status"]["phase"] = json!(phase);
    current["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    r.update(
        &pod::RESOURCE,
        "default",
        name,
        current,
        Subresource::Status,
        &opts,
    )
    .await
    .unwrap();
}

/// A budget selecting `app: web` whose status allows `allowed` disruptions.
async fn budget(r: &Registry, name: &str, allowed: i64) {
    let rt = &poddisruptionbudget::RESOURCE;
    let opts = WriteOptions::default();
    let b = json!({"metadata": {"name": name}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    r.create(rt, "default", b, &opts).await.unwrap();
    let mut current = r.get(rt, "default", name).unwrap();
    current["status"] = json!({"observedGeneration": 1, "disruptionsAllowed": allowed,
        "currentHealthy": 2, "desiredHealthy": 1 + 1 - allowed.min(1), "expectedPods": 2});
    r.update(rt, "default", name, current, Subresource::Status, &opts)
        .await
        .unwrap();
}

fn eviction(name: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}})
}

#[tokio::test]
async fn a_budget_without_room_refuses_and_one_with_room_is_decremented() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    pod(&r, "web-1", "Running").await;
    budget(&r, "web", 0).await;
    let opts = WriteOptions::default();
    let err = r
        .evict("default", "web-1", eviction("web-1"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.reason, err.message.as_str()),
        (429, "TooManyRequests", REFUSED)
    );
    assert_eq!(err.details.causes[0].reason, "DisruptionBudget");
    assert_eq!(
        err.details.causes[0].message,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    assert!(r.lookup(&pod::RESOURCE, "default", "web-1").is_some());

    let rt = &poddisruptionbudget::RESOURCE;
    let mut b = r.get(rt, "default", "web").unwrap();
    b["status"]["disruptionsAllowed"] = json!(1);
    r.update(rt, "default", "web", b, Subresource::Status, &opts)
        .await
        .unwrap();
    assert_eq!(
        r.evict("default", "web-1", eviction("web-1"), &opts)
            .await
            .unwrap(),
        Evicted::Deleted
    );
    assert!(r.lookup(&pod::RESOURCE, "default", "web-1").is_none());
    let b = r.get(rt, "default", "web").unwrap();
    assert_eq!(b["status"]["disruptionsAllowed"], 0);
    assert!(b["status"]["disruptedPods"]["web-1"].is_string());
    assert_eq!(b["status"]["conditions"][0]["reason"], "InsufficientPods");
}

#[tokio::test]
async fn pending_pods_go_without_a_budget_check_and_two_budgets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    pod(&r, "pending", "Pending").await;
    pod(&r, "running", "Running").await;
    budget(&r, "one", 0).await;
    budget(&r, "two", 0).await;
    let opts = WriteOptions::default();
    assert_eq!(
        r.evict("default", "pending", eviction("pending"), &opts)
            .await
            .unwrap(),
        Evicted::Deleted
    );
    assert!(r.lookup(&pod::RESOURCE, "default", "pending").is_none());
    match r
        .evict("default", "running", eviction("running"), &opts)
        .await
        .unwrap()
    {
        Evicted::Refused(status) => {
            assert_eq!(status["code"], 500);
            assert_eq!(status["message"], SEVERAL_BUDGETS);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(r.lookup(&pod::RESOURCE, "default", "running").is_some());
}

#[tokio::test]
async fn bad_bodies_stale_budgets_and_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    pod(&r, "web-1", "Running").await;
    let opts = WriteOptions::default();
    let err = r
        .evict("default", "web-1", eviction("other"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "name in URL does not match name in Eviction object")
    );
    let err = r
        .evict("default", "nope", eviction("nope"), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.code, 404);
    budget(&r, "web", 1).await;
    let dry = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    assert_eq!(
        r.evict("default", "web-1", eviction("web-1"), &dry)
            .await
            .unwrap(),
        Evicted::Deleted
    );
    assert!(r.lookup(&pod::RESOURCE, "default", "web-1").is_some());
    let rt = &poddisruptionbudget::RESOURCE;
    assert_eq!(
        r.get(rt, "default", "web").unwrap()["status"]["disruptionsAllowed"],
        1
    );
    // A spec change the disruption controller has not seen yet.
    let mut b = r.get(rt, "default", "web").unwrap();
    b["spec"]["minAvailable"] = json!(2);
    r.update(rt, "default", "web", b, Subresource::Main, &opts)
        .await
        .unwrap();
    let err = r
        .evict("default", "web-1", eviction("web-1"), &opts)
        .await
        .unwrap_err();
    assert_eq!((err.code, err.details.retry_after_seconds), (429, Some(10)));
    assert_eq!(
        err.details.causes[0].message,
        "The disruption budget web is still being processed by the server."
    );
}

#[tokio::test]
async fn a_node_evicts_only_pods_bound_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    pod(&r, "web-1", "Pending").await;
    let node = crate::api::auth::Identity::authenticated(
        "system:node:pi-2",
        vec![crate::api::auth::NODES_GROUP.to_string()],
    );
    let opts = WriteOptions {
        requester: Some(node),
        ..WriteOptions::default()
    };
    let err = r
        .evict("default", "web-1", eviction("web-1"), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods \"web-1\" is forbidden: node \"pi-2\" can only evict pods with spec.nodeName set to itself"
    );
    assert!(r.lookup(&pod::RESOURCE, "default", "web-1").is_some());
}
