//! The node's health acted on: a board whose SoC runs hot gets the `bramble.io/Thermal`
//! condition and the `bramble.io/thermal:NoSchedule` taint, so a new pod stays Pending
//! with the scheduler's untolerated-taint message until the board cools (hysteresis: back
//! at or below 75 °C); and under a crossed `--eviction-hard` threshold the kubelet reports
//! `MemoryPressure` and evicts a BestEffort pod as upstream's eviction manager does. The
//! thermal zone is a directory the test writes. Needs root and the Board's image tools.

use std::path::Path;

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// Sets the fake thermal zone's temperature at once (written beside, then renamed, so the
/// kubelet never reads half a number).
fn set_temperature(zone: &Path, millicelsius: u32) {
    let next = zone.join("temp.next");
    std::fs::write(&next, format!("{millicelsius}\n")).unwrap();
    std::fs::rename(&next, zone.join("temp")).unwrap();
}

/// `status|reason` of the node's condition `kind`.
fn condition(board: &Board, kind: &str) -> String {
    board.cluster.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        &format!("jsonpath={{.status.conditions[?(@.type==\"{kind}\")].status}}|{{.status.conditions[?(@.type==\"{kind}\")].reason}}"),
    ])
}

fn thermal_taint(board: &Board) -> String {
    board.cluster.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        "jsonpath={.spec.taints[?(@.key==\"bramble.io/thermal\")].effect}",
    ])
}

#[test]
fn a_hot_board_is_tainted_until_it_cools() {
    let zone = tempfile::tempdir().unwrap();
    set_temperature(zone.path(), 50_000);
    let zone_arg = zone.path().display().to_string();
    let absent = zone.path().join("no-get-throttled").display().to_string();
    let board = Board::start_with(
        "builtin",
        52,
        &[("library/box", IDLE)],
        &["--thermal-zone", &zone_arg, "--throttled-path", &absent],
    );
    board.wait_node_ready();
    eventually("the Thermal condition to be reported", || {
        (condition(&board, "bramble.io/Thermal") == "False|SoCTemperatureNormal").then_some(())
    });

    set_temperature(zone.path(), 85_000);
    eventually("the Thermal condition to go True", || {
        (condition(&board, "bramble.io/Thermal") == "True|SoCTemperatureHigh").then_some(())
    });
    let message = board.cluster.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"bramble.io/Thermal\")].message}",
    ]);
    assert!(message.starts_with("SoC temperature 85.0 °C"), "{message}");
    eventually("the thermal taint", || {
        (thermal_taint(&board) == "NoSchedule").then_some(())
    });

    board.cluster.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: waits}\nspec:\n  containers: [{name: c, image: box}]\n",
    );
    let pending = eventually("the scheduler to refuse the hot node", || {
        let m = board.cluster.kubectl_ok(&[
            "get",
            "pod",
            "waits",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert!(
        pending.contains("1 node(s) had untolerated taint {bramble.io/thermal: }"),
        "{pending}"
    );
    let node =
        board
            .cluster
            .kubectl_ok(&["get", "pod", "waits", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "", "placed on a hot board");

    set_temperature(zone.path(), 70_000);
    eventually("the Thermal condition to clear", || {
        (condition(&board, "bramble.io/Thermal") == "False|SoCTemperatureNormal").then_some(())
    });
    eventually("the thermal taint to go", || {
        thermal_taint(&board).is_empty().then_some(())
    });
    eventually("the pod to be scheduled", || {
        let n =
            board
                .cluster
                .kubectl_ok(&["get", "pod", "waits", "-o", "jsonpath={.spec.nodeName}"]);
        (n == "test-node").then_some(())
    });
}

#[test]
fn a_best_effort_pod_is_evicted_under_memory_pressure() {
    // More than any machine has: the threshold is crossed from the first observation on.
    let board = Board::start_with(
        "builtin",
        53,
        &[("library/box", IDLE)],
        &["--eviction-hard", "memory.available<1Ei"],
    );
    board.wait_node_ready();
    let c = &board.cluster;
    eventually("MemoryPressure", || {
        (condition(&board, "MemoryPressure") == "True|KubeletHasInsufficientMemory").then_some(())
    });
    // The node is tainted for memory pressure; the pod tolerates it as a DaemonSet's would.
    c.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: hungry}\nspec:\n  tolerations: [{key: node.kubernetes.io/memory-pressure, operator: Exists, effect: NoSchedule}]\n  containers: [{name: c, image: box}]\n",
    );
    let status = eventually("the pod to be evicted", || {
        let s = c.kubectl_ok(&[
            "get",
            "pod",
            "hungry",
            "-o",
            "jsonpath={.status.phase}|{.status.reason}|{.status.message}",
        ]);
        s.starts_with("Failed|").then_some(s)
    });
    assert!(
        status.starts_with(
            "Failed|Evicted|The node was low on resource: memory. Threshold quantity: 1Ei, available: "
        ),
        "{status}"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[?(@.reason==\"Evicted\")]}{.type} {.involvedObject.name}{end}",
    ]);
    assert_eq!(events, "Warning hungry");
    let taint = c.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        "jsonpath={.spec.taints[?(@.key==\"node.kubernetes.io/memory-pressure\")].effect}",
    ]);
    assert_eq!(taint, "NoSchedule");
}
