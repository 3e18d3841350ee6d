//! Pod networking: network namespaces, the node bridge, veth pairs, pod IPs.
//!
//! Each pod that does not use `hostNetwork: true` gets its own network namespace, bind-mounted
//! at `/run/bramble/netns/<pod-uid>`, joined to the node bridge by a veth pair (node side
//! `vb<hash of the uid>`, pod side `eth0`) and given an address from the node's pod CIDR, which
//! the kubelet reports as `status.podIP`; this is what the CNI `bridge` + `host-local` plugins
//! do for kubelet/k3s. `hostNetwork` pods need none of this: the kubelet runs them in the node's
//! namespace and reports the node address. The node side ([`PodNetwork::ensure_node`]) is the
//! bridge holding the gateway (the CIDR's first address), IPv4 forwarding, and egress
//! masquerade for traffic leaving the cluster CIDR, so per-node CIDRs (10.42.N.0/24 inside
//! 10.42.0.0/16) and routes to other nodes' CIDRs fit without changing the pod side.
//!
//! Every operation is idempotent and runs its netlink and mount work off the async runtime:
//! host-namespace work on the blocking pool, pod-namespace work on a dedicated OS thread.

mod error;
mod ipam;
mod links;
mod netlink;
pub mod netns;
mod nft;
pub mod routes;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::cidr::Ipv4Cidr;
pub use error::{NetworkError, Result};
pub use ipam::Ipam;
use links::Inner;

/// The pod side of every veth pair, as Kubernetes network plugins name it.
pub const POD_INTERFACE: &str = "eth0";

/// The kubelet's run directory by default: pod namespaces are pinned below it, in `netns/`
/// and `pods/`. It is on tmpfs, so a reboot clears it with the namespaces it pinned.
pub const DEFAULT_RUN_DIR: &str = "/run/bramble";

/// Where pod network namespaces are bind-mounted, below a run directory.
pub fn netns_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("netns")
}

/// Bramble's nftables table (family `ip`) by default.
pub const DEFAULT_NFT_TABLE: &str = "bramble";

/// How the node's pod network is laid out.
#[derive(Debug, Clone)]
pub struct PodNetworkConfig {
    /// The node bridge, at most 15 characters (e.g. "bramble0").
    pub bridge: String,
    /// This node's pod CIDR (e.g. 10.42.N.0/24); its first address is the gateway.
    pub pod_cidr: Ipv4Cidr,
    /// The whole cluster's pod network; egress to it is not masqueraded.
    pub cluster_cidr: Ipv4Cidr,
    /// Persistent state (address allocations), e.g. DATA/network.
    pub state_dir: PathBuf,
    /// Where namespaces are bind-mounted, normally [`netns_dir`] of [`DEFAULT_RUN_DIR`].
    pub netns_dir: PathBuf,
    /// The nftables table (family `ip`) holding Bramble's rules.
    pub nft_table: String,
    /// MTU of the bridge and of both veth ends.
    pub mtu: u32,
    /// Addresses the bridge carries besides the gateway, each as a /32: services this node
    /// answers itself (the cluster DNS Service's address), reached by pods through their
    /// gateway and by the node's own processes directly.
    pub local_addresses: Vec<Ipv4Addr>,
}

impl PodNetworkConfig {
    /// A configuration with the default namespace dir, table and MTU 1500, where the cluster
    /// network is the pod CIDR itself (a one-board cluster).
    pub fn new(bridge: &str, pod_cidr: Ipv4Cidr, state_dir: PathBuf) -> Self {
        PodNetworkConfig {
            bridge: bridge.to_string(),
            pod_cidr,
            cluster_cidr: pod_cidr,
            state_dir,
            netns_dir: netns_dir(Path::new(DEFAULT_RUN_DIR)),
            nft_table: DEFAULT_NFT_TABLE.to_string(),
            mtu: 1500,
            local_addresses: Vec::new(),
        }
    }
}

/// What a pod's network looks like once set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetworkInfo {
    /// The namespace to put the pod's containers in (OCI `linux.namespaces[].path`).
    pub netns_path: PathBuf,
    /// The pod's address, reported as `status.podIP`.
    pub ip: Ipv4Addr,
    /// Prefix length of the pod CIDR.
    pub prefix: u8,
    /// The default gateway (the bridge address).
    pub gateway: Ipv4Addr,
    /// The node-side veth name.
    pub host_veth: String,
}

/// The node's pod network: sets up and tears down pod namespaces on one bridge.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    inner: Arc<Inner>,
    // Serialises setup/teardown so two calls for one pod never interleave their steps.
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// The node-side veth name for `pod_uid`: "vb" + 13 hex digits of an FNV-1a hash of the uid,
/// within the kernel's 15-character limit and stable across restarts.
pub fn host_veth_name(pod_uid: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pod_uid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("vb{:013x}", h >> 12)
}

