//! Static pods: a manifest in the server's `--pod-manifest-path` runs on its kubelet as
//! `<name>-<node>` and appears in the API as a mirror pod, owned by the Node, that users
//! cannot edit; `kubectl delete` of the mirror brings a new mirror while the pod keeps
//! running, and removing the file stops the pod and deletes its mirror. Needs root.

use crate::support;

use support::board::{shells_with, Board, IDLE};
use support::eventually;

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
        Some(shells_with(&marker)).filter(|p| !p.is_empty())
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
    let pids = shells_with(&marker);
    c.kubectl_ok(&["delete", "pod", pod, "--wait=false"]);
    eventually("a new mirror pod showing Running", || {
        let uid = c.jsonpath(&["pod", pod], "{.metadata.uid}");
        let phase = c.jsonpath(&["pod", pod], "{.status.phase}");
        (!uid.is_empty() && uid != first_uid && phase == "Running").then_some(())
    });
    assert_eq!(
        shells_with(&marker),
        pids,
        "the static pod was not restarted"
    );

    // the file is removed: the pod stops and its mirror goes
    std::fs::remove_file(&manifest).unwrap();
    eventually("the static pod to stop", || {
        shells_with(&marker).is_empty().then_some(())
    });
    eventually("the mirror pod to be deleted", || {
        let out = c.kubectl(&["get", "pod", pod]);
        (!out.status.success()).then_some(())
    });
}
