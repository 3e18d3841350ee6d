//! Node-local persistent storage as a user meets it, on a real board (needs root, e2fsprogs
//! and util-linux): a claim provisioned by `bramble.io/local-path` keeps its files across pod
//! re-creation and is removed on Delete reclaim; a `bramble.io/local-disk` claim enforces
//! its size (ENOSPC), grows online when expanded and its image is removed on reclaim; Retain
//! keeps data; an administrator's local PV mounted `readOnly` refuses writes.
//!
//! The binder is not part of the kubelet: where it would act (binding a PV to its claim,
//! marking a PV Released), the test does the same API writes itself.

mod support;

use std::path::{Path, PathBuf};

use support::board::Board;
use support::{eventually, Cluster};

const IDLE: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

/// Deletes the pods, then unmounts whatever the kubelet left mounted under the data dir
/// (volumes of a failed test) so the board's directories can be removed.
struct StorageCleanup<'a>(&'a Board);

impl Drop for StorageCleanup<'_> {
    fn drop(&mut self) {
        let c = &self.0.cluster;
        let _ = c.kubectl(&[
            "delete",
            "pods",
            "--all",
            "--grace-period=1",
            "--wait=true",
            "--timeout=60s",
        ]);
        let data = std::fs::canonicalize(c.data_dir()).unwrap_or(c.data_dir());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&data))
            .collect();
        mounts.reverse();
        for m in mounts {
            let _ = std::process::Command::new("umount")
                .args(["-l", m])
                .output();
        }
        // `mount -o loop` loop devices detach on unmount; catch any left behind.
        let images = data.join("storage/local-disk/images");
        for e in std::fs::read_dir(images).into_iter().flatten().flatten() {
            let _ = std::process::Command::new("losetup")
                .args(["-D"])
                .arg(e.path())
                .output();
        }
    }
}

fn get(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    let jp = format!("jsonpath={path}");
    a.extend(["-o", &jp]);
    String::from_utf8_lossy(&c.kubectl(&a).stdout).into_owned()
}

fn claim_yaml(name: &str, class: &str, size: &str, selected: bool) -> String {
    let annotation = if selected {
        "\n  annotations: {volume.kubernetes.io/selected-node: test-node}"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}{annotation}\n\
         spec:\n  storageClassName: {class}\n  accessModes: [ReadWriteOnce]\n\
         \x20 resources: {{requests: {{storage: {size}}}}}\n"
    )
}

fn pod_yaml(name: &str, claim: &str, read_only: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n\
         \x20 - name: c\n    image: box\n    volumeMounts: [{{name: data, mountPath: /data}}]\n\
         \x20 volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}, readOnly: {read_only}}}\n"
    )
}

/// Waits for the kubelet to provision `claim`; returns the PV name.
fn provisioned(c: &Cluster, claim: &str) -> String {
    let uid = get(c, &["pvc", claim], "{.metadata.uid}");
    let pv = format!("pvc-{uid}");
    eventually(&format!("PV {pv} to be provisioned"), || {
        c.kubectl(&["get", "pv", &pv])
            .status
            .success()
            .then_some(())
    });
    pv
}

/// What the binder does: claim → volume, both phases Bound.
fn bind(c: &Cluster, claim: &str, pv: &str) {
    c.kubectl_ok(&[
        "patch",
        "pvc",
        claim,
        "--type=merge",
        "-p",
        &format!(r#"{{"spec":{{"volumeName":"{pv}"}}}}"#),
    ]);
    let size = get(c, &["pv", pv], "{.spec.capacity.storage}");
    c.kubectl_ok(&[
        "patch",
        "pvc",
        claim,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{{"storage":"{size}"}}}}}}"#),
    ]);
    set_pv_phase(c, pv, "Bound");
}

fn set_pv_phase(c: &Cluster, pv: &str, phase: &str) {
    c.kubectl_ok(&[
        "patch",
        "pv",
        pv,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"phase":"{phase}"}}}}"#),
    ]);
}

fn wait_running(c: &Cluster, pod: &str) {
    eventually(&format!("{pod} to run"), || {
        (get(c, &["pod", pod], "{.status.containerStatuses[0].ready}") == "true").then_some(())
    });
}

fn exec(c: &Cluster, pod: &str, script: &str) -> std::process::Output {
    c.kubectl(&["exec", pod, "--", "sh", "-c", script])
}

fn delete(c: &Cluster, what: &[&str]) {
    let mut a = vec!["delete"];
    a.extend_from_slice(what);
    a.extend(["--grace-period=1", "--wait=true", "--timeout=60s"]);
    c.kubectl_ok(&a);
}

