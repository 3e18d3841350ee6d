//! The local-disk provisioner on a real kernel (needs root, e2fsprogs and util-linux): image
//! volumes enforce their size and come back after a restart; a block device the
//! administrator listed is formatted and used, and one holding someone else's filesystem is
//! refused. Loop devices stand in for the administrator's disks.

use crate::support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use bramble::kubelet::storage::{LocalDisk, StorageError};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "tests/local_disk_volumes.rs mounts filesystems: run it as root"
    );
}

fn sh(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(out.status.success(), "{tool} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Unmounts `path`, waiting out "target is busy": a process the other test forks holds
/// copies of this process's descriptors (those of files in the volume included) until it
/// execs. Any other failure fails the test at once.
fn umount_once_idle(path: &Path) {
    support::eventually(&format!("{path:?} to be idle enough to unmount"), || {
        let out = Command::new("umount").arg(path).output().unwrap();
        if out.status.success() {
            return Some(());
        }
        let busy = String::from_utf8_lossy(&out.stderr).contains("busy");
        assert!(busy, "umount {path:?}: {out:?}");
        None
    })
}

/// A temp root plus loop devices; on drop unmounts everything under the root and detaches
/// the loop devices.
struct Rig {
    dir: tempfile::TempDir,
    loops: Vec<String>,
}

impl Rig {
    fn new() -> Self {
        require_root();
        Rig {
            dir: tempfile::tempdir().unwrap(),
            loops: Vec::new(),
        }
    }

    fn root(&self) -> PathBuf {
        fs::canonicalize(self.dir.path())
            .unwrap()
            .join("local-disk")
    }

    /// A `mib`-MiB loop device standing in for a disk.
    fn disk(&mut self, name: &str, mib: u64) -> PathBuf {
        let file = self.dir.path().join(name);
        fs::File::create(&file).unwrap().set_len(mib << 20).unwrap();
        let dev = sh("losetup", &["--find", "--show", file.to_str().unwrap()]);
        self.loops.push(dev.clone());
        PathBuf::from(dev)
    }

    fn mounted(&self, path: &Path) -> bool {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let root = fs::canonicalize(self.dir.path()).unwrap();
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&root))
            .collect();
        mounts.reverse();
        for m in mounts {
            let _ = Command::new("umount").args(["-l", m]).output();
        }
        for dev in &self.loops {
            let _ = Command::new("losetup").args(["-d", dev]).output();
        }
    }
}

#[test]
fn image_volumes_enforce_size_and_are_remounted_after_a_restart() {
    let rig = Rig::new();
    let disk = LocalDisk::new(&rig.root(), Vec::new());
    let mount = disk.provision("pvc-a", 16 << 20).unwrap();
    assert!(rig.mounted(&mount));
    fs::write(mount.join("keep"), "data").unwrap();
    let mut big = fs::File::create(mount.join("big")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let err = (0..32)
        .find_map(|_| big.write_all(&chunk).and_then(|()| big.sync_all()).err())
        .expect("a 16Mi volume took 32Mi");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    drop(big);
    fs::remove_file(mount.join("big")).unwrap();

    // A reboot: nothing mounted; the kubelet's start mounts every volume again.
    umount_once_idle(&mount);
    assert!(!rig.mounted(&mount));
    LocalDisk::new(&rig.root(), Vec::new()).remount_all();
    assert!(rig.mounted(&mount));
    assert_eq!(fs::read_to_string(mount.join("keep")).unwrap(), "data");

    disk.delete("pvc-a").unwrap();
    assert!(!rig.mounted(&mount));
    assert!(!mount.exists());
    assert!(!rig.root().join("images/pvc-a.img").exists());
    disk.delete("pvc-a").unwrap();
}

#[test]
fn listed_devices_are_formatted_once_and_foreign_filesystems_refused() {
    let mut rig = Rig::new();
    let empty = rig.disk("empty.img", 48);
    let foreign = rig.disk("foreign.img", 48);
    sh(
        "mkfs.ext4",
        &["-q", "-L", "photos", foreign.to_str().unwrap()],
    );

    let disk = LocalDisk::new(&rig.root(), vec![empty.clone()]);
    let mount = disk.provision("pvc-dev", 32 << 20).unwrap();
    assert!(rig.mounted(&mount));
    assert_eq!(
        sh(
            "blkid",
            &["-o", "value", "-s", "LABEL", empty.to_str().unwrap()]
        ),
        "bramble-disk"
    );
    fs::write(mount.join("f"), "on the device").unwrap();
    // The device is taken: the next volume goes to an image file.
    let other = disk.provision("pvc-img", 8 << 20).unwrap();
    assert!(rig.root().join("images/pvc-img.img").exists());
    disk.delete("pvc-img").unwrap();
    assert!(!other.exists());
    disk.delete("pvc-dev").unwrap();
    assert!(!rig.mounted(&mount));

    let refusing = LocalDisk::new(&rig.root(), vec![foreign.clone()]);
    let err = refusing.provision("pvc-x", 8 << 20).unwrap_err();
    assert!(matches!(err, StorageError::Device { .. }), "{err}");
    assert!(err.to_string().contains("refusing to format"), "{err}");
    assert_eq!(
        sh(
            "blkid",
            &["-o", "value", "-s", "LABEL", foreign.to_str().unwrap()]
        ),
        "photos"
    );
}
