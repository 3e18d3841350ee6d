//! Filesystem figures as the summary's `FsStats` carries them: capacity, available bytes and
//! inodes from `statvfs`, and bytes used by one directory (a container's writable layer, its
//! logs, a volume) counted by the kubelet's own walk (`kubelet::volume::disk_usage`, the
//! same one emptyDir eviction uses). A directory that is its own filesystem (a tmpfs
//! emptyDir, a local-disk volume) is measured by `statvfs` alone, which costs nothing; a
//! walk looks at [`WALK_ENTRIES`] entries at most, and the sampler walks a pod's directories
//! only once per filesystem period (60 s by default), as cAdvisor's fs handler does.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::statvfs::statvfs;

use crate::kubelet::volume::disk_usage;

/// Entries one directory walk looks at, at most (a volume of millions of small files costs
/// a bounded amount of work per period; its usage then reads low).
pub const WALK_ENTRIES: usize = 20_000;

/// One filesystem measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsFigures {
    /// When it was taken, in milliseconds since the epoch.
    pub time_ms: i64,
    /// Bytes available to unprivileged users.
    pub available: Option<u64>,
    /// Size of the filesystem.
    pub capacity: Option<u64>,
    /// Bytes used by what is measured.
    pub used: Option<u64>,
    /// Free inodes.
    pub inodes_free: Option<u64>,
    /// Inodes of the filesystem.
    pub inodes: Option<u64>,
    /// Inodes used by what is measured.
    pub inodes_used: Option<u64>,
}

/// The filesystem holding `path` as a whole: used is what the filesystem has in use.
// `statvfs` fields are `c_ulong` or `fsblkcnt_t`: 32 bits wide on some 32-bit boards.
#[allow(clippy::useless_conversion)]
pub fn filesystem(path: &Path, time_ms: i64) -> Option<FsFigures> {
    let st = statvfs(path).ok()?;
    let frsize = u64::from(st.fragment_size());
    let blocks = u64::from(st.blocks());
    let files = u64::from(st.files());
    Some(FsFigures {
        time_ms,
        available: Some(u64::from(st.blocks_available()).saturating_mul(frsize)),
        capacity: Some(blocks.saturating_mul(frsize)),
        used: Some(
            blocks
                .saturating_sub(u64::from(st.blocks_free()))
                .saturating_mul(frsize),
        ),
        inodes_free: Some(u64::from(st.files_free())),
        inodes: Some(files),
        inodes_used: Some(files.saturating_sub(u64::from(st.files_free()))),
    })
}

/// Whether `path` is the root of a filesystem of its own (its device differs from its
/// parent's).
fn own_filesystem(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// What directory `dir` uses, with the capacity and free space of the filesystem it is on.
/// `None` when it does not exist.
pub fn directory(dir: &Path, time_ms: i64) -> Option<FsFigures> {
    let mut fs = filesystem(dir, time_ms)?;
    if own_filesystem(dir) {
        return Some(fs);
    }
    let usage = disk_usage(dir, u64::MAX, WALK_ENTRIES).ok()?;
    fs.used = Some(usage.bytes);
    fs.inodes_used = None;
    Some(fs)
}

/// Measurements of several directories on one filesystem added up (a pod's ephemeral
/// storage: its containers' layers and logs and its ephemeral volumes); `None` when none
/// was measured.
pub fn sum(figures: impl IntoIterator<Item = Option<FsFigures>>) -> Option<FsFigures> {
    let mut total: Option<FsFigures> = None;
    for f in figures.into_iter().flatten() {
        match &mut total {
            None => total = Some(f),
            Some(t) => {
                t.used = match (t.used, f.used) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    (a, b) => a.or(b),
                };
                t.inodes_used = match (t.inodes_used, f.inodes_used) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    _ => None,
                };
                t.time_ms = t.time_ms.max(f.time_ms);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_counts_its_own_blocks_and_reports_its_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("upper");
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/big"), vec![7u8; 300 * 1024]).unwrap();
        let f = directory(&dir, 5).unwrap();
        let used = f.used.unwrap();
        assert!((300 * 1024..1024 * 1024).contains(&used), "{f:?}");
        assert!(f.capacity.unwrap() >= f.available.unwrap());
        assert_eq!(f.time_ms, 5);
        assert_eq!(directory(&tmp.path().join("missing"), 5), None);
        let both = sum([Some(f), None, Some(f)]).unwrap();
        assert_eq!(both.used, Some(2 * used));
    }
}
