//! Starting and removing one container of a pod: image → root filesystem → OCI bundle →
//! runtime create and start. Container ids are `<pod-uid>_<name>_<attempt>` (neither part
//! can contain `_`), so a restarted kubelet finds its containers again from the runtime alone.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::agent::NodeContext;
use super::container_spec::env::{Allocatable, EnvContext};
use super::container_spec::{
    container_spec, ContainerInput, PodFiles, CREATE_CONTAINER_CONFIG_ERROR,
};
use super::image::{ImageInfo, PullPolicy, Reference};
use super::runtime::spec::{write_bundle, PodNamespaces};
use super::runtime::{cgroup, ContainerSpec, LogConfig};
use super::volume::{PodVolumes, PrefetchedSources};
use crate::client::Client;

/// Why a container could not be started, with the upstream waiting reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    /// `ErrImagePull`, `CreateContainerConfigError`, `CreateContainerError`, ...
    pub reason: String,
    /// Shown in the container's waiting state.
    pub message: String,
}

impl StartError {
    fn new(reason: &str, message: impl std::fmt::Display) -> Self {
        Self {
            reason: reason.into(),
            message: message.to_string(),
        }
    }
}

/// A runtime id for `container` of `pod_uid`, attempt `n`.
pub fn container_id(pod_uid: &str, container: &str, attempt: u32) -> String {
    format!("{pod_uid}_{container}_{attempt}")
}

/// Splits a runtime id into (pod uid, container, attempt).
pub fn parse_id(id: &str) -> Option<(&str, &str, u32)> {
    let mut parts = id.splitn(3, '_');
    Some((parts.next()?, parts.next()?, parts.next()?.parse().ok()?))
}

/// The container's state directory: bundle, rootfs mount point, writable layer.
pub fn container_dir<C: Client>(ctx: &NodeContext<C>, pod_uid: &str, id: &str) -> PathBuf {
    ctx.data_dir
        .join("pods")
        .join(pod_uid)
        .join("containers")
        .join(id)
}

