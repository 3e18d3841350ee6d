//! The scheduler's view of the cluster, kept as kube-scheduler's `internal/cache` keeps it:
//! one entry per node holding the node, its parsed allocatable, the pods on it and their
//! aggregates ([`NodeUsage`]), moved one pod at a time by the shared informers' changes and
//! by the scheduler's own decisions. A pod the scheduler decided on is *assumed* on its node
//! at once, so the next decision sees it while the binding is still in flight; the informer's
//! bound pod later confirms it, and a failed binding *forgets* it. Nothing is summed again
//! per decision: [`Snapshot::infos`] lends every node's entry as it stands.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use super::node_resources::{allocatable, ResourceTotals};
use super::taints::{effective_taints, is_cordoned};
use super::{NodeInfo, NodeUsage, PlacedPod};

/// A pod's namespace and name.
pub(crate) type PodKey = (String, String);

/// One node's entry. A pod may name a node the informer has not shown yet; its entry then
/// has no node and is left out of decisions until the node comes.
#[derive(Debug, Default)]
struct NodeEntry {
    node: Option<Arc<Node>>,
    allocatable: ResourceTotals,
    taints: Vec<Taint>,
    cordoned: bool,
    usage: NodeUsage,
    pods: Vec<PlacedPod>,
    keys: Vec<PodKey>,
}

impl NodeEntry {
    fn add(&mut self, key: PodKey, pod: PlacedPod) {
        self.usage.add(&pod);
        self.pods.push(pod);
        self.keys.push(key);
    }

    fn remove(&mut self, key: &PodKey) {
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            self.keys.swap_remove(i);
            let pod = self.pods.swap_remove(i);
            self.usage.remove(&pod);
        }
    }
}

/// Nodes and the pods counted on them.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    nodes: BTreeMap<String, NodeEntry>,
    /// Every counted pod's node.
    pod_nodes: HashMap<PodKey, String>,
    /// Pods counted because the scheduler decided so, not yet seen bound.
    assumed: HashSet<PodKey>,
}

