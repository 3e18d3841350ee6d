//! Image garbage collection, following the kubelet's `realImageGCManager`: when the
//! filesystem holding the image store is at or above the high threshold, remove unused images
//! least recently used first until the bytes freed bring usage down to the low threshold;
//! then remove blobs and unpacked layers no remaining image references. A function, not a
//! loop: the kubelet calls it on its own schedule.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::reference::Reference;
use super::store::{digest_hex, io_err, ImageRecord, ImageStore, StoreError};
use super::store_lock::{LockMode, StoreLock};

/// The kubelet's `--image-gc-high-threshold` / `--image-gc-low-threshold` (percent of disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// Usage at or above which collection starts (kubelet default 85).
    pub high_threshold_percent: u8,
    /// Usage collection tries to get back under (kubelet default 80).
    pub low_threshold_percent: u8,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
        }
    }
}

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Disk usage when called, percent.
    pub usage_percent: u8,
    /// Bytes collection aimed to free (0 when under the high threshold).
    pub bytes_to_free: u64,
    /// Bytes actually freed.
    pub bytes_freed: u64,
    /// References of removed images, in removal order.
    pub removed: Vec<String>,
}

/// Runs one collection over `store`. `in_use` holds the images running containers use, as
/// references (normalised here) or image IDs / manifest digests. Blocking.
pub fn collect(
    store: &ImageStore,
    policy: GcPolicy,
    in_use: &HashSet<String>,
) -> Result<GcReport, StoreError> {
    let _lock = StoreLock::acquire(store.root(), LockMode::Exclusive)?;
    let (capacity, available) = fs_usage(store.root()).map_err(io_err("statvfs", store.root()))?;
    let usage_percent = available
        .saturating_mul(100)
        .checked_div(capacity)
        .map_or(0, |free| 100 - free.min(100));
    let mut report = GcReport {
        usage_percent: usage_percent as u8,
        ..GcReport::default()
    };
    if usage_percent < u64::from(policy.high_threshold_percent) {
        return Ok(report);
    }
    report.bytes_to_free = (capacity * (100 - u64::from(policy.low_threshold_percent.min(100)))
        / 100)
        .saturating_sub(available);
    let in_use: HashSet<String> = in_use
        .iter()
        .map(|r| {
            Reference::parse(r)
                .map(|p| p.to_string())
                .unwrap_or_else(|_| r.clone())
        })
        .chain(in_use.iter().cloned())
        .collect();
    let mut candidates: Vec<ImageRecord> = store
        .records()?
        .into_iter()
        .filter(|r| {
            !(in_use.contains(&r.reference)
                || in_use.contains(&r.config_digest)
                || in_use.contains(&r.manifest_digest))
        })
        .collect();
    candidates.sort_by_key(|r| r.last_used);
    for image in candidates {
        if report.bytes_freed >= report.bytes_to_free {
            break;
        }
        store.remove_record(&image.reference)?;
        report.bytes_freed += sweep(store)?;
        tracing::info!(image = %image.reference, "removed unused image");
        report.removed.push(image.reference);
    }
    Ok(report)
}

/// Removes blobs and layers no record references; returns the bytes freed.
pub fn sweep(store: &ImageStore) -> Result<u64, StoreError> {
    let records = store.records()?;
    let mut blobs = HashSet::new();
    let mut layers = HashSet::new();
    for r in &records {
        blobs.extend([
            r.manifest_digest.clone(),
            r.platform_manifest_digest.clone(),
            r.config_digest.clone(),
        ]);
        for l in &r.layers {
            blobs.insert(l.digest.clone());
            layers.insert(l.diff_id.clone());
        }
    }
    let mut freed = 0;
    for digest in store.blob_digests()? {
        if !blobs.contains(&digest) {
            let p = store.blob_path(&digest)?;
            freed += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
        }
    }
    let dir = store.layers_dir();
    for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
        let entry = entry.map_err(io_err("list", &dir))?;
        let diff_id = format!("sha256:{}", entry.file_name().to_string_lossy());
        if digest_hex(&diff_id).is_ok() && !layers.contains(&diff_id) {
            let p = entry.path();
            freed += tree_size(&p);
            fs::remove_dir_all(&p).map_err(io_err("remove", &p))?;
        }
    }
    Ok(freed)
}

fn tree_size(p: &Path) -> u64 {
    let Ok(m) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    fs::read_dir(p)
        .map(|it| it.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// (capacity, available) bytes of the filesystem holding `path`, as the kubelet's
/// `ImageFsStats` reports them.
fn fs_usage(path: &Path) -> io::Result<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain data; zeroed is a valid initial value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid path and `st` a valid out-pointer for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}
