//! The cluster the node authorization tests judge: two nodes, each with a pod referencing
//! its own secrets, config maps, claim, volume and service account, in a real store.

use serde_json::{json, Value};

use crate::api::auth::{Identity, NODES_GROUP};
use crate::api::registry::{Registry, WriteOptions};
use crate::resources::{self, ResourceType};
use crate::store::Store;

pub const NODE: &str = "pi-2";
pub const OTHER: &str = "pi-3";
pub const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

pub fn node() -> Identity {
    Identity::authenticated(format!("system:node:{NODE}"), vec![NODES_GROUP.into()])
}

pub fn pod(name: &str, node: &str, extra: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}});
    if let (Some(spec), Some(more)) = (p["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(more.clone());
    }
    p
}

pub fn pinned(name: &str, node: &str, claim: Option<&str>) -> Value {
    let mut pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": format!("/srv/{name}")},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}});
    if let Some(c) = claim {
        pv["spec"]["claimRef"] = json!({"namespace": "default", "name": c});
    }
    pv
}

async fn put(r: &Registry, rt: &ResourceType, ns: &str, obj: Value) {
    r.create(rt, ns, obj, &WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
}

/// Two nodes, each with a pod referencing its own secrets, config maps, claim, volume and
/// service account.
pub async fn cluster(dir: &std::path::Path) -> Registry {
    let r = Registry::new(Store::open(dir, 100).unwrap());
    for ns in ["default", "kube-node-lease", "kube-system"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        put(&r, &resources::namespace::RESOURCE, "", obj).await;
    }
    for n in [NODE, OTHER] {
        let obj = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}});
        put(&r, &resources::node::RESOURCE, "", obj).await;
    }
    let refs = |who: &str| {
        json!({
            "serviceAccountName": format!("sa-{who}"),
            "imagePullSecrets": [{"name": format!("pull-{who}")}],
            "volumes": [
                {"name": "s", "secret": {"secretName": format!("s-{who}")}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": format!("cm-{who}")}}]}},
                {"name": "d", "persistentVolumeClaim": {"claimName": format!("claim-{who}")}}],
            "containers": [{"name": "c", "image": "busybox",
                "envFrom": [{"secretRef": {"name": format!("env-{who}")}}]}]
        })
    };
    put(
        &r,
        &resources::pod::RESOURCE,
        "default",
        pod("mine", NODE, refs("mine")),
    )
    .await;
    put(
        &r,
        &resources::pod::RESOURCE,
        "default",
        pod("theirs", OTHER, refs("theirs")),
    )
    .await;
    for who in ["mine", "theirs"] {
        let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": format!("claim-{who}")},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}}}});
        put(
            &r,
            &resources::persistentvolumeclaim::RESOURCE,
            "default",
            claim,
        )
        .await;
        let node = if who == "mine" { NODE } else { OTHER };
        let pv = pinned(&format!("pv-{who}"), node, Some(&format!("claim-{who}")));
        put(&r, &resources::persistentvolume::RESOURCE, "", pv).await;
    }
    r
}
