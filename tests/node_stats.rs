//! The node's container statistics as `kubectl top` and a monitoring stack read them: a pod
//! that burns CPU and holds memory shows, within a few sampling periods, in the kubelet's
//! `/stats/summary` (reached through the API server's `nodes/proxy`) with nonzero CPU time
//! and a working set at least as large as what it holds. Needs root.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

use support::board::{Board, IDLE};

/// Memory the pod holds in a shell variable.
const HELD_BYTES: u64 = 16 << 20;
/// Two 10 s sampling periods and a rate, with room for a busy machine.
const STATS_DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn a_busy_pod_shows_in_the_stats_summary() {
    let board = Board::start("builtin", 151, &[("library/box", IDLE)]);
    board.wait_node_ready();
    let c = &board.cluster;
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: busy}}
spec:
  containers:
  - name: burn
    image: box
    command:
    - /bin/sh
    - -c
    - |
      x=$(head -c {HELD_BYTES} /dev/zero | tr '\0' a)
      i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done
      trap 'exit 0' TERM; while true; do sleep 1; done
"#
    ));
    let node = c.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let url = format!("/api/v1/nodes/{}/proxy/stats/summary", node.trim());
    let start = Instant::now();
    loop {
        let out = c.kubectl(&["get", "--raw", &url]);
        let last = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if let Ok(summary) = serde_json::from_slice::<Value>(&out.stdout) {
            let container = summary["pods"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["podRef"]["name"] == "busy")
                .flat_map(|p| p["containers"].as_array().into_iter().flatten())
                .find(|c| c["name"] == "burn");
            if let Some(container) = container {
                let cpu = container["cpu"]["usageCoreNanoSeconds"]
                    .as_u64()
                    .unwrap_or(0);
                let working_set = container["memory"]["workingSetBytes"].as_u64().unwrap_or(0);
                if cpu > 0 && working_set >= HELD_BYTES {
                    assert!(summary["node"]["cpu"]["usageCoreNanoSeconds"].as_u64() > Some(0));
                    assert!(
                        summary["node"]["memory"]["workingSetBytes"].as_u64() > Some(working_set)
                    );
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < STATS_DEADLINE,
            "the busy pod's CPU and memory never showed in the summary; last answer:\n{last}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}