impl Snapshot {
    /// Adds or replaces a node.
    pub(crate) fn set_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let entry = self.nodes.entry(name).or_default();
        entry.allocatable = allocatable(&node);
        entry.taints = effective_taints(&node);
        entry.cordoned = is_cordoned(&node);
        entry.node = Some(node);
    }

    /// Removes a node; pods still bound to it are kept until their own deletion.
    pub(crate) fn remove_node(&mut self, name: &str) {
        let empty = match self.nodes.get_mut(name) {
            Some(entry) => {
                entry.node = None;
                entry.pods.is_empty()
            }
            None => false,
        };
        if empty {
            self.nodes.remove(name);
        }
    }

    /// Counts a pod on `node` (a bound pod seen by the informer, or an assumed one); a pod
    /// counted before, anywhere, is moved. Confirms an assumption.
    pub(crate) fn set_pod(&mut self, key: PodKey, node: &str, pod: PlacedPod) {
        self.assumed.remove(&key);
        self.uncount(&key);
        self.pod_nodes.insert(key.clone(), node.to_string());
        self.nodes
            .entry(node.to_string())
            .or_default()
            .add(key, pod);
    }

    /// Stops counting a pod (deleted or terminated); whether it was counted.
    pub(crate) fn remove_pod(&mut self, key: &PodKey) -> bool {
        self.assumed.remove(key);
        self.uncount(key)
    }

    /// Counts `pod` on `node` at once, ahead of its binding (upstream's `AssumePod`).
    pub(crate) fn assume(&mut self, key: PodKey, node: &str, pod: PlacedPod) {
        self.set_pod(key.clone(), node, pod);
        self.assumed.insert(key);
    }

    /// Drops an assumption whose binding failed (upstream's `ForgetPod`); a pod the informer
    /// has meanwhile shown bound stays counted.
    pub(crate) fn forget(&mut self, key: &PodKey) {
        if self.assumed.remove(key) {
            self.uncount(key);
        }
    }

    /// Whether the pod is assumed and not yet seen bound.
    pub(crate) fn is_assumed(&self, key: &PodKey) -> bool {
        self.assumed.contains(key)
    }

    /// Whether the pod is counted on a node (assumed or bound).
    pub(crate) fn is_counted(&self, key: &PodKey) -> bool {
        self.pod_nodes.contains_key(key)
    }

    fn uncount(&mut self, key: &PodKey) -> bool {
        let Some(node) = self.pod_nodes.remove(key) else {
            return false;
        };
        if let Some(entry) = self.nodes.get_mut(&node) {
            entry.remove(key);
            if entry.node.is_none() && entry.pods.is_empty() {
                self.nodes.remove(&node);
            }
        }
        true
    }

    /// How many nodes are known.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.values().filter(|e| e.node.is_some()).count()
    }

    /// A node by name.
    pub(crate) fn node(&self, name: &str) -> Option<&Arc<Node>> {
        self.nodes.get(name).and_then(|e| e.node.as_ref())
    }

    /// Every known node with its pods and aggregates, lent, in name order.
    pub(crate) fn infos(&self) -> Vec<NodeInfo<'_>> {
        self.nodes
            .values()
            .filter_map(|e| {
                Some(NodeInfo {
                    node: e.node.as_deref()?,
                    allocatable: Cow::Borrowed(&e.allocatable),
                    usage: Cow::Borrowed(&e.usage),
                    pods: Cow::Borrowed(&e.pods),
                    taints: Cow::Borrowed(&e.taints),
                    cordoned: e.cordoned,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap(),
        )
    }

    fn placed(cpu: &str, host_port: i32) -> PlacedPod {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i",
                "ports": [{"containerPort": 80, "hostPort": host_port}],
                "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}}))
        .unwrap();
        PlacedPod::of(&pod)
    }

    fn key(name: &str) -> PodKey {
        ("default".into(), name.into())
    }

    fn usage_of(s: &Snapshot, node: &str) -> NodeUsage {
        let infos = s.infos();
        let info = infos.iter().find(|i| i.name() == node).unwrap();
        info.usage.clone().into_owned()
    }

    #[test]
    fn aggregates_follow_assume_bind_and_delete() {
        let mut s = Snapshot::default();
        s.set_node(node("n1"));
        s.set_node(node("n2"));

        s.assume(key("a"), "n1", placed("500m", 80));
        assert!(s.is_assumed(&key("a")));
        let u = usage_of(&s, "n1");
        assert_eq!((u.requested.milli_cpu, u.requested.memory), (500, 1 << 30));
        assert_eq!((u.pods, u.host_ports.len()), (1, 1));

        // The informer shows the pod bound: confirmed, counted once.
        s.set_pod(key("a"), "n1", placed("500m", 80));
        assert!(!s.is_assumed(&key("a")));
        assert_eq!(usage_of(&s, "n1").pods, 1);
        // A late forget of a confirmed pod changes nothing.
        s.forget(&key("a"));
        assert_eq!(usage_of(&s, "n1").requested.milli_cpu, 500);

        // A failed binding forgets the assumption exactly.
        s.assume(key("b"), "n1", placed("250m", 81));
        assert_eq!(usage_of(&s, "n1").requested.milli_cpu, 750);
        s.forget(&key("b"));
        assert!(!s.is_counted(&key("b")));
        assert_eq!(usage_of(&s, "n1"), NodeUsage::of(&[placed("500m", 80)]));

        // Deleting the bound pod empties the node.
        assert!(s.remove_pod(&key("a")));
        assert_eq!(usage_of(&s, "n1"), NodeUsage::default());
        assert_eq!(usage_of(&s, "n2"), NodeUsage::default());
    }

    #[test]
    fn equal_nodes_share_a_burst_of_equal_pods() {
        let mut s = Snapshot::default();
        for i in 0..1000 {
            s.set_node(node(&format!("n{i:04}")));
        }
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
        let empty = crate::scheduler::volume_binding::VolumeSnapshot::default();
        let mut start = 0;
        let mut per_node: HashMap<String, usize> = HashMap::new();
        for i in 0..1000 {
            let at = crate::scheduler::schedule_from(&pod, &s.infos(), &empty, &mut start)
                .map_err(|e| e.to_string())
                .unwrap();
            s.assume(key(&format!("p{i}")), &at, PlacedPod::of(&pod));
            *per_node.entry(at).or_default() += 1;
        }
        // Ties broken by name gave 250 nodes four pods each and 750 nodes none.
        let most = per_node.values().copied().max().unwrap();
        assert!(most <= 3, "a node took {most} pods");
        assert!(per_node.len() >= 900, "only {} nodes used", per_node.len());
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_their_node() {
        let mut s = Snapshot::default();
        s.set_pod(key("a"), "n2", placed("100m", 80));
        assert!(s.infos().is_empty());
        s.set_node(node("n2"));
        assert_eq!(usage_of(&s, "n2").pods, 1);
        s.remove_node("n2");
        assert!(s.node("n2").is_none() && s.infos().is_empty());
        assert!(s.remove_pod(&key("a")));
        assert_eq!(s.node_count(), 0);
    }
}