/// The claim is gone; as the binder would, mark its volume Released and wait for it to go.
fn release_and_wait_gone(c: &Cluster, claim: &str, pv: &str) {
    delete(c, &["pvc", claim]);
    set_pv_phase(c, pv, "Released");
    eventually(&format!("PV {pv} to be deleted"), || {
        (!c.kubectl(&["get", "pv", pv]).status.success()).then_some(())
    });
}

#[test]
fn local_path_claim_keeps_data_across_pods_and_delete_reclaim_removes_it() {
    let root = tempfile::tempdir().unwrap();
    let root_flag = root.path().join("volumes").display().to_string();
    let board = Board::start_with(
        "builtin",
        21,
        &[("library/box", IDLE)],
        &["--local-path-root", &root_flag],
    );
    let _cleanup = StorageCleanup(&board);
    let c = &board.cluster;
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-path}\n\
         provisioner: bramble.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n",
    );
    c.apply(&claim_yaml("data", "local-path", "64Mi", true));
    let pv = provisioned(c, "data");
    // The PV as ADR 004 specifies it.
    assert_eq!(
        get(
            c,
            &["pv", &pv],
            "{.metadata.annotations.pv\\.kubernetes\\.io/provisioned-by}"
        ),
        "bramble.io/local-path"
    );
    assert_eq!(
        get(c, &["pv", &pv], "{.spec.persistentVolumeReclaimPolicy}"),
        "Delete"
    );
    assert_eq!(get(c, &["pv", &pv], "{.spec.capacity.storage}"), "64Mi");
    assert_eq!(
        get(c, &["pv", &pv], "{.spec.storageClassName}"),
        "local-path"
    );
    assert_eq!(
        get(c, &["pv", &pv], "{.spec.claimRef.uid}"),
        get(c, &["pvc", "data"], "{.metadata.uid}")
    );
    assert_eq!(
        get(
            c,
            &["pv", &pv],
            "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"
        ),
        "test-node"
    );
    let dir = PathBuf::from(get(c, &["pv", &pv], "{.spec.local.path}"));
    assert!(dir.is_dir(), "{}", dir.display());
    assert_eq!(dir, Path::new(&root_flag).join(&pv));
    assert!(get(c, &["node", "test-node"], "{.metadata.annotations}")
        .contains("storage.bramble.io/local-path-free-bytes"));

    // A pod whose claim is not Bound waits in ContainerCreating, saying why.
    c.apply(&pod_yaml("writer", "data", false));
    let waiting = eventually("the pod to wait for its claim", || {
        let m = get(
            c,
            &["pod", "writer"],
            "{.status.containerStatuses[0].state.waiting.message}",
        );
        m.contains("non-bound phase").then_some(m)
    });
    assert!(waiting.contains("PVC default/data"), "{waiting}");

    bind(c, "data", &pv);
    wait_running(c, "writer");
    let out = exec(c, "writer", "echo kept > /data/file");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), "kept\n");
    delete(c, &["pod", "writer"]);

    // The re-created pod also mounts a subPath of the claim (created on first use).
    c.apply(&pod_yaml("reader", "data", false).replace(
        "volumeMounts: [{name: data, mountPath: /data}]",
        "volumeMounts: [{name: data, mountPath: /data}, {name: data, mountPath: /sub, subPath: nested}]",
    ));
    wait_running(c, "reader");
    assert!(exec(c, "reader", "echo deep > /sub/x").status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("nested/x")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&exec(c, "reader", "cat /data/file").stdout),
        "kept\n"
    );
    delete(c, &["pod", "reader"]);

    release_and_wait_gone(c, "data", &pv);
    assert!(!dir.exists(), "{} survived Delete reclaim", dir.display());
}

/// Size in 1K blocks of the filesystem at /data inside `pod`, from `df`.
fn df_blocks(c: &Cluster, pod: &str) -> u64 {
    let out = exec(c, pod, "df -k /data | tail -1");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("df printed {text:?}"))
}

