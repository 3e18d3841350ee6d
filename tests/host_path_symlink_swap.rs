//! A container that can write above an allowed host path swaps it for a symlink to the
//! host's files, then the next container mounts it (needs root). The kubelet opens every
//! host path once without following symlinks and mounts that descriptor before the pod's
//! first container runs, so the next container sees the directory that was checked (a
//! hostPath volume, a local PV) or is refused with a clear reason (a subPath that became a
//! symlink, a hostPath that already is one); the host's files are never mounted, a
//! restarted kubelet keeps the mounts it checked, and deletion removes them all.

use crate::support;

use std::fs;
use std::path::Path;

use support::board::{Board, IDLE};
use support::eventually;
use support::storage::{get, wait_bound};
use support::Cluster;

/// A pod whose init container (with `parent` mounted) replaces `parent/<entry>` by a
/// symlink to `target`, and whose container `reader` lists and prints `/seen`.
fn swap_pod(name: &str, entry: &str, target: &Path, volumes: &str, seen_mount: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n\
         \x20 initContainers:\n  - name: swapper\n    image: box\n    command: [sh, -c, \
         \"mv /parent/{entry} /parent/{entry}.moved && ln -s {target} /parent/{entry}\"]\n\
         \x20   volumeMounts: [{{name: parent, mountPath: /parent}}]\n\
         \x20 containers:\n  - name: reader\n    image: box\n    command: [sh, -c, \
         \"ls /seen; cat /seen/*; trap 'exit 0' TERM; while true; do sleep 1; done\"]\n\
         \x20   volumeMounts: [{seen_mount}]\n  volumes:\n{volumes}",
        target = target.display()
    )
}

fn host_path(name: &str, path: &Path) -> String {
    format!(
        "  - name: {name}\n    hostPath: {{path: \"{}\", type: Directory}}\n",
        path.display()
    )
}

/// Waits for `reader`'s log to show `expected`, then checks it shows nothing of the host's.
fn reader_sees(c: &Cluster, pod: &str, expected: &str) {
    let log = eventually(&format!("{pod}'s reader to print its volume"), || {
        let out = c.kubectl(&["logs", pod, "-c", "reader"]);
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        log.contains(expected).then_some(log)
    });
    assert!(
        !log.contains("host-secret"),
        "{pod} saw the host's files: {log}"
    );
}

fn waiting_message(c: &Cluster, pod: &str, wanted: &str) -> String {
    eventually(&format!("{pod} to be refused"), || {
        let m = get(
            c,
            &["pod", pod],
            "{.status.containerStatuses[0].state.waiting.message}",
        );
        m.contains(wanted).then_some(m)
    })
}

fn pod_uid(c: &Cluster, pod: &str) -> String {
    get(c, &["pod", pod], "{.metadata.uid}")
}

fn delete_pod(c: &Cluster, pod: &str) {
    c.kubectl_ok(&[
        "delete",
        "pod",
        pod,
        "--grace-period=1",
        "--wait=true",
        "--timeout=60s",
    ]);
}

