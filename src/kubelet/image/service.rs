//! `ImageService`: what the kubelet calls. `ensure_image` honours `imagePullPolicy` (as the
//! kubelet's `imageManager.EnsureImageExists` does), pulls through mirrors with auth,
//! verifies and stores blobs, unpacks layers once, and records the image; `mount_rootfs`
//! gives a container its overlayfs root. Pulls and GC exclude each other through a lock so
//! GC never removes a blob a pull has stored but not yet recorded.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tokio::sync::RwLock;

use super::client::{FetchedManifest, RegistryClient, RegistryError};
use super::error::PullError;
use super::gc::{self, GcPolicy, GcReport};
use super::manifest::{AnyManifest, ContainerConfig, ImageConfigFile};
use super::platform::Platform;
use super::reference::Reference;
use super::registries::{Endpoint, PullSecrets, RegistryConfig};
use super::rootfs;
use super::store::{now_secs, ImageRecord, ImageStore, LayerRecord};
use super::unpack;

/// The pod spec's `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time a container starts.
    Always,
    /// Pull only if the image is not stored.
    IfNotPresent,
    /// Never pull; fail if the image is not stored.
    Never,
}

/// A stored image, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Normalised reference, e.g. `docker.io/library/redis:latest`.
    pub reference: String,
    /// Image ID: the config digest.
    pub id: String,
    /// Digest the reference resolved to (`repo@digest` in container status `imageID`).
    pub manifest_digest: String,
    /// Bytes stored for the image's blobs.
    pub size: u64,
    /// Execution defaults (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, StopSignal).
    pub config: ContainerConfig,
    /// Unpacked layer directories, bottom first.
    pub layers: Vec<PathBuf>,
}

impl ImageInfo {
    /// `registry/repository@digest`, what container statuses report as `imageID`.
    pub fn repo_digest(&self) -> String {
        let name = self.reference.split('@').next().unwrap_or(&self.reference);
        let slash = name.rfind('/').unwrap_or(0);
        let name = match name[slash..].rfind(':') {
            Some(i) => &name[..slash + i],
            None => name,
        };
        format!("{name}@{}", self.manifest_digest)
    }
}

/// The node's image service over `DATA/images`.
#[derive(Debug)]
pub struct ImageService {
    store: ImageStore,
    client: RegistryClient,
    platform: Platform,
    gc_lock: RwLock<()>,
}

impl ImageService {
    /// Opens the store under `data_dir` with registry configuration `registries`.
    pub fn new(data_dir: &Path, registries: RegistryConfig) -> Result<ImageService, PullError> {
        Ok(ImageService {
            store: ImageStore::open(data_dir)?,
            client: RegistryClient::new(registries),
            platform: Platform::host(),
            gc_lock: RwLock::new(()),
        })
    }

    /// Uses `platform` instead of this machine's when choosing from multi-arch images.
    pub fn with_platform(mut self, platform: Platform) -> ImageService {
        self.platform = platform;
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// Makes `image` available per `policy`; `pull_secrets` are the `.dockerconfigjson`
    /// bytes of the pod's `imagePullSecrets`.
    pub async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        pull_secrets: &[Vec<u8>],
    ) -> Result<ImageInfo, PullError> {
        let reference = Reference::parse(image)?;
        let present = self.image(&reference)?;
        match (policy, present) {
            (PullPolicy::Never, None) => Err(PullError::NeverPull {
                image: image.to_string(),
            }),
            (PullPolicy::Never | PullPolicy::IfNotPresent, Some(info)) => {
                self.store.touch(&info.reference)?;
                Ok(info)
            }
            _ => {
                let secrets = PullSecrets::parse(pull_secrets)?;
                self.pull(&reference, &secrets).await
            }
        }
    }

    /// The stored image for `reference`, if its record and every layer are present.
    pub fn image(&self, reference: &Reference) -> Result<Option<ImageInfo>, PullError> {
        let Some(record) = self.store.record(&reference.to_string())? else {
            return Ok(None);
        };
        let info = info_from_record(&self.store, &record)?;
        Ok(info.layers.iter().all(|l| l.is_dir()).then_some(info))
    }

