//! The device program in the kernel: a process in a cgroup carrying it can open only the
//! devices its rules allow. Needs root and a cgroup2 hierarchy (`/sys/fs/cgroup` on v2
//! hosts, `/sys/fs/cgroup/unified` on hybrid ones; device programs need no controller).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType, Spec};

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

/// Writes to /dev/null, then reads a byte of /dev/zero (c 1:5).
const NULL_AND_ZERO: &str =
    "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >&2 && echo zero-ok";

/// Runs `script` in `sh`, in the cgroup `dir` if given: the shell waits for a line on
/// stdin first, so it is moved into the cgroup before it opens anything. Returns its
/// stdout and stderr.
fn run_in(dir: Option<&Path>, script: &str) -> (String, String) {
    let child = Command::new("sh")
        .args(["-c", &format!("read x; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    if let Some(dir) = dir {
        std::fs::write(dir.join("cgroup.procs"), child.0.id().to_string()).unwrap();
    }
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

/// A fresh cgroup named `name` and this process's id under the cgroup2 hierarchy, and
/// that hierarchy; `None` (after saying why) when the host has none.
fn test_cgroup(name: &str) -> Option<(PathBuf, CgroupGuard)> {
    let Some(root) = cgroup2_root() else {
        eprintln!(
            "SKIPPED: no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified, \
             so device programs cannot be attached on this host"
        );
        return None;
    };
    let dir = root.join(format!("bramble-devfilter-{name}-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    Some((root, CgroupGuard(dir)))
}

#[test]
fn only_allowed_devices_open_in_the_cgroup() {
    let Some((_, cgroup)) = test_cgroup("null") else {
        return;
    };
    // Outside the cgroup both devices open.
    assert_eq!(run_in(None, NULL_AND_ZERO).0, "null-ok\nzero-ok\n");

    let dev_null = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwm")
        .build()
        .unwrap();
    let insns = program::build(&[dev_null]).unwrap();
    load::load_and_attach(&insns, &cgroup.0).unwrap();

    let (out, err) = run_in(Some(&cgroup.0), NULL_AND_ZERO);
    assert_eq!(out, "null-ok\n", "stderr: {err}");
    assert!(
        err.contains("/dev/zero") && err.contains("Operation not permitted"),
        "opening /dev/zero must fail with EPERM: {err}"
    );
}

#[test]
fn a_container_spec_denying_all_keeps_the_runtime_defaults() {
    let Some((root, cgroup)) = test_cgroup("spec") else {
        return;
    };
    // /dev/kmsg (c 1:11) is not among libcontainer's defaults.
    let script = format!("{NULL_AND_ZERO}; : < /dev/kmsg && echo kmsg-ok");
    assert_eq!(run_in(None, &script).0, "null-ok\nzero-ok\nkmsg-ok\n");

    let name = cgroup.0.file_name().unwrap().to_str().unwrap();
    let spec: Spec = serde_json::from_value(serde_json::json!({
        "ociVersion": "1.0.2",
        "linux": {
            "cgroupsPath": format!("/{name}"),
            "resources": {"devices": [{"allow": false, "access": "rwm"}]}
        }
    }))
    .unwrap();
    assert_eq!(confine_container(&spec, &root).unwrap(), cgroup.0);

    let (out, err) = run_in(Some(&cgroup.0), &script);
    assert_eq!(out, "null-ok\nzero-ok\n", "stderr: {err}");
    assert!(
        err.contains("/dev/kmsg") && err.contains("Operation not permitted"),
        "opening /dev/kmsg must fail with EPERM: {err}"
    );
}

#[test]
fn a_spec_without_an_absolute_cgroup_path_is_refused() {
    for path in [None, Some("bramble/x"), Some("/bramble/../x")] {
        let mut linux = serde_json::json!({});
        if let Some(p) = path {
            linux["cgroupsPath"] = p.into();
        }
        let spec: Spec =
            serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "linux": linux}))
                .unwrap();
        let err = confine_container(&spec, Path::new("/sys/fs/cgroup")).unwrap_err();
        assert!(
            matches!(err, DeviceFilterError::CgroupPath(_)),
            "{path:?}: {err}"
        );
    }
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
