//! The blocking work behind [`super::PodNetwork`]: the bridge, veth pairs, addresses and
//! routes, done on the calling (blocking-pool) thread for the node's namespace and on a fresh
//! thread inside each pod's namespace.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::error::{NetworkError, Result};
use super::ipam::Ipam;
use super::netlink::{self, Netlink};
use super::{
    host_veth_name, link_err, netns, nft, PodNetworkConfig, PodNetworkInfo, POD_INTERFACE,
};

/// The node's configuration and address allocator, shared by every [`super::PodNetwork`] clone.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) config: PodNetworkConfig,
    pub(super) ipam: Ipam,
}

impl Inner {
    fn host_netlink(&self) -> Result<Netlink> {
        Netlink::open().map_err(link_err("open netlink socket for", &self.config.bridge))
    }

    pub(super) fn ensure_node(&self) -> Result<()> {
        let c = &self.config;
        let mut nl = self.host_netlink()?;
        let bridge = match nl
            .link_index(&c.bridge)
            .map_err(link_err("look up", &c.bridge))?
        {
            Some(index) => index,
            None => {
                match nl.add_bridge(&c.bridge, c.mtu) {
                    Err(e) if !netlink::is_exists(&e) => {
                        return Err(link_err("create bridge", &c.bridge)(e))
                    }
                    _ => {}
                }
                bridge_index(&mut nl, &c.bridge)?
            }
        };
        nl.add_address(bridge, c.pod_cidr.gateway(), c.pod_cidr.prefix())
            .map_err(link_err("add the gateway address to", &c.bridge))?;
        for ip in &c.local_addresses {
            nl.add_address(bridge, *ip, 32)
                .map_err(link_err("add a local service address to", &c.bridge))?;
        }
        nl.set_up(bridge, None)
            .map_err(link_err("bring up bridge", &c.bridge))?;
        let forward = Path::new("/proc/sys/net/ipv4/ip_forward");
        std::fs::write(forward, "1").map_err(|source| NetworkError::Sysctl {
            path: forward.to_path_buf(),
            value: "1",
            source,
        })?;
        let rules = nft::masquerade(&c.nft_table, c.pod_cidr, c.cluster_cidr);
        nft::apply(&c.nft_table, &rules)
    }

    pub(super) fn remove_node(&self) -> Result<()> {
        let c = &self.config;
        let mut nl = self.host_netlink()?;
        if let Some(index) = nl
            .link_index(&c.bridge)
            .map_err(link_err("look up", &c.bridge))?
        {
            match nl.delete_link(index) {
                Err(e) if !netlink::is_no_device(&e) => {
                    return Err(link_err("delete bridge", &c.bridge)(e))
                }
                _ => {}
            }
        }
        nft::delete_table(&c.nft_table)
    }

    pub(super) fn setup(&self, pod_uid: &str) -> Result<PodNetworkInfo> {
        let c = &self.config;
        let mut nl = self.host_netlink()?;
        let bridge = bridge_index(&mut nl, &c.bridge)?;
        let ip = self.ipam.allocate(pod_uid)?;
        let path = c.netns_dir.join(pod_uid);
        netns::create(&path)?;
        let host = host_veth_name(pod_uid);

        let pod_eth0 = netns::run_in(&path, || {
            let mut nl =
                Netlink::open().map_err(link_err("open netlink socket for", POD_INTERFACE))?;
            nl.link_index(POD_INTERFACE)
                .map_err(link_err("look up", POD_INTERFACE))
        })?;
        let host_index = nl.link_index(&host).map_err(link_err("look up", &host))?;
        let host_index = match (host_index, pod_eth0) {
            (Some(index), Some(_)) => index,
            (stale_host, stale_pod) => {
                // A half-made pair from an interrupted setup: start the pair over.
                if let Some(index) = stale_host {
                    nl.delete_link(index)
                        .map_err(link_err("delete stale veth", &host))?;
                }
                if stale_pod.is_some() {
                    netns::run_in(&path, || {
                        let mut nl = Netlink::open()
                            .map_err(link_err("open netlink socket for", POD_INTERFACE))?;
                        if let Some(index) = nl
                            .link_index(POD_INTERFACE)
                            .map_err(link_err("look up", POD_INTERFACE))?
                        {
                            nl.delete_link(index)
                                .map_err(link_err("delete stale veth", POD_INTERFACE))?;
                        }
                        Ok(())
                    })?;
                }
                let ns = netns::open(&path)?;
                nl.add_veth(&host, POD_INTERFACE, ns.as_raw_fd(), c.mtu)
                    .map_err(link_err("create veth pair", &host))?;
                nl.link_index(&host)
                    .map_err(link_err("look up", &host))?
                    .ok_or_else(|| link_err("find new veth", &host)(no_such_link()))?
            }
        };
        nl.set_up(host_index, Some(bridge))
            .map_err(link_err("attach to the bridge and bring up", &host))?;
        nl.set_hairpin(host_index)
            .map_err(link_err("turn on hairpin mode of", &host))?;

        let (prefix, gateway) = (c.pod_cidr.prefix(), c.pod_cidr.gateway());
        netns::run_in(&path, move || configure_pod_side(ip, prefix, gateway))?;
        Ok(PodNetworkInfo {
            netns_path: path,
            ip,
            prefix,
            gateway,
            host_veth: host,
        })
    }

    pub(super) fn teardown(&self, pod_uid: &str) -> Result<()> {
        let host = host_veth_name(pod_uid);
        let mut nl = self.host_netlink()?;
        if let Some(index) = nl.link_index(&host).map_err(link_err("look up", &host))? {
            match nl.delete_link(index) {
                Err(e) if !netlink::is_no_device(&e) => {
                    return Err(link_err("delete veth", &host)(e))
                }
                _ => {}
            }
        }
        netns::remove(&self.config.netns_dir.join(pod_uid))?;
        self.ipam.release(pod_uid)
    }
}

fn no_such_link() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "no such link")
}

fn bridge_index(nl: &mut Netlink, bridge: &str) -> Result<u32> {
    nl.link_index(bridge)
        .map_err(link_err("look up bridge", bridge))?
        .ok_or_else(|| {
            link_err("find bridge", bridge)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "it does not exist; run ensure_node first",
            ))
        })
}

/// Inside the pod namespace: lo and eth0 up, the pod address, the default route.
fn configure_pod_side(ip: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<()> {
    let mut nl = Netlink::open().map_err(link_err("open netlink socket for", POD_INTERFACE))?;
    let lo = nl
        .link_index("lo")
        .map_err(link_err("look up", "lo"))?
        .ok_or_else(|| link_err("find", "lo")(no_such_link()))?;
    nl.set_up(lo, None).map_err(link_err("bring up", "lo"))?;
    let eth0 = nl
        .link_index(POD_INTERFACE)
        .map_err(link_err("look up", POD_INTERFACE))?
        .ok_or_else(|| link_err("find", POD_INTERFACE)(no_such_link()))?;
    nl.add_address(eth0, ip, prefix)
        .map_err(link_err("add the pod address to", POD_INTERFACE))?;
    nl.set_up(eth0, None)
        .map_err(link_err("bring up", POD_INTERFACE))?;
    nl.add_default_route(gateway).map_err(link_err(
        "add the default route via the gateway on",
        POD_INTERFACE,
    ))
}
