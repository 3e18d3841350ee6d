//! Removing everything a kubelet leaves on a host, for `bramble uninstall`.
//!
//! Containers outlive the server by design (their supervisors are detached), so stopping the
//! service is not enough: as k3s' `k3s-killall.sh` does, this kills the supervisors and every
//! process in Bramble's cgroups, unmounts whatever is mounted under the data and run
//! directories (overlay root filesystems, tmpfs volumes, bind-mounted namespaces), deletes the
//! node bridge and Bramble's nftables table, and removes the cgroup tree from every hierarchy.
//! Each step is idempotent, so running it on a clean host does nothing.
//!
//! Deleting a directory that still has a mount under it would delete through the mount (a
//! hostPath bind of `/` would be fatal), so [`remaining_mounts`] lets the caller refuse.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::network::{routes, Ipv4Cidr, NetworkError, PodNetwork, PodNetworkConfig};
use super::runtime::cgroup;
use super::runtime::record::{records_root, RecordDir};

/// How long killed processes get to leave their cgroups.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// What a node has put on its host.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// The data directory (`--data-dir`): store, images, pods, runtime records.
    pub data_dir: PathBuf,
    /// The run directory: pod namespaces and sandboxes (`/run/bramble`).
    pub run_dir: PathBuf,
    /// The cgroup parent of every pod (`/bramble`); `None` leaves cgroups alone.
    pub cgroup_parent: Option<String>,
    /// The node bridge, whose name Bramble's nftables table shares; `None` leaves both.
    pub bridge: Option<String>,
    /// Whether to remove Bramble's routes to other nodes' pod ranges (`proto 66`).
    pub node_routes: bool,
}

/// What was removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Processes killed (supervisors and container processes).
    pub processes: usize,
    /// Mount points unmounted.
    pub mounts: usize,
}

/// Why teardown stopped.
#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    /// Reading or changing a cgroup failed.
    #[error("cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Processes were still in Bramble's cgroups after they were killed.
    #[error("{count} process(es) still in cgroup {parent} {secs} s after SIGKILL")]
    Survivors {
        /// How many.
        count: usize,
        /// The cgroup parent.
        parent: String,
        /// How long we waited.
        secs: u64,
    },
    /// `/proc/self/mountinfo` could not be read.
    #[error("reading /proc/self/mountinfo: {0}")]
    MountInfo(std::io::Error),
    /// An unmount failed.
    #[error("unmounting {path}: {source}")]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Removing the bridge or the nftables table failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Removing the proxy's nftables table failed.
    #[error(transparent)]
    Proxy(crate::proxy::ProxyError),
}

/// Kills, unmounts and deletes everything in `footprint`; files are left to the caller.
pub async fn remove(footprint: &Footprint) -> Result<Removed, TeardownError> {
    let mut removed = Removed {
        processes: kill_supervisors(&footprint.data_dir.join("runtime")),
        mounts: 0,
    };
    if let Some(parent) = &footprint.cgroup_parent {
        removed.processes += kill_cgroup_processes(parent)?;
    }
    removed.mounts = unmount_under(&[&footprint.data_dir, &footprint.run_dir])?;
    if let Some(bridge) = &footprint.bridge {
        remove_network(bridge, &footprint.data_dir).await?;
    }
    if footprint.node_routes {
        let failed = tokio::task::spawn_blocking(|| {
            routes::sync(&routes::NodeRoutes::new(), crate::cidr::Ipv4Cidr::ANY)
        })
        .await
        .map_err(|e| NetworkError::Worker(e.to_string()))??;
        if let Some(e) = failed.into_iter().next() {
            return Err(e.into());
        }
    }
    if let Some(parent) = &footprint.cgroup_parent {
        cgroup::remove_everywhere(parent).map_err(|source| TeardownError::Cgroup {
            path: PathBuf::from(parent),
            source,
        })?;
    }
    Ok(removed)
}

