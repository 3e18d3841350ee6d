//! The device program in the kernel: a process in a cgroup carrying it can open only the
//! devices its rules allow. Needs root and a cgroup2 hierarchy (`/sys/fs/cgroup` on v2
//! hosts, `/sys/fs/cgroup/unified` on hybrid ones; device programs need no controller).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::*;

/// Removes the test cgroup (its processes are gone by then: `ChildGuard` drops first).
struct CgroupGuard(PathBuf);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir(&self.0) {
            eprintln!("removing {}: {e}", self.0.display());
        }
    }
}

/// Kills and reaps the child if the test ends before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

/// Writes to /dev/null, then reads a byte of /dev/zero (c 1:5); waits for a line on
/// stdin first, so it can be moved into a cgroup before it opens anything.
const SCRIPT: &str =
    "read x; echo x > /dev/null && echo null-ok; head -c1 /dev/zero >&2 && echo zero-ok";

fn spawn_waiting() -> ChildGuard {
    let child = Command::new("sh")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// Releases the child and returns its stdout and stderr.
fn release(child: &mut ChildGuard) -> (String, String) {
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let (mut out, mut err) = (String::new(), String::new());
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.0.wait().unwrap();
    (out, err)
}

#[test]
fn only_allowed_devices_open_in_the_cgroup() {
    let Some(root) = cgroup2_root() else {
        eprintln!(
            "SKIPPED only_allowed_devices_open_in_the_cgroup: no cgroup2 hierarchy at \
             /sys/fs/cgroup or /sys/fs/cgroup/unified"
        );
        return;
    };
    // Outside the cgroup both devices open.
    let (out, _) = release(&mut spawn_waiting());
    assert_eq!(out, "null-ok\nzero-ok\n");

    let dir = root.join(format!("bramble-devfilter-test-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let _cgroup = CgroupGuard(dir.clone());
    let dev_null = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwm")
        .build()
        .unwrap();
    let insns = program::build(&[dev_null]).unwrap();
    load::load_and_attach(&insns, &dir).unwrap();

    let mut child = spawn_waiting();
    std::fs::write(dir.join("cgroup.procs"), child.0.id().to_string()).unwrap();
    let (out, err) = release(&mut child);
    assert_eq!(out, "null-ok\n", "stderr: {err}");
    assert!(
        err.contains("/dev/zero") && err.contains("Operation not permitted"),
        "opening /dev/zero must fail with EPERM: {err}"
    );
}

#[test]
fn a_missing_cgroup_is_named_in_the_error() {
    let path = Path::new("/sys/fs/cgroup/bramble-devfilter-missing");
    let err = confine(path, &[]).unwrap_err();
    assert!(
        matches!(&err, DeviceFilterError::Load(LoadError::Cgroup { path: p, .. }) if p == path),
        "{err}"
    );
}
