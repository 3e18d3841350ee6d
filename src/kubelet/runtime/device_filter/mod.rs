//! The device cgroup of a container on a cgroup v2 host, enforced with an eBPF program.
//!
//! cgroup v2 has no `devices.allow`/`devices.deny` files: a runtime restricts devices by
//! attaching a `BPF_PROG_TYPE_CGROUP_DEVICE` program to the container's cgroup, which the
//! kernel runs on every open and mknod of a device node. runc generates that program from
//! the OCI `linux.resources.devices` rules (opencontainers/cgroups `devices/devicefilter.go`,
//! `ebpf_linux.go`). youki's libcontainer does the same only with its `cgroupsv2_devices`
//! feature, which links the C libbpf; Bramble leaves that out so its static musl builds
//! stay pure Rust, and without it libcontainer applies no device rules at all on cgroup v2.
//! So the built-in runtime builds the program itself (`program`: the instructions runc
//! emits, encoded by hand) and loads and attaches it with raw bpf(2) calls (`load`).
//!
//! The rules are the spec's followed by libcontainer's own defaults, in the order its
//! cgroup v1 devices controller writes them, so a container reaches the same devices on
//! cgroup v1 and v2 hosts.

pub mod load;
pub mod program;

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Spec};

pub use load::LoadError;
pub use program::RuleError;

/// Why a container's device rules could not be enforced.
#[derive(Debug, thiserror::Error)]
pub enum DeviceFilterError {
    /// A rule cannot be expressed.
    #[error("device cgroup rules: {0}")]
    Rule(#[from] RuleError),
    /// The program could not be loaded or attached.
    #[error("device cgroup program: {0}")]
    Load(#[from] LoadError),
    /// The spec does not say where the container's cgroup is.
    #[error("linux.cgroupsPath {0:?} is not an absolute path without `..`")]
    CgroupPath(Option<PathBuf>),
}

/// The rules libcontainer (libcgroups 0.7 `default_devices` and `default_allow_devices`)
/// appends to every container's: mknod of any node, the standard character devices it
/// creates in `/dev` (null, zero, full, tty, urandom, random), the console, ptys and
/// `/dev/ptmx`, and tun/tap.
pub fn runtime_default_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    let b = Some(LinuxDeviceType::B);
    let rwm = |major: i64, minor: Option<i64>| (c, Some(major), minor, "rwm");
    [
        rwm(1, Some(3)),
        rwm(1, Some(5)),
        rwm(1, Some(7)),
        rwm(5, Some(0)),
        rwm(1, Some(9)),
        rwm(1, Some(8)),
        (c, None, None, "m"),
        (b, None, None, "m"),
        rwm(5, Some(1)),
        rwm(136, None),
        rwm(5, Some(2)),
        rwm(10, Some(200)),
    ]
    .into_iter()
    .map(|(typ, major, minor, access)| {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true);
        rule.set_access(Some(access.to_string()));
        rule.set_typ(typ);
        rule.set_major(major);
        rule.set_minor(minor);
        rule
    })
    .collect()
}

/// Attaches to the cgroup at `cgroup_dir` the program enforcing `spec_rules` (a container
/// spec's `linux.resources.devices`) followed by [`runtime_default_rules`].
pub fn confine(
    cgroup_dir: &Path,
    spec_rules: &[LinuxDeviceCgroup],
) -> Result<(), DeviceFilterError> {
    let mut rules = spec_rules.to_vec();
    rules.extend(runtime_default_rules());
    let insns = program::build(&rules)?;
    load::load_and_attach(&insns, cgroup_dir)?;
    tracing::debug!(
        cgroup = %cgroup_dir.display(),
        instructions = insns.len(),
        "device cgroup program attached"
    );
    Ok(())
}

/// Attaches the program for a container's spec to its cgroup: `linux.cgroupsPath` under
/// the cgroup2 hierarchy mounted at `cgroup2_root`, which the runtime has created. Returns
/// the cgroup's directory.
pub fn confine_container(spec: &Spec, cgroup2_root: &Path) -> Result<PathBuf, DeviceFilterError> {
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_ref());
    let relative = cgroups_path
        .filter(|p| p.is_absolute() && !p.components().any(|c| c == Component::ParentDir))
        .and_then(|p| p.strip_prefix("/").ok())
        .ok_or_else(|| DeviceFilterError::CgroupPath(cgroups_path.cloned()))?;
    let dir = cgroup2_root.join(relative);
    let rules = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_deref())
        .unwrap_or_default();
    confine(&dir, rules)?;
    Ok(dir)
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod kernel_tests;
