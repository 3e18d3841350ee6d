use serde_json::json;

use super::*;
use crate::api::registry::WriteOptions;
use crate::resources::namespace;

async fn registry(dir: &std::path::Path) -> Registry {
    let r = crate::api::auth::service_account::test_registry(dir).await;
    let w = WriteOptions::default();
    for sa in [
        json!({"metadata": {"name": "default"}}),
        json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false,
               "imagePullSecrets": [{"name": "regcred"}]}),
    ] {
        r.create(&serviceaccount::RESOURCE, "apps", sa, &w)
            .await
            .unwrap();
    }
    r
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "apps"}, "spec": spec})
}

async fn create(r: &Registry, spec: Value) -> Result<Value, ApiError> {
    r.create(&pod::RESOURCE, "apps", pod(spec), &WriteOptions::default())
        .await
        .map(|w| w.object.into_value())
}

#[tokio::test]
async fn every_container_mounts_the_token_volume() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let p = create(
        &r,
        json!({"initContainers": [{"name": "init", "image": "busybox"}],
               "containers": [{"name": "a", "image": "busybox"},
                              {"name": "b", "image": "busybox", "volumeMounts": [
                                  {"name": "own", "mountPath": TOKEN_MOUNT_PATH}]}],
               "volumes": [{"name": "own", "emptyDir": {}}]}),
    )
    .await
    .unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    let volumes = p["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 2);
    let token = &volumes[1];
    let name = token["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    let sources = token["projected"]["sources"].as_array().unwrap();
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(sources[2]["downwardAPI"]["items"][0]["path"], "namespace");
    let mount = json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    assert_eq!(
        p["spec"]["initContainers"][0]["volumeMounts"],
        json!([mount])
    );
    assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([mount]));
    // a container with its own mount there keeps it
    let b = p["spec"]["containers"][1]["volumeMounts"]
        .as_array()
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["name"], "own");
}

#[tokio::test]
async fn automount_off_on_the_pod_or_its_account_mounts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let off = create(
        &r,
        json!({"automountServiceAccountToken": false,
               "containers": [{"name": "a", "image": "busybox"}]}),
    )
    .await
    .unwrap();
    assert!(off["spec"].get("volumes").is_none(), "{off}");
    r.delete(&pod::RESOURCE, "apps", "web", &Default::default())
        .await
        .unwrap();
    let quiet = create(
        &r,
        json!({"serviceAccountName": "quiet", "containers": [{"name": "a", "image": "busybox"}]}),
    )
    .await
    .unwrap();
    assert!(quiet["spec"].get("volumes").is_none(), "{quiet}");
    assert_eq!(
        quiet["spec"]["imagePullSecrets"],
        json!([{"name": "regcred"}])
    );
}

#[tokio::test]
async fn a_missing_account_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let err = create(
        &r,
        json!({"serviceAccountName": "ghost", "containers": [{"name": "a", "image": "busybox"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods \"web\" is forbidden: error looking up service account apps/ghost: serviceaccount \"ghost\" not found"
    );
}

#[tokio::test]
async fn mirror_pods_and_registries_without_tokens_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(dir.path()).await;
    let mut mirror =
        pod(json!({"nodeName": "pi-1", "containers": [{"name": "a", "image": "busybox"}]}));
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
    let w = r
        .create(&pod::RESOURCE, "apps", mirror, &WriteOptions::default())
        .await
        .unwrap()
        .object
        .into_value();
    assert!(w["spec"].get("volumes").is_none());

    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Registry::new(crate::store::Store::open(plain_dir.path(), 64).unwrap());
    plain
        .create(
            &namespace::RESOURCE,
            "",
            json!({"metadata": {"name": "apps"}}),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let p = create(
        &plain,
        json!({"containers": [{"name": "a", "image": "busybox"}]}),
    )
    .await
    .unwrap();
    assert!(p["spec"].get("volumes").is_none());
}
