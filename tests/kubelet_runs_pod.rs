//! `bramble server` alone is a one-board cluster: it registers its own node, pulls the seed
//! pod's images (`redis`, `nginx`) through a `docker.io` mirror from a real local registry,
//! runs both containers on the built-in runtime and on runc, reports them Running with a pod
//! IP, and on deletion stops them and removes mounts and namespaces. Needs root and the
//! Debian packages docker-registry, skopeo, umoci, busybox-static, runc, iproute2, nftables.

use crate::support;

use std::path::Path;

use support::board::Board;
use support::{agent_flags, eventually, Cluster, SHARED_VOLUMES};

const KEEP_RUNNING: &[&str] = &[
    "/bin/sh",
    "-c",
    "echo serving as $(hostname); trap 'exit 0' TERM; while true; do sleep 1; done",
];

fn run_seed_pod(runtime: &str, tag: u8) {
    run_seed_pod_with(runtime, tag, false)
}

/// `kubectl exec shared-volumes -c CONTAINER -- CMD`, its stdout.
fn exec(c: &Cluster, container: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", "shared-volumes", "-c", container, "--"];
    args.extend_from_slice(cmd);
    c.kubectl_ok(&args)
}

/// `restartCount` of nginx then redis (the order of `containerStatuses`: by name).
fn restart_counts(c: &Cluster) -> String {
    c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.status.containerStatuses[*].restartCount}",
    ])
}

/// The runtime id of `container` (its `containerID` without the `bramble://` scheme).
fn container_id(c: &Cluster, container: &str) -> String {
    container_id_in(&container_ids(c), container)
}

fn container_id_in(ids: &str, container: &str) -> String {
    ids.split_whitespace()
        .filter_map(|id| id.strip_prefix("bramble://"))
        .find(|id| id.contains(&format!("_{container}_")))
        .unwrap_or_else(|| panic!("no {container} in {ids}"))
        .to_string()
}

fn container_ids(c: &Cluster) -> String {
    c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.status.containerStatuses[*].containerID}",
    ])
}

/// A one-board cluster whose registry holds the seed images.
fn one_board(runtime: &str, tag: u8) -> Board {
    Board::start(
        runtime,
        tag,
        &[
            ("library/redis", KEEP_RUNNING),
            ("library/nginx", KEEP_RUNNING),
        ],
    )
}

