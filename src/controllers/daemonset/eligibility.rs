//! Which nodes a DaemonSet runs on, as upstream's `NodeShouldRunDaemonPod`: the pod the
//! set would run (its template plus the tolerations of `AddOrUpdateDaemonPodTolerations`)
//! must match the node's name if the template names one, the nodeSelector and required node
//! affinity, and tolerate every NoSchedule and NoExecute taint. A node whose only untolerated
//! taints are NoSchedule keeps the pod it already runs. The predicates are the scheduler's,
//! so the controller never makes a pod the scheduler would refuse to place.
//!
//! Also the pod's placement as upstream's `ReplaceDaemonSetPodNodeNameNodeAffinity` writes
//! it (a required `matchFields metadata.name In [node]` term) and reads it back
//! (`GetTargetNodeName`).

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Toleration,
};

use crate::scheduler::{node_affinity, taints};

/// The field a `matchFields` requirement pins a node by.
const NODE_NAME_FIELD: &str = "metadata.name";

/// The tolerations every daemon pod gets: it stays on nodes that are not ready or
/// unreachable, under resource pressure or cordoned (and, with host networking, without a
/// network), because it is often what brings the node back.
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut keys = vec![
        (taints::TAINT_NODE_NOT_READY, "NoExecute"),
        (taints::TAINT_NODE_UNREACHABLE, "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        (taints::TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
    ];
    if host_network {
        keys.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    keys.into_iter()
        .map(|(key, effect)| Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            ..Toleration::default()
        })
        .collect()
}

/// Adds the daemon tolerations to `spec`, replacing an equal one (same key, operator, value
/// and effect) as upstream's `AddOrUpdateTolerationInPodSpec` does.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for t in daemon_tolerations(host_network) {
        let same = |o: &Toleration| {
            o.key == t.key
                && o.operator.as_deref().unwrap_or("Equal") == t.operator.as_deref().unwrap_or("")
                && o.value.as_deref().unwrap_or("") == t.value.as_deref().unwrap_or("")
                && o.effect == t.effect
        };
        match list.iter_mut().find(|o| same(o)) {
            Some(existing) => *existing = t,
            None => list.push(t),
        }
    }
}

/// The pod `ds` would run, for eligibility checks (upstream's `NewPod`).
pub fn daemon_pod(ds: &DaemonSet) -> Pod {
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    Pod {
        metadata: template.metadata.unwrap_or_default(),
        spec: Some(spec),
        status: None,
    }
}

/// Whether a daemon pod should be started on a node, and whether one already there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// A pod should run there.
    pub should_run: bool,
    /// A pod already there should keep running.
    pub should_continue: bool,
}

/// Upstream's `NodeShouldRunDaemonPod` for `pod` (from [`daemon_pod`]) on `node`.
pub fn node_fit(pod: &Pod, node: &Node) -> Fit {
    const NO: Fit = Fit {
        should_run: false,
        should_continue: false,
    };
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    let wanted = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if wanted.is_some_and(|w| !w.is_empty() && w != node_name) {
        return NO;
    }
    if node_affinity::filter(pod, node).is_some() {
        return NO;
    }
    let node_taints = taints::effective_taints(node);
    if taints::filter_unschedulable(pod, taints::is_cordoned(node)).is_some()
        || taints::filter_taints(pod, &node_taints).is_some()
    {
        let evicting = node_taints
            .iter()
            .any(|t| t.effect == "NoExecute" && !taints::pod_tolerates(pod, t));
        return Fit {
            should_run: false,
            should_continue: !evicting,
        };
    }
    Fit {
        should_run: true,
        should_continue: true,
    }
}

/// Pins the pod to `node` through required node affinity, replacing any required terms the
/// template had, so the default scheduler binds it there.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: NODE_NAME_FIELD.to_string(),
            operator: "In".to_string(),
            values: Some(vec![node.to_string()]),
        }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: its nodeName once bound, else the node its required
