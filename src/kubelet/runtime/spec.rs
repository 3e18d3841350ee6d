//! A container's description ([`ContainerSpec`]) and its OCI bundle `config.json`.
//!
//! Defaults follow what containerd's CRI plugin generates for a Kubernetes container: runc's
//! default mounts, masked and read-only paths, Docker's default capability set, new mount,
//! pid and cgroup namespaces, the pod's network/ipc/uts namespaces joined by path, and cgroup
//! resources converted from the pod spec the way the kubelet does (`MilliCPUToShares`,
//! `MilliCPUToQuota`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    get_default_maskedpaths, get_default_mounts, get_default_readonly_paths, LinuxBuilder,
    LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxResourcesBuilder, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use super::capabilities::capability_set;
use super::seccomp::{self, Seccomp};
use super::{cgroup, Result, RuntimeError};

/// How mount events propagate for a bind mount (Kubernetes `MountPropagationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// `None`: rprivate.
    #[default]
    Private,
    /// `HostToContainer`: rslave.
    HostToContainer,
    /// `Bidirectional`: rshared.
    Bidirectional,
}

/// A caller-given bind mount (a volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// Mount propagation.
    pub propagation: Propagation,
}

/// A namespace path meaning "the host's": the namespace is left out of the bundle, so the
/// container stays in the runtime's own, the host's, as containerd does for `hostNetwork`.
/// Joining `/proc/1/ns/*` instead fails where the kubelet cannot open PID 1's namespaces
/// (a kubelet in a container, or without `CAP_SYS_PTRACE` over PID 1).
pub const HOST_NAMESPACE: &str = "host";

/// The pod's shared namespaces: a path joins an existing namespace, `None` makes a new one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodNamespaces {
    /// Network namespace (e.g. `/run/bramble/netns/<pod>`).
    pub network: Option<PathBuf>,
    /// IPC namespace.
    pub ipc: Option<PathBuf>,
    /// UTS namespace.
    pub uts: Option<PathBuf>,
    /// PID namespace: a new one per container unless set, as for an ephemeral container
    /// that targets another container (`/proc/<its pid>/ns/pid`).
    pub pid: Option<PathBuf>,
}

/// CPU and memory from the container's `resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// `requests.cpu` in millicores.
    pub cpu_request_milli: Option<i64>,
    /// `limits.cpu` in millicores.
    pub cpu_limit_milli: Option<i64>,
    /// `limits.memory` in bytes.
    pub memory_limit_bytes: Option<i64>,
}

/// Everything needed to write one container's OCI bundle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// Command and arguments (image entrypoint/cmd resolved by the caller).
    pub args: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// The prepared root filesystem (an overlay mount).
    pub rootfs: PathBuf,
    /// `readOnlyRootFilesystem`.
    pub readonly_rootfs: bool,
    /// Hostname (the pod's).
    pub hostname: Option<String>,
    /// Volume bind mounts.
    pub mounts: Vec<BindMount>,
    /// The pod's namespaces.
    pub namespaces: PodNamespaces,
    /// `linux.cgroupsPath`, see [`cgroup::container_cgroup_path`].
    pub cgroups_path: String,
    /// CPU and memory.
    pub resources: Resources,
    /// Capabilities added (names without `CAP_`, or `ALL`).
    pub capabilities_add: Vec<String>,
    /// Capabilities dropped (names without `CAP_`, or `ALL`).
    pub capabilities_drop: Vec<String>,
    /// `privileged`: all capabilities and devices, nothing masked.
    pub privileged: bool,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privileges: bool,
    /// OOM score adjustment (the kubelet's per-QoS value).
    pub oom_score_adj: Option<i32>,
    /// The seccomp profile (ignored for privileged containers, as containerd does).
    pub seccomp: Seccomp,
    /// Namespaced sysctls the pod sets (`linux.sysctl`), already checked by the kubelet.
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// The container's `stdin`, `stdinOnce` and `tty`.
    pub stdio: Stdio,
    /// Host devices allocated to the container (`kubelet::devices`): created in its `/dev`
    /// and allowed by its device cgroup, as a device plugin's `DeviceSpec`s are.
    pub devices: Vec<LinuxDevice>,
}