fn run_seed_pod_with(runtime: &str, tag: u8, restart_server: bool) {
    let mut board = one_board(runtime, tag);
    board.wait_node_ready();
    let c = &mut board.cluster;
    let labels = c.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(
        labels.contains("kubernetes.io/arch") && labels.contains("kubernetes.io/hostname"),
        "{labels}"
    );

    c.apply(SHARED_VOLUMES);
    let row = eventually("both containers Running", || {
        let out = c.kubectl_ok(&["get", "pod", "shared-volumes", "--no-headers"]);
        (out.contains("2/2") && out.contains("Running")).then_some(out)
    });
    assert!(row.contains("0 "), "no restarts: {row}");
    let ip = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.status.podIP}",
    ]);
    let cidr = &agent_flags(tag)[3];
    let prefix = cidr.rsplit_once('.').unwrap().0;
    assert!(ip.starts_with(prefix), "pod IP {ip} from {cidr}");
    let node_ip = c.kubectl_ok(&[
        "get",
        "node",
        "test-node",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    assert!(
        !node_ip.is_empty() && !node_ip.starts_with(prefix),
        "the node's InternalIP {node_ip} is its own, not the pod bridge's"
    );
    let ids = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.status.containerStatuses[*].containerID}",
    ]);
    assert_eq!(ids.split_whitespace().count(), 2, "{ids}");

    // `kubectl describe` tells the pod's story as upstream's kubelet would
    let describe = c.kubectl_ok(&["describe", "pod", "shared-volumes"]);
    for line in [
        "Pulled",
        "Created container redis",
        "Started container redis",
        "Started container nginx",
    ] {
        assert!(describe.contains(line), "{line} in:\n{describe}");
    }
    if restart_server {
        // kill -9 the server: its containers keep running and the new kubelet adopts them
        let before = container_ids(c);
        c.restart();
        eventually("the adopted pod to report Running again", || {
            let out = c.kubectl_ok(&["get", "pod", "shared-volumes", "--no-headers"]);
            (out.contains("2/2") && out.contains("Running")).then_some(())
        });
        assert_eq!(container_ids(c), before, "no container was restarted");
        assert_eq!(restart_counts(c), "0 0");

        // A container that dies while the server is down is restarted by its policy once
        // the server is back; the other one is left alone.
        let redis = container_id(c, "redis");
        c.kill9();
        let pid_file = c
            .data_dir()
            .join("runtime")
            .join(runtime)
            .join("containers")
            .join(&redis)
            .join("init.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        c.launch();
        eventually("the dead container to be restarted", || {
            (restart_counts(c) == "0 1").then_some(())
        });
        assert_eq!(container_id(c, "nginx"), container_id_in(&before, "nginx"));
    }
    // the two containers share the emptyDir
    exec(c, "redis", &["sh", "-c", "echo hi > /data/shared/f"]);
    let read = exec(c, "nginx", &["cat", "/data/shared/f"]);
    assert_eq!(read, "hi\n");
    let failed = c.kubectl(&[
        "exec",
        "shared-volumes",
        "-c",
        "nginx",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "kubectl exec reports the command's exit code"
    );
    let hostname = exec(c, "redis", &["cat", "/etc/hostname"]);
    assert_eq!(hostname, "shared-volumes\n");
    let hosts = exec(c, "nginx", &["cat", "/etc/hosts"]);
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file."),
        "{hosts}"
    );
    // one pod, one hostname, in both containers' logs
    let logs = c.kubectl_ok(&["logs", "shared-volumes", "-c", "nginx"]);
    assert_eq!(logs, "serving as shared-volumes\n");
    let ts = c.kubectl_ok(&[
        "logs",
        "shared-volumes",
        "-c",
        "redis",
        "--timestamps",
        "--tail",
        "1",
    ]);
    assert!(
        ts.ends_with(" serving as shared-volumes\n") && ts.starts_with("20"),
        "{ts}"
    );

    let uid = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let out = c.kubectl(&[
        "delete",
        "pod",
        "shared-volumes",
        "--grace-period=5",
        "--timeout=60s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!c
        .kubectl(&["get", "pod", "shared-volumes"])
        .status
        .success());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&uid),
        "mounts of the deleted pod remain:\n{mounts}"
    );
    assert!(
        !c.run_dir().join("netns").join(&uid).exists(),
        "the pod's network namespace remains"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=shared-volumes",
    ]);
    assert!(events.contains("Stopping container nginx"), "{events}");
    let cgroup = format!("bramble/pod{uid}");
    let hierarchies = std::fs::read_dir("/sys/fs/cgroup").unwrap();
    for root in hierarchies
        .map(|e| e.unwrap().path())
        .chain([Path::new("/sys/fs/cgroup").to_path_buf()])
    {
        let left = root.join(&cgroup);
        assert!(!left.exists(), "{} remains", left.display());
    }
    let pod_dir = c.data_dir().join("pods").join(&uid);
    assert!(
        !pod_dir.exists(),
        "{} (emptyDir) remains",
        pod_dir.display()
    );
}

#[test]
fn seed_pod_runs_on_the_built_in_runtime() {
    run_seed_pod("builtin", 1);
}

#[test]
fn running_containers_survive_a_server_restart() {
    run_seed_pod_with("builtin", 3, true);
}

#[test]
fn runc_containers_survive_a_server_restart() {
    run_seed_pod_with("runc", 5, true);
}

#[test]
fn seed_pod_runs_on_runc() {
    run_seed_pod("runc", 2);
}

#[test]
fn a_failing_container_enters_crash_loop_back_off_with_its_previous_logs() {
    let board = one_board("builtin", 4);
    let c = &board.cluster;
    c.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: crasher}\nspec:\n  containers:\n  - name: c\n    image: redis\n    command: [sh, -c, 'echo boom; exit 1']\n",
    );
    let row = eventually("CrashLoopBackOff", || {
        let out = c.kubectl_ok(&["get", "pod", "crasher", "--no-headers"]);
        out.contains("CrashLoopBackOff").then_some(out)
    });
    assert!(!row.contains(" 0 "), "restarts are counted: {row}");
    let describe = c.kubectl_ok(&[
        "get",
        "pod",
        "crasher",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
    ]);
    assert_eq!(describe, "1");
    assert_eq!(c.kubectl_ok(&["logs", "crasher", "--previous"]), "boom\n");
    let describe = c.kubectl_ok(&["describe", "pod", "crasher"]);
    let uid = c.kubectl_ok(&["get", "pod", "crasher", "-o", "jsonpath={.metadata.uid}"]);
    let backoff = format!("Back-off restarting failed container c in pod crasher_default({uid})");
    assert!(describe.contains(&backoff), "{describe}");
    let out = c.kubectl(&[
        "delete",
        "pod",
        "crasher",
        "--grace-period=1",
        "--timeout=60s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
