//! From one container of a pod to the runtime's [`ContainerSpec`]: what the kubelet's
//! `generateContainerConfig` and containerd's CRI plugin together make of a pod spec.
//!
//! The command comes from `command`/`args` over the image's `Entrypoint`/`Cmd`; the
//! environment from the image, then the container's `envFrom` and `env` (see [`env`]); the
//! user from the security context or the image's `User`, resolved in the container's rootfs
//! (see [`user`]); mounts are the pod's volumes plus the kubelet's per-pod `/etc/hosts`,
//! containerd's `/etc/hostname` and `/etc/resolv.conf`, and the termination-message file.
//! Errors the kubelet would report as `CreateContainerConfigError` carry upstream's wording.

pub mod env;
pub mod etc_hosts;
pub mod expansion;
pub mod oom_score;
pub mod pod_resolv_conf;
mod resources;
pub mod security;
pub mod service_env;
pub mod user;

#[cfg(test)]
mod env_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};
use oci_spec::runtime::LinuxDevice;

use crate::kubelet::downward_api::DownwardApiError;
use crate::kubelet::image::ContainerConfig;
use crate::kubelet::runtime::spec::{
    BindMount, ContainerSpec, PodNamespaces, Propagation, Stdio, HOST_NAMESPACE,
};
use crate::kubelet::volume::{self, MountPropagation};
pub use env::{Allocatable, EnvContext};
pub use etc_hosts::{etc_hostname, etc_hosts, etc_hosts_host_network, pod_hostname_and_domain};

/// The `reason` the kubelet shows while a container's configuration cannot be built.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
/// The `reason` the kubelet shows when the runtime refuses to create the container.
pub const CREATE_CONTAINER_ERROR: &str = "CreateContainerError";

/// containerd's default `PATH`, which the image's own `PATH` replaces.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Upstream's default `terminationMessagePath`.
const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Why a container's configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ContainerConfigError {
    /// A required ConfigMap does not exist (the kubelet's configmap manager wording).
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// A required Secret does not exist.
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    /// A required key is missing from a ConfigMap or Secret.
    #[error("couldn't find key {key} in {kind} {object}")]
    MissingKey {
        /// The key.
        key: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// `namespace/name`.
        object: String,
    },
    /// A `fieldRef` or `resourceFieldRef` cannot be resolved, or a resource quantity or
    /// divisor is not usable (the downward API's wording).
    #[error(transparent)]
    DownwardApi(#[from] DownwardApiError),
    /// Neither the container nor its image gives a command.
    #[error("no command specified")]
    NoCommand,
    /// `runAsGroup` without `runAsUser` and no image user (containerd's check).
    #[error("user group \"{0}\" is specified without user")]
    GroupWithoutUser(i64),
    /// A user name is not in the image's `/etc/passwd`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// A group name is not in the image's `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    /// The pod asks for a process namespace this node cannot set up yet.
    #[error("pod {pod}: {feature} is not supported on this node; remove it from the pod spec")]
    Unsupported {
        /// `namespace/name` of the pod.
        pod: String,
        /// `hostPID` or `shareProcessNamespace`.
        feature: &'static str,
    },
    /// The security context asks for what this node refuses or cannot honour.
    #[error("{0}")]
    Security(String),
    /// The seccomp profile cannot be loaded (containerd's wording).
    #[error("{0}")]
    Seccomp(String),
    /// Reading the container's rootfs failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ContainerConfigError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ContainerConfigError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The waiting `reason` upstream shows: config errors come from the kubelet, user and
    /// command errors from the runtime.
    pub fn reason(&self) -> &'static str {
        match self {
            ContainerConfigError::NoCommand
            | ContainerConfigError::GroupWithoutUser(_)
            | ContainerConfigError::UserNotFound(_)
            | ContainerConfigError::GroupNotFound(_)
            | ContainerConfigError::Seccomp(_)
            | ContainerConfigError::Io { .. } => CREATE_CONTAINER_ERROR,
            _ => CREATE_CONTAINER_CONFIG_ERROR,
        }
    }
}

/// Host files the pod worker prepares for each container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFiles {
    /// The pod's hosts file (see [`etc_hosts`]).
    pub etc_hosts: PathBuf,
    /// The pod's hostname file (see [`etc_hostname`]).
    pub etc_hostname: PathBuf,
    /// The pod's copy of the node's resolv.conf.
    pub resolv_conf: PathBuf,
    /// This container's termination-message file (empty, writable).
    pub termination_log: PathBuf,
}

