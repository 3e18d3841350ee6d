//! A node identity against every verb × kind × own/other: the Node authorizer over a real
//! store, then the NodeRestriction admission through the registry.

use serde_json::{json, Value};

use super::*;
use crate::api::patch::PatchType;
use crate::api::registry::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::resources::{self, ResourceType};
use crate::store::Store;

const NODE: &str = "pi-2";
const OTHER: &str = "pi-3";
const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn node() -> Identity {
    Identity::authenticated(format!("system:node:{NODE}"), vec![NODES_GROUP.into()])
}

fn pod(name: &str, node: &str, extra: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}});
    if let (Some(spec), Some(more)) = (p["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(more.clone());
    }
    p
}

fn pinned(name: &str, node: &str, claim: Option<&str>) -> Value {
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
async fn cluster(dir: &std::path::Path) -> Registry {
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

/// One row: a kind, its own and another node's object, and the verbs allowed on each.
struct Row {
    group: &'static str,
    resource: &'static str,
    sub: &'static str,
    ns: &'static str,
    own: &'static str,
    other: &'static str,
    own_verbs: &'static [&'static str],
    other_verbs: &'static [&'static str],
}

const READ: &[&str] = &["get", "list", "watch"];
const NONE: &[&str] = &[];

fn rows() -> Vec<Row> {
    let row = |group, resource, sub, ns, own, other, own_verbs, other_verbs| Row {
        group,
        resource,
        sub,
        ns,
        own,
        other,
        own_verbs,
        other_verbs,
    };
    let pod_verbs: &[&str] = &["get", "list", "watch", "create", "delete"];
    let node_verbs: &[&str] = &["get", "list", "watch", "create", "update", "patch"];
    let status_verbs: &[&str] = &["get", "list", "watch", "update", "patch"];
    let pv_verbs: &[&str] = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let event_verbs: &[&str] = &["get", "list", "watch", "create", "update", "patch"];
    #[rustfmt::skip]
    let table = vec![
        // Writes the authorizer lets through are narrowed by admission (below).
        row("", "pods", "", "default", "mine", "theirs", pod_verbs, pod_verbs),
        row("", "pods", "status", "default", "mine", "theirs", status_verbs, status_verbs),
        row("", "pods", "exec", "default", "mine", "theirs", NONE, NONE),
        row("", "pods", "log", "default", "mine", "theirs", NONE, NONE),
        row("", "pods", "binding", "default", "mine", "theirs", NONE, NONE),
        row("", "nodes", "", "", NODE, OTHER, node_verbs, node_verbs),
        row("", "nodes", "status", "", NODE, OTHER, status_verbs, status_verbs),
        row("coordination.k8s.io", "leases", "", "kube-node-lease", NODE, OTHER,
            &["get", "create", "update", "patch", "delete"], &["create"]),
        row("coordination.k8s.io", "leases", "", "default", NODE, OTHER, NONE, NONE),
        row("", "secrets", "", "default", "s-mine", "s-theirs", READ, NONE),
        row("", "secrets", "", "default", "pull-mine", "pull-theirs", READ, NONE),
        row("", "secrets", "", "default", "env-mine", "env-theirs", READ, NONE),
        row("", "configmaps", "", "default", "cm-mine", "cm-theirs", READ, NONE),
        row("", "configmaps", "", "kube-system", "bramble-cluster", "kube-root-ca.crt", READ, NONE),
        row("", "persistentvolumeclaims", "", "default", "claim-mine", "claim-theirs", READ, READ),
        row("", "persistentvolumeclaims", "status", "default", "claim-mine", "claim-theirs",
            &["update", "patch"], NONE),
        row("", "persistentvolumes", "", "", "pv-mine", "pv-theirs", pv_verbs, pv_verbs),
        row("", "events", "", "default", "e1", "e2", event_verbs, event_verbs),
        row("events.k8s.io", "events", "", "default", "e1", "e2", event_verbs, event_verbs),
        row("", "services", "", "default", "web", "db", READ, READ),
        row("", "endpoints", "", "default", "web", "db", READ, READ),
        row("discovery.k8s.io", "endpointslices", "", "default", "web", "db", READ, READ),
        row("", "namespaces", "", "", "default", "kube-system", READ, READ),
        row("", "serviceaccounts", "token", "default", "sa-mine", "sa-theirs", &["create"], NONE),
        row("", "serviceaccounts", "", "default", "sa-mine", "sa-theirs", NONE, NONE),
        row("apps", "deployments", "", "default", "web", "db", NONE, NONE),
    ];
    table
}

#[tokio::test]
async fn every_verb_kind_and_owner_is_authorized_as_upstream_node_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let r = cluster(dir.path()).await;
    let who = node();
    let mut wrong = Vec::new();
    for row in rows() {
        for (name, allowed) in [(row.own, row.own_verbs), (row.other, row.other_verbs)] {
            for verb in VERBS {
                // A create or a collection names no object; list/watch name one through a
                // metadata.name field selector.
                let name = if matches!(verb, "create" | "deletecollection") && row.sub.is_empty() {
                    ""
                } else {
                    name
                };
                let attrs = Attributes::resource(verb, row.group, row.resource, row.ns, name)
                    .with_subresource(row.sub);
                let got = authorize(&who, &attrs, &r) == Decision::Allow;
                if got != allowed.contains(&verb) {
                    wrong.push(format!(
                        "{verb} {}/{} {}/{name}: allowed={got}",
                        row.resource, row.sub, row.ns
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn denials_carry_upstream_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let r = cluster(dir.path()).await;
    let who = node();
    let reason = |attrs: Attributes<'_>| match authorize(&who, &attrs, &r) {
        Decision::Deny(reason) => forbidden_message(&who, &attrs, &reason),
        Decision::Allow => "allowed".into(),
    };
    assert_eq!(
        reason(Attributes::resource(
            "get", "", "secrets", "default", "s-theirs"
        )),
        "secrets \"s-theirs\" is forbidden: User \"system:node:pi-2\" cannot get resource \
         \"secrets\" in API group \"\" in the namespace \"default\": no relationship found \
         between node 'pi-2' and this object"
    );
    assert!(
        reason(Attributes::resource("list", "", "secrets", "default", ""))
            .ends_with(": No Object name found")
    );
    assert!(
        reason(Attributes::resource("list", "", "secrets", "", "s-mine"))
            .ends_with(": can only read namespaced object of this type")
    );
    assert!(
        reason(Attributes::resource("create", "", "secrets", "default", ""))
            .ends_with(": can only read resources of this type")
    );
    assert!(reason(Attributes::resource(
        "update",
        "coordination.k8s.io",
        "leases",
        "kube-node-lease",
        OTHER
    ))
    .ends_with(": can only access node lease with the same name as the requesting node"));
    // Pods and nodes are listed whole (the kubelet watches its pods by field selector,
    // routes to every node's pod range).
    assert_eq!(
        reason(Attributes::resource("list", "", "pods", "", "")),
        "allowed"
    );
    // A pod that moves away takes the node's access with it.
    r.delete(
        &resources::pod::RESOURCE,
        "default",
        "mine",
        &DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(reason(Attributes::resource(
        "get", "", "secrets", "default", "s-mine"
    ))
    .ends_with("no relationship found between node 'pi-2' and this object"));
}

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