    /// Every stored image (for the node status' `images` list), largest first as the kubelet
    /// sorts them.
    pub fn list(&self) -> Result<Vec<ImageInfo>, PullError> {
        let mut out = self
            .store
            .records()?
            .iter()
            .map(|r| info_from_record(&self.store, r))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            b.size
                .cmp(&a.size)
                .then_with(|| a.reference.cmp(&b.reference))
        });
        Ok(out)
    }

    /// Removes the image `image` and any blobs and layers no other image uses.
    pub async fn remove_image(&self, image: &str) -> Result<(), PullError> {
        let reference = Reference::parse(image)?.to_string();
        let _guard = self.gc_lock.write().await;
        let store = self.store.clone();
        blocking(move || {
            store.remove_record(&reference)?;
            gc::sweep(&store)?;
            Ok(())
        })
        .await
    }

    /// Pulls `reference` from its endpoints (mirrors first) and stores it.
    pub async fn pull(
        &self,
        reference: &Reference,
        secrets: &PullSecrets,
    ) -> Result<ImageInfo, PullError> {
        let _guard = self.gc_lock.read().await;
        let name = reference.to_string();
        let reg = |source: RegistryError| PullError::Registry {
            image: name.clone(),
            source,
        };
        let endpoints = self.client.endpoints(reference);
        let top = self
            .client
            .fetch_manifest(reference, reference.object(), &endpoints, secrets)
            .await
            .map_err(reg)?;
        self.store.put_blob(&top.digest, &top.bytes)?;
        let parsed = AnyManifest::parse(&top.bytes).map_err(|reason| PullError::InvalidImage {
            image: name.clone(),
            reason,
        })?;
        let preferred = prefer(&endpoints, &top.endpoint);
        let (platform_digest, manifest) = if parsed.is_index() {
            let entry =
                parsed
                    .select(&self.platform)
                    .ok_or_else(|| PullError::NoMatchingPlatform {
                        image: name.clone(),
                        platform: self.platform.display(),
                        digest: top.digest.clone(),
                    })?;
            let m: FetchedManifest = self
                .client
                .fetch_manifest(reference, &entry.digest, &preferred, secrets)
                .await
                .map_err(reg)?;
            self.store.put_blob(&m.digest, &m.bytes)?;
            let parsed =
                AnyManifest::parse(&m.bytes).map_err(|reason| PullError::InvalidImage {
                    image: name.clone(),
                    reason,
                })?;
            (m.digest, parsed)
        } else {
            (top.digest.clone(), parsed)
        };
        let config = manifest
            .config
            .clone()
            .ok_or_else(|| PullError::InvalidImage {
                image: name.clone(),
                reason: "manifest has no config (schema1 manifests are not supported)".into(),
            })?;
        for desc in std::iter::once(&config).chain(manifest.layers.iter()) {
            if self.store.has_blob(&desc.digest) {
                continue;
            }
            let store = self.store.clone();
            let digest = desc.digest.clone();
            let writer = self
                .client
                .fetch_blob(
                    reference,
                    &desc.digest,
                    desc.size,
                    &preferred,
                    secrets,
                    || store.blob_writer(&digest),
                )
                .await
                .map_err(reg)?;
            blocking(move || writer.commit().map_err(PullError::from)).await?;
        }
        let store = self.store.clone();
        let (top_digest, name2) = (top.digest.clone(), name.clone());
        blocking(move || install(&store, &name2, &top_digest, &platform_digest, &manifest)).await
    }

    /// Imports every image of an OCI archive (`skopeo copy … oci-archive:x.tar`); `name`
    /// names the image when the archive's annotations do not (or overrides them).
    pub async fn import_oci_archive(
        &self,
        archive: &Path,
        name: Option<&str>,
    ) -> Result<Vec<ImageInfo>, PullError> {
        let _guard = self.gc_lock.read().await;
        let store = self.store.clone();
        let platform = self.platform.clone();
        let (archive, name) = (archive.to_path_buf(), name.map(str::to_string));
        blocking(move || super::archive::import(&store, &archive, name.as_deref(), &platform)).await
    }

    /// Mounts the rootfs of a container with state dir `container_dir` from `image`.
    pub async fn mount_rootfs(
        &self,
        image: &ImageInfo,
        container_dir: &Path,
    ) -> Result<PathBuf, PullError> {
        self.store.touch(&image.reference)?;
        let (layers, dir) = (image.layers.clone(), container_dir.to_path_buf());
        blocking(move || rootfs::mount_rootfs(&layers, &dir).map_err(PullError::from)).await
    }

    /// Unmounts and removes a container's rootfs and writable layer.
    pub async fn unmount_rootfs(&self, container_dir: &Path) -> Result<(), PullError> {
        let dir = container_dir.to_path_buf();
        blocking(move || rootfs::unmount_rootfs(&dir).map_err(PullError::from)).await
    }

    /// One image GC pass (see [`gc::collect`]); `in_use` = images of existing containers.
    pub async fn garbage_collect(
        &self,
        policy: GcPolicy,
        in_use: &HashSet<String>,
    ) -> Result<GcReport, PullError> {
        let _guard = self.gc_lock.write().await;
        let store = self.store.clone();
        let in_use = in_use.clone();
        blocking(move || gc::collect(&store, policy, &in_use).map_err(PullError::from)).await
    }
}

