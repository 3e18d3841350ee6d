//! Static pods: a manifest in the server's `--pod-manifest-path` runs on its kubelet as
//! `<name>-<node>` and appears in the API as a mirror pod, owned by the Node, that users
//! cannot edit; `kubectl delete` of the mirror brings a new mirror while the pod keeps
//! running, and removing the file stops the pod and deletes its mirror. Needs root.

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// How many shells run with `marker` in their command line.
fn running(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("sh"))
            && args.iter().any(|a| a.contains(marker))
        {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_static_pod_runs_from_its_file_and_shows_as_a_mirror_pod() {
    let manifests = tempfile::tempdir().expect("manifest dir");
    let marker = format!("static-web-{}", std::process::id());
    let manifest = manifests.path().join("web.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done # {marker}\"]
"
        ),
    )
    .unwrap();
    std::fs::write(
        manifests.path().join("broken.yaml"),
        "kind: Pod\nmetadata: [",
    )
    .unwrap();
    let dir = manifests.path().display().to_string();
    let board = Board::start_with(
        "builtin",
        201,
        &[("library/busybox", IDLE)],
        &["--pod-manifest-path", &dir],
    );
    let c = &board.cluster;
    let pod = "web-test-node";

    eventually("the mirror pod to show the static pod Running", || {
        (c.jsonpath(&["pod", pod], "{.status.phase}") == "Running").then_some(())
    });
    // The phase turns Running as the container starts, a moment before its process has
    // become the shell.
    let shells = eventually("the static pod's shell", || {
        Some(running(&marker)).filter(|p| !p.is_empty())
    });
    assert_eq!(shells.len(), 1, "one copy of the static pod runs");
    let annotations = c.jsonpath(&["pod", pod], "{.metadata.annotations}");
    assert!(
        annotations.contains("kubernetes.io/config.mirror"),
        "{annotations}"
    );
    assert!(
        annotations.contains("\"kubernetes.io/config.source\":\"file\""),
        "{annotations}"
    );
    assert_eq!(
        c.jsonpath(&["pod", pod], "{.metadata.ownerReferences[0].kind}"),
        "Node"
    );
    assert_eq!(
        c.jsonpath(&["pod", pod], "{.metadata.ownerReferences[0].name}"),
        "test-node"
    );
    assert!(
        c.log().contains("static pod manifest skipped"),
        "the bad file is logged"
    );

    // the mirror's spec cannot be changed
    let patched = c.kubectl(&[
        "patch",
        "pod",
        pod,
        "-p",
        r#"{"spec":{"containers":[{"name":"main","image":"busybox:other"}]}}"#,
    ]);
    assert!(!patched.status.success(), "a mirror pod's spec was changed");

    // kubectl delete: a new mirror appears, the pod itself keeps running
    let first_uid = c.jsonpath(&["pod", pod], "{.metadata.uid}");
    let pids = running(&marker);
    c.kubectl_ok(&["delete", "pod", pod, "--wait=false"]);
    eventually("a new mirror pod showing Running", || {
        let uid = c.jsonpath(&["pod", pod], "{.metadata.uid}");
        let phase = c.jsonpath(&["pod", pod], "{.status.phase}");
        (!uid.is_empty() && uid != first_uid && phase == "Running").then_some(())
    });
    assert_eq!(running(&marker), pids, "the static pod was not restarted");

    // the file is removed: the pod stops and its mirror goes
    std::fs::remove_file(&manifest).unwrap();
    eventually("the static pod to stop", || {
        running(&marker).is_empty().then_some(())
    });
    eventually("the mirror pod to be deleted", || {
        let out = c.kubectl(&["get", "pod", pod]);
        (!out.status.success()).then_some(())
    });
}
