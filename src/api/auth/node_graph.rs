//! The relationships the Node authorizer follows, read from the store.
//!
//! Upstream keeps a graph (`plugin/pkg/auth/authorizer/node/graph.go`) fed by informers:
//! vertices for pods, secrets, config maps, claims, volumes and service accounts, edges
//! `secret -> pod -> node`, `pvc -> pod`, `pv -> pvc`, and answers with a walk. Bramble's
//! store already holds every object in memory (`store/hub.rs`), so the same question is
//! answered on demand instead of keeping a second structure in step: the pods of the
//! object's namespace (one prefix scan of the in-memory index, bounded by that namespace,
//! never a walk of the whole store) are filtered to those bound to the node and their
//! references checked with upstream's `VisitPodSecretNames`/`VisitPodConfigmapNames` rules
//! (volumes including projected sources, env and envFrom of every container kind,
//! imagePullSecrets, claims and generic ephemeral volumes' claims). A volume is related
//! through its `claimRef`. A pod's node is read from its stored JSON without parsing the
//! rest (and only in pods whose text holds the node's name at all); of the pods bound to the
//! node only the parts references can be in are parsed.
//!
//! The node-local provisioner runs in the kubelet, so a claim the scheduler selected the
//! node for (`volume.kubernetes.io/selected-node`) and a volume whose node affinity pins it
//! to the node are related too: that is the node's own storage.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::node::{NodeGraph, Vertex};
use crate::api::registry::{list, Registry};
use crate::controllers::volume_binding::ANN_SELECTED_NODE;
use crate::pki::identity::NODE_USER_PREFIX;
use crate::resources::meta::str_at_pointer;
use crate::resources::{certificatesigningrequest, persistentvolume, persistentvolumeclaim, pod};
use crate::store::{Object, Paths};

/// The node label a node-local volume's affinity names.
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

impl NodeGraph for Registry {
    fn related(&self, node: &str, vertex: Vertex, namespace: &str, name: &str) -> bool {
        match vertex {
            Vertex::Pod => self
                .lookup(&pod::RESOURCE, namespace, name)
                .is_some_and(|p| bound_to(&p, node)),
            Vertex::PersistentVolume => self.volume_related(node, name),
            Vertex::PersistentVolumeClaim => self.claim_related(node, namespace, name),
            Vertex::Secret | Vertex::ConfigMap | Vertex::ServiceAccount => {
                self.any_pod_on(node, namespace, |p| references(p, vertex, name))
            }
            Vertex::CertificateSigningRequest => self
                .lookup(&certificatesigningrequest::RESOURCE, "", name)
                .is_some_and(|csr| {
                    let user = csr.value();
                    let requester = user.pointer("/spec/username").and_then(Value::as_str);
                    requester == Some(format!("{NODE_USER_PREFIX}{node}").as_str())
                }),
        }
    }
}

impl Registry {
    fn any_pod_on(&self, node: &str, namespace: &str, f: impl Fn(&Value) -> bool) -> bool {
        let (pods, _) = self
            .store()
            .list(&list::prefix(&pod::RESOURCE, Some(namespace)));
        // What `refers` reads: the spec and the pod's name.
        let mut reads = Paths::new();
        reads.add("spec");
        reads.add("metadata.name");
        // A pod bound to `node` holds `"node"` in its text: the store's JSON comes from
        // serde_json, which escapes only quotes, backslashes and control characters, and a
        // node name (a DNS subdomain) has none. Pods without it are passed over unread.
        let quoted = serde_json::to_string(node).unwrap_or_default();
        pods.iter()
            .filter(|p| p.json().contains(&quoted))
            .any(|p| bound_to(p, node) && f(&p.pruned(&reads)))
    }

    fn claim_related(&self, node: &str, namespace: &str, name: &str) -> bool {
        if self.any_pod_on(node, namespace, |p| {
            references(p, Vertex::PersistentVolumeClaim, name)
        }) {
            return true;
        }
        let Some(claim) = self.lookup(&persistentvolumeclaim::RESOURCE, namespace, name) else {
            return false;
        };
        let claim = claim.value();
        let selected = claim
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ANN_SELECTED_NODE))
            .and_then(Value::as_str);
        if selected == Some(node) {
            return true;
        }
        let volume = str_at_pointer(&claim, "/spec/volumeName");
        !volume.is_empty()
            && self
                .lookup(&persistentvolume::RESOURCE, "", volume)
                .is_some_and(|v| pinned_to(&v.value(), node))
    }

    fn volume_related(&self, node: &str, name: &str) -> bool {
        let Some(volume) = self.lookup(&persistentvolume::RESOURCE, "", name) else {
            return false;
        };
        let volume = volume.value();
        if pinned_to(&volume, node) {
            return true;
        }
        let (ns, claim) = (
            str_at_pointer(&volume, "/spec/claimRef/namespace"),
            str_at_pointer(&volume, "/spec/claimRef/name"),
        );
        !claim.is_empty()
            && self.any_pod_on(node, ns, |p| {
                references(p, Vertex::PersistentVolumeClaim, claim)
            })
    }
}

