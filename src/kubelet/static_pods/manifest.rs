//! One manifest file: a Pod, or several as YAML documents (JSON is YAML too). Each pod is
//! made this node's: named `<name>-<node>`, in its namespace (`default` when unset), bound
//! to the node, its uid a hash of the manifest and the node name, and annotated with its
//! source, hash and the time it was first seen, as upstream's file source does.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{HASH_ANNOTATION, SEEN_ANNOTATION, SOURCE_ANNOTATION};
use crate::resources::validation::names::is_dns1123_subdomain;

/// Why a manifest file holds no usable pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML or JSON.
    #[error("not YAML or JSON: {0}")]
    Syntax(String),
    /// A document is not a Pod.
    #[error("document {index} is not a Pod (kind {kind:?})")]
    NotAPod {
        /// The document's position, from 0.
        index: usize,
        /// Its kind.
        kind: String,
    },
    /// A pod without a usable name.
    #[error("document {index}: {reason}")]
    Invalid {
        /// The document's position, from 0.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// No document holds a pod.
    #[error("no pod in the file")]
    Empty,
}

/// The pods in `text`, as written (not yet this node's).
pub fn parse(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if v.is_null() {
            continue; // an empty document, as between `---` lines
        }
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "Pod" {
            return Err(ManifestError::NotAPod {
                index,
                kind: kind.to_string(),
            });
        }
        let invalid = |reason: &str| ManifestError::Invalid {
            index,
            reason: reason.to_string(),
        };
        let name = v.pointer("/metadata/name").and_then(Value::as_str);
        match name {
            None | Some("") => return Err(invalid("metadata.name is required")),
            Some(n) => {
                if let Some(why) = is_dns1123_subdomain(n).first() {
                    return Err(invalid(&format!("metadata.name {n:?}: {why}")));
                }
            }
        }
        let containers = v.pointer("/spec/containers").and_then(Value::as_array);
        if !containers.is_some_and(|c| !c.is_empty()) {
            return Err(invalid("spec.containers is required"));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(out)
}

/// The uid of `manifest` on node `node`: 32 hex digits of a SHA-256 over both, so an
/// unchanged manifest keeps its uid across restarts and a changed one gets a new one.
pub fn uid(manifest: &Value, node: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"host:");
    h.update(node.as_bytes());
    h.update(b"\0");
    // serde_json's maps are sorted, so equal manifests encode equally
    h.update(serde_json::to_vec(manifest).unwrap_or_default());
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `manifest` as node `node` runs it; `seen` is when the manifest was first seen (RFC 3339).
pub fn static_pod(manifest: &Value, node: &str, seen: &str) -> Value {
    let uid = uid(manifest, node);
    let mut p = manifest.clone();
    let name = p
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let meta = &mut p["metadata"];
    meta["name"] = json!(format!("{name}-{node}"));
    if meta
        .get("namespace")
        .and_then(Value::as_str)
        .map_or(true, str::is_empty)
    {
        meta["namespace"] = json!("default");
    }
    meta["uid"] = json!(uid);
    if let Some(m) = meta.as_object_mut() {
        for k in [
            "resourceVersion",
            "generation",
            "deletionTimestamp",
            "ownerReferences",
        ] {
            m.remove(k);
        }
    }
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    let ann = &mut meta["annotations"];
    ann[SOURCE_ANNOTATION] = json!("file");
    ann[HASH_ANNOTATION] = json!(uid);
    ann[SEEN_ANNOTATION] = json!(seen);
    p["spec"]["nodeName"] = json!(node);
    if let Some(m) = p.as_object_mut() {
        m.remove("status");
    }
    p
}

/// The hash (uid) of a static pod made by [`static_pod`].
pub fn hash_of(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/annotations")?
        .get(HASH_ANNOTATION)?
        .as_str()
}
