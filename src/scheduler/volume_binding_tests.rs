//! VolumeBinding filter cases: missing and Immediate claims, bound local volumes, and
//! WaitForFirstConsumer claims served by a static volume or by a node's free space.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use super::*;
use crate::scheduler::{schedule_with_volumes, NodeInfo};

fn node(name: &str, free: Option<&str>) -> Node {
    let mut ann = json!({});
    if let Some(f) = free {
        ann["storage.bramble.io/local-path-free-bytes"] = json!(f);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}, "annotations": ann},
        "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .unwrap()
}

fn pod(claims: &[&str]) -> Pod {
    let vols: Vec<Value> = claims
        .iter()
        .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": vols},
    }))
    .unwrap()
}

fn claim(name: &str, class: &str, size: &str, volume: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
           "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}}, "volumeName": volume}})
}

fn local_pv(name: &str, host: &str, size: &str, class: &str) -> Value {
    json!({"metadata": {"name": name},
           "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                    "storageClassName": class, "local": {"path": "/mnt/x"},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}}},
           "status": {"phase": "Available"}})
}

fn class(name: &str, mode: &str) -> Value {
    json!({"metadata": {"name": name}, "provisioner": "bramble.io/local-path",
           "volumeBindingMode": mode})
}

fn decode<T: serde::de::DeserializeOwned>(v: Vec<Value>) -> Vec<T> {
    v.into_iter()
        .map(|x| serde_json::from_value(x).unwrap())
        .collect()
}

fn snap(claims: Vec<Value>, volumes: Vec<Value>, classes: Vec<Value>) -> VolumeSnapshot {
    VolumeSnapshot {
        claims: decode(claims),
        volumes: decode(volumes),
        classes: decode(classes),
    }
}

fn place(p: &Pod, nodes: &[Node], s: &VolumeSnapshot) -> Result<String, String> {
    let infos: Vec<NodeInfo<'_>> = nodes.iter().map(|n| NodeInfo::new(n, vec![])).collect();
    schedule_with_volumes(p, &infos, s).map_err(|e| e.to_string())
}

#[test]
fn missing_claim_rules_out_every_node() {
    let nodes = [node("a", None), node("b", None)];
    let err = place(&pod(&["data"]), &nodes, &snap(vec![], vec![], vec![])).unwrap_err();
    assert_eq!(
        err,
        "0/2 nodes are available: persistentvolumeclaim \"data\" not found. preemption: 0/2 \
         nodes are available: 2 Preemption is not helpful for scheduling.."
    );
}

#[test]
fn unbound_immediate_claim_blocks_scheduling() {
    let s = snap(
        vec![claim("data", "fast", "1Gi", "")],
        vec![],
        vec![class("fast", "Immediate")],
    );
    let err = place(&pod(&["data"]), &[node("a", None)], &s).unwrap_err();
    assert!(
        err.starts_with(
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        ),
        "{err}"
    );
}

#[test]
fn bound_local_volume_pins_the_pod_to_its_node() {
    let mut pv = local_pv("pv-b", "b", "1Gi", "");
    pv["status"]["phase"] = json!("Bound");
    let s = snap(vec![claim("data", "", "1Gi", "pv-b")], vec![pv], vec![]);
    let nodes = [node("a", None), node("b", None), node("c", None)];
    assert_eq!(place(&pod(&["data"]), &nodes, &s).unwrap(), "b");
    let err = place(&pod(&["data"]), &nodes[..1], &s).unwrap_err();
    assert!(
        err.contains("1 node(s) had volume node affinity conflict"),
        "{err}"
    );
}

#[test]
fn wait_for_first_consumer_uses_static_volume_or_free_space() {
    let wffc = class("local", "WaitForFirstConsumer");
    // a static volume on c wins over provisioning; nodes without space are refused
    let s = snap(
        vec![claim("data", "local", "2Gi", "")],
        vec![local_pv("pv-c", "c", "5Gi", "local")],
        vec![wffc.clone()],
    );
    let nodes = [node("a", Some("1000")), node("c", None)];
    assert_eq!(place(&pod(&["data"]), &nodes, &s).unwrap(), "c");

    let s = snap(vec![claim("data", "local", "2Gi", "")], vec![], vec![wffc]);
    let nodes = [
        node("small", Some("1000")),
        node("big", Some(&(4_i64 << 30).to_string())),
        node("none", None),
    ];
    assert_eq!(place(&pod(&["data"]), &nodes, &s).unwrap(), "big");
    let err = place(
        &pod(&["data"]),
        &[node("small", Some("1000")), node("none", None)],
        &s,
    )
    .unwrap_err();
    assert!(
        err.contains("1 node(s) did not have enough free storage"),
        "{err}"
    );
    assert!(
        err.contains("1 node(s) didn't find available persistent volumes to bind"),
        "{err}"
    );
}

#[test]
fn claims_of_one_pod_share_the_free_space() {
    let s = snap(
        vec![
            claim("a", "local", "3Gi", ""),
            claim("b", "local", "3Gi", ""),
        ],
        vec![],
        vec![class("local", "WaitForFirstConsumer")],
    );
    let five = (5_i64 << 30).to_string();
    let err = place(&pod(&["a", "b"]), &[node("n", Some(&five))], &s).unwrap_err();
    assert!(err.contains("did not have enough free storage"), "{err}");
    assert_eq!(
        place(&pod(&["a"]), &[node("n", Some(&five))], &s).unwrap(),
        "n"
    );
}