/// Ids of every container directory of `pod_uid`, whether or not the runtime has it.
pub fn container_dirs<C: Client>(ctx: &NodeContext<C>, pod_uid: &str) -> Vec<String> {
    let dir = ctx.data_dir.join("pods").join(pod_uid).join("containers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|id| parse_id(id).is_some_and(|(u, _, _)| u == pod_uid))
        .collect();
    ids.sort();
    ids
}

/// The log directories of `pod_uid` (`DATA/logs/<namespace>_<name>_<uid>`).
pub fn pod_log_dirs<C: Client>(ctx: &NodeContext<C>, pod_uid: &str) -> Vec<PathBuf> {
    let suffix = format!("_{pod_uid}");
    std::fs::read_dir(ctx.data_dir.join("logs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The CRI log file of attempt `attempt` of `container`.
pub fn log_path<C: Client>(
    ctx: &NodeContext<C>,
    pod: &Pod,
    container: &str,
    attempt: u32,
) -> PathBuf {
    let m = &pod.metadata;
    let dir = format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    );
    ctx.data_dir
        .join("logs")
        .join(dir)
        .join(container)
        .join(format!("{attempt}.log"))
}

fn pull_policy(c: &Container) -> PullPolicy {
    match c.image_pull_policy.as_deref() {
        Some("Never") => PullPolicy::Never,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        _ => PullPolicy::Always,
    }
}

/// Whether starting `c` pulls its image: policy `Always`, or `IfNotPresent` without it.
pub fn will_pull<C: Client>(ctx: &NodeContext<C>, c: &Container) -> bool {
    let image = c.image.as_deref().unwrap_or("");
    match pull_policy(c) {
        PullPolicy::Never => false,
        PullPolicy::Always => true,
        PullPolicy::IfNotPresent => Reference::parse(image)
            .ok()
            .and_then(|r| ctx.images.image(&r).ok().flatten())
            .is_none(),
    }
}

/// Ensures the container's image is present, as its pull policy says.
pub async fn pull<C: Client>(
    ctx: &NodeContext<C>,
    c: &Container,
    secrets: &[Vec<u8>],
) -> Result<ImageInfo, StartError> {
    let image = c.image.as_deref().unwrap_or("");
    ctx.images
        .ensure_image(image, pull_policy(c), secrets)
        .await
        .map_err(|e| match e.reason() {
            "ErrImagePull" => StartError::new(
                "ErrImagePull",
                format!("Failed to pull image \"{image}\": {e}"),
            ),
            other => StartError::new(other, e),
        })
}

/// Everything a container needs from its pod.
pub struct PodEnv<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Its volumes.
    pub volumes: &'a PodVolumes,
    /// Its namespaces.
    pub namespaces: PodNamespaces,
    /// The pod's directory (holds /etc/hosts, /etc/hostname, resolv.conf).
    pub pod_dir: PathBuf,
    /// The pod IP.
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// The node's hostname.
    pub node_hostname: String,
    /// ConfigMaps and Secrets the containers' env refers to.
    pub sources: &'a PrefetchedSources,
    /// The Service variables every container gets.
    pub service_env: std::collections::BTreeMap<String, String>,
    /// What `resourceFieldRef` limits default to.
    pub allocatable: Allocatable,
}

/// The runtime spec for `c`, as the kubelet and containerd build it.
fn spec(
    env: &PodEnv<'_>,
    c: &Container,
    image: &ImageInfo,
    rootfs: PathBuf,
    dir: &std::path::Path,
    seccomp_root: &std::path::Path,
    devices: Vec<oci_spec::runtime::LinuxDevice>,
) -> Result<ContainerSpec, StartError> {
    let termination_log = dir.join("termination-log");
    std::fs::write(&termination_log, b"")
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    let pod_ips = [env.pod_ip.clone()];
    let host_ips = [env.host_ip.clone()];
    let input = ContainerInput {
        env: EnvContext {
            pod: env.pod,
            pod_ips: &pod_ips,
            host_ips: &host_ips,
            allocatable: env.allocatable,
            sources: env.sources,
            service_env: &env.service_env,
        },
        container: c,
        image: &image.config,
        volume_mounts: env
            .volumes
            .mounts_for(c)
            .map_err(|e| StartError::new("CreateContainerConfigError", e))?,
        namespaces: env.namespaces.clone(),
        rootfs,
        cgroups_path: cgroup::container_cgroup_path(
            env.pod.metadata.uid.as_deref().unwrap_or(""),
            &c.name,
        ),
        files: PodFiles {
            etc_hosts: env.pod_dir.join("etc-hosts"),
            etc_hostname: env.pod_dir.join("etc-hostname"),
            resolv_conf: env.pod_dir.join("resolv.conf"),
            termination_log,
        },
        node_hostname: env.node_hostname.clone(),
        seccomp_root: seccomp_root.to_path_buf(),
        devices,
    };
    container_spec(&input).map_err(|e| StartError::new(e.reason(), e))
}

/// Creates and starts attempt `attempt` of `c`; returns its runtime id.
pub async fn start<C: Client>(
    ctx: &NodeContext<C>,
    env: &PodEnv<'_>,
    c: &Container,
    image: &ImageInfo,
    attempt: u32,
) -> Result<String, StartError> {
    let pod_uid = env.pod.metadata.uid.as_deref().unwrap_or("");
    let id = container_id(pod_uid, &c.name, attempt);
    let dir = container_dir(ctx, pod_uid, &id);
    let started = create_and_start(ctx, env, c, image, attempt, &id, &dir).await;
    if started.is_err() {
        // The retry reuses this id: leave no runtime state, cgroup or mounted rootfs behind
        // (containerd removes a container whose create or start failed the same way).
        let _ = ctx.runtime.kill(&id, libc::SIGKILL).await;
        remove(ctx, pod_uid, &id).await;
        let cgroup = cgroup::container_cgroup_path(pod_uid, &c.name);
        if let Err(e) = cgroup::remove_everywhere(&cgroup) {
            tracing::debug!(container = %id, error = %e, "removing the container cgroup failed");
        }
    }
    started.map(|()| id)
}

async fn create_and_start<C: Client>(
    ctx: &NodeContext<C>,
    env: &PodEnv<'_>,
    c: &Container,
    image: &ImageInfo,
    attempt: u32,
    id: &str,
    dir: &std::path::Path,
) -> Result<(), StartError> {
    let rootfs = ctx
        .images
        .mount_rootfs(image, dir)
        .await
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    let pod_uid = env.pod.metadata.uid.as_deref().unwrap_or("");
    let devices = super::devices::linux_devices(&ctx.devices.container_devices(pod_uid, &c.name))
        .map_err(|e| StartError::new(CREATE_CONTAINER_CONFIG_ERROR, e))?;
    let spec = spec(
        env,
        c,
        image,
        rootfs,
        dir,
        &ctx.security.seccomp_root,
        devices,
    )?;
    let bundle = write_bundle(&dir.join("bundle"), &spec)
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    let log = LogConfig::new(log_path(ctx, env.pod, &c.name, attempt));
    if let Some(parent) = log.path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StartError::new("CreateContainerError", e))?;
    }
    ctx.runtime
        .create(id, &bundle, &log)
        .await
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    ctx.runtime
        .start(id)
        .await
        .map_err(|e| StartError::new("RunContainerError", e))
}

/// Deletes a stopped container and its root filesystem.
pub async fn remove<C: Client>(ctx: &NodeContext<C>, pod_uid: &str, id: &str) {
    if let Err(e) = ctx.runtime.delete(id).await {
        tracing::warn!(container = id, error = %e, "could not delete container");
    }
    let dir = container_dir(ctx, pod_uid, id);
    if let Err(e) = ctx.images.unmount_rootfs(&dir).await {
        tracing::warn!(container = id, error = %e, "could not remove container rootfs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = container_id("0b1c-22", "web-1", 3);
        assert_eq!(parse_id(&id), Some(("0b1c-22", "web-1", 3)));
        assert_eq!(parse_id("junk"), None);
    }
}
