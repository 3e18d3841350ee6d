//! Resource limits as a user meets them: a container that allocates past its memory limit is
//! killed by the kernel and reported `OOMKilled` (exit code 137) in `kubectl get pods`, and
//! containers get the OOM score of their pod's QoS class, so under memory pressure the
//! board sacrifices BestEffort pods first. Needs root and the kubelet tests' packages.

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// `score`, or this process's own score where it lacks `CAP_SYS_RESOURCE` to go below it
/// (the server runs with the same privileges as the test).
fn lowest_allowed(score: i32) -> i32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if caps & (1 << 24) != 0 {
        return score;
    }
    let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    score.max(own)
}

#[test]
fn memory_limits_are_enforced_and_oom_scores_follow_qos() {
    let board = Board::start("builtin", 14, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: box
    command: [dd, if=/dev/zero, of=/dev/null, bs=256M, count=1]
    resources: {limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: besteffort}
spec:
  containers: [{name: c, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: guaranteed}
spec:
  containers:
  - name: c
    image: box
    resources: {limits: {memory: 64Mi, cpu: 100m}}
"#,
    );
    let reason = eventually("the hog to be OOM-killed", || {
        let r = c.pod_jsonpath(
            "hog",
            "{.status.containerStatuses[0].state.terminated.reason}",
        );
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(reason, "OOMKilled");
    assert_eq!(
        c.pod_jsonpath(
            "hog",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    let row = c.kubectl_ok(&["get", "pod", "hog", "--no-headers"]);
    assert!(row.contains("OOMKilled"), "{row}");

    for (pod, score) in [("besteffort", 1000), ("guaranteed", lowest_allowed(-997))] {
        eventually(&format!("{pod} to run"), || {
            let ready = c.pod_jsonpath(pod, "{.status.containerStatuses[0].ready}");
            (ready == "true").then_some(())
        });
        let got = c.kubectl_ok(&["exec", pod, "--", "cat", "/proc/1/oom_score_adj"]);
        assert_eq!(got.trim(), score.to_string(), "{pod}");
    }
}
