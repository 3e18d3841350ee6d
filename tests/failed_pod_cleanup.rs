//! Pods whose containers never ran leave nothing on the node once deleted (needs root):
//! with the built-in runtime and with runc, pods that fail at image pull, at container
//! config, at create (a missing command, an unusable working directory) and at start (a
//! command the kernel cannot execute) are deleted with kubectl, and then no mount, cgroup,
//! pod or log directory or namespace of theirs is left.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::board::{Board, IDLE};
use support::eventually;
use support::storage::get;
use support::Cluster;

/// A pod with a memory-backed emptyDir, a disk emptyDir and a hostPath (all mounted before
/// any container is tried) whose single container is `container` (YAML flow mapping body).
fn pod(name: &str, host_dir: &Path, container: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n\
         \x20 - {{name: c, {container}, volumeMounts: [{{name: mem, mountPath: /mem}}, \
         {{name: disk, mountPath: /disk}}, {{name: host, mountPath: /host}}]}}\n  volumes:\n\
         \x20 - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}\n\
         \x20 - {{name: disk, emptyDir: {{}}}}\n\
         \x20 - {{name: host, hostPath: {{path: \"{}\", type: Directory}}}}\n",
        host_dir.display()
    )
}

/// Waits until the pod's container has failed: waiting for a reason other than
/// `ContainerCreating`, or terminated; returns what it says and, from the same status, its
/// `ready` (a container that ran and failed is restarted, so a later read may find it
/// running again).
fn failed(c: &Cluster, pod: &str) -> (String, String) {
    eventually(&format!("{pod}'s container to fail"), || {
        let status = get(
            c,
            &["pod", pod],
            "{.status.containerStatuses[0].state.waiting.reason}\
             {.status.containerStatuses[0].state.terminated.reason}|\
             {.status.containerStatuses[0].ready}",
        );
        let (state, ready) = status.split_once('|')?;
        (!state.is_empty() && state != "ContainerCreating")
            .then(|| (state.to_string(), ready.to_string()))
    })
}

/// The pod's cgroup in every mounted hierarchy that has one.
fn cgroups(uid: &str) -> Vec<PathBuf> {
    let name = format!("bramble/pod{uid}");
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    roots
        .into_iter()
        .map(|r| r.join(&name))
        .filter(|p| p.exists())
        .collect()
}

/// Every path under `dir` whose name contains `uid`.
fn named_under(dir: &Path, uid: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().contains(uid) {
            found.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(named_under(&p, uid));
        }
    }
    found
}

fn leftovers(c: &Cluster, uid: &str) -> Vec<String> {
    let mut left = support::mounts_naming(uid);
    left.extend(cgroups(uid).iter().map(|p| p.display().to_string()));
    for dir in [
        c.data_dir().join("pods"),
        c.data_dir().join("logs"),
        c.run_dir(),
    ] {
        left.extend(
            named_under(&dir, uid)
                .iter()
                .map(|p| p.display().to_string()),
        );
    }
    left
}

fn failed_pods_leave_nothing(runtime: &str, tag: u8) {
    let host = tempfile::tempdir_in("/tmp").unwrap();
    // Executable, but neither ELF nor a script: execve fails with ENOEXEC when it runs.
    let bad = host.path().join("not-a-program");
    fs::write(&bad, b"\x00\x01 nothing to run\n").unwrap();
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o755)).unwrap();
    let board = Board::start(runtime, tag, &[("library/box", IDLE)]);
    let c = &board.cluster;
    let cases = [
        ("pull", "image: not-in-the-registry"),
        (
            "config",
            "image: box, env: [{name: X, valueFrom: {configMapKeyRef: {name: missing, key: k}}}]",
        ),
        ("nocmd", "image: box, command: [/no/such/command]"),
        ("workdir", "image: box, workingDir: /bin/busybox"),
        ("noexec", "image: box, command: [/host/not-a-program]"),
    ];
    let mut uids = Vec::new();
    for (name, container) in cases {
        c.apply(&pod(name, host.path(), container));
    }
    for (name, _) in cases {
        let (state, ready) = failed(c, name);
        let uid = get(c, &["pod", name], "{.metadata.uid}");
        // The sandbox was made: volumes mounted, pod directory written.
        assert!(
            !support::mounts_naming(&uid).is_empty(),
            "{name} ({state}) has no mounts to clean up"
        );
        assert!(c.data_dir().join("pods").join(&uid).is_dir(), "{name}");
        assert_ne!(ready, "true", "{name}: {state}");
        eprintln!("{runtime}: {name} failed with {state}");
        uids.push((name, uid));
    }
    c.kubectl_ok(&[
        "delete",
        "pods",
        "--all",
        "--grace-period=1",
        "--wait=true",
        "--timeout=60s",
    ]);
    for (name, uid) in &uids {
        eventually(&format!("{name}'s host state to be removed"), || {
            leftovers(c, uid).is_empty().then_some(())
        });
    }
    assert!(bad.exists(), "the hostPath's files were deleted");
}

#[test]
fn failed_pods_leave_nothing_with_the_builtin_runtime() {
    failed_pods_leave_nothing("builtin", 46);
}

#[test]
fn failed_pods_leave_nothing_with_runc() {
    failed_pods_leave_nothing("runc", 47);
}
