//! emptyDir `sizeLimit` on disk: a pod writing 4 MiB into a 1Mi emptyDir is evicted as
//! upstream's kubelet evicts it (phase Failed, reason Evicted, upstream's message, a Warning
//! event, containers killed, the pod object kept), while a pod under its limit keeps running.
//! Needs root and the Board's image tools.

use crate::support;

use support::board::Board;
use support::eventually;

const IDLE: &[&str] = &["sleep", "3600"];

fn pod(name: &str, kib: u32) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: writer
    image: box
    command: [sh, -c, "dd if=/dev/zero of=/cache/fill bs=1024 count={kib} && sleep 3600"]
    volumeMounts:
    - {{name: cache, mountPath: /cache}}
  volumes:
  - name: cache
    emptyDir: {{sizeLimit: 1Mi}}
"#
    )
}

#[test]
fn a_pod_over_its_empty_dir_size_limit_is_evicted() {
    let board = Board::start("builtin", 32, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(&format!("{}---\n{}", pod("hog", 4096), pod("modest", 256)));

    let status = eventually("pod hog to be evicted", || {
        let s = c.kubectl_ok(&[
            "get",
            "pod",
            "hog",
            "-o",
            "jsonpath={.status.phase}|{.status.reason}|{.status.message}",
        ]);
        s.starts_with("Failed|").then_some(s)
    });
    assert_eq!(
        status,
        "Failed|Evicted|Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
    );
    // The STATUS column shows the killed container's reason (`Error`), as kubectl 1.32
    // prints an upstream evicted pod whose containers were stopped; describe shows why.
    let described = c.kubectl_ok(&["describe", "pod", "hog"]);
    for line in [
        "Status:           Failed",
        "Reason:           Evicted",
        "Message:          Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\".",
    ] {
        assert!(described.contains(line), "{line:?} not in:\n{described}");
    }
    let condition = c.kubectl_ok(&[
        "get",
        "pod",
        "hog",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
    ]);
    assert_eq!(condition, "TerminationByKubelet");
    let terminated = c.kubectl_ok(&[
        "get",
        "pod",
        "hog",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert!(!terminated.is_empty(), "the container still runs");
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[?(@.reason==\"Evicted\")]}{.type} {.involvedObject.name}: {.message}{end}",
    ]);
    assert_eq!(
        events,
        "Warning hog: Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
    );
    // The volume's data is released with the pod's sandbox.
    let uid = c.kubectl_ok(&["get", "pod", "hog", "-o", "jsonpath={.metadata.uid}"]);
    let volume = c
        .data_dir()
        .join("pods")
        .join(&uid)
        .join("volumes/kubernetes.io~empty-dir/cache");
    eventually("the evicted pod's emptyDir to be removed", || {
        (!volume.exists()).then_some(())
    });

    let modest = c.kubectl_ok(&["get", "pod", "modest", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(modest, "Running");
}
