//! Mirror pods: the API's read-only view of this node's static pods (upstream's
//! `mirror_client`). A mirror carries the static pod's name, namespace, labels,
//! annotations and spec, the annotation [`MIRROR_ANNOTATION`] set to the static pod's hash
//! and an owner reference to its Node (as upstream 1.26+), and receives the static pod's
//! status. [`plan`] compares the static pods with the mirrors the API holds: a missing
//! mirror is created, one being deleted (`kubectl delete`) or showing an older hash is
//! deleted at once and created again, and one whose static pod is gone is deleted.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::manifest::hash_of;
use super::MIRROR_ANNOTATION;

/// A pod's `(namespace, name)`.
pub type PodKey = (String, String);

/// The key of `pod`.
pub fn key_of(pod: &Value) -> PodKey {
    let s = |f: &str| {
        pod.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("namespace"), s("name"))
}

/// The hash a mirror pod shows, when `pod` is one.
pub fn mirror_hash(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/annotations")?
        .get(MIRROR_ANNOTATION)?
        .as_str()
}

/// Whether `pod` is a mirror pod.
pub fn is_mirror(pod: &Value) -> bool {
    mirror_hash(pod).is_some()
}

/// The mirror pod of `static_pod` on node `node` (whose Node has uid `node_uid`).
pub fn mirror_of(static_pod: &Value, node: &str, node_uid: &str) -> Value {
    let meta = &static_pod["metadata"];
    let mut annotations = meta["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    annotations[MIRROR_ANNOTATION] = json!(hash_of(static_pod).unwrap_or(""));
    let mut m = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Node",
                "name": node,
                "uid": node_uid,
                "controller": true,
            }],
        },
        "spec": static_pod["spec"],
    });
    if meta["labels"].is_object() {
        m["metadata"]["labels"] = meta["labels"].clone();
    }
    m
}

/// What the kubelet does to the API's mirror pods.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorAction {
    /// Create this mirror pod.
    Create(Value),
    /// Delete the mirror pod `key` whose uid is `uid`, without grace.
    Delete {
        /// Namespace and name.
        key: PodKey,
        /// The uid deleted (a newer pod of the same name is left alone).
        uid: String,
    },
}

/// The actions that make `mirrors` (the API's mirror pods on this node, by key) show
/// `statics` (this node's static pods); deletes come before the creates that replace them.
pub fn plan(
    statics: &[Value],
    mirrors: &BTreeMap<PodKey, Value>,
    node: &str,
    node_uid: &str,
) -> Vec<MirrorAction> {
    let mut out = Vec::new();
    let delete = |m: &Value| MirrorAction::Delete {
        key: key_of(m),
        uid: m
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let wanted: BTreeMap<PodKey, &Value> = statics.iter().map(|s| (key_of(s), s)).collect();
    for (key, m) in mirrors {
        if !wanted.contains_key(key) {
            out.push(delete(m));
        }
    }
    for (key, s) in &wanted {
        match mirrors.get(key) {
            None => out.push(MirrorAction::Create(mirror_of(s, node, node_uid))),
            Some(m) => {
                let deleting = m.pointer("/metadata/deletionTimestamp").is_some();
                if deleting || mirror_hash(m) != hash_of(s) {
                    out.push(delete(m));
                    out.push(MirrorAction::Create(mirror_of(s, node, node_uid)));
                }
            }
        }
    }
    out
}
