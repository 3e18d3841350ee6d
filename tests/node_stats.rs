//! The node's container statistics as `kubectl top` and a monitoring stack read them: a pod
//! that burns CPU and holds memory shows, within a few sampling periods, in the kubelet's
//! `/stats/summary` (reached through the API server's `nodes/proxy`) with nonzero CPU time
//! and a working set at least as large as what it holds; a joined board's kubelet answers its
//! resource and cAdvisor metrics through the same route. Needs root.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

use support::board::{Board, IDLE};
use support::joined::{pod_on, TwoBoards, BOARD};

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
metadata: {{name: busy, labels: {{app: busy}}}}
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
                    kubectl_top_shows_the_node_and_the_pod(c, node.trim());
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

/// `kubectl top` reads the same figures through the metrics API.
fn kubectl_top_shows_the_node_and_the_pod(c: &support::Cluster, node: &str) {
    let nodes = support::eventually("kubectl top node", || {
        let out = c.kubectl(&["top", "node"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    let row = nodes
        .lines()
        .find(|l| l.starts_with(node))
        .unwrap_or_else(|| panic!("{nodes}"));
    // NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns.len(), 5, "{nodes}");
    assert!(
        columns[1].ends_with('m') && columns[3].ends_with("Mi"),
        "{nodes}"
    );
    let pods = support::eventually("kubectl top pod --containers", || {
        let out = c.kubectl(&["top", "pod", "-l", "app=busy", "--containers"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains("burn")).then_some(text)
    });
    let row = pods
        .lines()
        .find(|l| l.starts_with("busy"))
        .unwrap_or_else(|| panic!("{pods}"));
    // POD NAME CPU(cores) MEMORY(bytes)
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[1], "burn", "{pods}");
    let mib: u64 = columns[3].trim_end_matches("Mi").parse().unwrap_or(0);
    assert!(mib >= HELD_BYTES >> 20, "{pods}");
}

#[test]
fn a_joined_boards_kubelet_serves_its_metrics_through_nodes_proxy() {
    let boards = TwoBoards::start(103, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;
    c.apply(&pod_on(
        "idler",
        BOARD,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ));
    let resource = format!("/api/v1/nodes/{BOARD}/proxy/metrics/resource");
    let start = Instant::now();
    loop {
        let out = c.kubectl(&["get", "--raw", &resource]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let pod_line = text.lines().find(|l| {
            l.starts_with("container_memory_working_set_bytes{container=\"main\",namespace=\"default\",pod=\"idler\"}")
        });
        if let Some(line) = pod_line {
            assert!(
                text.contains("# TYPE node_cpu_usage_seconds_total counter\n"),
                "{text}"
            );
            assert!(
                text.lines().any(|l| l == "resource_scrape_error 0"),
                "{text}"
            );
            let value: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            assert!(value > 0.0, "{line}");
            break;
        }
        assert!(
            start.elapsed() < STATS_DEADLINE,
            "the joined board never reported its pod; last answer:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let cadvisor = c.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/nodes/{BOARD}/proxy/metrics/cadvisor"),
    ]);
    assert!(
        cadvisor
            .lines()
            .any(|l| l.starts_with("machine_cpu_cores ")),
        "{cadvisor}"
    );
    assert!(cadvisor.contains("pod=\"idler\""), "{cadvisor}");
    let missing = c.kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/nodes/{BOARD}/proxy/no-such-path"),
    ]);
    assert!(!missing.status.success());
}
