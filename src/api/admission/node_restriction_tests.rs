//! NodeRestriction admission through the registry: a node's writes on its own objects pass,
//! on anything else they are refused with upstream's messages and nothing is stored.

use serde_json::{json, Value};

use crate::api::auth::node_fixture::{cluster, node, pinned, pod, NODE, OTHER};
use crate::api::patch::PatchType;
use crate::api::registry::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::resources::{self, ResourceType};

fn as_node() -> WriteOptions {
    WriteOptions {
        requester: Some(node()),
        ..Default::default()
    }
}

fn delete_as_node() -> DeleteOptions {
    DeleteOptions {
        requester: Some(node()),
        grace_period_seconds: Some(0),
        ..Default::default()
    }
}

async fn merge(
    r: &Registry,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    patch: Value,
    sub: Subresource,
) -> Result<(), String> {
    let body = serde_json::to_vec(&patch).unwrap();
    r.patch(rt, ns, name, PatchType::Merge, &body, sub, &as_node())
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {}", e.code, e.message))
}

#[tokio::test]
async fn admission_limits_a_nodes_writes_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let r = cluster(dir.path()).await;
    let pods = &resources::pod::RESOURCE;
    let nodes = &resources::node::RESOURCE;
    let create = |rt: &'static ResourceType, ns: &'static str, obj: Value| {
        let r = r.clone();
        async move {
            r.create(rt, ns, obj, &as_node())
                .await
                .map(|_| ())
                .map_err(|e| format!("{} {}", e.code, e.message))
        }
    };

    // Pods: only mirror pods of itself, without references to other objects.
    let err = create(pods, "default", pod("evil", OTHER, json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        "403 pods \"evil\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" \
         annotation, node \"pi-2\" can only create mirror pods"
    );
    let uid = r.get(nodes, "", NODE).unwrap()["metadata"]["uid"].clone();
    let mirror = |name: &str, node: &str, extra: Value| {
        let mut p = pod(name, node, extra);
        p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node",
            "name": NODE, "uid": uid, "controller": true}]);
        p
    };
    let err = create(pods, "default", mirror("m1", OTHER, json!({})))
        .await
        .unwrap_err();
    assert!(
        err.ends_with("node \"pi-2\" can only create pods with spec.nodeName set to itself"),
        "{err}"
    );
    let with_secret = json!({"volumes": [{"name": "s", "secret": {"secretName": "s-mine"}}]});
    let err = create(pods, "default", mirror("m2", NODE, with_secret))
        .await
        .unwrap_err();
    assert!(
        err.ends_with("node \"pi-2\" can not create pods that reference secrets"),
        "{err}"
    );
    create(pods, "default", mirror("m3", NODE, json!({})))
        .await
        .unwrap();

    // Pod status and deletion: only pods bound to it.
    let status = json!({"status": {"message": "x"}});
    let err = merge(
        &r,
        pods,
        "default",
        "theirs",
        status.clone(),
        Subresource::Status,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "403 pods \"theirs\" is forbidden: node \"pi-2\" can only update pod status for pods \
         with spec.nodeName set to itself"
    );
    merge(&r, pods, "default", "mine", status, Subresource::Status)
        .await
        .unwrap();
    // Not even its own pods' ephemeral containers.
    let debug = json!({"spec": {"ephemeralContainers": [{"name": "d", "image": "busybox"}]}});
    let err = merge(
        &r,
        pods,
        "default",
        "mine",
        debug,
        Subresource::EphemeralContainers,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "403 pods \"mine\" is forbidden: unexpected pod subresource \"ephemeralcontainers\", \
         only 'status' and 'eviction' are allowed"
    );
    let err = r
        .delete(pods, "default", "theirs", &delete_as_node())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "pods \"theirs\" is forbidden: node \"pi-2\" can only delete pods with spec.nodeName \
         set to itself"
    );
    assert!(r.get(pods, "default", "theirs").is_ok());
    r.delete(pods, "default", "m3", &delete_as_node())
        .await
        .unwrap();

    // Its own Node: kubelet labels yes, restricted labels, taints and other nodes no.
    let label = |k: &str| json!({"metadata": {"labels": {k: "x"}}});
    merge(
        &r,
        nodes,
        "",
        NODE,
        label("kubelet.kubernetes.io/x"),
        Subresource::Main,
    )
    .await
    .unwrap();
    merge(
        &r,
        nodes,
        "",
        NODE,
        label("example.com/x"),
        Subresource::Main,
    )
    .await
    .unwrap();
    let err = merge(
        &r,
        nodes,
        "",
        NODE,
        label("node-restriction.kubernetes.io/x"),
        Subresource::Main,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "403 nodes \"pi-2\" is forbidden: is not allowed to modify labels: \
         node-restriction.kubernetes.io/x"
    );
    let err = merge(
        &r,
        nodes,
        "",
        NODE,
        label("node-role.kubernetes.io/control-plane"),
        Subresource::Main,
    )
    .await
    .unwrap_err();
    assert!(
        err.ends_with("node-role.kubernetes.io/control-plane"),
        "{err}"
    );
    let taint = json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}});
    let err = merge(&r, nodes, "", NODE, taint, Subresource::Main)
        .await
        .unwrap_err();
    assert!(
        err.ends_with("node \"pi-2\" is not allowed to modify taints"),
        "{err}"
    );
    let err = merge(&r, nodes, "", OTHER, label("a/b"), Subresource::Status)
        .await
        .unwrap_err();
    assert!(
        err.ends_with("node \"pi-2\" is not allowed to modify node \"pi-3\""),
        "{err}"
    );
    let other = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-9"}});
    let err = create(nodes, "", other).await.unwrap_err();
    assert!(
        err.ends_with("node \"pi-2\" is not allowed to modify node \"pi-9\""),
        "{err}"
    );

    // Leases: its own only.
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name}, "spec": {"holderIdentity": name}})
    };
    let leases = &resources::lease::RESOURCE;
    let err = create(leases, "kube-node-lease", lease(OTHER))
        .await
        .unwrap_err();
    assert!(err.ends_with("can only access node lease with the same name as the requesting node"));
    create(leases, "kube-node-lease", lease(NODE))
        .await
        .unwrap();

    // Volumes: only those pinned to itself.
    let pvs = &resources::persistentvolume::RESOURCE;
    let err = create(pvs, "", pinned("pv-x", OTHER, None))
        .await
        .unwrap_err();
    assert!(
        err.ends_with("can only write persistent volumes whose node affinity pins them to itself"),
        "{err}"
    );
    create(pvs, "", pinned("pv-y", NODE, None)).await.unwrap();
    let err = r
        .delete(pvs, "", "pv-theirs", &delete_as_node())
        .await
        .unwrap_err();
    assert_eq!(err.code, 403);
    let grow = json!({"spec": {"capacity": {"storage": "2Gi"}}});
    merge(&r, pvs, "", "pv-mine", grow.clone(), Subresource::Main)
        .await
        .unwrap();
    assert!(merge(&r, pvs, "", "pv-theirs", grow, Subresource::Main)
        .await
        .is_err());

    // Claim status: capacity and conditions only.
    let claims = &resources::persistentvolumeclaim::RESOURCE;
    let capacity = json!({"status": {"capacity": {"storage": "1Gi"}}});
    merge(
        &r,
        claims,
        "default",
        "claim-mine",
        capacity,
        Subresource::Status,
    )
    .await
    .unwrap();
    let phase = json!({"status": {"phase": "Lost"}});
    let err = merge(
        &r,
        claims,
        "default",
        "claim-mine",
        phase,
        Subresource::Status,
    )
    .await
    .unwrap_err();
    assert!(err.contains("is not allowed to update fields other than status.capacity and status.conditions: status.phase"), "{err}");
}
