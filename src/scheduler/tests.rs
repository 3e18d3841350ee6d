//! Whole-decision tests: realistic nodes and pods in, the chosen node or upstream's
//! FailedScheduling text out.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use super::*;

/// A Ready node with the given allocatable cpu/memory, 110 pods, plus extra JSON merged in.
fn node(name: &str, cpu: &str, memory: &str, extra: Value) -> Node {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/arch": "arm64"}},
        "spec": {"podCIDR": "10.42.0.0/24"},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
        }
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

/// A pod with one container requesting `cpu`/`memory` (None: no requests), plus extra spec.
fn pod(name: &str, cpu: Option<&str>, memory: Option<&str>, extra_spec: Value) -> Pod {
    let mut requests = serde_json::Map::new();
    if let Some(c) = cpu {
        requests.insert("cpu".into(), json!(c));
    }
    if let Some(m) = memory {
        requests.insert("memory".into(), json!(m));
    }
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": requests}}]}
    });
    merge(&mut v["spec"], extra_spec);
    serde_json::from_value(v).unwrap()
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// What the scheduler keeps of pods already placed (node index, pod).
fn placed_pods(placed: &[(usize, Pod)]) -> Vec<(usize, PlacedPod)> {
    placed.iter().map(|(i, p)| (*i, PlacedPod::of(p))).collect()
}

fn infos<'a>(nodes: &'a [Node], placed: &'a [(usize, PlacedPod)]) -> Vec<NodeInfo<'a>> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let pods = placed
                .iter()
                .filter(|(at, _)| *at == i)
                .map(|(_, p)| p.clone())
                .collect();
            NodeInfo::new(n, pods)
        })
        .collect()
}

fn err(p: &Pod, nodes: &[Node], placed: &[(usize, Pod)]) -> String {
    schedule(p, &infos(nodes, &placed_pods(placed)))
        .unwrap_err()
        .to_string()
}

#[test]
fn fits_when_cpu_and_memory_are_free() {
    let nodes = [node("pi-1", "4", "8Gi", json!({}))];
    let placed = [(0, pod("a", Some("3"), Some("4Gi"), json!({})))];
    let p = pod("b", Some("1"), Some("4Gi"), json!({}));
    assert_eq!(
        schedule(&p, &infos(&nodes, &placed_pods(&placed))).unwrap(),
        "pi-1"
    );
}

#[test]
fn insufficient_cpu_and_memory_are_both_reported() {
    let nodes = [node("pi-1", "4", "8Gi", json!({}))];
    let placed = [(0, pod("a", Some("3500m"), Some("7Gi"), json!({})))];
    let p = pod("b", Some("1"), Some("2Gi"), json!({}));
    assert_eq!(
        err(&p, &nodes, &placed),
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes \
         are available: 1 No preemption victims found for incoming pod.."
    );
}

#[test]
fn too_many_pods() {
    let nodes = [node(
        "pi-1",
        "4",
        "8Gi",
        json!({"status": {"allocatable": {"pods": "1"}}}),
    )];
    let placed = [(0, pod("a", None, None, json!({})))];
    let p = pod("b", None, None, json!({}));
    assert!(err(&p, &nodes, &placed).starts_with("0/1 nodes are available: 1 Too many pods."));
}

#[test]
fn extended_resources_are_checked() {
    let gpu = json!({"status": {"allocatable": {"example.com/gpu": "1"}}});
    let nodes = [
        node("pi-1", "4", "8Gi", gpu),
        node("pi-2", "4", "8Gi", json!({})),
    ];
    let mut p = pod("b", None, None, json!({}));
    let reqs = json!({"example.com/gpu": "1"});
    p.spec.as_mut().unwrap().containers[0].resources =
        Some(serde_json::from_value(json!({"requests": reqs, "limits": reqs})).unwrap());
    assert_eq!(schedule(&p, &infos(&nodes, &[])).unwrap(), "pi-1");
    let placed = [(0, p.clone())];
    assert!(err(&p, &nodes, &placed)
        .starts_with("0/2 nodes are available: 2 Insufficient example.com/gpu."));
}

#[test]
fn node_selector_picks_matching_node_and_explains_the_rest() {
    let ssd = json!({"metadata": {"labels": {"disk": "ssd"}}});
    let nodes = [
        node("a", "4", "8Gi", json!({})),
        node("b", "4", "8Gi", ssd),
        node("c", "4", "8Gi", json!({})),
    ];
    let p = pod("web", None, None, json!({"nodeSelector": {"disk": "ssd"}}));
    assert_eq!(schedule(&p, &infos(&nodes, &[])).unwrap(), "b");
    let q = pod("web", None, None, json!({"nodeSelector": {"disk": "nvme"}}));
    assert_eq!(
        err(&q, &nodes, &[]),
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: \
         0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    );
}

