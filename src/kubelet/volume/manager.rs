//! [`VolumeManager`]: sets up a pod's volumes before its containers start, refreshes
//! configMap, secret, downwardAPI and projected content, and tears everything down when the
//! pod is gone.
//!
//! Host layout (upstream's, with plugin names escaped the way upstream does):
//! `DATA/pods/<uid>/volumes/kubernetes.io~{empty-dir,configmap,secret,downward-api,projected,
//! git-repo}/<name>` for volumes the kubelet owns, `DATA/pods/<uid>/volumes/kubernetes.io~{host-path,local-volume}/<name>` for
//! staging bind mounts of host paths and PVs (opened once without following symlinks and
//! mounted by descriptor, before any container of the pod runs, so a container that swaps
//! a path for a symlink later cannot redirect a mount), and
//! `DATA/pods/<uid>/volume-subpaths/<volume>/<container>/<index>` for pinned subPath bind
//! mounts. The runtime only ever gets paths under the pod's directory. Setup is idempotent (a restarted
//! kubelet calls it again and reuses existing mounts); after a failed setup, call it again or
//! call [`VolumeManager::teardown`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

use super::atomic_writer::AtomicWriter;
use super::atomic_writer::FileProjection;
use super::HostPathPolicy;
use super::{downward_api, projected};
use super::{emptydir, git_repo, hostpath, mounts, projection, staging, subpath};
use super::{BindMount, MountPropagation, SourceLookup, VolumeError};
use crate::kubelet::downward_api::Allocatable;

const EMPTY_DIR_PLUGIN: &str = "kubernetes.io~empty-dir";
const CONFIG_MAP_PLUGIN: &str = "kubernetes.io~configmap";
const SECRET_PLUGIN: &str = "kubernetes.io~secret";
const DOWNWARD_API_PLUGIN: &str = "kubernetes.io~downward-api";
const PROJECTED_PLUGIN: &str = "kubernetes.io~projected";
const GIT_REPO_PLUGIN: &str = "kubernetes.io~git-repo";
const HOST_PATH_PLUGIN: &str = "kubernetes.io~host-path";
const LOCAL_VOLUME_PLUGIN: &str = "kubernetes.io~local-volume";

/// Prepares, refreshes and removes pod volumes under one node data directory.
#[derive(Debug, Clone)]
pub struct VolumeManager {
    data_dir: PathBuf,
    host_path_policy: HostPathPolicy,
    node_allocatable_memory: Option<u64>,
    /// What downward API resource limits default to.
    allocatable: Allocatable,
}

/// The files a kubelet-written volume (configMap, secret, downwardAPI, projected) holds now,
/// with its plugin directory and whether it lives on tmpfs.
struct Projection {
    plugin: &'static str,
    in_memory: bool,
    files: BTreeMap<String, FileProjection>,
}

/// One prepared volume: where it is on the host and whether it must be mounted read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PreparedVolume {
    path: PathBuf,
    /// configMap and secret volumes are always read-only in containers (upstream's
    /// `GetAttributes().ReadOnly`), and so is a claim mounted with `readOnly: true`.
    always_read_only: bool,
}

/// The prepared volumes of one pod, ready to be turned into bind mounts per container.
#[derive(Debug, Clone)]
pub struct PodVolumes {
    pod_dir: PathBuf,
    volumes: BTreeMap<String, PreparedVolume>,
}

fn safe_component(what: &'static str, name: &str) -> Result<(), VolumeError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(VolumeError::BadName {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

fn pod_uid(pod: &Pod) -> Result<String, VolumeError> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    safe_component("pod uid", &uid)?;
    Ok(uid)
}

impl VolumeManager {
    /// A manager for the node data directory `data_dir` with the given hostPath policy.
    pub fn new(data_dir: impl Into<PathBuf>, host_path_policy: HostPathPolicy) -> Self {
        let data_dir = data_dir.into();
        // Mount points in /proc/self/mountinfo are canonical paths; compare like with like.
        let data_dir = fs::canonicalize(&data_dir).unwrap_or(data_dir);
        Self {
            data_dir,
            host_path_policy,
            node_allocatable_memory: None,
            allocatable: Allocatable::default(),
        }
    }

