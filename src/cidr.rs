//! IPv4 CIDR blocks: the cluster's pod network (10.42.0.0/16 by default), each node's slice
//! of it (10.42.N.0/24 for node N), the node's gateway and the range handed to pods,
//! following `host-local` IPAM's rule of skipping the network address, the gateway (first
//! host) and the broadcast address.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a text is not a usable IPv4 CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {cidr:?}: {reason}")]
pub struct CidrError {
    /// The text that was given.
    pub cidr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An IPv4 network: address with the host bits zero, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Every IPv4 address (`0.0.0.0/0`).
    pub const ANY: Ipv4Cidr = Ipv4Cidr {
        network: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    /// The loopback network (`127.0.0.0/8`).
    pub const LOOPBACK: Ipv4Cidr = Ipv4Cidr {
        network: Ipv4Addr::new(127, 0, 0, 0),
        prefix: 8,
    };

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        // prefix is 0..=32 by construction; checked_shl keeps /0 from overflowing.
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The gateway: the first host address, given to the node's bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The broadcast (last) address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The first address handed to a pod (after the gateway).
    pub fn first_pod_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 2)
    }

    /// The last address handed to a pod (before the broadcast address).
    pub fn last_pod_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.broadcast()) - 1)
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    /// Whether `ip` may be given to a pod.
    pub fn is_pod_ip(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip >= self.first_pod_ip() && ip <= self.last_pod_ip()
    }

    /// Whether `other` lies wholly inside this network.
    pub fn contains_cidr(&self, other: &Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains_cidr(other) || other.contains_cidr(self)
    }

    /// The subnets of length `prefix` in address order (none if `prefix` is shorter than
    /// this network's own), as a node IPAM splits the cluster network into node ranges.
    pub fn subnets(&self, prefix: u8) -> impl Iterator<Item = Ipv4Cidr> {
        let base = u32::from(self.network);
        let (count, step) = if prefix >= self.prefix && prefix <= 32 {
            (
                1u64 << (prefix - self.prefix),
                1u64 << (32 - u32::from(prefix)),
            )
        } else {
            (0, 0)
        };
        (0..count).filter_map(move |i| {
            let offset = u32::try_from(i * step).ok()?;
            Some(Ipv4Cidr {
                network: Ipv4Addr::from(base.checked_add(offset)?),
                prefix,
            })
        })
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| CidrError {
            cidr: s.to_string(),
            reason: reason.to_string(),
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected ADDRESS/PREFIX, e.g. 10.42.0.0/24"))?;
        let network: Ipv4Addr = addr
            .parse()
            .map_err(|_| invalid("the address is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| invalid("the prefix length is not a number"))?;
        if prefix > 30 {
            return Err(invalid(
                "the prefix length must be at most 30 to leave room for a gateway and pods",
            ));
        }
        let cidr = Ipv4Cidr { network, prefix };
        if u32::from(network) & !cidr.mask() != 0 {
            return Err(invalid("host bits are set; use the network address"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_24_reserves_network_gateway_and_broadcast() {
        let c: Ipv4Cidr = "10.42.3.0/24".parse().unwrap();
        assert_eq!(c.gateway(), Ipv4Addr::new(10, 42, 3, 1));
        assert_eq!(c.first_pod_ip(), Ipv4Addr::new(10, 42, 3, 2));
        assert_eq!(c.last_pod_ip(), Ipv4Addr::new(10, 42, 3, 254));
        assert_eq!(c.broadcast(), Ipv4Addr::new(10, 42, 3, 255));
        assert!(c.is_pod_ip(Ipv4Addr::new(10, 42, 3, 200)));
        assert!(!c.is_pod_ip(Ipv4Addr::new(10, 42, 3, 1)));
        assert!(!c.contains(Ipv4Addr::new(10, 42, 4, 2)));
        assert_eq!(c.to_string(), "10.42.3.0/24");
    }

    #[test]
    fn cluster_cidr_contains_every_node_cidr() {
        let cluster: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        assert!(cluster.contains(Ipv4Addr::new(10, 42, 7, 9)));
        assert!(!cluster.contains(Ipv4Addr::new(10, 43, 0, 1)));
    }

    #[test]
    fn a_cluster_network_splits_into_node_ranges_in_order() {
        let cluster: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        let nodes: Vec<String> = cluster.subnets(24).take(3).map(|c| c.to_string()).collect();
        assert_eq!(nodes, ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]);
        assert_eq!(cluster.subnets(24).count(), 256);
        assert_eq!(
            cluster.subnets(24).last().map(|c| c.to_string()).as_deref(),
            Some("10.42.255.0/24")
        );
        assert_eq!(cluster.subnets(8).count(), 0);
        let node: Ipv4Cidr = "10.42.7.0/24".parse().unwrap();
        assert!(cluster.contains_cidr(&node) && !node.contains_cidr(&cluster));
        assert!(cluster.overlaps(&node) && node.overlaps(&cluster));
        let other: Ipv4Cidr = "10.43.0.0/24".parse().unwrap();
        assert!(!cluster.overlaps(&other));
    }

    #[test]
    fn rejects_host_bits_and_tiny_networks() {
        let err = "10.42.0.5/24".parse::<Ipv4Cidr>().unwrap_err();
        assert!(err.to_string().contains("host bits"), "{err}");
        assert!("10.42.0.0/31".parse::<Ipv4Cidr>().is_err());
        assert!("10.42.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("fd00::/64".parse::<Ipv4Cidr>().is_err());
    }
}
