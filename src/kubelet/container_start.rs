//! Starting and removing one container of a pod: image → root filesystem → OCI bundle →
//! runtime create and start. Container ids are `<pod-uid>_<name>_<attempt>` (neither part
//! can contain `_`), so a restarted kubelet finds its containers again from the runtime alone.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::agent::NodeContext;
use super::image::{ImageInfo, PullPolicy};
use super::runtime::spec::{write_bundle, BindMount, PodNamespaces, Propagation, Resources};
use super::runtime::{cgroup, ContainerSpec, LogConfig};
use super::volume::{MountPropagation, PodVolumes};
use crate::client::Client;
use crate::resources::quantity::Quantity;

/// The PATH a container gets when its image sets none (containerd's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    /// The pod's /etc/hosts file.
    pub etc_hosts: PathBuf,
    /// The pod IP, for env.
    pub pod_ip: String,
}

fn quantity(
    list: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
    key: &str,
) -> Option<Quantity> {
    list.and_then(|l| l.get(key))
        .and_then(|q| Quantity::parse(&q.0).ok())
}

/// The runtime spec for `c`.
fn spec(
    env: &PodEnv<'_>,
    c: &Container,
    image: &ImageInfo,
    rootfs: PathBuf,
) -> Result<ContainerSpec, StartError> {
    let cfg = &image.config;
    let args: Vec<String> = match (&c.command, &c.args) {
        (Some(cmd), Some(a)) => cmd.iter().chain(a.iter()).cloned().collect(),
        (Some(cmd), None) => cmd.clone(),
        (None, Some(a)) => cfg
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(a.iter().cloned())
            .collect(),
        (None, None) => cfg
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(cfg.cmd.clone().unwrap_or_default())
            .collect(),
    };
    if args.is_empty() {
        return Err(StartError::new(
            "CreateContainerError",
            "no command specified",
        ));
    }
    let mut vars: Vec<String> = cfg.env.clone().unwrap_or_default();
    // containerd's defaults: images without PATH still find their binaries; HOSTNAME as CRI sets it
    if !vars.iter().any(|v| v.starts_with("PATH=")) {
        vars.insert(0, DEFAULT_PATH.into());
    }
    vars.insert(
        0,
        format!(
            "HOSTNAME={}",
            env.pod.metadata.name.as_deref().unwrap_or("")
        ),
    );
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.name") => env.pod.metadata.name.clone().unwrap_or_default(),
                Some("metadata.namespace") => {
                    env.pod.metadata.namespace.clone().unwrap_or_default()
                }
                Some("metadata.uid") => env.pod.metadata.uid.clone().unwrap_or_default(),
                Some("status.podIP") => env.pod_ip.clone(),
                Some("spec.nodeName") => env
                    .pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default(),
                _ => String::new(),
            },
            (None, None) => String::new(),
        };
        vars.retain(|v| v.split('=').next() != Some(e.name.as_str()));
        vars.push(format!("{}={value}", e.name));
    }
    let mut mounts: Vec<BindMount> = env
        .volumes
        .mounts_for(c)
        .map_err(|e| StartError::new("CreateContainerConfigError", e))?
        .into_iter()
        .map(|m| BindMount {
            source: m.source,
            destination: m.destination.to_string_lossy().into_owned(),
            readonly: m.read_only,
            propagation: match m.propagation {
                MountPropagation::Private => Propagation::Private,
                MountPropagation::HostToContainer => Propagation::HostToContainer,
                MountPropagation::Bidirectional => Propagation::Bidirectional,
            },
        })
        .collect();
    mounts.push(BindMount {
        source: env.etc_hosts.clone(),
        destination: "/etc/hosts".into(),
        readonly: false,
        propagation: Propagation::Private,
    });
    let sc = c.security_context.as_ref();
    let pod_sc = env
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref());
    let uid = sc
        .and_then(|s| s.run_as_user)
        .or(pod_sc.and_then(|s| s.run_as_user))
        .unwrap_or(0);
    let gid = sc
        .and_then(|s| s.run_as_group)
        .or(pod_sc.and_then(|s| s.run_as_group))
        .unwrap_or(0);
    let res = c.resources.as_ref();
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let pod_uid = env.pod.metadata.uid.as_deref().unwrap_or("");
    Ok(ContainerSpec {
        args,
        env: vars,
        cwd: c
            .working_dir
            .clone()
            .or(cfg.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        uid: u32::try_from(uid).unwrap_or(0),
        gid: u32::try_from(gid).unwrap_or(0),
        additional_gids: Vec::new(),
        rootfs,
        readonly_rootfs: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        hostname: Some(env.pod.metadata.name.clone().unwrap_or_default()),
        mounts,
        namespaces: env.namespaces.clone(),
        cgroups_path: cgroup::container_cgroup_path(pod_uid, &c.name),
        resources: Resources {
            cpu_request_milli: quantity(res.and_then(|r| r.requests.as_ref()), "cpu")
                .map(|q| q.milli_value()),
            cpu_limit_milli: quantity(res.and_then(|r| r.limits.as_ref()), "cpu")
                .map(|q| q.milli_value()),
            memory_limit_bytes: quantity(res.and_then(|r| r.limits.as_ref()), "memory")
                .map(|q| q.value()),
        },
        capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        oom_score_adj: None,
    })
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
    let rootfs = ctx
        .images
        .mount_rootfs(image, &dir)
        .await
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    let spec = spec(env, c, image, rootfs)?;
    let bundle = write_bundle(&dir.join("bundle"), &spec)
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    let log = LogConfig::new(log_path(ctx, env.pod, &c.name, attempt));
    if let Some(parent) = log.path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StartError::new("CreateContainerError", e))?;
    }
    ctx.runtime
        .create(&id, &bundle, &log)
        .await
        .map_err(|e| StartError::new("CreateContainerError", e))?;
    ctx.runtime
        .start(&id)
        .await
        .map_err(|e| StartError::new("RunContainerError", e))?;
    Ok(id)
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