#[test]
fn required_affinity_operators() {
    let nodes = [
        node(
            "small",
            "4",
            "8Gi",
            json!({"metadata": {"labels": {"cores": "2", "zone": "attic"}}}),
        ),
        node(
            "big",
            "4",
            "8Gi",
            json!({"metadata": {"labels": {"cores": "8", "zone": "cellar"}}}),
        ),
    ];
    let with = |exprs: Value| {
        pod(
            "p",
            None,
            None,
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}}}),
        )
    };
    let place = |exprs: Value| schedule(&with(exprs), &infos(&nodes, &[])).ok();
    assert_eq!(
        place(json!([{"key": "cores", "operator": "Gt", "values": ["4"]}])).as_deref(),
        Some("big")
    );
    assert_eq!(
        place(json!([{"key": "cores", "operator": "Lt", "values": ["4"]}])).as_deref(),
        Some("small")
    );
    assert_eq!(
        place(json!([{"key": "zone", "operator": "In", "values": ["attic", "loft"]}])).as_deref(),
        Some("small")
    );
    assert_eq!(
        place(json!([{"key": "zone", "operator": "NotIn", "values": ["attic"]}])).as_deref(),
        Some("big")
    );
    assert_eq!(place(json!([{"key": "gpu", "operator": "DoesNotExist"}, {"key": "zone", "operator": "In", "values": ["cellar"]}])).as_deref(), Some("big"));
    assert_eq!(place(json!([{"key": "gpu", "operator": "Exists"}])), None);
}

#[test]
fn match_fields_pin_to_one_node() {
    let nodes = [
        node("a", "4", "8Gi", json!({})),
        node("b", "1", "8Gi", json!({})),
        node("c", "4", "8Gi", json!({})),
    ];
    let pinned = |name: &str, cpu: &str| {
        pod(
            "ds",
            Some(cpu),
            None,
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [name]}]}]}}}}),
        )
    };
    assert_eq!(
        schedule(&pinned("c", "1"), &infos(&nodes, &[])).unwrap(),
        "c"
    );
    assert_eq!(
        err(&pinned("b", "2"), &nodes, &[]),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
         2 Preemption is not helpful for scheduling.."
    );
}

#[test]
fn untolerated_taint_is_named_and_tolerations_let_pods_in() {
    let tainted =
        json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}});
    let nodes = [node("gpu-1", "4", "8Gi", tainted)];
    let plain = pod("p", None, None, json!({}));
    assert!(err(&plain, &nodes, &[])
        .starts_with("0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."));
    for tol in [
        json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
        json!({"key": "dedicated", "operator": "Exists"}),
        json!({"operator": "Exists"}),
    ] {
        let p = pod("p", None, None, json!({"tolerations": [tol]}));
        assert_eq!(schedule(&p, &infos(&nodes, &[])).unwrap(), "gpu-1");
    }
    let wrong = pod(
        "p",
        None,
        None,
        json!({"tolerations": [{"key": "dedicated", "value": "db"}]}),
    );
    assert!(schedule(&wrong, &infos(&nodes, &[])).is_err());
}

#[test]
fn not_ready_node_counts_as_tainted() {
    let down = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}});
    let nodes = [node("pi-1", "4", "8Gi", down)];
    assert_eq!(
        err(&pod("p", None, None, json!({})), &nodes, &[]),
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
    );
    let tolerant = pod(
        "p",
        None,
        None,
        json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}),
    );
    assert_eq!(schedule(&tolerant, &infos(&nodes, &[])).unwrap(), "pi-1");
}

#[test]
fn cordoned_node_is_unschedulable() {
    let nodes = [node(
        "pi-1",
        "4",
        "8Gi",
        json!({"spec": {"unschedulable": true}}),
    )];
    assert!(err(&pod("p", None, None, json!({})), &nodes, &[])
        .starts_with("0/1 nodes are available: 1 node(s) were unschedulable."));
    let tolerant = pod(
        "p",
        None,
        None,
        json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
    );
    assert_eq!(schedule(&tolerant, &infos(&nodes, &[])).unwrap(), "pi-1");
}