/// What a container's standard streams are, from its `stdin`, `stdinOnce` and `tty`: the
/// terminal is `process.terminal` in the bundle; stdin is for the supervisor, which reads it
/// from the bundle's annotations ([`STDIN_ANNOTATION`], [`STDIN_ONCE_ANNOTATION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stdio {
    /// `stdin`: the process's stdin stays open for attached clients.
    pub stdin: bool,
    /// `stdinOnce`: stdin closes when the first attached client detaches.
    pub stdin_once: bool,
    /// `tty`: the process runs on a terminal.
    pub tty: bool,
}

/// Bundle annotation saying the container keeps a stdin for attached clients.
pub const STDIN_ANNOTATION: &str = "io.bramble.container.stdin";
/// Bundle annotation saying the container's stdin closes after the first attach.
pub const STDIN_ONCE_ANNOTATION: &str = "io.bramble.container.stdin-once";

/// The kubelet's `MilliCPUToShares`: 1024 shares per CPU, at least 2, at most 262144.
pub fn milli_cpu_to_shares(milli: i64) -> u64 {
    (milli.saturating_mul(1024) / 1000).clamp(2, 262_144) as u64
}

/// The kubelet's `MilliCPUToQuota` for a 100 ms period: none for 0, at least 1 ms.
pub fn milli_cpu_to_quota(milli: i64, period: u64) -> Option<i64> {
    (milli > 0).then(|| (milli.saturating_mul(period as i64) / 1000).max(1000))
}

fn bind_mount(m: &BindMount) -> Result<Mount> {
    let propagation = match m.propagation {
        Propagation::Private => "rprivate",
        Propagation::HostToContainer => "rslave",
        Propagation::Bidirectional => "rshared",
    };
    let mode = if m.readonly { "ro" } else { "rw" };
    MountBuilder::default()
        .destination(&m.destination)
        .typ("bind")
        .source(&m.source)
        .options(vec![
            "rbind".to_string(),
            mode.to_string(),
            propagation.to_string(),
        ])
        .build()
        .map_err(|e| RuntimeError::Spec(e.to_string()))
}

fn namespace(
    typ: LinuxNamespaceType,
    path: Option<&Path>,
) -> Result<oci_spec::runtime::LinuxNamespace> {
    let mut builder = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(path) = path {
        builder = builder.path(path);
    }
    builder
        .build()
        .map_err(|e| RuntimeError::Spec(e.to_string()))
}