#[test]
fn local_disk_claim_enforces_its_size_grows_and_is_reclaimed() {
    let board = Board::start("builtin", 22, &[("library/box", IDLE)]);
    let _cleanup = StorageCleanup(&board);
    let c = &board.cluster;
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-disk}\n\
         provisioner: bramble.io/local-disk\nallowVolumeExpansion: true\n",
    );
    c.apply(&claim_yaml("disk", "local-disk", "32Mi", true));
    let pv = provisioned(c, "disk");
    let mount = PathBuf::from(get(c, &["pv", &pv], "{.spec.local.path}"));
    let image = std::fs::canonicalize(c.data_dir())
        .unwrap()
        .join(format!("storage/local-disk/images/{pv}.img"));
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 32 << 20);
    assert!(get(c, &["node", "test-node"], "{.metadata.annotations}")
        .contains("storage.bramble.io/local-disk-free-bytes"));
    bind(c, "disk", &pv);

    c.apply(&pod_yaml("filler", "disk", false));
    wait_running(c, "filler");
    assert!(exec(c, "filler", "echo kept > /data/file").status.success());
    let out = exec(c, "filler", "dd if=/dev/zero of=/data/big bs=1M count=64");
    assert!(
        !out.status.success(),
        "writing 64Mi into a 32Mi claim succeeded"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let before = df_blocks(c, "filler");
    assert!(before <= 32 * 1024, "df shows {before}K for a 32Mi claim");
    assert!(exec(c, "filler", "rm /data/big").status.success());
    delete(c, &["pod", "filler"]);

    c.apply(&pod_yaml("again", "disk", false));
    wait_running(c, "again");
    assert_eq!(
        String::from_utf8_lossy(&exec(c, "again", "cat /data/file").stdout),
        "kept\n"
    );

    // Expansion: the filesystem grows while the pod runs, or, where the kernel refuses an
    // online resize (no CAP_SYS_RESOURCE), once the pod is gone, as upstream's
    // FileSystemResizePending flow does.
    c.kubectl_ok(&[
        "patch",
        "pvc",
        "disk",
        "--type=merge",
        "-p",
        r#"{"spec":{"resources":{"requests":{"storage":"64Mi"}}}}"#,
    ]);
    let online = eventually("the claim to grow or wait for a restart", || {
        if get(c, &["pvc", "disk"], "{.status.capacity.storage}") == "64Mi" {
            return Some(true);
        }
        let cond = get(
            c,
            &["pvc", "disk"],
            "{.status.conditions[?(@.type==\"FileSystemResizePending\")].message}",
        );
        cond.contains("Waiting for user to (re-)start a pod")
            .then_some(false)
    });
    assert_eq!(get(c, &["pv", &pv], "{.spec.capacity.storage}"), "64Mi");
    let pod = if online {
        "again"
    } else {
        assert_eq!(df_blocks(c, "again"), before, "grew while pending");
        delete(c, &["pod", "again"]);
        eventually("the offline resize to finish", || {
            (get(c, &["pvc", "disk"], "{.status.capacity.storage}") == "64Mi").then_some(())
        });
        c.apply(&pod_yaml("third", "disk", false));
        wait_running(c, "third");
        "third"
    };
    assert_eq!(get(c, &["pvc", "disk"], "{.status.conditions}"), "");
    let after = df_blocks(c, pod);
    assert!(
        after > before + 16 * 1024,
        "df: {before}K before, {after}K after growing to 64Mi"
    );
    assert_eq!(
        String::from_utf8_lossy(&exec(c, pod, "cat /data/file").stdout),
        "kept\n"
    );
    assert!(exec(c, pod, "dd if=/dev/zero of=/data/big bs=1M count=40")
        .status
        .success());
    delete(c, &["pod", pod]);

    release_and_wait_gone(c, "disk", &pv);
    assert!(!image.exists(), "the image survived Delete reclaim");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(mount.to_str().unwrap()),
        "{} is still mounted",
        mount.display()
    );
    let loops = std::process::Command::new("losetup")
        .args(["-j"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(loops.stdout.is_empty(), "{loops:?}");
}

#[test]
fn retain_keeps_data_and_a_read_only_claim_refuses_writes() {
    let board = Board::start("builtin", 23, &[("library/box", IDLE)]);
    let _cleanup = StorageCleanup(&board);
    let c = &board.cluster;
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: keep}\n\
         provisioner: bramble.io/local-path\nreclaimPolicy: Retain\n",
    );
    c.apply(&claim_yaml("kept", "keep", "8Mi", true));
    let pv = provisioned(c, "kept");
    assert_eq!(
        get(c, &["pv", &pv], "{.spec.persistentVolumeReclaimPolicy}"),
        "Retain"
    );
    let dir = PathBuf::from(get(c, &["pv", &pv], "{.spec.local.path}"));
    std::fs::write(dir.join("file"), "precious").unwrap();
    delete(c, &["pvc", "kept"]);
    set_pv_phase(c, &pv, "Released");
    // A claim created after the release is provisioned in a pass that first saw the release.
    c.apply(&claim_yaml("marker", "keep", "8Mi", true));
    provisioned(c, "marker");
    assert_eq!(
        std::fs::read_to_string(dir.join("file")).unwrap(),
        "precious"
    );
    assert_eq!(get(c, &["pv", &pv], "{.status.phase}"), "Released");

    // An administrator's local PV, pre-bound to a claim, mounted read-only.
    let admin_dir = board.work.path().join("admin-volume");
    std::fs::create_dir_all(&admin_dir).unwrap();
    std::fs::write(admin_dir.join("motd"), "hello").unwrap();
    c.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: admin}}\nspec:\n\
         \x20 capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n\
         \x20 local: {{path: {}}}\n  claimRef: {{namespace: default, name: ro}}\n\
         \x20 nodeAffinity:\n    required:\n      nodeSelectorTerms:\n\
         \x20     - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [test-node]}}]\n\
         ---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: ro}}\n\
         spec:\n  storageClassName: \"\"\n  volumeName: admin\n  accessModes: [ReadWriteOnce]\n\
         \x20 resources: {{requests: {{storage: 1Gi}}}}\n",
        admin_dir.display()
    ));
    let uid = get(c, &["pvc", "ro"], "{.metadata.uid}");
    c.kubectl_ok(&[
        "patch",
        "pv",
        "admin",
        "--type=merge",
        "-p",
        &format!(r#"{{"spec":{{"claimRef":{{"uid":"{uid}"}}}}}}"#),
    ]);
    bind(c, "ro", "admin");
    c.apply(&pod_yaml("viewer", "ro", true));
    wait_running(c, "viewer");
    assert_eq!(
        String::from_utf8_lossy(&exec(c, "viewer", "cat /data/motd").stdout),
        "hello"
    );
    let out = exec(c, "viewer", "echo x > /data/new");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!admin_dir.join("new").exists());
}

