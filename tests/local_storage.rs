//! Node-local persistent storage as a user meets it, on a real board (needs root): a claim
//! provisioned by `bramble.io/local-path` keeps its files across pod re-creation and is
//! removed on Delete reclaim; Retain keeps data; an administrator's local PV mounted
//! `readOnly` refuses writes; ReadWriteOncePod admits one pod; failed provisioning is
//! reported on the claim. `tests/local_disk_claims.rs` covers size-enforced volumes.

use crate::support;

use std::path::{Path, PathBuf};

use support::board::Board;
use support::eventually;
use support::storage::*;

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

    // A pod placed on the node whose claim is not Bound (nothing provisions its class) waits
    // in ContainerCreating, saying why.
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: external}\n\
         provisioner: example.com/nfs\n",
    );
    c.apply(&claim_yaml("unbound", "external", "8Mi", false));
    c.apply(
        &pod_yaml("early", "unbound", false).replace("spec:\n", "spec:\n  nodeName: test-node\n"),
    );
    let waiting = eventually("the pod to wait for its claim", || {
        let m = get(
            c,
            &["pod", "early"],
            "{.status.containerStatuses[0].state.waiting.message}",
        );
        m.contains("non-bound phase").then_some(m)
    });
    assert!(waiting.contains("PVC default/unbound"), "{waiting}");
    delete(c, &["pod", "early"]);

    wait_bound(c, "data", &pv);
    c.apply(&pod_yaml("writer", "data", false));
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

#[test]
fn retain_keeps_data_and_a_read_only_claim_refuses_writes() {
    let board = Board::start("builtin", 23, &[("library/box", IDLE)]);
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
    wait_released(c, &pv);
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
    wait_bound(c, "ro", "admin");
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
    wait_bound(c, "solo", &pv);
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

#[test]
fn claims_are_provisioned_in_both_binding_modes_without_manual_steps() {
    let board = Board::start("builtin", 25, &[("library/box", IDLE)]);
    let c = &board.cluster;
    board.wait_node_ready();
    c.apply(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: later}\n\
         provisioner: bramble.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: now}\n\
         provisioner: bramble.io/local-disk\nvolumeBindingMode: Immediate\n",
    );
    // Immediate: the binder picks the node from the free-space annotations, the node's
    // kubelet provisions, the binder binds — before any pod exists.
    c.apply(&claim_yaml("eager", "now", "16Mi", false));
    let eager = provisioned(c, "eager");
    wait_bound(c, "eager", &eager);
    // WaitForFirstConsumer: nothing happens until a pod uses the claim; the scheduler then
    // selects the node and the pod runs on the provisioned volume.
    c.apply(&claim_yaml("lazy", "later", "16Mi", false));
    c.apply(&pod_yaml("user", "lazy", false).replace(
        "volumes:\n",
        "volumes:\n  - name: fast\n    persistentVolumeClaim: {claimName: eager}\n",
    ));
    wait_running(c, "user");
    let lazy = get(c, &["pvc", "lazy"], "{.spec.volumeName}");
    assert_eq!(lazy, provisioned(c, "lazy"));
    assert_eq!(
        get(
            c,
            &["pvc", "lazy"],
            "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"
        ),
        "test-node"
    );
    assert!(exec(c, "user", "echo ok > /data/f").status.success());
    let table = c.kubectl_ok(&["get", "pvc", "--no-headers"]);
    assert_eq!(table.matches(" Bound ").count(), 2, "{table}");
}