/// `first` then the other endpoints, in order.
fn prefer(endpoints: &[Endpoint], first: &Endpoint) -> Vec<Endpoint> {
    std::iter::once(first.clone())
        .chain(endpoints.iter().filter(|e| *e != first).cloned())
        .collect()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PullError> + Send + 'static,
) -> Result<T, PullError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PullError::Task(e.to_string()))?
}

/// Unpacks the layers of `manifest` (all blobs stored) and records the image. Blocking.
pub(crate) fn install(
    store: &ImageStore,
    reference: &str,
    manifest_digest: &str,
    platform_manifest_digest: &str,
    manifest: &AnyManifest,
) -> Result<ImageInfo, PullError> {
    let invalid = |reason: String| PullError::InvalidImage {
        image: reference.to_string(),
        reason,
    };
    let config_desc = manifest
        .config
        .as_ref()
        .ok_or_else(|| invalid("manifest has no config".into()))?;
    let config_bytes = store.read_blob(&config_desc.digest)?;
    let config: ImageConfigFile = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("invalid image config: {e}")))?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(invalid(format!(
            "{} layers but {} diff_ids in the config",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    let mut size = (store.read_blob(manifest_digest)?.len() + config_bytes.len()) as u64;
    for (desc, diff_id) in manifest.layers.iter().zip(diff_ids) {
        let dest = store.layer_path(diff_id)?;
        unpack::unpack_layer(
            &store.blob_path(&desc.digest)?,
            diff_id,
            &dest,
            &store.tmp_dir(),
        )?;
        size += desc.size;
        layers.push(LayerRecord {
            digest: desc.digest.clone(),
            diff_id: diff_id.clone(),
            media_type: desc.media_type.clone(),
            size: desc.size,
        });
    }
    let record = ImageRecord {
        reference: reference.to_string(),
        manifest_digest: manifest_digest.to_string(),
        platform_manifest_digest: platform_manifest_digest.to_string(),
        config_digest: config_desc.digest.clone(),
        layers,
        config: config.config,
        size,
        last_used: now_secs(),
    };
    store.put_record(&record)?;
    info_from_record(store, &record)
}

fn info_from_record(store: &ImageStore, r: &ImageRecord) -> Result<ImageInfo, PullError> {
    Ok(ImageInfo {
        reference: r.reference.clone(),
        id: r.config_digest.clone(),
        manifest_digest: r.manifest_digest.clone(),
        size: r.size,
        config: r.config.clone(),
        layers: r
            .layers
            .iter()
            .map(|l| store.layer_path(&l.diff_id))
            .collect::<Result<_, _>>()?,
    })
}
