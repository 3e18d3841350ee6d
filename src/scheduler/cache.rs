//! The scheduler's view of the cluster, kept as kube-scheduler's informer cache is: listed
//! once (objects handed over one at a time, so a large cluster is never parsed all at
//! once), then moved
//! by watch events, so one changed object costs one update and nothing is listed again until
//! a watch ends. A node is kept typed but only with what the plugins read (name, labels,
//! annotations, spec, allocatable, Ready: not its images or system info); a bound pod only as the
//! [`PlacedPod`] its node's plugins read; a pending pod only by name, read afresh when it is
//! placed.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Map, Value};

use super::run::{is_active, is_pending};
use super::{NodeInfo, PlacedPod};
use crate::client::options::{ListOptions, WatchEvent};
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
use crate::resources::{node, pod};

/// A pod's namespace and name.
pub(crate) type PodKey = (String, String);

/// Nodes, bound pods and pending pods, as the last list and the watches since left them.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    nodes: BTreeMap<String, Node>,
    /// Bound pods that have not terminated: their node and what the plugins read.
    placed: BTreeMap<PodKey, (String, PlacedPod)>,
    /// Pods waiting for this scheduler.
    pending: BTreeSet<PodKey>,
}

/// Where the watches start: the revisions the lists were taken at.
pub(crate) struct Listed {
    pub(crate) nodes: u64,
    pub(crate) pods: u64,
}

impl Cache {
    /// Lists nodes and pods.
    pub(crate) async fn load<C: Client>(client: &C) -> Result<(Cache, Listed), ApiError> {
        let mut cache = Cache::default();
        let all = ListOptions::default();
        let nodes = client
            .list_each(&node::RESOURCE, None, &all, |n| {
                cache.apply_node(WatchEvent::Added(n));
                ControlFlow::Continue(())
            })
            .await?;
        let pods = client
            .list_each(&pod::RESOURCE, None, &all, |p| {
                cache.apply_pod(WatchEvent::Added(p));
                ControlFlow::Continue(())
            })
            .await?;
        Ok((cache, Listed { nodes, pods }))
    }

    /// Applies a pod event.
    pub(crate) fn apply_pod(&mut self, event: WatchEvent) {
        let (deleted, obj) = match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => (false, o),
            WatchEvent::Deleted(o) => (true, o),
            WatchEvent::Bookmark(_) | WatchEvent::Error(_) => return,
        };
        let key = key_of(&obj);
        self.pending.remove(&key);
        self.placed.remove(&key);
        if deleted {
            return;
        }
        if is_pending(&obj) {
            self.pending.insert(key);
        } else if is_active(&obj) {
            let node = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Ok(typed) = serde_json::from_value::<Pod>(obj) {
                self.placed.insert(key, (node, PlacedPod::of(&typed)));
            }
        }
    }

    /// Applies a node event.
    pub(crate) fn apply_node(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                let name = meta::name_of(&o).to_string();
                match serde_json::from_value::<Node>(scheduling_view(o)) {
                    Ok(n) => self.nodes.insert(name, n),
                    Err(_) => self.nodes.remove(&name),
                };
            }
            WatchEvent::Deleted(o) => {
                self.nodes.remove(meta::name_of(&o));
            }
            WatchEvent::Bookmark(_) | WatchEvent::Error(_) => {}
        }
    }

    /// Records a pod this scheduler just bound, before its watch event arrives.
    pub(crate) fn bound(&mut self, key: PodKey, node: String, pod: PlacedPod) {
        self.pending.remove(&key);
        self.placed.insert(key, (node, pod));
    }

    /// Forgets a pending pod that is gone.
    pub(crate) fn forget(&mut self, key: &PodKey) {
        self.pending.remove(key);
    }

    /// The pods waiting, in name order.
    pub(crate) fn pending(&self) -> Vec<PodKey> {
        self.pending.iter().cloned().collect()
    }

    /// Whether any pod waits.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A node by name.
    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Every node with the pods bound to it (upstream's snapshot of `NodeInfo`s).
    pub(crate) fn infos(&self) -> Vec<NodeInfo<'_>> {
        let mut by_node: BTreeMap<&str, Vec<&PlacedPod>> = BTreeMap::new();
        for (node, placed) in self.placed.values() {
            by_node.entry(node.as_str()).or_default().push(placed);
        }
        self.nodes
            .iter()
            .map(|(name, node)| NodeInfo {
                node,
                pods: by_node.remove(name.as_str()).unwrap_or_default(),
            })
            .collect()
    }
}

