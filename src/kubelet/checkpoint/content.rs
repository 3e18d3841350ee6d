//! What the checkpoint holds, and how API objects are cut down to it: a pod keeps its
//! identity, labels, annotations, owners, deletion mark and spec; a ConfigMap or Secret its
//! payload. Everything that changes without the pod changing (status, resourceVersion,
//! managedFields, generation) is dropped, so equal content means nothing worth a write.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::kubelet::volume::{self, TokenRequestKey};

/// The format version written; a file of another version is ignored.
pub const VERSION: u32 = 1;

/// Everything the checkpoint file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// [`VERSION`].
    #[serde(default)]
    pub version: u32,
    /// The cluster's pod network, as last learnt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_cidr: Option<String>,
    /// This node's pod range, as last learnt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// The node's pods by uid, cut down by [`pod`].
    #[serde(default)]
    pub pods: BTreeMap<String, Value>,
    /// ConfigMaps by `namespace/name`, cut down by [`config_map`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_maps: BTreeMap<String, Value>,
    /// Secrets by `namespace/name`, cut down by [`secret`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Value>,
    /// Service account tokens the pods' projected volumes hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<SavedToken>,
}

/// One service account token, with the request it answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SavedToken {
    /// Namespace.
    pub ns: String,
    /// Service account.
    pub sa: String,
    /// Audiences asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// Lifetime asked for.
    pub exp: i64,
    /// The pod it is bound to.
    pub pod: String,
    /// That pod's uid.
    pub uid: String,
    /// The token.
    pub token: String,
}

impl SavedToken {
    /// `token` for `key`.
    pub fn new(key: &TokenRequestKey, token: &str) -> Self {
        SavedToken {
            ns: key.namespace.clone(),
            sa: key.service_account.clone(),
            aud: key.audiences.clone(),
            exp: key.expiration_seconds,
            pod: key.pod_name.clone(),
            uid: key.pod_uid.clone(),
            token: token.to_string(),
        }
    }

    /// The request this token answers.
    pub fn key(&self) -> TokenRequestKey {
        TokenRequestKey {
            namespace: self.ns.clone(),
            service_account: self.sa.clone(),
            audiences: self.aud.clone(),
            expiration_seconds: self.exp,
            pod_name: self.pod.clone(),
            pod_uid: self.uid.clone(),
        }
    }
}

/// The metadata fields of a pod the checkpoint keeps.
const POD_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `obj` with only `meta_keys` of its metadata and `keys` of its top level.
fn cut(obj: &Value, meta_keys: &[&str], keys: &[&str]) -> Value {
    let mut out = Map::new();
    for k in ["apiVersion", "kind"].iter().chain(keys) {
        if let Some(v) = obj.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    let mut meta = Map::new();
    for k in meta_keys {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta.insert((*k).to_string(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    Value::Object(out)
}

/// A pod as the checkpoint keeps it.
pub fn pod(p: &Value) -> Value {
    cut(p, POD_META, &["spec"])
}

/// A ConfigMap as the checkpoint keeps it.
pub fn config_map(cm: &Value) -> Value {
    cut(
        cm,
        &["name", "namespace"],
        &["data", "binaryData", "immutable"],
    )
}

/// A Secret as the checkpoint keeps it.
pub fn secret(s: &Value) -> Value {
    cut(s, &["name", "namespace"], &["type", "data", "immutable"])
}

/// The `namespace/name` key of an object.
pub fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// The ConfigMaps and Secrets `pod`'s volumes, projected volumes and containers' env name,
/// each list sorted and without repeats.
pub fn referenced_objects(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let (mut maps, mut secrets) = volume::projected_object_names(pod);
    if let Some(spec) = &pod.spec {
        for v in spec.volumes.iter().flatten() {
            maps.extend(v.config_map.as_ref().map(|c| c.name.clone()));
            secrets.extend(v.secret.as_ref().and_then(|s| s.secret_name.clone()));
        }
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            for e in c.env_from.iter().flatten() {
                maps.extend(e.config_map_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(e.secret_ref.as_ref().map(|r| r.name.clone()));
            }
            for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
                maps.extend(e.config_map_key_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(e.secret_key_ref.as_ref().map(|r| r.name.clone()));
            }
        }
    }
    maps.sort();
    maps.dedup();
    secrets.sort();
    secrets.dedup();
    (maps, secrets)
}

impl Content {
    /// The content without ConfigMaps, Secrets and tokens no held pod uses any more.
    pub fn pruned(&self) -> Content {
        let mut maps = std::collections::BTreeSet::new();
        let mut secrets = std::collections::BTreeSet::new();
        for p in self.pods.values() {
            let Ok(typed) = serde_json::from_value::<Pod>(p.clone()) else {
                continue;
            };
            let ns = typed.metadata.namespace.clone().unwrap_or_default();
            let (m, s) = referenced_objects(&typed);
            maps.extend(m.iter().map(|n| key(&ns, n)));
            secrets.extend(s.iter().map(|n| key(&ns, n)));
        }
        let mut out = self.clone();
        out.version = VERSION;
        out.config_maps.retain(|k, _| maps.contains(k));
        out.secrets.retain(|k, _| secrets.contains(k));
        out.tokens.retain(|t| self.pods.contains_key(&t.uid));
        out
    }
}