/// Everything [`container_spec`] turns into a [`ContainerSpec`].
pub struct ContainerInput<'a> {
    /// The pod, IPs, node resources and ConfigMap/Secret lookups.
    pub env: EnvContext<'a>,
    /// The container (one of `pod.spec.containers` or `initContainers`).
    pub container: &'a Container,
    /// The image's execution defaults.
    pub image: &'a ContainerConfig,
    /// The container's volume mounts (from `PodVolumes::mounts_for`).
    pub volume_mounts: Vec<volume::BindMount>,
    /// The pod's network, IPC and UTS namespaces.
    pub namespaces: PodNamespaces,
    /// The container's mounted root filesystem.
    pub rootfs: PathBuf,
    /// `linux.cgroupsPath`.
    pub cgroups_path: String,
    /// The per-pod files to bind in.
    pub files: PodFiles,
    /// The node's hostname (the hostname of `hostNetwork` pods).
    pub node_hostname: String,
    /// The kubelet's seccomp directory (`Localhost` profiles are relative to it).
    pub seccomp_root: PathBuf,
    /// The host devices allocated to the container (`kubelet::devices::linux_devices`).
    pub devices: Vec<LinuxDevice>,
}

/// containerd's `WithProcessArgs`: `command` replaces the entrypoint and drops `Cmd`; `args`
/// alone replace `Cmd`; `$(VAR)` in `command`/`args` is expanded from the container's env.
pub fn process_args(
    container: &Container,
    image: &ContainerConfig,
    vars: &std::collections::HashMap<String, String>,
) -> Result<Vec<String>, ContainerConfigError> {
    let expand = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter()
            .flatten()
            .map(|s| expansion::expand_with(s, vars))
            .collect()
    };
    let mut command = expand(&container.command);
    let mut args = expand(&container.args);
    if command.is_empty() {
        if args.is_empty() {
            args = image.cmd.clone().unwrap_or_default();
        }
        let entrypoint = image.entrypoint.clone().unwrap_or_default();
        // An entrypoint of `[""]` means "no entrypoint" (Docker's way of clearing it).
        if !(entrypoint.len() == 1 && entrypoint[0].is_empty()) {
            command = entrypoint;
        }
    }
    command.extend(args);
    if command.is_empty() {
        return Err(ContainerConfigError::NoCommand);
    }
    Ok(command)
}

/// containerd's env: default `PATH`, `HOSTNAME`, the image's env, then the container's, a later
/// `NAME=` replacing an earlier one in place (`replaceOrAppendEnvValues`).
fn merge_env(hostname: &str, image: &ContainerConfig, container: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    for entry in image.env.iter().flatten().chain(container.iter()) {
        let key = entry.split('=').next().unwrap_or_default();
        match out.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(existing) => existing.clone_from(entry),
            None => out.push(entry.clone()),
        }
    }
    out
}

/// A terminal's `TERM=xterm` (containerd's `WithTTY`) ahead of the container's own
/// variables, which may set another.
fn tty_env(container: &Container, env: Vec<String>) -> Vec<String> {
    if container.tty != Some(true) {
        return env;
    }
    std::iter::once("TERM=xterm".to_string())
        .chain(env)
        .collect()
}

/// Pod-level `runAsUser`/`runAsGroup` overridden by the container's (`DetermineEffectiveSecurityContext`).
fn run_as(pod: &Pod, sc: Option<&SecurityContext>) -> (Option<i64>, Option<i64>) {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let user = sc
        .and_then(|s| s.run_as_user)
        .or(psc.and_then(|p| p.run_as_user));
    let group = sc
        .and_then(|s| s.run_as_group)
        .or(psc.and_then(|p| p.run_as_group));
    (user, group)
}

fn bind(source: &Path, destination: &str, readonly: bool) -> BindMount {
    BindMount {
        source: source.to_path_buf(),
        destination: destination.to_string(),
        readonly,
        propagation: Propagation::Private,
    }
}