/// The members of a Node the plugins read: `metadata.name`, `labels` and `annotations` (a
/// local provisioner's free space), `spec` (taints, unschedulable), `status.allocatable` and
/// the Ready condition (the taint it implies).
fn scheduling_view(node: Value) -> Value {
    let Value::Object(mut node) = node else {
        return Value::Null;
    };
    let mut metadata = Map::new();
    if let Some(Value::Object(mut m)) = node.remove("metadata") {
        for key in ["name", "labels", "annotations"] {
            if let Some(v) = m.remove(key) {
                metadata.insert(key.to_string(), v);
            }
        }
    }
    let mut status = node.remove("status").unwrap_or(Value::Null);
    let allocatable = status
        .get_mut("allocatable")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let ready: Vec<Value> = status
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] == "Ready")
        .collect();
    let spec = node.remove("spec").unwrap_or(Value::Null);
    json!({
        "metadata": metadata,
        "spec": spec,
        "status": {"allocatable": allocatable, "conditions": ready},
    })
}

fn key_of(obj: &Value) -> PodKey {
    (
        meta::meta_str(obj, "namespace").unwrap_or("").to_string(),
        meta::name_of(obj).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, phase: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": phase},
        })
    }

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4"}}})
    }

    fn key(name: &str) -> PodKey {
        ("default".into(), name.into())
    }

    #[test]
    fn events_move_pods_between_pending_placed_and_gone() {
        let mut c = Cache::default();
        c.apply_node(WatchEvent::Added(node("n1")));
        c.apply_pod(WatchEvent::Added(pod("a", "", "Pending")));
        assert_eq!(c.pending(), [key("a")]);
        assert!(c.infos()[0].pods.is_empty());

        c.apply_pod(WatchEvent::Modified(pod("a", "n1", "Pending")));
        assert!(!c.has_pending());
        let infos = c.infos();
        assert_eq!(infos[0].pods.len(), 1);
        assert_eq!(infos[0].pods[0].requests.milli_cpu, 100);

        c.apply_pod(WatchEvent::Modified(pod("a", "n1", "Succeeded")));
        assert!(c.infos()[0].pods.is_empty());

        c.apply_pod(WatchEvent::Added(pod("b", "", "Pending")));
        c.apply_pod(WatchEvent::Deleted(pod("b", "", "Pending")));
        assert!(!c.has_pending());
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_their_node() {
        let mut c = Cache::default();
        c.apply_pod(WatchEvent::Added(pod("a", "n2", "Running")));
        assert!(c.infos().is_empty());
        c.apply_node(WatchEvent::Added(node("n2")));
        assert_eq!(c.infos()[0].pods.len(), 1);
        c.apply_node(WatchEvent::Deleted(node("n2")));
        assert!(c.node("n2").is_none());
    }

    #[test]
    fn nodes_keep_what_the_plugins_read() {
        let mut c = Cache::default();
        c.apply_node(WatchEvent::Added(json!({
            "metadata": {"name": "n1", "labels": {"zone": "a"}, "annotations": {"x": "y"},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4"}, "capacity": {"cpu": "4"},
                       "images": [{"names": ["busybox"], "sizeBytes": 1}],
                       "conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True"}]},
        })));
        let n = c.node("n1").unwrap();
        assert_eq!(n.metadata.labels.as_ref().unwrap()["zone"], "a");
        assert_eq!(n.metadata.annotations.as_ref().unwrap()["x"], "y");
        assert!(n.metadata.creation_timestamp.is_none());
        let spec = n.spec.as_ref().unwrap();
        assert_eq!(spec.unschedulable, Some(true));
        assert_eq!(spec.taints.as_ref().unwrap()[0].key, "k");
        let status = n.status.as_ref().unwrap();
        assert_eq!(status.allocatable.as_ref().unwrap()["cpu"].0, "4");
        assert!(status.images.is_none() && status.capacity.is_none());
        let conditions = status.conditions.as_ref().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "True");
        assert!(crate::scheduler::taints::effective_taints(n)
            .iter()
            .all(|t| t.key == "k"));
        c.apply_node(WatchEvent::Added(json!({"metadata": {"name": "bare"}})));
        assert!(c.node("bare").is_some());
    }

    #[test]
    fn a_bind_counts_before_its_event() {
        let mut c = Cache::default();
        c.apply_node(WatchEvent::Added(node("n1")));
        c.apply_pod(WatchEvent::Added(pod("a", "", "Pending")));
        c.bound(key("a"), "n1".into(), PlacedPod::default());
        assert!(!c.has_pending());
        assert_eq!(c.infos()[0].pods.len(), 1);
    }
}