/// Builds the OCI runtime spec for `spec`.
pub fn oci_spec(spec: &ContainerSpec) -> Result<Spec> {
    let err = |e: oci_spec::OciSpecError| RuntimeError::Spec(e.to_string());
    if spec.args.is_empty() {
        return Err(RuntimeError::Spec("container has no command".into()));
    }
    let caps = capability_set(
        &spec.capabilities_add,
        &spec.capabilities_drop,
        spec.privileged,
    )?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()
        .map_err(err)?;
    let mut process = ProcessBuilder::default()
        .terminal(spec.stdio.tty)
        .user(user)
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(if spec.cwd.is_empty() { "/" } else { &spec.cwd })
        .no_new_privileges(spec.no_new_privileges)
        .capabilities(
            // containerd (since 1.6.18/1.7) leaves inheritable and ambient empty, so a
            // non-root process cannot regain capabilities through a file's inheritable set.
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps.clone())
                .inheritable(oci_spec::runtime::Capabilities::new())
                .ambient(oci_spec::runtime::Capabilities::new())
                .build()
                .map_err(err)?,
        )
        .build()
        .map_err(err)?;
    process.set_oom_score_adj(spec.oom_score_adj);
    process.set_rlimits(None);

    let mut mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect();
    if spec.privileged {
        // A privileged container may write to sysfs, as with containerd.
        for m in mounts
            .iter_mut()
            .filter(|m| m.destination() == Path::new("/sys"))
        {
            m.set_options(Some(vec!["nosuid".into(), "noexec".into(), "nodev".into()]));
        }
    }
    for m in &spec.mounts {
        mounts.push(bind_mount(m)?);
    }

    let ns = &spec.namespaces;
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid, ns.pid.as_deref())?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Cgroup, None)?,
    ];
    for (kind, path) in [
        (LinuxNamespaceType::Network, &ns.network),
        (LinuxNamespaceType::Ipc, &ns.ipc),
        (LinuxNamespaceType::Uts, &ns.uts),
    ] {
        if path.as_deref() != Some(Path::new(HOST_NAMESPACE)) {
            namespaces.push(namespace(kind, path.as_deref())?);
        }
    }

    let r = spec.resources;
    let period = 100_000u64;
    // The API server defaults requests to limits; no request at all means MinShares.
    let shares = milli_cpu_to_shares(r.cpu_request_milli.or(r.cpu_limit_milli).unwrap_or(0));
    let mut cpu = LinuxCpuBuilder::default().shares(shares);
    if let Some(quota) = r
        .cpu_limit_milli
        .and_then(|m| milli_cpu_to_quota(m, period))
    {
        cpu = cpu.quota(quota).period(period);
    }
    let mut resources = LinuxResourcesBuilder::default().cpu(cpu.build().map_err(err)?);
    if let Some(limit) = r.memory_limit_bytes.filter(|l| *l > 0) {
        let mut memory = LinuxMemoryBuilder::default().limit(limit);
        if cgroup::swap_limit_supported() {
            memory = memory.swap(limit);
        }
        resources = resources.memory(memory.build().map_err(err)?);
    }
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(spec.privileged)
        .access("rwm")
        .build()
        .map_err(err)?;
    let mut device_rules = vec![deny_all];
    if !spec.privileged {
        // Rules apply in order: each allocated device is allowed after the denial of all.
        for d in &spec.devices {
            device_rules.push(allow_device(d).map_err(err)?);
        }
    }
    resources = resources.devices(device_rules);

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&spec.cgroups_path))
        .resources(resources.build().map_err(err)?);
    // Privileged containers see every path unmasked and writable, as with containerd.
    let (masked, readonly) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (get_default_maskedpaths(), get_default_readonly_paths())
    };
    linux = linux.masked_paths(masked).readonly_paths(readonly);
    if spec.privileged {
        // containerd's WithPrivileged: the host's devices.
        linux = linux.devices(super::host_devices::host_devices(Path::new("/dev")));
    } else if !spec.devices.is_empty() {
        linux = linux.devices(spec.devices.clone());
    }
    // containerd's WithPrivileged drops the seccomp profile.
    let profile = if spec.privileged {
        &Seccomp::Unconfined
    } else {
        &spec.seccomp
    };
    if let Some(filter) = seccomp::resolve(profile, &caps)? {
        linux = linux.seccomp(filter);
    }
    if !spec.sysctls.is_empty() {
        linux = linux.sysctl(
            spec.sysctls
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }

    let builder = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(&spec.rootfs)
                .readonly(spec.readonly_rootfs)
                .build()
                .map_err(err)?,
        )
        .process(process)
        .mounts(mounts)
        .linux(linux.build().map_err(err)?);
    let mut config = builder.build().map_err(err)?;
    // oci-spec's default carries a hostname; a container in the host's UTS namespace must
    // have none, or the runtime refuses it ("unable to set hostname without a private UTS
    // namespace").
    config.set_hostname(spec.hostname.clone());
    let mut annotations = std::collections::HashMap::new();
    for (key, on) in [
        (STDIN_ANNOTATION, spec.stdio.stdin),
        (
            STDIN_ONCE_ANNOTATION,
            spec.stdio.stdin && spec.stdio.stdin_once,
        ),
    ] {
        if on {
            annotations.insert(key.to_string(), "true".to_string());
        }
    }
    if !annotations.is_empty() {
        config.set_annotations(Some(annotations));
    }
    Ok(config)
}

/// The device cgroup rule giving read, write and mknod on device node `d` (containerd's
/// `WithDevices` for a CRI `Device` with permissions `rwm`).
fn allow_device(d: &LinuxDevice) -> std::result::Result<LinuxDeviceCgroup, oci_spec::OciSpecError> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(d.typ())
        .major(d.major())
        .minor(d.minor())
        .access("rwm")
        .build()
}

/// Writes `bundle/config.json` for `spec` and returns the bundle directory.
pub fn write_bundle(bundle: &Path, spec: &ContainerSpec) -> Result<PathBuf> {
    let config = oci_spec(spec)?;
    std::fs::create_dir_all(bundle)
        .map_err(|e| RuntimeError::io(format!("creating bundle {}", bundle.display()), e))?;
    let json = serde_json::to_vec_pretty(&config).map_err(|e| RuntimeError::Spec(e.to_string()))?;
    let path = bundle.join("config.json");
    std::fs::write(&path, json)
        .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
    Ok(bundle.to_path_buf())
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