/// Deletes the node bridge and the nftables tables named after it (the pod network's and
/// the proxy's).
async fn remove_network(bridge: &str, data_dir: &Path) -> Result<(), TeardownError> {
    match crate::proxy::remove_table(&crate::proxy::table_for(bridge)).await {
        Err(crate::proxy::ProxyError::Netfilter { source, .. }) if source.is_unsupported() => {}
        Err(e) => return Err(TeardownError::Proxy(e)),
        Ok(()) => {}
    }
    // The pod CIDR does not matter for removal; only the bridge and table names do.
    let any_cidr = Ipv4Cidr::from_str("10.42.0.0/24").map_err(NetworkError::from)?;
    let network = PodNetwork::new(PodNetworkConfig {
        nft_table: bridge.to_string(),
        ..PodNetworkConfig::new(bridge, any_cidr, data_dir.join("network"))
    })?;
    match network.remove_node().await {
        // without nf_tables the kubelet could never have made the table; the bridge is gone
        Err(NetworkError::Nft { source, .. }) if source.is_unsupported() => {
            tracing::info!("the kernel has no nf_tables: no nftables table to remove");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// SIGKILLs the per-container supervisors recorded under the runtime root, first, so none
/// of them writes an exit record into a directory being deleted.
fn kill_supervisors(runtime_root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(records_root(runtime_root)) else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Ok(Some(pid)) = RecordDir::from_path(entry.path()).shim_pid() else {
            continue;
        };
        // a recorded pid may have been reused by an unrelated process since
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let is_shim = cmdline.split(|b| *b == 0).any(|arg| arg == b"shim");
        if is_shim && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
            killed += 1;
        }
    }
    killed
}

/// SIGKILLs every process in `parent` and its descendants, in every hierarchy, until they
/// are empty.
fn kill_cgroup_processes(parent: &str) -> Result<usize, TeardownError> {
    let roots = cgroup::hierarchies().map_err(|source| TeardownError::Cgroup {
        path: PathBuf::from("/sys/fs/cgroup"),
        source,
    })?;
    let dirs: Vec<PathBuf> = roots
        .iter()
        .map(|r| r.join(parent.trim_start_matches('/')))
        .collect();
    let mut killed = std::collections::BTreeSet::new();
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let pids = dirs.iter().flat_map(|d| procs_under(d)).collect::<Vec<_>>();
        if pids.is_empty() {
            return Ok(killed.len());
        }
        if Instant::now() >= deadline {
            return Err(TeardownError::Survivors {
                count: pids.len(),
                parent: parent.to_string(),
                secs: KILL_WAIT.as_secs(),
            });
        }
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed.insert(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pids in `dir`'s `cgroup.procs` and in those of its descendants.
fn procs_under(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(procs_under(&entry.path()));
            }
        }
    }
    pids
}

/// Lazily unmounts every mount at or below `dirs`, the most recent first (a mount stacked on
/// another must go before it); returns how many.
fn unmount_under(dirs: &[&Path]) -> Result<usize, TeardownError> {
    let mut count = 0;
    // detaching a mount also detaches the ones below it, so re-read until none is left
    loop {
        let mounts = remaining_mounts(dirs)?;
        let Some(last) = mounts.last() else {
            return Ok(count);
        };
        match umount2(last.as_path(), MntFlags::MNT_DETACH) {
            Ok(()) => count += 1,
            Err(nix::Error::EINVAL) if count > 0 => {} // gone with a parent detached just now
            Err(source) => {
                return Err(TeardownError::Unmount {
                    path: last.clone(),
                    source,
                })
            }
        }
    }
}

/// The mount points at or below any of `dirs` in this mount namespace, in mount order.
pub fn remaining_mounts(dirs: &[&Path]) -> Result<Vec<PathBuf>, TeardownError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(TeardownError::MountInfo)?;
    let mut found = Vec::new();
    for dir in dirs {
        // mountinfo shows canonical paths; a relative or symlinked dir would never match
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        found.extend(mounts_under(&text, &dir));
    }
    Ok(found)
}

/// The mount points in `mountinfo` (the `/proc/<pid>/mountinfo` format) at or below `dir`,
/// in the order they appear.
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Undoes the kernel's `\ooo` escaping of space, tab, newline and backslash in mountinfo.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        match digits {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:50 / /var/lib/bramble/pods/u1/volumes/kubernetes.io~empty-dir/cache rw - tmpfs tmpfs rw,size=16384k
91 22 0:51 / /var/lib/bramble/containers/u1_web_0/rootfs rw - overlay overlay rw,lowerdir=/a
92 22 0:4 net:[4026532300] /run/bramble/netns/u1 rw - nsfs nsfs rw
93 22 0:52 / /var/lib/bramble-other rw - tmpfs tmpfs rw
94 22 0:53 / /var/lib/bramble/pods/u2/volumes/kubernetes.io~host-path/my\\040dir rw - ext4 /dev/sda1 rw
";

    #[test]
    fn finds_every_mount_below_the_data_dir_in_mount_order() {
        let found = mounts_under(MOUNTINFO, Path::new("/var/lib/bramble"));
        assert_eq!(
            found,
            vec![
                PathBuf::from("/var/lib/bramble/pods/u1/volumes/kubernetes.io~empty-dir/cache"),
                PathBuf::from("/var/lib/bramble/containers/u1_web_0/rootfs"),
                PathBuf::from("/var/lib/bramble/pods/u2/volumes/kubernetes.io~host-path/my dir"),
            ]
        );
    }

    #[test]
    fn a_sibling_with_a_common_prefix_is_not_below() {
        let found = mounts_under(MOUNTINFO, Path::new("/run/bramble"));
        assert_eq!(found, vec![PathBuf::from("/run/bramble/netns/u1")]);
        assert!(mounts_under(MOUNTINFO, Path::new("/var/lib/bramble-other/x")).is_empty());
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape_octal("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
    }
}