/// Whether the stored pod's `spec.nodeName` is `node`, reading only that.
fn bound_to(pod: &Object, node: &str) -> bool {
    #[derive(Deserialize)]
    struct Spec<'a> {
        #[serde(default, borrow, rename = "nodeName")]
        node_name: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct Pod<'a> {
        #[serde(default, borrow)]
        spec: Option<Spec<'a>>,
    }
    let name = pod.read::<Pod<'_>>().ok().and_then(|p| p.spec?.node_name);
    name.as_deref().unwrap_or("") == node
}

/// Whether a volume's required node affinity admits only `node` (every term names it, and
/// only it, by host name), as the node-local provisioner writes it.
pub fn pinned_to(volume: &Value, node: &str) -> bool {
    let terms = volume
        .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
        .and_then(Value::as_array);
    let Some(terms) = terms.filter(|t| !t.is_empty()) else {
        return false;
    };
    terms.iter().all(|term| {
        term.get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| {
                e["key"] == HOSTNAME_LABEL
                    && e["operator"] == "In"
                    && e["values"]
                        .as_array()
                        .is_some_and(|v| v.len() == 1 && v[0] == node)
            })
    })
}

fn all_containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
}

fn volumes(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether `pod` references the object `name` of kind `vertex`.
pub fn references(pod: &Value, vertex: Vertex, name: &str) -> bool {
    !name.is_empty() && refers(pod, vertex, &|n| n == name)
}

/// Whether `pod` references any object of kind `vertex`.
pub fn references_any(pod: &Value, vertex: Vertex) -> bool {
    refers(pod, vertex, &|n| !n.is_empty())
}

/// Whether a name `pod` holds for an object of kind `vertex` satisfies `hit`.
fn refers(pod: &Value, vertex: Vertex, hit: &dyn Fn(&str) -> bool) -> bool {
    let is = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(hit);
    match vertex {
        Vertex::Secret => {
            let pull = pod
                .pointer("/spec/imagePullSecrets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| is(r.get("name")));
            pull || env_refers(pod, "secretRef", "secretKeyRef", hit)
                || volumes(pod).any(|v| volume_secret(v, hit))
        }
        Vertex::ConfigMap => {
            env_refers(pod, "configMapRef", "configMapKeyRef", hit)
                || volumes(pod).any(|v| {
                    is(v.pointer("/configMap/name"))
                        || projected(v).any(|s| is(s.pointer("/configMap/name")))
                })
        }
        Vertex::PersistentVolumeClaim => {
            let pod_name = str_at_pointer(pod, "/metadata/name");
            volumes(pod).any(|v| {
                is(v.pointer("/persistentVolumeClaim/claimName"))
                    || (v.get("ephemeral").is_some()
                        && hit(&format!("{pod_name}-{}", str_at_pointer(v, "/name"))))
            })
        }
        Vertex::ServiceAccount => is(pod.pointer("/spec/serviceAccountName")),
        Vertex::Pod | Vertex::PersistentVolume | Vertex::CertificateSigningRequest => false,
    }
}

fn projected(volume: &Value) -> impl Iterator<Item = &Value> {
    volume
        .pointer("/projected/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A volume's secret: `secret.secretName`, a projected secret, and every plugin's
/// `secretRef`/`nodePublishSecretRef`/`secretName` (azureFile, cephfs, csi, rbd, ...).
fn volume_secret(volume: &Value, hit: &dyn Fn(&str) -> bool) -> bool {
    let is = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(hit);
    if projected(volume).any(|s| is(s.pointer("/secret/name"))) {
        return true;
    }
    let Some(sources) = volume.as_object() else {
        return false;
    };
    sources.values().any(|source| {
        [
            "/secretName",
            "/secretRef/name",
            "/nodePublishSecretRef/name",
        ]
        .iter()
        .any(|p| is(source.pointer(p)))
    })
}

fn env_refers(pod: &Value, from_key: &str, key_ref: &str, hit: &dyn Fn(&str) -> bool) -> bool {
    let is = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(hit);
    all_containers(pod).any(|c| {
        let env_from = c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| is(e.pointer(&format!("/{from_key}/name"))));
        let env = c
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| is(e.pointer(&format!("/valueFrom/{key_ref}/name"))));
        env_from || env
    })
}