fn check_pod_uid(pod_uid: &str) -> Result<()> {
    let ok = !pod_uid.is_empty()
        && pod_uid.len() <= 128
        && pod_uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(NetworkError::InvalidPodUid {
            pod_uid: pod_uid.to_string(),
        })
    }
}

fn link_err(action: &'static str, link: &str) -> impl FnOnce(std::io::Error) -> NetworkError {
    let link = link.to_string();
    move |source| NetworkError::Link {
        action,
        link,
        source,
    }
}

impl PodNetwork {
    /// Opens the pod network described by `config` (reading existing allocations).
    pub fn new(config: PodNetworkConfig) -> Result<Self> {
        if config.bridge.is_empty() || config.bridge.len() > 15 {
            return Err(link_err("use", &config.bridge)(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bridge names must be 1 to 15 characters",
            )));
        }
        let ipam = Ipam::open(config.state_dir.join("ipam"), config.pod_cidr)?;
        Ok(PodNetwork {
            inner: Arc::new(Inner { config, ipam }),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PodNetworkConfig {
        &self.inner.config
    }

    /// The bind-mount path of `pod_uid`'s namespace (whether or not it exists).
    pub fn netns_path(&self, pod_uid: &str) -> PathBuf {
        self.inner.config.netns_dir.join(pod_uid)
    }

    /// The address allocated to `pod_uid`, if any.
    pub async fn pod_ip(&self, pod_uid: &str) -> Result<Option<Ipv4Addr>> {
        let uid = pod_uid.to_string();
        self.blocking(move |inner| inner.ipam.lookup(&uid)).await
    }

    /// Makes the node ready for pods: bridge with the gateway address (and the local service
    /// addresses), up; IPv4 forwarding on;
    /// egress masquerade in Bramble's nftables table. Safe to call on every start.
    pub async fn ensure_node(&self) -> Result<()> {
        self.blocking(|inner| inner.ensure_node()).await
    }

    /// Removes the bridge and Bramble's nftables table (node uninstall). Pods must be torn
    /// down first.
    pub async fn remove_node(&self) -> Result<()> {
        self.blocking(|inner| inner.remove_node()).await
    }

    /// Makes this board's routes to other nodes' pod ranges exactly `wanted` (of the routes
    /// into the cluster network: others are left alone); returns the routes that could not be
    /// added (their node is not on a network this board is on).
    pub async fn sync_node_routes(&self, wanted: routes::NodeRoutes) -> Result<Vec<NetworkError>> {
        let cluster = self.inner.config.cluster_cidr;
        self.blocking(move |_| routes::sync(&wanted, cluster)).await
    }

    /// Gives pod `pod_uid` its namespace, veth and address; calling it again returns the same
    /// namespace and address. After an error, [`PodNetwork::teardown`] releases what was made.
    pub async fn setup(&self, pod_uid: &str, pod_name: &str) -> Result<PodNetworkInfo> {
        check_pod_uid(pod_uid)?;
        let _guard = self.lock.lock().await;
        let uid = pod_uid.to_string();
        let info = self.blocking(move |inner| inner.setup(&uid)).await?;
        tracing::debug!(pod = pod_name, uid = pod_uid, ip = %info.ip, "pod network ready");
        Ok(info)
    }

    /// Removes pod `pod_uid`'s veth and namespace and releases its address; tearing down a pod
    /// that has nothing left is not an error.
    pub async fn teardown(&self, pod_uid: &str) -> Result<()> {
        check_pod_uid(pod_uid)?;
        let _guard = self.lock.lock().await;
        let uid = pod_uid.to_string();
        self.blocking(move |inner| inner.teardown(&uid)).await
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| NetworkError::Worker(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_fit_the_kernel_limit_and_are_stable() {
        let a = host_veth_name("0b9a3c1e-1111-4b7e-9c55-2f1d7f0e8a01");
        let b = host_veth_name("0b9a3c1e-2222-4b7e-9c55-2f1d7f0e8a01");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("vb"));
        assert_eq!(a, host_veth_name("0b9a3c1e-1111-4b7e-9c55-2f1d7f0e8a01"));
        assert_ne!(a, b, "uids sharing a prefix still get distinct links");
    }

    #[test]
    fn pod_uids_that_are_not_file_names_are_rejected() {
        assert!(check_pod_uid("0b9a3c1e-1111-4b7e").is_ok());
        for bad in ["", "../etc", "a/b", "a b"] {
            let err = check_pod_uid(bad).unwrap_err();
            assert!(err.to_string().contains("pod uid"), "{err}");
        }
    }
}
