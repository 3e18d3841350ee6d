//! The `pods/ephemeralcontainers` subresource through the registry: what `kubectl debug`
//! sends, and the refusals a client sees.

use serde_json::{json, Value};

use super::*;
use crate::api::patch::PatchType;
use crate::resources::{namespace, pod};

async fn registry_with_pod(dir: &std::path::Path) -> Registry {
    let r = Registry::new(crate::store::Store::open(dir, 64).unwrap());
    let opts = WriteOptions::default();
    r.create(
        &namespace::RESOURCE,
        "",
        json!({"metadata": {"name": "default"}}),
        &opts,
    )
    .await
    .unwrap();
    let p = json!({"metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}});
    r.create(&pod::RESOURCE, "default", p, &opts).await.unwrap();
    r
}

/// `kubectl debug`'s strategic merge patch adding container `name` after `existing` (the
/// two-way patch keeps the list's order with `$setElementOrder` once it has items).
fn debug_patch(name: &str, existing: &[String]) -> Vec<u8> {
    let mut spec = json!({"ephemeralContainers": [{"name": name, "image": "busybox:1",
        "command": ["sh"], "stdin": true, "tty": true, "targetContainerName": "app",
        "resources": {}, "terminationMessagePolicy": "File"}]});
    if !existing.is_empty() {
        let order: Vec<Value> = existing
            .iter()
            .map(String::as_str)
            .chain([name])
            .map(|n| json!({ "name": n }))
            .collect();
        spec["$setElementOrder/ephemeralContainers"] = json!(order);
    }
    json!({ "spec": spec }).to_string().into_bytes()
}

async fn add(r: &Registry, name: &str) -> Result<Value, ApiError> {
    let current = r.get(&pod::RESOURCE, "default", "web")?;
    let existing = ephemeral_names(&current);
    r.patch(
        &pod::RESOURCE,
        "default",
        "web",
        PatchType::StrategicMerge,
        &debug_patch(name, &existing),
        Subresource::EphemeralContainers,
        &WriteOptions::default(),
    )
    .await
    .map(|w| w.object.into_value())
}

fn ephemeral_names(pod: &Value) -> Vec<String> {
    pod["spec"]["ephemeralContainers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["name"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn patches_add_ephemeral_containers_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry_with_pod(dir.path()).await;
    let pod = add(&r, "debugger-a").await.unwrap();
    assert_eq!(ephemeral_names(&pod), ["debugger-a"]);
    assert_eq!(
        pod["spec"]["ephemeralContainers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    // A second patch merges by name: the first stays.
    let pod = add(&r, "debugger-b").await.unwrap();
    assert_eq!(ephemeral_names(&pod), ["debugger-a", "debugger-b"]);
    let managers: Vec<&str> = pod["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["subresource"].as_str())
        .collect();
    assert!(managers.contains(&"ephemeralcontainers"), "{managers:?}");
}

#[tokio::test]
async fn removing_or_changing_one_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry_with_pod(dir.path()).await;
    let mut pod = add(&r, "debugger-a").await.unwrap();
    pod["spec"]["ephemeralContainers"] = json!([]);
    let sub = Subresource::EphemeralContainers;
    let opts = WriteOptions::default();
    let e = r
        .update(&pod::RESOURCE, "default", "web", pod.clone(), sub, &opts)
        .await
        .unwrap_err();
    assert_eq!((e.code, e.reason), (422, "Invalid"));
    assert_eq!(e.details.name.as_deref(), Some("web"));
    assert_eq!(e.details.causes.len(), 1);
    assert_eq!(e.details.causes[0].field, "spec.ephemeralContainers");
    assert_eq!(
        e.details.causes[0].message,
        "Forbidden: existing ephemeral containers \"debugger-a\" may not be removed\n"
    );

    let json_patch = json!([{"op": "replace", "path": "/spec/ephemeralContainers/0/image",
        "value": "alpine:3"}]);
    let e = r
        .patch(
            &pod::RESOURCE,
            "default",
            "web",
            PatchType::Json,
            json_patch.to_string().as_bytes(),
            sub,
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, 422);
    assert!(
        e.details.causes[0].message.starts_with(
            "Forbidden: existing ephemeral containers \"debugger-a\" may not be changed\n"
        ),
        "{e:?}"
    );
    let stored = r.get(&pod::RESOURCE, "default", "web").unwrap();
    assert_eq!(
        stored["spec"]["ephemeralContainers"][0]["image"],
        "busybox:1"
    );
}

#[tokio::test]
async fn the_main_resource_neither_adds_nor_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry_with_pod(dir.path()).await;
    let opts = WriteOptions::default();
    let e = r
        .patch(
            &pod::RESOURCE,
            "default",
            "web",
            PatchType::StrategicMerge,
            &debug_patch("debugger-a", &[]),
            Subresource::Main,
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(e.details.causes[0].field, "spec");
    assert!(e.details.causes[0]
        .message
        .starts_with("Forbidden: pod updates may not change fields other than"));

    // Once added, a main-resource write that leaves them out is refused too, and a label
    // patch keeps them.
    let pod = add(&r, "debugger-a").await.unwrap();
    let mut without = pod.clone();
    without["spec"]
        .as_object_mut()
        .unwrap()
        .remove("ephemeralContainers");
    let e = r
        .update(
            &pod::RESOURCE,
            "default",
            "web",
            without,
            Subresource::Main,
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, 422);
    let labelled = r
        .patch(
            &pod::RESOURCE,
            "default",
            "web",
            PatchType::Merge,
            br#"{"metadata":{"labels":{"debug":"yes"}}}"#,
            Subresource::Main,
            &opts,
        )
        .await
        .unwrap()
        .object
        .into_value();
    assert_eq!(ephemeral_names(&labelled), ["debugger-a"]);
}

#[tokio::test]
async fn a_missing_pod_is_not_found_with_details() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry_with_pod(dir.path()).await;
    let e = r
        .patch(
            &pod::RESOURCE,
            "default",
            "nope",
            PatchType::StrategicMerge,
            &debug_patch("d", &[]),
            Subresource::EphemeralContainers,
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!((e.code, e.reason), (404, "NotFound"));
    assert_eq!(e.details.name.as_deref(), Some("nope"));
    assert_eq!(e.details.kind.as_deref(), Some("pods"));
}

#[tokio::test]
async fn pod_security_judges_what_the_subresource_adds() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::new(crate::store::Store::open(dir.path(), 64).unwrap());
    let opts = WriteOptions::default();
    let ns = json!({"metadata": {"name": "locked",
        "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}});
    r.create(&namespace::RESOURCE, "", ns, &opts).await.unwrap();
    let p = json!({"metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}});
    r.create(&pod::RESOURCE, "locked", p, &opts).await.unwrap();
    let privileged = json!({"spec": {"ephemeralContainers": [{"name": "d", "image": "busybox:1",
        "securityContext": {"privileged": true}}]}});
    let e = r
        .patch(
            &pod::RESOURCE,
            "locked",
            "web",
            PatchType::StrategicMerge,
            privileged.to_string().as_bytes(),
            Subresource::EphemeralContainers,
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, 403, "{e:?}");
    assert!(
        e.message
            .contains("violates PodSecurity \"baseline:latest\": privileged (container \"d\""),
        "{}",
        e.message
    );
    let stored = r.get(&pod::RESOURCE, "locked", "web").unwrap();
    assert!(ephemeral_names(&stored).is_empty());
}