#[test]
fn read_write_once_pod_admits_one_pod_and_failed_provisioning_is_reported() {
    let board = Board::start("builtin", 24, &[("library/box", IDLE)]);
    let _cleanup = StorageCleanup(&board);
    let c = &board.cluster;
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-path}\n\
         provisioner: bramble.io/local-path\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-disk}\n\
         provisioner: bramble.io/local-disk\n",
    );
    c.apply(
        &claim_yaml("solo", "local-path", "8Mi", true).replace("ReadWriteOnce", "ReadWriteOncePod"),
    );
    let pv = provisioned(c, "solo");
    assert_eq!(
        get(c, &["pv", &pv], "{.spec.accessModes[0]}"),
        "ReadWriteOncePod"
    );
    bind(c, "solo", &pv);
    c.apply(&pod_yaml("first", "solo", false));
    wait_running(c, "first");
    c.apply(&pod_yaml("second", "solo", false));
    let waiting = eventually("the second pod to be refused the claim", || {
        let m = get(
            c,
            &["pod", "second"],
            "{.status.containerStatuses[0].state.waiting.message}",
        );
        m.contains("ReadWriteOncePod").then_some(m)
    });
    assert!(waiting.contains("in use by pod default/first"), "{waiting}");
    // Once the first pod is gone, the second gets the claim.
    delete(c, &["pod", "first"]);
    wait_running(c, "second");

    // More than the node has: the claim stays Pending with the reason in a Warning event.
    c.apply(&claim_yaml("huge", "local-disk", "100Ti", true));
    let event = eventually("a ProvisioningFailed event", || {
        let out = c.kubectl(&[
            "get",
            "events",
            "--field-selector=involvedObject.name=huge,reason=ProvisioningFailed",
            "-o",
            "jsonpath={.items[0].type} {.items[0].message}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (!text.trim().is_empty()).then_some(text)
    });
    assert!(event.starts_with("Warning failed to provision volume with StorageClass \"local-disk\": insufficient space on node"), "{event}");
    let uid = get(c, &["pvc", "huge"], "{.metadata.uid}");
    assert!(!c
        .kubectl(&["get", "pv", &format!("pvc-{uid}")])
        .status
        .success());

    // A class that allows other nodes only is not provisioned here.
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: elsewhere}\n\
         provisioner: bramble.io/local-path\nallowedTopologies:\n\
         - matchLabelExpressions: [{key: kubernetes.io/hostname, values: [other-board]}]\n",
    );
    c.apply(&claim_yaml("misplaced", "elsewhere", "8Mi", true));
    let event = eventually("a ProvisioningFailed event for the topology", || {
        let out = c.kubectl(&[
            "get",
            "events",
            "--field-selector=involvedObject.name=misplaced,reason=ProvisioningFailed",
            "-o",
            "jsonpath={.items[0].message}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (!text.trim().is_empty()).then_some(text)
    });
    assert!(
        event.ends_with("node \"test-node\" is not in the class's allowedTopologies"),
        "{event}"
    );
}
