//! Host devices as extended resources, as a user of a board with an I2C bus or a serial
//! adapter meets them: the kubelet's `--device` makes the device a resource on the Node
//! (`bramble.io/<name>: 1`), a pod asking for it in `resources.limits` runs with the device
//! node in its `/dev` and can write to it, a second pod asking for it stays Pending with the
//! scheduler's `Insufficient` reason until the first is deleted, a pod bound to the node
//! past the scheduler is rejected as upstream's device manager rejects it (also after a
//! restart, which gives running pods their devices again), and a pod that did not ask has
//! no such file and may not open a node of its own with the device's numbers. On both
//! runtimes. Needs root and the kubelet tests'
//! packages (runc among them).

use std::path::PathBuf;
use std::process::Command;

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// A character device node made for the test, removed when dropped even if an assertion
/// failed.
struct DeviceNode(PathBuf);

impl DeviceNode {
    /// `/dev/<name>`, a copy of the device `major:minor`.
    fn make(name: &str, major: &str, minor: &str) -> DeviceNode {
        let path = PathBuf::from(format!("/dev/{name}"));
        let _ = std::fs::remove_file(&path);
        let out = Command::new("mknod")
            .args(["-m", "666"])
            .arg(&path)
            .args(["c", major, minor])
            .output()
            .expect("run mknod");
        assert!(
            out.status.success(),
            "mknod {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        DeviceNode(path)
    }
}

impl Drop for DeviceNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pod_asking(name: &str, resources: &[&str], extra_spec: &str) -> String {
    let limits: Vec<String> = resources
        .iter()
        .map(|r| format!("\"{r}\": \"1\""))
        .collect();
    let limits = limits.join(", ");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1{extra_spec}
  containers:
  - name: c
    image: box
    resources: {{limits: {{{limits}}}}}
"#
    )
}

fn devices_on(runtime: &str, tag: u8) {
    let pid = std::process::id();
    // A copy of /dev/null to write to, and of /dev/fuse (10:229), which no container may
    // open by default (opening it alone does nothing), for the device cgroup's rules.
    let name = format!("bramble-test-{pid}");
    let device = DeviceNode::make(&name, "1", "3");
    let path = device.0.display().to_string();
    let resource = format!("bramble.io/{name}");
    let fuse = DeviceNode::make(&format!("bramble-fuse-{pid}"), "10", "229");
    let fuse_path = fuse.0.display().to_string();
    let fuse_resource = format!("bramble.io/bramble-fuse-{pid}");
    let mut board = Board::start_with(
        runtime,
        tag,
        &[("library/box", IDLE)],
        &["--device", &path, "--device", &fuse_path],
    );
    let c = &board.cluster;
    board.wait_node_ready();

    let escaped = resource.replace('.', "\\.");
    for list in ["capacity", "allocatable"] {
        let advertised = c.jsonpath(
            &["node", "test-node"],
            &format!("{{.status.{list}.{escaped}}}"),
        );
        assert_eq!(advertised, "1", "{runtime}: {list} of {resource}");
    }

    c.apply(&pod_asking("holder", &[&resource, &fuse_resource], ""));
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: box}]
"#,
    );
    for pod in ["holder", "plain"] {
        eventually(&format!("{pod} to be ready on {runtime}"), || {
            let ready = c.pod_jsonpath(pod, "{.status.containerStatuses[0].ready}");
            (ready == "true").then_some(())
        });
    }
    let exec = |pod: &str, cmd: &str| c.kubectl(&["exec", pod, "--", "sh", "-c", cmd]);

    // The holder has the device node and may write to it.
    let wrote = exec("holder", &format!("echo x > {path} && ls -l {path}"));
    assert!(
        wrote.status.success(),
        "{runtime}: writing {path} in the holder: {}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let listing = String::from_utf8_lossy(&wrote.stdout).to_string();
    assert!(
        listing.starts_with('c') && listing.contains("1,"),
        "{runtime}: {listing}"
    );

    // The device cgroup lets the holder open what it was given.
    let opened = exec("holder", &format!("exec 3<> {fuse_path}"));
    assert!(
        opened.status.success(),
        "{runtime}: opening {fuse_path} in the holder: {}",
        String::from_utf8_lossy(&opened.stderr)
    );

    // A pod that did not ask has no such file to open.
    let absent = exec("plain", &format!("test -e {path}"));
    assert!(!absent.status.success(), "{runtime}: {path} in plain");
    let refused = exec("plain", &format!("cat {path}"));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("No such file"),
        "{runtime}: plain opened {path}: {}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Nor may it open a node of its own with those numbers: the device cgroup denies it.
    let denied = exec("plain", "mknod /dev/copy c 10 229 && exec 3<> /dev/copy");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Operation not permitted"),
        "{runtime}: plain opened a 10:229 node: {}",
        String::from_utf8_lossy(&denied.stderr)
    );

    // A second pod waits for the device.
    c.apply(&pod_asking("waiting", &[&resource], ""));
    let insufficient = format!("Insufficient {resource}");
    eventually(&format!("the scheduler to report {insufficient}"), || {
        let message = c.pod_jsonpath(
            "waiting",
            "{.status.conditions[?(@.type==\"PodScheduled\")].message}",
        );
        message.contains(&insufficient).then_some(())
    });
    assert_eq!(c.pod_jsonpath("waiting", "{.status.phase}"), "Pending");

    // A restarted kubelet gives the running holder its device again, so a pod bound past
    // the scheduler is rejected.
    board.cluster.restart();
    let c = &board.cluster;
    let exec = |pod: &str, cmd: &str| c.kubectl(&["exec", pod, "--", "sh", "-c", cmd]);
    board.wait_node_ready();
    c.apply(&pod_asking(
        "bound",
        &[&resource],
        "\n  nodeName: test-node",
    ));
    let reason = eventually("the kubelet to reject the bound pod", || {
        let phase = c.pod_jsonpath("bound", "{.status.phase}");
        (phase == "Failed").then(|| c.pod_jsonpath("bound", "{.status.reason}"))
    });
    assert_eq!(reason, "UnexpectedAdmissionError", "{runtime}");
    assert_eq!(
        c.pod_jsonpath("bound", "{.status.message}"),
        format!(
            "Pod was rejected: Allocate failed due to requested number of devices unavailable \
             for {resource}. Requested: 1, Available: 0, which is unexpected"
        ),
        "{runtime}"
    );
    // The holder still runs.
    assert_eq!(c.pod_jsonpath("holder", "{.status.phase}"), "Running");

    // Once the holder is gone, the waiting pod gets the device.
    let deleted = c.kubectl(&["delete", "pod", "holder", "--wait=true", "--timeout=60s"]);
    assert!(deleted.status.success(), "{runtime}: deleting the holder");
    eventually(
        &format!("waiting to run with the device on {runtime}"),
        || {
            let ready = c.pod_jsonpath("waiting", "{.status.containerStatuses[0].ready}");
            (ready == "true").then_some(())
        },
    );
    let wrote = exec("waiting", &format!("echo x > {path}"));
    assert!(
        wrote.status.success(),
        "{runtime}: writing {path} in the second pod: {}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    drop(board);
}

#[test]
fn builtin_runtime_gives_devices_to_the_pods_that_ask() {
    devices_on("builtin", 152);
}

#[test]
fn runc_gives_devices_to_the_pods_that_ask() {
    devices_on("runc", 153);
}
