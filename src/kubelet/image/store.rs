//! The content-addressed image store under `DATA/images`: verified blobs in
//! `blobs/sha256/<hex>`, unpacked layers in `layers/<diff-id hex>/`, and one small JSON
//! record per image reference in `records/`. Every file appears atomically (temp file,
//! fsync, rename), so a crash never leaves a half-written blob or record under its real name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::ContainerConfig;

/// Store-level failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("image store: {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Content did not hash to the digest it was fetched as.
    #[error("digest mismatch for {expected}: content hashes to {actual}; the download was discarded, retry the pull")]
    DigestMismatch {
        /// The digest asked for.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A digest that is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0:?}")]
    BadDigest(String),
    /// A record file is not valid JSON.
    #[error("image store: corrupt record {path}: {reason}")]
    CorruptRecord {
        /// The record file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// One layer of a stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the (possibly compressed) blob.
    pub digest: String,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Blob media type.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
}

/// What the store knows about one image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Normalised reference, e.g. `docker.io/library/redis:latest`.
    pub reference: String,
    /// Digest of the index or manifest the reference resolved to.
    pub manifest_digest: String,
    /// Digest of the platform manifest actually used (equal to `manifest_digest` unless an index).
    pub platform_manifest_digest: String,
    /// Config blob digest: the image ID.
    pub config_digest: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Execution defaults from the image config.
    pub config: ContainerConfig,
    /// Total blob bytes (manifest, config, layers).
    pub size: u64,
    /// Seconds since the epoch when a container last used (or a pull touched) the image.
    pub last_used: u64,
}

/// The image store rooted at `DATA/images`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

/// Splits `sha256:<hex>` into its hex part, validating it.
pub fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => Err(StoreError::BadDigest(digest.to_string())),
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ImageStore {
    /// Opens (creating directories as needed) the store for data directory `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ImageStore, StoreError> {
        let root = data_dir.join("images");
        let store = ImageStore { root };
        for d in [
            store.blob_dir(),
            store.layers_dir(),
            store.records_dir(),
            store.tmp_dir(),
        ] {
            fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        }
        Ok(store)
    }

    /// `DATA/images`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// `DATA/images/layers`.
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }

    /// Scratch directory on the same filesystem (for atomic renames).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Path of blob `digest`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.blob_dir().join(digest_hex(digest)?))
    }

    /// Whether blob `digest` is stored.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Reads a whole (small) blob such as a manifest or config.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(io_err("read", &p))
    }

    /// Directory of the unpacked layer with uncompressed digest `diff_id`.
    pub fn layer_path(&self, diff_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layers_dir().join(digest_hex(diff_id)?))
    }

    /// Starts writing a blob that must hash to `expected`.
    pub fn blob_writer(&self, expected: &str) -> Result<BlobWriter, StoreError> {
        digest_hex(expected)?;
        let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())
            .map_err(io_err("create temp file in", &self.tmp_dir()))?;
        Ok(BlobWriter {
            store: self.clone(),
            expected: expected.to_string(),
            tmp,
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// Stores `bytes` as blob `expected`, verifying the digest.
    pub fn put_blob(&self, expected: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let mut w = self.blob_writer(expected)?;
        w.write_chunk(bytes)?;
        w.commit()
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        let key = hex(&Sha256::digest(reference.as_bytes()));
        self.records_dir().join(format!("{key}.json"))
    }

    /// The record of `reference` (normalised form), if stored.
    pub fn record(&self, reference: &str) -> Result<Option<ImageRecord>, StoreError> {
        let p = self.record_path(reference);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError::CorruptRecord {
                    path: p,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    /// Writes `record` atomically.
    pub fn put_record(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let p = self.record_path(&record.reference);
        // Serialising a struct of strings and integers cannot fail.
        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        write_atomic(&self.tmp_dir(), &p, &bytes)
    }

    /// Removes the record of `reference`.
    pub fn remove_record(&self, reference: &str) -> Result<(), StoreError> {
        let p = self.record_path(reference);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &p)(e)),
            _ => Ok(()),
        }
    }

    /// Every stored image record.
    pub fn records(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let dir = self.records_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let path = entry.map_err(io_err("list", &dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let b = fs::read(&path).map_err(io_err("read", &path))?;
                match serde_json::from_slice(&b) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping corrupt image record")
                    }
                }
            }
        }
        Ok(out)
    }

    /// Marks `reference` as used now.
    pub fn touch(&self, reference: &str) -> Result<(), StoreError> {
        if let Some(mut r) = self.record(reference)? {
            r.last_used = now_secs();
            self.put_record(&r)?;
        }
        Ok(())
    }

    /// Digests of every stored blob.
    pub fn blob_digests(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.blob_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let name = entry.map_err(io_err("list", &dir))?.file_name();
            out.push(format!("sha256:{}", name.to_string_lossy()));
        }
        Ok(out)
    }
}

