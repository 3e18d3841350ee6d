//! `bramble server` alone is a one-board cluster: it registers its own node, pulls the seed
//! pod's images (`redis`, `nginx`) through a `docker.io` mirror from a real local registry,
//! runs both containers on the built-in runtime and on runc, reports them Running with a pod
//! IP, and on deletion stops them and removes mounts and namespaces. Needs root and the
//! Debian packages docker-registry, skopeo, umoci, busybox-static, runc, iproute2, nftables.

mod support;

use std::path::Path;

use bramble::kubelet::runtime::cgroup;
use support::registry::{build_busybox_image, require_root, Registry};
use support::{agent_flags, eventually, Cluster, SHARED_VOLUMES};

const KEEP_RUNNING: &[&str] = &[
    "/bin/sh",
    "-c",
    "echo serving as $(hostname); trap 'exit 0' TERM; while true; do sleep 1; done",
];

fn registry_with_seed_images(work: &Path) -> Registry {
    let reg = Registry::start(work);
    build_busybox_image(work, reg.port, "library/redis", KEEP_RUNNING);
    build_busybox_image(work, reg.port, "library/nginx", KEEP_RUNNING);
    reg
}

/// Removes the node bridge and nftables table a test kubelet made, even when the test fails.
struct NodeNetwork(String);

impl Drop for NodeNetwork {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .output();
    }
}

fn run_seed_pod(runtime: &str, tag: u8) {
    run_seed_pod_with(runtime, tag, false)
}

/// `kubectl exec shared-volumes -c CONTAINER -- CMD`, its stdout.
fn exec(c: &Cluster, container: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", "shared-volumes", "-c", container, "--"];
    args.extend_from_slice(cmd);
    c.kubectl_ok(&args)
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

/// A one-board cluster whose `docker.io` mirror is a local registry holding the seed
/// images; dropped in field order: server, registry, files, node network.
struct Board {
    cluster: Cluster,
    _registry: Registry,
    _work: tempfile::TempDir,
    _network: NodeNetwork,
}

fn one_board(runtime: &str, tag: u8) -> Board {
    require_root();
    let network = NodeNetwork(agent_flags(tag)[1].clone());
    let work = tempfile::tempdir().unwrap();
    let registry = registry_with_seed_images(work.path());
    let registries = work.path().join("registries.yaml");
    let mirror = format!(
        "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:{}\"]\n",
        registry.port
    );
    std::fs::write(&registries, mirror).unwrap();
    let mut flags = agent_flags(tag);
    flags.extend([
        "--runtime".into(),
        runtime.into(),
        "--registries".into(),
        registries.display().to_string(),
    ]);
    let cluster = Cluster::start_with_agent(flags);
    Board {
        cluster,
        _registry: registry,
        _work: work,
        _network: network,
    }
}

fn run_seed_pod_with(runtime: &str, tag: u8, restart_server: bool) {
    let mut board = one_board(runtime, tag);
    let c = &mut board.cluster;

    eventually("the server's own node to be Ready", || {
        let out = c.kubectl(&[
            "get",
            "node",
            "test-node",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
    });
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
    let ids = c.kubectl_ok(&[
        "get",
        "pod",
        "shared-volumes",
        "-o",
        "jsonpath={.status.containerStatuses[*].containerID}",
    ]);
    assert_eq!(ids.split_whitespace().count(), 2, "{ids}");

    if restart_server {
        // kill -9 the server: its containers keep running and the new kubelet adopts them
        let before = container_ids(c);
        c.restart();
        eventually("the adopted pod to report Running again", || {
            let out = c.kubectl_ok(&["get", "pod", "shared-volumes", "--no-headers"]);
            (out.contains("2/2") && out.contains("Running")).then_some(())
        });
        assert_eq!(container_ids(c), before, "no container was restarted");
        let restarts = c.kubectl_ok(&[
            "get",
            "pod",
            "shared-volumes",
            "-o",
            "jsonpath={.status.containerStatuses[*].restartCount}",
        ]);
        assert_eq!(restarts, "0 0");
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
        !Path::new("/run/bramble/netns").join(&uid).exists(),
        "the pod's network namespace remains"
    );
    let pod_cgroup = cgroup::controller_dir(&cgroup::pod_cgroup_path(&uid), "memory");
    assert!(
        !pod_cgroup.exists(),
        "the pod's cgroup {} remains",
        pod_cgroup.display()
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