#[test]
fn a_host_path_swapped_for_a_symlink_never_mounts_the_host() {
    let allowed = tempfile::tempdir_in("/tmp").unwrap();
    let secret = tempfile::tempdir_in("/tmp").unwrap();
    fs::write(secret.path().join("marker"), "host-secret\n").unwrap();
    let a = allowed.path();
    for (dir, content) in [("a/sub", "checked-dir\n"), ("b/sub", "sub-dir\n")] {
        fs::create_dir_all(a.join(dir)).unwrap();
        fs::write(a.join(dir).join("original"), content).unwrap();
    }
    fs::create_dir_all(a.join("pv")).unwrap();
    fs::write(a.join("pv/original"), "pv-dir\n").unwrap();
    let allow = a.display().to_string();
    let mut board = Board::start_with(
        "builtin",
        45,
        &[("library/box", IDLE)],
        &["--host-path-allow", &allow],
    );
    let c = &board.cluster;

    // hostPath: the next container gets the directory checked before the pod started.
    let volumes = host_path("parent", &a.join("a")) + &host_path("sub", &a.join("a/sub"));
    c.apply(&swap_pod(
        "hostpath",
        "sub",
        secret.path(),
        &volumes,
        "{name: sub, mountPath: /seen}",
    ));
    reader_sees(c, "hostpath", "checked-dir");
    let swapped = fs::symlink_metadata(a.join("a/sub")).unwrap();
    assert!(swapped.file_type().is_symlink(), "the swap did not happen");

    // subPath: opened inside the pinned volume at container start, where the symlink is
    // refused.
    c.apply(&swap_pod(
        "subpath",
        "sub",
        secret.path(),
        &host_path("parent", &a.join("b")),
        "{name: parent, mountPath: /seen, subPath: sub}",
    ));
    waiting_message(
        c,
        "subpath",
        "host-path/parent/sub\" not within volume path",
    );
    assert_eq!(get(c, &["pod", "subpath"], "{.status.phase}"), "Pending");

    // A local PV whose directory a pod with its parent mounted swaps.
    c.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: swapped}}\nspec:\n\
         \x20 capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n\
         \x20 local: {{path: {}}}\n  claimRef: {{namespace: default, name: pvc}}\n\
         \x20 nodeAffinity:\n    required:\n      nodeSelectorTerms:\n\
         \x20     - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [test-node]}}]\n\
         ---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: pvc}}\n\
         spec:\n  storageClassName: \"\"\n  volumeName: swapped\n  accessModes: [ReadWriteOnce]\n\
         \x20 resources: {{requests: {{storage: 1Gi}}}}\n",
        a.join("pv").display()
    ));
    let uid = get(c, &["pvc", "pvc"], "{.metadata.uid}");
    c.kubectl_ok(&[
        "patch",
        "pv",
        "swapped",
        "--type=merge",
        "-p",
        &format!(r#"{{"spec":{{"claimRef":{{"uid":"{uid}"}}}}}}"#),
    ]);
    wait_bound(c, "pvc", "swapped");
    let volumes =
        host_path("parent", a) + "  - name: data\n    persistentVolumeClaim: {claimName: pvc}\n";
    c.apply(&swap_pod(
        "localpv",
        "pv",
        secret.path(),
        &volumes,
        "{name: data, mountPath: /seen}",
    ));
    reader_sees(c, "localpv", "pv-dir");
    assert!(fs::symlink_metadata(a.join("pv"))
        .unwrap()
        .file_type()
        .is_symlink());

    // A hostPath that already is a symlink when the kubelet mounts it is refused, with a
    // FailedMount event, even when its target is allowed (admission, which resolves it on
    // the server's disk, lets it through).
    fs::create_dir_all(a.join("c/real")).unwrap();
    std::os::unix::fs::symlink(a.join("c/real"), a.join("c/link")).unwrap();
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: planted}}\nspec:\n  containers:\n\
         \x20 - {{name: c, image: box, volumeMounts: [{{name: v, mountPath: /v}}]}}\n  volumes:\n{}",
        host_path("v", &a.join("c/link"))
    ));
    let expected = format!(
        "hostPath volume \"v\" path \"{}/c/link\" was refused at mount time: it is or passes \
         through a symlink below {allow}, or leaves it",
        allow
    );
    waiting_message(c, "planted", &expected);
    eventually("the FailedMount event", || {
        let out = c.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=planted,reason=FailedMount",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .contains(&expected)
            .then_some(())
    });

    // A restarted kubelet keeps the staging mounts it checked instead of resolving the
    // swapped paths again: the running reader keeps its volume and stays ready.
    board.cluster.restart();
    board.wait_node_ready();
    let c = &board.cluster;
    for (pod, expected) in [("hostpath", "checked-dir\n"), ("localpv", "pv-dir\n")] {
        eventually(
            &format!("{pod}'s reader to be ready after the restart"),
            || {
                let out = c.kubectl(&["exec", pod, "-c", "reader", "--", "cat", "/seen/original"]);
                let ready = get(c, &["pod", pod], "{.status.containerStatuses[0].ready}");
                (out.stdout == expected.as_bytes() && ready == "true").then_some(())
            },
        );
    }

    // Deleting the pods removes every staging mount and keeps the host's files.
    for pod in ["hostpath", "subpath", "localpv", "planted"] {
        let uid = pod_uid(c, pod);
        delete_pod(c, pod);
        eventually(&format!("{pod}'s mounts to be gone"), || {
            support::mounts_naming(&uid).is_empty().then_some(())
        });
        assert!(!board.cluster.data_dir().join("pods").join(&uid).exists());
    }
    assert_eq!(
        fs::read_to_string(a.join("a/sub.moved/original")).unwrap(),
        "checked-dir\n"
    );
    assert_eq!(
        fs::read_to_string(a.join("pv.moved/original")).unwrap(),
        "pv-dir\n"
    );
    assert_eq!(
        fs::read_to_string(secret.path().join("marker")).unwrap(),
        "host-secret\n"
    );
}
