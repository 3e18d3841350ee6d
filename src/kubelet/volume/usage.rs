//! Disk usage of emptyDir volumes, for the eviction of pods that exceed `sizeLimit`.
//!
//! Counts allocated blocks as `du` does (upstream's `fsquota`-less path walks the directory
//! the same way): `lstat` only, so symlinks are never followed; hard-linked files counted
//! once; other filesystems below the volume (mounts) skipped. A walk stops as soon as the
//! limit is passed and after [`MAX_ENTRIES`] entries, so a volume of millions of small files
//! costs a bounded amount of work per check on a board.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::{emptydir, VolumeManager};

/// Entries looked at per volume and check at most.
pub const MAX_ENTRIES: usize = 200_000;

/// What a walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes allocated (blocks × 512), counted until the walk stopped.
    pub bytes: u64,
    /// Whether the walk stopped early (limit passed or entry budget spent).
    pub partial: bool,
}

/// Bytes allocated under `root`, stopping once past `stop_above` or after `max_entries`.
pub fn disk_usage(root: &Path, stop_above: u64, max_entries: usize) -> std::io::Result<Usage> {
    let top = fs::symlink_metadata(root)?;
    let dev = top.dev();
    let mut seen_links: HashSet<(u64, u64)> = HashSet::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut bytes = top.blocks() * 512;
    let mut entries = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(read) = fs::read_dir(&dir) else {
            continue; // removed while walking, or unreadable: count what can be seen
        };
        for entry in read.flatten() {
            entries += 1;
            if entries > max_entries || bytes > stop_above {
                return Ok(Usage {
                    bytes,
                    partial: true,
                });
            }
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.dev() != dev {
                continue;
            }
            if meta.nlink() > 1 && !meta.is_dir() && !seen_links.insert((meta.dev(), meta.ino())) {
                continue;
            }
            bytes += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(Usage {
        bytes,
        partial: false,
    })
}

/// A disk-backed emptyDir that is over its `sizeLimit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    /// Volume name.
    pub volume: String,
    /// The limit as written in the pod (`1Mi`).
    pub limit: String,
    /// Bytes found (at least; the walk stops past the limit).
    pub used: u64,
}

impl VolumeManager {
    /// The first disk-backed emptyDir of `pod` whose usage exceeds its `sizeLimit`, as
    /// upstream's eviction manager checks (`emptyDirLimitEviction`). Memory-backed volumes
    /// are tmpfs mounts the kernel already caps.
    pub fn empty_dir_over_limit(&self, pod: &Pod) -> Option<OverLimit> {
        let uid = pod.metadata.uid.as_deref()?;
        let volumes_dir = self
            .pod_dir(uid)
            .join("volumes")
            .join("kubernetes.io~empty-dir");
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let Some(ed) = &volume.empty_dir else {
                continue;
            };
            if !ed.medium.as_deref().unwrap_or("").is_empty() {
                continue;
            }
            let Some(q) = ed.size_limit.as_ref() else {
                continue;
            };
            let Ok(Some(limit)) = emptydir::size_limit_bytes(&volume.name, Some(q)) else {
                continue;
            };
            if limit == 0 || volume.name.contains('/') {
                continue;
            }
            let dir = volumes_dir.join(&volume.name);
            match disk_usage(&dir, limit, MAX_ENTRIES) {
                Ok(u) if u.bytes > limit => {
                    return Some(OverLimit {
                        volume: volume.name.clone(),
                        limit: q.0.clone(),
                        used: u.bytes,
                    })
                }
                Ok(u) if u.partial => {
                    tracing::debug!(volume = %volume.name, "emptyDir has more entries than one check looks at");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(volume = %volume.name, error = %e, "emptyDir usage unknown")
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_blocks_once_per_inode_and_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("v");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(root.join("d/a"), vec![1u8; 256 * 1024]).unwrap();
        fs::hard_link(root.join("d/a"), root.join("b")).unwrap();
        let big = tmp.path().join("outside");
        fs::write(&big, vec![1u8; 4 << 20]).unwrap();
        std::os::unix::fs::symlink(&big, root.join("link")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
        let u = disk_usage(&root, u64::MAX, MAX_ENTRIES).unwrap();
        assert!(!u.partial);
        assert!(u.bytes >= 256 * 1024, "{u:?}");
        assert!(u.bytes < 1 << 20, "{u:?}");
    }

    #[test]
    fn stops_past_the_limit_and_at_the_entry_budget() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..50 {
            fs::write(tmp.path().join(i.to_string()), vec![1u8; 8192]).unwrap();
        }
        let u = disk_usage(tmp.path(), 16 * 1024, MAX_ENTRIES).unwrap();
        assert!(u.partial && u.bytes > 16 * 1024, "{u:?}");
        let u = disk_usage(tmp.path(), u64::MAX, 10).unwrap();
        assert!(u.partial, "{u:?}");
    }
}
