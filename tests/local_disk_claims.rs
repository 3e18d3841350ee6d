//! Size-enforced claims (`bramble.io/local-disk`) on a real board (needs root, e2fsprogs and
//! util-linux): writing past the claim's size fails with ENOSPC, data survives pod
//! re-creation, expansion grows the filesystem, and Delete reclaim unmounts and removes the
//! image, leaving no loop device behind.

use crate::support;

use std::path::PathBuf;

use support::board::Board;
use support::storage::*;
use support::{eventually, Cluster};

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
    wait_bound(c, "disk", &pv);

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
    assert_eq!(get(c, &["pv", &pv], "{.spec.capacity.storage}"), "64Mi");
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
