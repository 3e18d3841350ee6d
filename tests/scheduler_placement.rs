//! The scheduler places pods as kube-scheduler does: resources against allocatable,
//! nodeSelector, taints and tolerations, not-ready nodes, least-allocated spreading, and a
//! `FailedScheduling` event that says why when nothing fits.

use crate::support;

use support::{eventually, node_yaml, Cluster};

fn pod(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests: {{cpu: 500m, memory: 64Mi}}\n"
    )
}

fn node_of(c: &Cluster, pod: &str) -> String {
    c.kubectl_ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

fn wait_scheduled(c: &Cluster, pod: &str) -> String {
    eventually(&format!("{pod} to be scheduled"), || {
        Some(node_of(c, pod)).filter(|n| !n.is_empty())
    })
}

#[test]
fn a_pod_that_fits_nowhere_stays_pending_with_the_reason() {
    let c = Cluster::start();
    c.apply(&node_yaml("small", "1", "1Gi"));
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests: {cpu: '8'}\n");
    let describe = eventually("the FailedScheduling event", || {
        let d = c.kubectl_ok(&["describe", "pod", "big"]);
        d.contains("FailedScheduling").then_some(d)
    });
    assert!(
        describe.contains("0/1 nodes are available: 1 Insufficient cpu."),
        "{describe}"
    );
    assert!(describe.contains("Pending"), "{describe}");
    assert!(node_of(&c, "big").is_empty());
    // capacity arrives: the pod is placed without being touched
    c.apply(&node_yaml("large", "16", "8Gi"));
    assert_eq!(wait_scheduled(&c, "big"), "large");
}

#[test]
fn node_selectors_taints_and_readiness_decide_the_node() {
    let c = Cluster::start();
    c.apply(&node_yaml("plain", "4", "4Gi"));
    c.apply(&node_yaml("ssd", "4", "4Gi").replace(
        "kubernetes.io/hostname: ssd",
        "kubernetes.io/hostname: ssd\n    disk: ssd",
    ));
    c.apply(&pod("wants-ssd", "  nodeSelector: {disk: ssd}\n"));
    assert_eq!(wait_scheduled(&c, "wants-ssd"), "ssd");

    c.kubectl_ok(&["taint", "node", "plain", "dedicated=infra:NoSchedule"]);
    c.kubectl_ok(&["taint", "node", "ssd", "dedicated=infra:NoSchedule"]);
    c.apply(&pod("intolerant", ""));
    let d = eventually("an untolerated-taint event", || {
        let d = c.kubectl_ok(&["describe", "pod", "intolerant"]);
        d.contains("FailedScheduling").then_some(d)
    });
    assert!(
        d.contains("2 node(s) had untolerated taint {dedicated: infra}"),
        "{d}"
    );
    c.apply(&pod(
        "tolerant",
        "  tolerations:\n  - {key: dedicated, operator: Equal, value: infra, effect: NoSchedule}\n",
    ));
    assert!(!wait_scheduled(&c, "tolerant").is_empty());

    let not_ready =
        node_yaml("sick", "64", "64Gi").replace("status: \"True\"", "status: \"False\"");
    c.apply(&not_ready);
    c.apply(&pod(
        "avoid-sick",
        "  tolerations:\n  - {key: dedicated, operator: Exists}\n",
    ));
    assert_ne!(
        wait_scheduled(&c, "avoid-sick"),
        "sick",
        "a NotReady node gets nothing"
    );
}

#[test]
fn equal_nodes_share_the_load() {
    let c = Cluster::start();
    c.apply(&node_yaml("a", "2", "2Gi"));
    c.apply(&node_yaml("b", "2", "2Gi"));
    c.apply(&pod("one", ""));
    let first = wait_scheduled(&c, "one");
    c.apply(&pod("two", ""));
    let second = wait_scheduled(&c, "two");
    assert_ne!(first, second, "least-allocated scoring spreads pods");
}