    /// The node's allocatable resources, which downward API limits a container does not
    /// set default to.
    pub fn with_allocatable(mut self, allocatable: Allocatable) -> Self {
        self.allocatable = allocatable;
        self
    }

    /// The files of `volume` when the kubelet writes them itself; `None` for other kinds.
    fn projection(
        &self,
        pod: &Pod,
        volume: &Volume,
        lookups: &dyn SourceLookup,
    ) -> Option<Result<Projection, VolumeError>> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        // Secrets, tokens and pod metadata never touch the node's disk: like upstream's
        // wrapped emptyDir, a memory-backed directory holds them.
        let (plugin, in_memory, files) = if let Some(cm) = &volume.config_map {
            let files = projection::config_map_payload(cm, namespace, lookups);
            (CONFIG_MAP_PLUGIN, false, files)
        } else if let Some(secret) = &volume.secret {
            let files = projection::secret_payload(secret, namespace, lookups);
            (SECRET_PLUGIN, true, files)
        } else if let Some(d) = &volume.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            let files = downward_api::payload(items, pod, self.allocatable, d.default_mode);
            (DOWNWARD_API_PLUGIN, true, files)
        } else if let Some(p) = &volume.projected {
            let files = projected::payload(&volume.name, p, pod, self.allocatable, lookups);
            (PROJECTED_PLUGIN, true, files)
        } else {
            return None;
        };
        Some(files.map(|files| Projection {
            plugin,
            in_memory,
            files,
        }))
    }

    /// Sizes `medium: Memory` volumes without `sizeLimit` to the node's allocatable memory
    /// (upstream's default); without it such a tmpfs gets the kernel default (half of RAM).
    pub fn with_node_allocatable_memory(mut self, bytes: u64) -> Self {
        self.node_allocatable_memory = Some(bytes);
        self
    }

    /// `DATA/pods/<uid>`.
    pub fn pod_dir(&self, pod_uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(pod_uid)
    }

    fn memory_size(&self, pod: &Pod, size_limit: Option<u64>) -> Option<u64> {
        match self.node_allocatable_memory {
            Some(node) => Some(emptydir::memory_volume_size(pod, size_limit, node)),
            None => size_limit.filter(|s| *s > 0),
        }
    }

    /// Prepares every volume of `pod` on the host; ConfigMaps and Secrets come from `lookups`.
    pub fn setup(&self, pod: &Pod, lookups: &dyn SourceLookup) -> Result<PodVolumes, VolumeError> {
        let uid = pod_uid(pod)?;
        let pod_dir = self.pod_dir(&uid);
        let mut volumes = BTreeMap::new();
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            safe_component("volume name", &volume.name)?;
            let prepared = self.setup_volume(pod, &pod_dir, volume, lookups)?;
            volumes.insert(volume.name.clone(), prepared);
        }
        Ok(PodVolumes { pod_dir, volumes })
    }

    fn setup_volume(
        &self,
        pod: &Pod,
        pod_dir: &Path,
        volume: &Volume,
        lookups: &dyn SourceLookup,
    ) -> Result<PreparedVolume, VolumeError> {
        let dir = |plugin: &str| pod_dir.join("volumes").join(plugin).join(&volume.name);
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        if let Some(ed) = &volume.empty_dir {
            let path = dir(EMPTY_DIR_PLUGIN);
            match ed.medium.as_deref().unwrap_or("") {
                "" => emptydir::setup_dir(&path)?,
                "Memory" => {
                    let limit = emptydir::size_limit_bytes(&volume.name, ed.size_limit.as_ref())?;
                    emptydir::setup_tmpfs(&path, self.memory_size(pod, limit))?;
                }
                other => return Err(VolumeError::UnknownMedium(other.to_string())),
            }
            return Ok(PreparedVolume {
                path,
                always_read_only: false,
            });
        }
        if let Some(hp) = &volume.host_path {
            let path = dir(HOST_PATH_PLUGIN);
            if !staging::staged(&path)? {
                let fd = hostpath::open_host_path(
                    &self.host_path_policy,
                    &volume.name,
                    &hp.path,
                    hp.type_.as_deref(),
                    true,
                )?;
                staging::stage(&fd, &path)?;
            }
            return Ok(PreparedVolume {
                path,
                always_read_only: false,
            });
        }
        if let Some(pvc) = &volume.persistent_volume_claim {
            let claim = lookups.claim(namespace, &pvc.claim_name).ok_or_else(|| {
                VolumeError::ClaimNotResolved {
                    namespace: namespace.to_string(),
                    claim: pvc.claim_name.clone(),
                }
            })?;
            // The PV's directory, staged like a hostPath; its data outlives the pod.
            let path = dir(if claim.host_path {
                HOST_PATH_PLUGIN
            } else {
                LOCAL_VOLUME_PLUGIN
            });
            if !staging::staged(&path)? {
                let fd = staging::open_claim(&self.host_path_policy, &volume.name, &claim)?;
                staging::stage(&fd, &path)?;
            }
            return Ok(PreparedVolume {
                path,
                always_read_only: pvc.read_only.unwrap_or(false),
            });
        }
        if let Some(projection) = self.projection(pod, volume, lookups) {
            let projection = projection?;
            let path = dir(projection.plugin);
            if projection.in_memory {
                emptydir::setup_tmpfs(&path, self.memory_size(pod, None))?;
            } else {
                emptydir::setup_dir(&path)?;
            }
            AtomicWriter::new(&path).write(&projection.files)?;
            return Ok(PreparedVolume {
                path,
                always_read_only: true,
            });
        }
        if let Some(repo) = &volume.git_repo {
            let path = dir(GIT_REPO_PLUGIN);
            git_repo::setup(&path, &volume.name, repo)?;
            return Ok(PreparedVolume {
                path,
                always_read_only: false,
            });
        }
        Err(VolumeError::Unsupported(volume.name.clone()))
    }

    /// Re-projects the configMap, secret, downwardAPI and projected volumes of an already
    /// set-up `pod` from `lookups` and the pod as it is now; each volume switches to its new
    /// content atomically, and one that cannot be projected keeps its old content while the
    /// others are still refreshed (the first error is returned).
    pub fn refresh(&self, pod: &Pod, lookups: &dyn SourceLookup) -> Result<(), VolumeError> {
        let uid = pod_uid(pod)?;
        let pod_dir = self.pod_dir(&uid);
        let mut first_error = None;
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            safe_component("volume name", &volume.name)?;
            let Some(projection) = self.projection(pod, volume, lookups) else {
                continue;
            };
            let written = projection.and_then(|p| {
                let dir = pod_dir.join("volumes").join(p.plugin).join(&volume.name);
                AtomicWriter::new(dir).write(&p.files)
            });
            if let Err(e) = written {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Unmounts everything under the pod's `volumes/` and `volume-subpaths/` (found in
    /// `/proc/self/mountinfo`, so it works after a crash) and removes both directories.
    /// Idempotent; files are kept when a mount survives, so host data is never deleted.
    pub fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        safe_component("pod uid", pod_uid)?;
        let pod_dir = self.pod_dir(pod_uid);
        // DATA may not have existed (or been canonical) when the manager was built.
        let pod_dir = fs::canonicalize(&pod_dir).unwrap_or(pod_dir);
        let dirs = [pod_dir.join("volume-subpaths"), pod_dir.join("volumes")];
        let mut first_error = None;
        for dir in &dirs {
            let found = mounts::mount_points_under(dir)
                .map_err(VolumeError::io("read /proc/self/mountinfo for", dir))?;
            for mount_point in found {
                if let Err(e) = mounts::unmount(&mount_point) {
                    tracing::warn!(path = %mount_point.display(), error = %e, "unmount failed");
                    first_error.get_or_insert(VolumeError::io("unmount", &mount_point)(e));
                }
            }
        }
        for dir in &dirs {
            let left = mounts::mount_points_under(dir)
                .map_err(VolumeError::io("read /proc/self/mountinfo for", dir))?;
            if !left.is_empty() {
                return Err(VolumeError::StillMounted {
                    dir: dir.clone(),
                    mounts: left
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for dir in &dirs {
            mounts::remove_tree_same_device(dir).map_err(VolumeError::io("remove", dir))?;
        }
        // The pod directory also holds the runtime's container dirs; remove it only if empty.
        let _ = fs::remove_dir(&pod_dir);
        Ok(())
    }

    /// Removes the whole pod directory once its containers and volumes are gone: whatever is
    /// still mounted below it (a container root filesystem whose container the runtime never
    /// created, a mount left by a crash) is unmounted first, and nothing is deleted through
    /// a mount that survives. Idempotent.
    pub fn remove_pod_dir(&self, pod_uid: &str) -> Result<(), VolumeError> {
        safe_component("pod uid", pod_uid)?;
        let pod_dir = self.pod_dir(pod_uid);
        let pod_dir = fs::canonicalize(&pod_dir).unwrap_or(pod_dir);
        mounts::unmount_and_remove(&pod_dir).map_err(VolumeError::io("remove", &pod_dir))
    }
}

fn propagation(container: &Container, mode: Option<&str>) -> Result<MountPropagation, VolumeError> {
    match mode.unwrap_or("None") {
        "None" => Ok(MountPropagation::Private),
        "HostToContainer" => Ok(MountPropagation::HostToContainer),
        "Bidirectional" => {
            let privileged = container
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            if !privileged {
                return Err(VolumeError::Propagation(
                    "Bidirectional mount propagation is available only to privileged containers"
                        .to_string(),
                ));
            }
            Ok(MountPropagation::Bidirectional)
        }
        other => Err(VolumeError::Propagation(format!(
            "invalid MountPropagation mode: {other:?}"
        ))),
    }
}

impl PodVolumes {
    /// The host directory (or hostPath) of volume `name`.
    pub fn host_path(&self, name: &str) -> Option<&Path> {
        self.volumes.get(name).map(|v| v.path.as_path())
    }

    /// The bind mounts for `container`'s `volumeMounts`, in order. A `subPath` is resolved
    /// inside its volume and pinned with a bind mount under `volume-subpaths/`.
    pub fn mounts_for(&self, container: &Container) -> Result<Vec<BindMount>, VolumeError> {
        safe_component("container name", &container.name)?;
        let mut out = Vec::new();
        for (index, vm) in container.volume_mounts.iter().flatten().enumerate() {
            let volume = self
                .volumes
                .get(&vm.name)
                .ok_or_else(|| VolumeError::UnknownVolume {
                    volume: vm.name.clone(),
                    container: container.name.clone(),
                })?;
            let propagation = propagation(container, vm.mount_propagation.as_deref())?;
            if vm.sub_path_expr.as_deref().is_some_and(|e| !e.is_empty()) {
                return Err(VolumeError::SubPath(format!(
                    "volume mount {:?} in container {:?}: subPathExpr is not supported on this node",
                    vm.name, container.name
                )));
            }
            let source = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
                None => volume.path.clone(),
                Some(sub) => {
                    let mode = subpath::volume_mode(&volume.path);
                    let fd = subpath::open_beneath(&volume.path, sub, Some(mode), true)?;
                    let target = self
                        .pod_dir
                        .join("volume-subpaths")
                        .join(&vm.name)
                        .join(&container.name)
                        .join(index.to_string());
                    subpath::bind_pinned(&fd, &target)?;
                    target
                }
            };
            out.push(BindMount {
                source,
                destination: PathBuf::from(&vm.mount_path),
                read_only: vm.read_only.unwrap_or(false) || volume.always_read_only,
                propagation,
            });
        }
        Ok(out)
    }
}