/// Volume mounts, then `/etc/hosts` (the kubelet's), `/etc/hostname` and `/etc/resolv.conf`
/// (containerd's, read-only with a read-only rootfs), each skipped when a volume already
/// mounts that path, and the termination-message file.
fn mounts(input: &ContainerInput, readonly_rootfs: bool) -> Vec<BindMount> {
    let mut out: Vec<BindMount> = input
        .volume_mounts
        .iter()
        .map(|m| BindMount {
            source: m.source.clone(),
            destination: m.destination.to_string_lossy().into_owned(),
            readonly: m.read_only,
            propagation: match m.propagation {
                MountPropagation::Private => Propagation::Private,
                MountPropagation::HostToContainer => Propagation::HostToContainer,
                MountPropagation::Bidirectional => Propagation::Bidirectional,
            },
        })
        .collect();
    let taken = |out: &[BindMount], dest: &str| out.iter().any(|m| m.destination == dest);
    let files = &input.files;
    for (source, dest, readonly) in [
        (&files.etc_hosts, "/etc/hosts", false),
        (&files.etc_hostname, "/etc/hostname", readonly_rootfs),
        (&files.resolv_conf, "/etc/resolv.conf", readonly_rootfs),
    ] {
        if !taken(&out, dest) {
            out.push(bind(source, dest, readonly));
        }
    }
    let path = input
        .container
        .termination_message_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
    out.push(bind(&files.termination_log, path, false));
    out
}

/// Builds the runtime's description of `input.container`.
pub fn container_spec(input: &ContainerInput) -> Result<ContainerSpec, ContainerConfigError> {
    let pod = input.env.pod;
    let spec = pod.spec.as_ref();
    let flag = |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| {
        spec.and_then(f).unwrap_or(false)
    };
    let pod_name = || {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    };
    for (on, feature) in [
        (flag(|s| s.host_pid), "hostPID"),
        (flag(|s| s.share_process_namespace), "shareProcessNamespace"),
    ] {
        if on {
            return Err(ContainerConfigError::Unsupported {
                pod: pod_name(),
                feature,
            });
        }
    }
    let container = input.container;
    let host_network = flag(|s| s.host_network);
    let mut namespaces = input.namespaces.clone();
    let hostname = if host_network {
        // containerd leaves a host-network container in the host's network and UTS namespaces.
        namespaces.network = Some(HOST_NAMESPACE.into());
        namespaces.uts = Some(HOST_NAMESPACE.into());
        input.node_hostname.clone()
    } else {
        pod_hostname_and_domain(pod, "cluster.local").0
    };
    if flag(|s| s.host_ipc) {
        namespaces.ipc = Some(HOST_NAMESPACE.into());
    }

    let env = env::container_env(&input.env, container)?;
    let args = process_args(container, input.image, env.vars())?;

    let sc = container.security_context.as_ref();
    let psc = spec.and_then(|s| s.security_context.as_ref());
    let (run_as_user, run_as_group) = run_as(pod, sc);
    let user = match (run_as_user, run_as_group) {
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
        (None, Some(g)) => return Err(ContainerConfigError::GroupWithoutUser(g)),
        (None, None) => input
            .image
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "0".into()),
    };
    // The kubelet passes supplementalGroups followed by fsGroup.
    let supplemental: Vec<u32> = psc
        .iter()
        .flat_map(|p| {
            p.supplemental_groups
                .iter()
                .flatten()
                .copied()
                .chain(p.fs_group)
        })
        .map(|g| g as u32)
        .collect();
    let resolved = user::resolve_user(&input.rootfs, &user, &supplemental)?;
    security::verify_run_as_non_root(pod, container, resolved.uid, input.image.user.as_deref())?;
    security::check(pod, container)?;
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    let seccomp = security::seccomp(pod, container, &input.seccomp_root)?;
    let sysctls = psc
        .iter()
        .flat_map(|p| p.sysctls.iter().flatten())
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();

    let readonly_rootfs = sc
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false);
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let cwd = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| input.image.working_dir.clone())
        .unwrap_or_default();
    Ok(ContainerSpec {
        args,
        env: merge_env(
            &hostname,
            input.image,
            &tty_env(container, env.to_strings()),
        ),
        cwd,
        uid: resolved.uid,
        gid: resolved.gid,
        additional_gids: resolved.additional_gids,
        rootfs: input.rootfs.clone(),
        readonly_rootfs,
        hostname: (!host_network).then_some(hostname),
        mounts: mounts(input, readonly_rootfs),
        namespaces,
        cgroups_path: input.cgroups_path.clone(),
        resources: resources::resources(container)?,
        capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        privileged,
        // Upstream `AddNoNewPrivileges`: only an explicit `false` sets no_new_privs.
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        oom_score_adj: Some(oom_score::restricted(oom_score::oom_score_adj(
            input.env.pod,
            container,
            input.env.allocatable.memory_bytes,
        ))),
        seccomp,
        sysctls,
        stdio: Stdio {
            stdin: container.stdin.unwrap_or(false),
            stdin_once: container.stdin_once.unwrap_or(false),
            tty: container.tty.unwrap_or(false),
        },
        devices: input.devices.clone(),
    })
}
