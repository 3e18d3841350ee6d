//! Import of an OCI image-layout archive (a tar with `oci-layout`, `index.json` and
//! `blobs/sha256/…`, as `skopeo copy … oci-archive:x.tar` writes) into the store, for boards
//! without registry access. Blobs are verified against their names while streaming; each
//! `index.json` entry becomes an image named by its `io.containerd.image.name` or
//! `org.opencontainers.image.ref.name` annotation, or by the name the caller gives.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::error::PullError;
use super::manifest::{AnyManifest, Descriptor};
use super::platform::Platform;
use super::reference::Reference;
use super::service::{install, ImageInfo};
use super::store::ImageStore;
use super::store_lock::{LockMode, StoreLock};

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Imports `archive`; see the module docs. Blocking.
pub fn import(
    store: &ImageStore,
    archive: &Path,
    name: Option<&str>,
    platform: &Platform,
) -> Result<Vec<ImageInfo>, PullError> {
    let fail = |reason: String| PullError::Archive {
        path: archive.to_path_buf(),
        reason,
    };
    let _lock = StoreLock::acquire(store.root(), LockMode::Shared)?;
    let file = fs::File::open(archive).map_err(|e| fail(e.to_string()))?;
    let mut buffered = BufReader::new(file);
    let gz = buffered
        .fill_buf()
        .map_err(|e| fail(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut tar = tar::Archive::new(reader);
    let mut index_json = None;
    let mut saw_layout = false;
    for entry in tar.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let path: PathBuf = entry
            .path()
            .map_err(|e| fail(e.to_string()))?
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let path = path.to_string_lossy().into_owned();
        if path == "index.json" {
            let mut s = Vec::new();
            entry.read_to_end(&mut s).map_err(|e| fail(e.to_string()))?;
            index_json = Some(s);
        } else if path == "oci-layout" {
            saw_layout = true;
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let digest = format!("sha256:{hex}");
            if store.has_blob(&digest) {
                continue;
            }
            let mut writer = store.blob_writer(&digest)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = entry.read(&mut buf).map_err(|e| fail(e.to_string()))?;
                if n == 0 {
                    break;
                }
                writer.write_chunk(&buf[..n])?;
            }
            writer.commit()?;
        }
    }
    if !saw_layout {
        return Err(fail(
            "no oci-layout file: not an OCI archive (use skopeo's oci-archive: transport)".into(),
        ));
    }
    let index = AnyManifest::parse(&index_json.ok_or_else(|| fail("no index.json".into()))?)
        .map_err(fail)?;
    let entries = index.manifests.unwrap_or_default();
    if entries.is_empty() {
        return Err(fail("index.json lists no images".into()));
    }
    if name.is_some() && entries.len() > 1 {
        return Err(fail(format!(
            "it holds {} images; a single name cannot be given to all",
            entries.len()
        )));
    }
    let mut out = Vec::new();
    for entry in &entries {
        let image_name = image_name(entry, name)
            .ok_or_else(|| fail("an image in it has no name; give one".into()))?;
        let reference = Reference::parse(&image_name)?.to_string();
        let (platform_digest, manifest) = resolve(store, entry, platform, &reference)?;
        for desc in manifest.config.iter().chain(manifest.layers.iter()) {
            if !store.has_blob(&desc.digest) {
                return Err(fail(format!(
                    "blob {} of {reference} is missing",
                    desc.digest
                )));
            }
        }
        out.push(install(
            store,
            &reference,
            &entry.digest,
            &platform_digest,
            &manifest,
        )?);
    }
    Ok(out)
}

fn image_name(entry: &Descriptor, given: Option<&str>) -> Option<String> {
    given
        .map(str::to_string)
        .or_else(|| entry.annotations.get(CONTAINERD_NAME).cloned())
        .or_else(|| entry.annotations.get(OCI_REF_NAME).cloned())
}

/// Follows an index entry down to this platform's manifest.
fn resolve(
    store: &ImageStore,
    entry: &Descriptor,
    platform: &Platform,
    reference: &str,
) -> Result<(String, AnyManifest), PullError> {
    let mut digest = entry.digest.clone();
    for _ in 0..4 {
        let m = AnyManifest::parse(&store.read_blob(&digest)?).map_err(|reason| {
            PullError::InvalidImage {
                image: reference.into(),
                reason,
            }
        })?;
        if !m.is_index() {
            return Ok((digest, m));
        }
        digest = m
            .select(platform)
            .ok_or_else(|| PullError::NoMatchingPlatform {
                image: reference.into(),
                platform: platform.display(),
                digest: digest.clone(),
            })?
            .digest
            .clone();
    }
    Err(PullError::InvalidImage {
        image: reference.into(),
        reason: "index nesting too deep".into(),
    })
}