/// affinity pins it to (upstream's `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == NODE_NAME_FIELD && r.operator == "In")
        .and_then(|r| match r.values.as_deref() {
            Some([one]) => Some(one.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(template_spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": template_spec}},
        }))
        .unwrap()
    }

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, ready: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    const RUN: Fit = Fit {
        should_run: true,
        should_continue: true,
    };
    const KEEP: Fit = Fit {
        should_run: false,
        should_continue: true,
    };
    const NO: Fit = Fit {
        should_run: false,
        should_continue: false,
    };

    #[test]
    fn node_selector_and_required_affinity_choose_nodes() {
        let by_selector = daemon_pod(&ds(json!({"containers": [],
            "nodeSelector": {"disk": "ssd"}})));
        let ssd = node("a", json!({"disk": "ssd"}), json!([]), "True");
        let hdd = node("b", json!({"disk": "hdd"}), json!([]), "True");
        assert_eq!(node_fit(&by_selector, &ssd), RUN);
        assert_eq!(node_fit(&by_selector, &hdd), NO);
        let by_affinity = daemon_pod(&ds(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}})));
        assert_eq!(node_fit(&by_affinity, &ssd), NO);
        assert_eq!(node_fit(&by_affinity, &hdd), RUN);
        let named = daemon_pod(&ds(json!({"containers": [], "nodeName": "b"})));
        assert_eq!(node_fit(&named, &ssd), NO);
        assert_eq!(node_fit(&named, &hdd), RUN);
    }

    #[test]
    fn taints_exclude_nodes_unless_tolerated_and_no_schedule_keeps_running_pods() {
        let plain = daemon_pod(&ds(json!({"containers": []})));
        let no_schedule = node(
            "a",
            json!({}),
            json!([{"key": "gpu", "effect": "NoSchedule"}]),
            "True",
        );
        let no_execute = node(
            "b",
            json!({}),
            json!([{"key": "gpu", "effect": "NoExecute"}]),
            "True",
        );
        let prefer = node(
            "c",
            json!({}),
            json!([{"key": "gpu", "effect": "PreferNoSchedule"}]),
            "True",
        );
        assert_eq!(node_fit(&plain, &no_schedule), KEEP);
        assert_eq!(node_fit(&plain, &no_execute), NO);
        assert_eq!(node_fit(&plain, &prefer), RUN);
        let tolerant = daemon_pod(&ds(json!({"containers": [],
            "tolerations": [{"key": "gpu", "operator": "Exists"}]})));
        assert_eq!(node_fit(&tolerant, &no_schedule), RUN);
        assert_eq!(node_fit(&tolerant, &no_execute), RUN);
    }

    #[test]
    fn daemon_tolerations_cover_cordoned_pressured_and_unreachable_nodes_but_not_new_ones() {
        let pod = daemon_pod(&ds(json!({"containers": []})));
        let cordoned: Node = serde_json::from_value(json!({"metadata": {"name": "a"},
            "spec": {"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap();
        assert_eq!(node_fit(&pod, &cordoned), RUN);
        let gone = node(
            "b",
            json!({}),
            json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
            "Unknown",
        );
        // Unreachable: the NoSchedule side of the taint keeps new pods off, the running one stays.
        assert_eq!(node_fit(&pod, &gone), KEEP);
        assert_eq!(
            node_fit(&pod, &node("c", json!({}), json!([]), "False")),
            KEEP
        );
        let tolerations = pod.spec.unwrap().tolerations.unwrap();
        assert_eq!(tolerations.len(), 6);
        assert!(tolerations.iter().all(|t| t.toleration_seconds.is_none()));
    }

    #[test]
    fn tolerations_are_added_once_and_host_network_adds_network_unavailable() {
        let mut spec: PodSpec =
            serde_json::from_value(json!({"containers": [], "hostNetwork": true,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                "effect": "NoExecute", "tolerationSeconds": 30}]}))
            .unwrap();
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let t = spec.tolerations.as_ref().unwrap();
        assert_eq!(t.len(), 7);
        assert!(t.iter().all(|t| t.toleration_seconds.is_none()), "{t:?}");
        assert!(t
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/network-unavailable")));
    }

    #[test]
    fn pinning_replaces_required_terms_and_is_read_back() {
        let mut spec: PodSpec =
            serde_json::from_value(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]}}}}))
            .unwrap();
        pin_to_node(&mut spec, "board-2");
        let terms = serde_json::to_value(&spec.affinity).unwrap();
        assert_eq!(
            terms["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["board-2"]}]}]})
        );
        let mut pod = Pod {
            spec: Some(spec),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod), Some("board-2"));
        pod.spec.as_mut().unwrap().node_name = Some("other".into());
        assert_eq!(target_node(&pod), Some("other"));
        assert_eq!(target_node(&Pod::default()), None);
    }
}
