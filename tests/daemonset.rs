//! DaemonSets on real boards: the server board (with its kubelet) and a second board joined
//! as `bramble agent`, driven with kubectl. A DaemonSet runs one pod on every node, a board
//! that joins later gets its own, a nodeSelector limits it to the matching nodes (and a node
//! that stops matching loses its pod), and a template change rolls every pod to the new
//! ControllerRevision until `kubectl rollout status` reports it done. Needs root.

use crate::support;

use std::collections::BTreeMap;

use support::board::IDLE;
use support::eventually;
use support::joined::{TwoBoards, BOARD};
use support::Cluster;

const SERVER_NODE: &str = "test-node";

/// The boards, with every DaemonSet deleted first (their pods with them, foreground) so no
/// controller recreates pods while the boards shut down.
struct Boards(TwoBoards);

impl Drop for Boards {
    fn drop(&mut self) {
        let _ = self.0.cluster.kubectl(&[
            "delete",
            "daemonsets",
            "--all",
            "--all-namespaces",
            "--cascade=foreground",
            "--wait=true",
            "--timeout=60s",
        ]);
    }
}

/// A DaemonSet `name` running the idle image, with extra pod spec lines and an env value
/// that stands for its version.
fn daemon_set(name: &str, version: &str, pod_spec_extra: &str, strategy: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  updateStrategy:
    type: {strategy}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
{pod_spec_extra}      containers:
      - name: main
        image: busybox
        command: [\"/bin/sh\", \"-c\", {idle:?}]
        env: [{{name: VERSION, value: \"{version}\"}}]
",
        idle = IDLE[2]
    )
}

/// One pod of a set, as kubectl shows it.
#[derive(Debug)]
struct PodState {
    name: String,
    node: String,
    phase: String,
    hash: String,
    ready: bool,
    deleting: bool,
}

/// Every pod of the set, terminating ones included.
fn pod_states(c: &Cluster, app: &str) -> Vec<PodState> {
    let out = c.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name},{.spec.nodeName},{.status.phase},{.metadata.labels.controller-revision-hash},{.status.conditions[?(@.type==\"Ready\")].status},{.metadata.deletionTimestamp} {end}",
    ]);
    out.split_whitespace()
        .map(|row| {
            let f: Vec<&str> = row.split(',').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            PodState {
                name: field(0),
                node: field(1),
                phase: field(2),
                hash: field(3),
                ready: field(4) == "True",
                deleting: !field(5).is_empty(),
            }
        })
        .collect()
}

/// The set's live pods: name → (node, phase, revision hash).
fn pods_of(c: &Cluster, app: &str) -> BTreeMap<String, (String, String, String)> {
    pod_states(c, app)
        .into_iter()
        .filter(|p| !p.deleting)
        .map(|p| (p.name, (p.node, p.phase, p.hash)))
        .collect()
}

/// Waits until the set runs exactly one Running pod on each of `nodes` (and none
/// elsewhere), all of revision `hash` when given; answers node → pod name.
fn running_on(
    c: &Cluster,
    app: &str,
    nodes: &[&str],
    hash: Option<&str>,
) -> BTreeMap<String, String> {
    eventually(
        &format!("{app} to run one pod on each of {nodes:?}"),
        || {
            let pods = pods_of(c, app);
            let mut by_node = BTreeMap::new();
            for (name, (node, phase, h)) in &pods {
                if phase != "Running" || hash.is_some_and(|want| want != h) {
                    return None;
                }
                by_node.insert(node.clone(), name.clone());
            }
            let want: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
            (pods.len() == nodes.len() && by_node.keys().cloned().collect::<Vec<_>>() == want)
                .then_some(by_node)
        },
    )
}

fn status(c: &Cluster, ds: &str) -> String {
    c.jsonpath(
        &["daemonset", ds],
        "{.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.numberReady}/{.status.numberAvailable}/{.status.updatedNumberScheduled}/{.status.numberMisscheduled}",
    )
}

fn rollout_status(c: &Cluster, ds: &str) -> String {
    c.kubectl_ok(&[
        "rollout",
        "status",
        &format!("daemonset/{ds}"),
        "--timeout=90s",
    ])
}

/// The current revision's hash (the highest `revision` number).
fn current_hash(c: &Cluster, app: &str) -> String {
    let out = c.kubectl_ok(&[
        "get",
        "controllerrevisions",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.revision}={.metadata.labels.controller-revision-hash} {end}",
    ]);
    out.split_whitespace()
        .filter_map(|r| r.split_once('='))
        .max_by_key(|(n, _)| n.parse::<i64>().unwrap_or(0))
        .map(|(_, h)| h.to_string())
        .expect("a controller revision")
}

#[test]
fn a_daemon_set_runs_on_every_board_including_one_that_joins_later_and_rolls_to_a_new_template() {
    let mut boards = Boards(TwoBoards::prepare(60, &[("library/busybox", IDLE)], &[]));
    boards.0.wait_ready(SERVER_NODE);
    let c = &boards.0.cluster;

    c.apply(&daemon_set("agent", "1", "", "RollingUpdate"));
    let first = running_on(c, "agent", &[SERVER_NODE], None);
    let pod = &first[SERVER_NODE];
    // The pod is pinned by node affinity for the scheduler to bind, owned by the set and
    // labelled with the set's revision.
    let pin = c.pod_jsonpath(
        pod,
        "{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]}",
    );
    assert_eq!(pin, SERVER_NODE);
    let owner = c.pod_jsonpath(
        pod,
        "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}",
    );
    assert_eq!(owner, "DaemonSet/agent/true");
    let rev1 = current_hash(c, "agent");
    assert_eq!(pods_of(c, "agent")[pod].2, rev1);
    let tolerations = c.pod_jsonpath(pod, "{.spec.tolerations[*].key}");
    assert!(
        tolerations.contains("node.kubernetes.io/unreachable"),
        "{tolerations}"
    );
    // Daemon pods stay on a board that goes away: no eviction deadline on that toleration.
    let seconds = c.pod_jsonpath(
        pod,
        "{.spec.tolerations[?(@.key==\"node.kubernetes.io/unreachable\")].tolerationSeconds}",
    );
    assert_eq!(seconds, "", "{tolerations}");
    let done = rollout_status(c, "agent");
    assert!(
        done.contains("daemon set \"agent\" successfully rolled out"),
        "{done}"
    );

    // A board joins: it gets its own pod once Ready, the first pod stays.
    let pod = pod.clone();
    let token = boards.0.token();
    boards.0.agent.start(&["--token", &token]);
    boards.0.wait_ready(BOARD);
    let c = &boards.0.cluster;
    let both = running_on(c, "agent", &[BOARD, SERVER_NODE], Some(&rev1));
    assert_eq!(both[SERVER_NODE], pod, "the first pod was kept");
    eventually("the status to count both boards", || {
        (status(c, "agent") == "2/2/2/2/2/0").then_some(())
    });

    // A new template rolls both pods to the new revision, one board at a time.
    c.apply(&daemon_set("agent", "2", "", "RollingUpdate"));
    let done = rollout_status(c, "agent");
    assert!(done.contains("successfully rolled out"), "{done}");
    let rev2 = current_hash(c, "agent");
    assert_ne!(rev1, rev2);
    let rolled = running_on(c, "agent", &[BOARD, SERVER_NODE], Some(&rev2));
    assert!(rolled.values().all(|p| !first.values().any(|old| old == p)));
    let env = c.pod_jsonpath(&rolled[BOARD], "{.spec.containers[0].env[0].value}");
    assert_eq!(env, "2");
    assert_eq!(status(c, "agent"), "2/2/2/2/2/0");
    let history = c.kubectl_ok(&["rollout", "history", "daemonset/agent"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let observed = c.jsonpath(
        &["daemonset", "agent"],
        "{.metadata.generation}={.status.observedGeneration}",
    );
    assert_eq!(observed, "2=2");

    // Undo brings the first template back under a new revision number, pods rolled to it.
    c.kubectl_ok(&["rollout", "undo", "daemonset/agent"]);
    let done = rollout_status(c, "agent");
    assert!(done.contains("successfully rolled out"), "{done}");
    eventually("the first template to be current again", || {
        (current_hash(c, "agent") == rev1).then_some(())
    });
    let back = running_on(c, "agent", &[BOARD, SERVER_NODE], Some(&rev1));
    let env = c.pod_jsonpath(&back[SERVER_NODE], "{.spec.containers[0].env[0].value}");
    assert_eq!(env, "1");
    let history = c.kubectl_ok(&["rollout", "history", "daemonset/agent"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
}

#[test]
fn a_node_selector_limits_a_daemon_set_and_a_node_that_stops_matching_loses_its_pod() {
    let boards = Boards(TwoBoards::start(61, &[("library/busybox", IDLE)], &[]));
    let c = &boards.0.cluster;

    // Pinned to the joined board by hostname: one pod there, none on the server board.
    c.apply(&daemon_set(
        "picky",
        "1",
        &format!("      nodeSelector: {{kubernetes.io/hostname: {BOARD}}}\n"),
        "OnDelete",
    ));
    let on_board = running_on(c, "picky", &[BOARD], None);
    eventually("picky's status", || {
        (status(c, "picky") == "1/1/1/1/1/0").then_some(())
    });

    // Chosen by a label no node has yet: nothing runs until a node gets it, and the pod
    // goes when the label does.
    c.apply(&daemon_set(
        "labelled",
        "1",
        "      nodeSelector: {role: daemon}\n",
        "RollingUpdate",
    ));
    eventually("labelled's status to be observed", || {
        (c.jsonpath(&["daemonset", "labelled"], "{.status.observedGeneration}") == "1")
            .then_some(())
    });
    assert_eq!(status(c, "labelled"), "0/0/0/0/0/0");
    assert!(pods_of(c, "labelled").is_empty());
    c.kubectl_ok(&["label", "node", SERVER_NODE, "role=daemon"]);
    let labelled = running_on(c, "labelled", &[SERVER_NODE], None);
    c.kubectl_ok(&["label", "node", SERVER_NODE, "role-"]);
    eventually("the pod to leave the node that stopped matching", || {
        let pods = pods_of(c, "labelled");
        (!pods.contains_key(&labelled[SERVER_NODE])).then_some(())
    });
    eventually("labelled's status to show no node", || {
        (status(c, "labelled") == "0/0/0/0/0/0").then_some(())
    });

    // OnDelete: a new template waits until the pod is deleted, then the replacement runs it.
    let rev1 = current_hash(c, "picky");
    c.apply(&daemon_set(
        "picky",
        "2",
        &format!("      nodeSelector: {{kubernetes.io/hostname: {BOARD}}}\n"),
        "OnDelete",
    ));
    eventually("the new template to be observed", || {
        (c.jsonpath(&["daemonset", "picky"], "{.status.observedGeneration}") == "2").then_some(())
    });
    let rev2 = current_hash(c, "picky");
    assert_ne!(rev1, rev2);
    assert_eq!(
        status(c, "picky"),
        "1/1/1/1/0/0",
        "the old pod is not updated"
    );
    assert_eq!(running_on(c, "picky", &[BOARD], Some(&rev1)), on_board);
    c.kubectl_ok(&["delete", "pod", &on_board[BOARD], "--wait=false"]);
    let replaced = running_on(c, "picky", &[BOARD], Some(&rev2));
    assert_ne!(replaced[BOARD], on_board[BOARD]);
    eventually("picky's status to count the updated pod", || {
        (status(c, "picky") == "1/1/1/1/1/0").then_some(())
    });

    // maxSurge without unavailability: each board gets its new pod beside the old one, and
    // the old one goes only once the new one is ready, so no board is ever without a ready pod.
    let surge = "RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}";
    c.apply(&daemon_set("surging", "1", "", surge));
    running_on(c, "surging", &[BOARD, SERVER_NODE], None);
    eventually("surging's pods to be ready", || {
        (status(c, "surging") == "2/2/2/2/2/0").then_some(())
    });
    c.apply(&daemon_set("surging", "2", "", surge));
    let mut side_by_side = false;
    eventually("surging to roll to its new template", || {
        let rev2 = current_hash(c, "surging");
        let pods = pod_states(c, "surging");
        // Printed only when the test fails: how the rollout went.
        eprintln!("current {rev2}: {pods:?}");
        for node in [BOARD, SERVER_NODE] {
            let live: Vec<&PodState> = pods
                .iter()
                .filter(|p| p.node == node && !p.deleting)
                .collect();
            assert!(
                live.iter().any(|p| p.ready),
                "{node} had no ready pod during the surge rollout"
            );
            side_by_side |= live.len() == 2 && live.iter().any(|p| p.hash != rev2);
        }
        let done = pods.len() == 2
            && pods
                .iter()
                .all(|p| p.hash == rev2 && p.ready && !p.deleting);
        done.then_some(())
    });
    assert!(
        side_by_side,
        "no board ever ran the new pod beside the old one"
    );
    let done = rollout_status(c, "surging");
    assert!(done.contains("successfully rolled out"), "{done}");
}
