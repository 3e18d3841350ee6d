//! Joining a second board: `bramble agent` with the server's join token registers the board
//! as a Node with its own pod range, runs the pods scheduled there, answers `kubectl logs`
//! and `kubectl exec` through the API server, and its pods reach the server board's pods by
//! pod address. Bad tokens, impostor servers and taken names are refused with the remedy,
//! leaving nothing behind; a board that goes silent turns NotReady and comes back without
//! its token. The second board is a network namespace linked to this machine. Needs root.

use crate::support;

use std::process::Output;

use support::board::IDLE;
use support::eventually;
use support::joined::{mounted_below, pod_on, TwoBoards, BOARD};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let (net, prefix) = cidr.split_once('/').expect("cidr");
    let net: std::net::Ipv4Addr = net.parse().expect("network");
    let ip: std::net::Ipv4Addr = ip.parse().expect("address");
    let prefix: u32 = prefix.parse().expect("prefix");
    let mask = u32::MAX << (32 - prefix);
    u32::from(ip) & mask == u32::from(net)
}

#[test]
fn a_joined_board_runs_its_pods_serves_logs_and_exec_and_reaches_the_other_board() {
    let boards = TwoBoards::start(1, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;

    // Two Ready nodes, each with its own range of the cluster network and its own address.
    let ranges = c.jsonpath(
        &["nodes"],
        "{range .items[*]}{.metadata.name}={.spec.podCIDR} {end}",
    );
    let server_range = ranges
        .split_whitespace()
        .find_map(|r| r.strip_prefix("test-node="))
        .expect("server range")
        .to_string();
    let board_range = ranges
        .split_whitespace()
        .find_map(|r| r.strip_prefix(&format!("{BOARD}=")))
        .expect("board range")
        .to_string();
    assert_ne!(server_range, board_range, "{ranges}");
    assert!(cidr_contains(
        "10.151.0.0/16",
        board_range.split('/').next().unwrap()
    ));
    let board_ip = c.jsonpath(
        &["node", BOARD],
        "{.status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    assert_eq!(board_ip, boards.link.board_ip);
    let wide = c.kubectl_ok(&["get", "nodes"]);
    assert!(
        wide.lines()
            .any(|l| l.starts_with(BOARD) && l.contains(" Ready ")),
        "{wide}"
    );

    // A web server on the server board, a client on the joined board.
    c.apply(&pod_on(
        "web",
        "test-node",
        "mkdir -p /www && echo served-by-the-server-board > /www/index.html && exec httpd -f -p 8080 -h /www",
    ));
    c.apply(&pod_on(
        "client",
        BOARD,
        "echo client started on $(hostname); trap 'exit 0' TERM; while true; do sleep 1; done",
    ));
    for pod in ["web", "client"] {
        eventually(&format!("{pod} to run"), || {
            (c.pod_jsonpath(pod, "{.status.phase}") == "Running").then_some(())
        });
    }
    assert_eq!(c.pod_jsonpath("client", "{.spec.nodeName}"), BOARD);
    let client_ip = c.pod_jsonpath("client", "{.status.podIP}");
    assert!(
        cidr_contains(&board_range, &client_ip),
        "{client_ip} in {board_range}"
    );
    assert_eq!(
        c.pod_jsonpath("client", "{.status.hostIP}"),
        boards.link.board_ip
    );

    // kubectl logs and exec reach the joined board's kubelet.
    let logs = eventually("the client's log", || {
        let out = c.kubectl(&["logs", "client"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("client started on client").then_some(text)
    });
    assert_eq!(logs.trim(), "client started on client");
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["exec", "-i", "client", "--", "cat"],
        Some("over the link\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over the link\n");
    let out = c.kubectl(&["exec", "client", "--", "sh", "-c", "echo oops >&2; exit 7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "kubectl exits with the command's code"
    );
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    assert!(stderr(&out).contains("exit code 7"), "{}", stderr(&out));

    // Pods on different boards talk by pod address, without masquerading in between.
    let web_ip = c.pod_jsonpath("web", "{.status.podIP}");
    let fetched = eventually("the client to reach the web pod", || {
        let out = c.kubectl(&[
            "exec",
            "client",
            "--",
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {web_ip} 8080"),
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("served-by-the-server-board").then_some(text)
    });
    assert!(fetched.starts_with("HTTP/1."), "{fetched}");

    // Deleting the pod stops its container on the joined board and frees its mounts.
    c.kubectl_ok(&["delete", "pod", "client", "--wait=true", "--timeout=30s"]);
    let containers = boards.agent.data_dir.join("containers");
    eventually("the client's root filesystem to be unmounted", || {
        (!mounted_below(&containers)).then_some(())
    });
}

#[test]
fn joining_refuses_bad_tokens_impostors_and_taken_names_and_leaves_nothing() {
    let mut boards = TwoBoards::prepare(2, &[], &[]);
    let token = boards.token();
    let (bearer, pin) = token.split_once("::").expect("token shape");
    let (id, _) = bearer.split_once('.').expect("bearer shape");
    let credentials = boards.agent.data_dir.join("agent/kubelet.kubeconfig");

    let wrong_secret = format!("{id}.0000000000000000::{pin}");
    let out = boards.agent.run_to_exit(&["--token", &wrong_secret]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("the server refused the join token"), "{err}");
    assert!(
        err.contains("sudo cat /var/lib/bramble/join-token"),
        "{err}"
    );
    assert!(!credentials.exists());

    // A token pinning another CA: the server is not trusted and the secret never sent.
    let other_pin = format!("{bearer}::sha256:{}", "ab".repeat(32));
    let out = boards.agent.run_to_exit(&["--token", &other_pin]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("is not trusted"), "{err}");
    assert!(err.contains("does not match the join token"), "{err}");
    assert!(!credentials.exists());

    let out = boards.agent.run_to_exit(&["--token", "not-a-token"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a join token looks like"),
        "{}",
        stderr(&out)
    );
    let out = boards.agent.run_to_exit(&[]);
    let err = stderr(&out);
    assert!(err.contains("has not joined a cluster yet"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let nodes = boards
        .cluster
        .jsonpath(&["nodes"], "{.items[*].metadata.name}");
    assert!(!nodes.contains(BOARD), "no node was registered: {nodes}");

    // The right token joins; a second board asking for the same name is turned away.
    boards.agent.start(&["--token", &token]);
    boards.wait_ready(BOARD);
    assert!(credentials.exists());
    let elsewhere = boards.work.path().join("impostor");
    let out = boards
        .agent
        .run_elsewhere_to_exit(&elsewhere, &["--token", &token, "--kubelet-port", "10251"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("already in the cluster and its kubelet is running"),
        "{err}"
    );
    assert!(err.contains("--node-name"), "{err}");
}

#[test]
fn a_silent_board_turns_not_ready_and_rejoins_without_its_token() {
    let mut boards = TwoBoards::start(
        3,
        &[("library/busybox", IDLE)],
        &["--node-monitor-grace-period=15s"],
    );
    let range = boards.cluster.jsonpath(&["node", BOARD], "{.spec.podCIDR}");
    let uid = boards.cluster.jsonpath(&["node", BOARD], "{.metadata.uid}");

    boards.agent.kill9();
    let c = &boards.cluster;
    eventually("the silent board to turn NotReady", || {
        let out = c.kubectl_ok(&["get", "node", BOARD, "--no-headers"]);
        out.contains("NotReady").then_some(())
    });
    let reason = c.jsonpath(
        &["node", BOARD],
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
    );
    assert_eq!(reason, "NodeStatusUnknown");
    let taints = c.jsonpath(&["node", BOARD], "{.spec.taints[*].key}");
    assert!(
        taints.contains("node.kubernetes.io/unreachable"),
        "{taints}"
    );

    // Power back: the stored credentials suffice; same Node, same range, taints gone.
    boards.agent.start(&[]);
    boards.wait_ready(BOARD);
    let c = &boards.cluster;
    eventually("the unreachable taints to go", || {
        c.jsonpath(&["node", BOARD], "{.spec.taints[*].key}")
            .is_empty()
            .then_some(())
    });
    assert_eq!(c.jsonpath(&["node", BOARD], "{.spec.podCIDR}"), range);
    assert_eq!(c.jsonpath(&["node", BOARD], "{.metadata.uid}"), uid);

    // The server restarts under a running agent: the board reconnects and takes new pods.
    boards.cluster.restart();
    let c = &boards.cluster;
    c.apply(&pod_on(
        "after-restart",
        BOARD,
        "echo back; trap 'exit 0' TERM; while true; do sleep 1; done",
    ));
    eventually("a pod on the board after the server restarted", || {
        (c.pod_jsonpath("after-restart", "{.status.phase}") == "Running").then_some(())
    });
    let logs = eventually("its log through the restarted server", || {
        let out = c.kubectl(&["logs", "after-restart"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (!text.is_empty()).then_some(text)
    });
    assert_eq!(logs.trim(), "back");
}
