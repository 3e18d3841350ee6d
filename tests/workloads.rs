//! Deployments with real pods on real kubelets, driven with stock kubectl: a Deployment
//! rolls out, scales, rolls to a new image pod by pod, rolls back, and when one board dies
//! its pods come back on the other; deleting a Deployment removes its ReplicaSets and pods
//! in the background or the foreground, or leaves them running when asked to orphan them.
//! Needs root.

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;
use support::joined::{TwoBoards, BOARD};
use support::Cluster;

const TWO_BOARDS: u8 = 4;
const ONE_BOARD: u8 = 72;

/// A Deployment of `replicas` idle pods running `image`, whose pods leave an unreachable
/// board after `toleration` seconds (admission would give them 300).
fn deployment(name: &str, replicas: u32, image: &str, toleration: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: {toleration}}}
      - {{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: {toleration}}}
      containers:
      - name: main
        image: {image}
"
    )
}

/// `(name, node, image)` of every Running pod of `app` not being deleted.
fn running(c: &Cluster, app: &str) -> Vec<(String, String, String)> {
    let out = c.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[?(@.status.phase==\"Running\")]}{.metadata.name} {.spec.nodeName} {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 3)
        .map(|f| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        .collect()
}

fn rollout_done(c: &Cluster, what: &str) {
    eventually(&format!("{what} to roll out"), || {
        let out = c.kubectl(&["rollout", "status", what, "--timeout=5s"]);
        out.status.success().then_some(())
    });
}

#[test]
fn a_deployment_scales_rolls_forward_and_back_and_leaves_a_dead_board() {
    let mut boards = TwoBoards::start(
        TWO_BOARDS,
        &[("library/busybox", IDLE), ("library/other", IDLE)],
        &["--node-monitor-grace-period=15s"],
    );
    let c = &boards.cluster;
    c.apply(&deployment("web", 2, "busybox", 5));
    rollout_done(c, "deployment/web");
    assert_eq!(running(c, "web").len(), 2);
    let table = c.kubectl_ok(&["get", "deployment", "web", "--no-headers"]);
    let cols: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(cols[..4], ["web", "2/2", "2", "2"], "{table}");

    c.kubectl_ok(&["scale", "deployment", "web", "--replicas=4"]);
    rollout_done(c, "deployment/web");
    let pods = eventually("four running pods", || {
        let p = running(c, "web");
        (p.len() == 4).then_some(p)
    });
    let nodes: std::collections::BTreeSet<_> = pods.iter().map(|p| p.1.clone()).collect();
    assert_eq!(nodes.len(), 2, "pods spread over both boards: {pods:?}");

    // A new image rolls pod by pod; the old ReplicaSet ends at zero and stays as history.
    c.kubectl_ok(&["set", "image", "deployment/web", "main=other"]);
    rollout_done(c, "deployment/web");
    eventually("every pod on the new image", || {
        let p = running(c, "web");
        (p.len() == 4 && p.iter().all(|p| p.2 == "other")).then_some(())
    });
    let history = c.kubectl_ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
    let sets = c.kubectl_ok(&["get", "rs", "-l", "app=web", "--no-headers"]);
    assert_eq!(sets.lines().count(), 2, "{sets}");

    c.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    rollout_done(c, "deployment/web");
    eventually("every pod back on the first image", || {
        let p = running(c, "web");
        (p.len() == 4 && p.iter().all(|p| p.2 == "busybox")).then_some(())
    });
    assert_eq!(
        c.jsonpath(
            &["deployment", "web"],
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "3"
    );

    // The joined board dies: after the grace period and the pods' toleration, its pods are
    // replaced on the server's board.
    boards.agent.kill9();
    let c = &boards.cluster;
    eventually("all four pods running on the board left", || {
        let p = running(c, "web");
        let here = p.iter().filter(|p| p.1 == "test-node").count();
        (here == 4).then_some(())
    });
    let reason = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=TaintManagerEviction",
        "-o",
        "name",
    ]);
    assert!(!reason.trim().is_empty(), "no eviction event");

    // Power back before the pods are cleaned up, so the board stops its containers.
    boards.agent.start(&[]);
    boards.wait_ready(BOARD);
}

#[test]
fn deleting_a_deployment_cascades_in_the_background_the_foreground_or_not_at_all() {
    let board = Board::start("builtin", ONE_BOARD, &[("library/busybox", IDLE)]);
    board.wait_node_ready();
    let c = &board.cluster;
    for name in ["bg", "fg", "orphan"] {
        c.apply(&deployment(name, 2, "busybox", 300));
    }
    for name in ["bg", "fg", "orphan"] {
        rollout_done(c, &format!("deployment/{name}"));
    }
    let gone = |app: &str| {
        let rs = c.kubectl_ok(&["get", "rs", "-l", &format!("app={app}"), "-o", "name"]);
        let pods = c.kubectl_ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "name"]);
        rs.trim().is_empty() && pods.trim().is_empty()
    };

    c.kubectl_ok(&["delete", "deployment", "bg", "--cascade=background"]);
    eventually("the background delete to take sets and pods", || {
        gone("bg").then_some(())
    });

    // Foreground: the Deployment stays, marked, until its dependents are gone; `--wait`
    // (kubectl's default) returns only then.
    c.kubectl_ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=90s",
    ]);
    assert!(
        gone("fg"),
        "the foreground delete returned before its pods went"
    );
    let left = c.kubectl(&["get", "deployment", "fg"]);
    assert!(!left.status.success(), "the deployment stayed");

    // Orphan: the ReplicaSet and its pods keep running, owned by nobody.
    c.kubectl_ok(&["delete", "deployment", "orphan", "--cascade=orphan"]);
    eventually("the orphaned deployment to go", || {
        (!c.kubectl(&["get", "deployment", "orphan"]).status.success()).then_some(())
    });
    let owners = c.kubectl_ok(&[
        "get",
        "rs",
        "-l",
        "app=orphan",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    assert!(owners.trim().is_empty(), "{owners}");
    assert_eq!(running(c, "orphan").len(), 2);
    // The orphaned set still keeps its pods.
    let victim = running(c, "orphan")[0].0.clone();
    c.kubectl_ok(&["delete", "pod", &victim, "--wait=false"]);
    eventually("the orphaned set to replace its pod", || {
        let p = running(c, "orphan");
        (p.len() == 2 && p.iter().all(|p| p.0 != victim)).then_some(())
    });
}