/// A blob being downloaded: hashed as written, renamed into place only if the digest matches.
pub struct BlobWriter {
    store: ImageStore,
    expected: String,
    tmp: tempfile::NamedTempFile,
    hasher: Sha256,
    written: u64,
}

impl BlobWriter {
    /// Appends a chunk.
    pub fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(chunk);
        self.written += chunk.len() as u64;
        let path = self.tmp.path().to_path_buf();
        self.tmp.write_all(chunk).map_err(io_err("write", &path))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest, fsyncs and renames into the store. On mismatch the temp file is
    /// deleted (when `self.tmp` drops) and nothing is stored.
    pub fn commit(self) -> Result<PathBuf, StoreError> {
        let actual = format!("sha256:{}", hex(&self.hasher.finalize()));
        if actual != self.expected {
            return Err(StoreError::DigestMismatch {
                expected: self.expected,
                actual,
            });
        }
        let dest = self.store.blob_path(&self.expected)?;
        let tmp_path = self.tmp.path().to_path_buf();
        self.tmp
            .as_file()
            .sync_all()
            .map_err(io_err("fsync", &tmp_path))?;
        self.tmp
            .persist(&dest)
            .map_err(|e| io_err("rename into", &dest)(e.error))?;
        sync_dir(dest.parent().unwrap_or(Path::new(".")));
        Ok(dest)
    }
}

/// Writes `bytes` to `dest` via a temp file in `tmp_dir`, fsync and rename.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp =
        tempfile::NamedTempFile::new_in(tmp_dir).map_err(io_err("create temp file in", tmp_dir))?;
    tmp.write_all(bytes).map_err(io_err("write", dest))?;
    tmp.as_file().sync_all().map_err(io_err("fsync", dest))?;
    tmp.persist(dest)
        .map_err(|e| io_err("rename into", dest)(e.error))?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Best-effort fsync of a directory so a rename survives power loss.
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_is_verified_and_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let good = sha256_digest(b"hello");
        let p = store.put_blob(&good, b"hello").unwrap();
        assert_eq!(fs::read(p).unwrap(), b"hello");
        assert!(store.has_blob(&good));

        let claimed = sha256_digest(b"other");
        let e = store.put_blob(&claimed, b"tampered").unwrap_err();
        assert!(matches!(e, StoreError::DigestMismatch { .. }), "{e}");
        assert!(!store.has_blob(&claimed));
        assert_eq!(
            fs::read_dir(store.tmp_dir()).unwrap().count(),
            0,
            "temp file left behind"
        );
        assert!(store.put_blob("sha256:../../etc", b"x").is_err());
    }

    #[test]
    fn records_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let rec = ImageRecord {
            reference: "docker.io/library/redis:latest".into(),
            manifest_digest: sha256_digest(b"m"),
            platform_manifest_digest: sha256_digest(b"m"),
            config_digest: sha256_digest(b"c"),
            layers: vec![],
            config: ContainerConfig::default(),
            size: 3,
            last_used: 1,
        };
        store.put_record(&rec).unwrap();
        assert_eq!(store.record(&rec.reference).unwrap(), Some(rec.clone()));
        store.touch(&rec.reference).unwrap();
        assert!(store.record(&rec.reference).unwrap().unwrap().last_used > 1);
        assert_eq!(store.records().unwrap().len(), 1);
        store.remove_record(&rec.reference).unwrap();
        assert_eq!(store.record(&rec.reference).unwrap(), None);
    }
}