#[test]
fn host_port_conflicts() {
    let nodes = [
        node("a", "4", "8Gi", json!({})),
        node("b", "4", "8Gi", json!({})),
    ];
    let with_port = |name: &str, ip: Option<&str>| {
        let mut port = json!({"containerPort": 80, "hostPort": 8080, "protocol": "TCP"});
        if let Some(ip) = ip {
            port["hostIP"] = json!(ip);
        }
        let mut p = pod(name, None, None, json!({}));
        p.spec.as_mut().unwrap().containers[0].ports =
            Some(vec![serde_json::from_value(port).unwrap()]);
        p
    };
    let placed = [(0, with_port("old", None))];
    assert_eq!(
        schedule(
            &with_port("new", Some("10.0.0.5")),
            &infos(&nodes, &placed_pods(&placed))
        )
        .unwrap(),
        "b"
    );
    let both = [
        (0, with_port("x", None)),
        (1, with_port("y", Some("10.0.0.5"))),
    ];
    assert_eq!(
        err(&with_port("new", None), &nodes, &both),
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.."
    );
}

#[test]
fn least_allocated_spreads_pods_over_equal_nodes() {
    let nodes = [
        node("pi-1", "4", "8Gi", json!({})),
        node("pi-2", "4", "8Gi", json!({})),
    ];
    let first = pod("web-1", None, None, json!({}));
    let at = schedule(&first, &infos(&nodes, &[])).unwrap();
    let (used, other) = if at == "pi-1" {
        (0, "pi-2")
    } else {
        (1, "pi-1")
    };
    let placed = [(used, first)];
    let second = pod("web-2", None, None, json!({}));
    assert_eq!(
        schedule(&second, &infos(&nodes, &placed_pods(&placed))).unwrap(),
        other,
        "the emptier node wins"
    );
}

#[test]
fn preferred_affinity_and_prefer_no_schedule_steer_placement() {
    let nodes = [
        node(
            "a",
            "4",
            "8Gi",
            json!({"spec": {"taints": [{"key": "busy", "effect": "PreferNoSchedule"}]}}),
        ),
        node(
            "b",
            "4",
            "8Gi",
            json!({"metadata": {"labels": {"fast": "yes"}}}),
        ),
        node("c", "4", "8Gi", json!({})),
    ];
    let plain = pod("p", None, None, json!({}));
    for _ in 0..20 {
        let at = schedule(&plain, &infos(&nodes, &[])).unwrap();
        assert!(at == "b" || at == "c", "a is avoided, b and c tie: {at}");
    }
    let prefers_c = pod(
        "p",
        None,
        None,
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
        [{"weight": 10, "preference": {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}}]}}}),
    );
    assert_eq!(schedule(&prefers_c, &infos(&nodes, &[])).unwrap(), "c");
}

#[test]
fn lower_priority_pods_make_a_preemption_candidate() {
    let nodes = [node("pi-1", "2", "8Gi", json!({}))];
    let placed = [(0, pod("batch", Some("2"), None, json!({"priority": 0})))];
    let urgent = pod("urgent", Some("1"), None, json!({"priority": 1000}));
    let e = schedule(&urgent, &infos(&nodes, &placed_pods(&placed))).unwrap_err();
    assert_eq!(e.preemption_candidates, ["pi-1"]);
    assert_eq!(
        e.to_string(),
        "0/1 nodes are available: 1 Insufficient cpu."
    );
    let never = pod(
        "urgent",
        Some("1"),
        None,
        json!({"priority": 1000, "preemptionPolicy": "Never"}),
    );
    assert_eq!(
        err(&never, &nodes, &placed),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.."
    );
}

#[test]
fn mixed_reasons_and_conflicting_terms() {
    let nodes = [
        node(
            "a",
            "1",
            "8Gi",
            json!({"metadata": {"labels": {"disk": "ssd"}}}),
        ),
        node("b", "4", "8Gi", json!({})),
        node("c", "4", "8Gi", json!({})),
    ];
    let p = pod(
        "p",
        Some("2"),
        None,
        json!({"nodeSelector": {"disk": "ssd"}}),
    );
    assert_eq!(
        err(&p, &nodes, &[]),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
         2 Preemption is not helpful for scheduling.."
    );
    let conflict = pod(
        "p",
        None,
        None,
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a"]},
            {"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}}),
    );
    assert_eq!(
        err(&conflict, &nodes, &[]),
        "0/3 nodes are available: pod affinity terms conflict. preemption: 0/3 nodes are available: \
         3 Preemption is not helpful for scheduling.."
    );
}

#[test]
fn no_nodes_at_all() {
    assert_eq!(
        err(&pod("p", None, None, json!({})), &[], &[]),
        "no nodes available to schedule pods"
    );
}
