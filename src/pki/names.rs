//! The names the API server certificate must answer to.
//!
//! Clients check the server certificate against the host name they dialled: `kubectl` uses
//! the kubeconfig's server URL (often an IP on a home network), pods use the in-cluster
//! `kubernetes.default.svc` names, and agents on other boards use whatever address the
//! join command gave them. So the certificate carries the well-known in-cluster names plus
//! this host's name and every address it owns. Addresses are read from procfs (no libc
//! `getifaddrs` binding needed): IPv4 local addresses from `/proc/net/fib_trie`, IPv6 from
//! `/proc/net/if_inet6`.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// DNS names every Bramble API server certificate carries, as kubeadm's apiserver cert does.
pub const IN_CLUSTER_DNS_NAMES: [&str; 5] = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// Extra names (beyond the fixed in-cluster ones) the server certificate must cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNames {
    /// Host names, e.g. this board's hostname or a DNS alias given on the command line.
    pub dns: Vec<String>,
    /// Addresses clients may dial, e.g. the board's LAN address.
    pub ips: Vec<IpAddr>,
}

impl ServerNames {
    /// Discovers this host's hostname and the addresses of its interfaces from procfs.
    ///
    /// Missing procfs files yield an empty part rather than an error: the fixed names still
    /// make a usable certificate, and extra names can be passed explicitly.
    pub fn discover() -> ServerNames {
        let dns = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .into_iter()
            .collect();
        let mut ips: Vec<IpAddr> = Vec::new();
        if let Ok(trie) = fs::read_to_string("/proc/net/fib_trie") {
            // Service-range addresses a node carries (the cluster DNS address on its bridge)
            // are every node's: never a name of this one.
            let services = crate::resources::service_alloc::service_cidr();
            ips.extend(
                local_ipv4_from_fib_trie(&trie)
                    .into_iter()
                    .filter(|ip| !services.contains(*ip))
                    .map(IpAddr::V4),
            );
        }
        if let Ok(inet6) = fs::read_to_string("/proc/net/if_inet6") {
            ips.extend(
                global_ipv6_from_if_inet6(&inet6)
                    .into_iter()
                    .map(IpAddr::V6),
            );
        }
        ServerNames { dns, ips }
    }

    /// Every DNS name the certificate must carry: the given ones plus the in-cluster names.
    pub fn all_dns(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> =
            IN_CLUSTER_DNS_NAMES.iter().map(|s| s.to_string()).collect();
        all.extend(self.dns.iter().filter(|d| !d.is_empty()).cloned());
        all
    }

    /// Every address the certificate must carry: the given ones, both loopbacks, and the
    /// `kubernetes` Service's address, which in-cluster clients (client-go's
    /// `InClusterConfig`, kube-rs) dial as `https://$KUBERNETES_SERVICE_HOST` and verify.
    pub fn all_ips(&self) -> BTreeSet<IpAddr> {
        let mut all: BTreeSet<IpAddr> = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(crate::resources::service_alloc::KUBERNETES_SERVICE_IP),
        ]
        .into_iter()
        .collect();
        all.extend(self.ips.iter().copied());
        all
    }
}

/// Local (owned) IPv4 addresses from `/proc/net/fib_trie`, loopback excluded.
///
/// In that file each address line `|-- 192.0.2.2` is followed by one line per route type;
/// the kernel marks the host's own addresses with `/32 host LOCAL`.
pub fn local_ipv4_from_fib_trie(trie: &str) -> BTreeSet<Ipv4Addr> {
    let mut found = BTreeSet::new();
    let mut last_address: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last_address = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(addr) = last_address.filter(|a| !a.is_loopback()) {
                found.insert(addr);
            }
        }
    }
    found
}

/// Global-scope IPv6 addresses from `/proc/net/if_inet6` (link-local and loopback skipped).
///
/// Each line is `address(32 hex) ifindex prefixlen scope flags name`; scope `00` is global.
pub fn global_ipv6_from_if_inet6(inet6: &str) -> BTreeSet<Ipv6Addr> {
    let mut found = BTreeSet::new();
    for line in inet6.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [hex, _ifindex, _prefix, scope, ..] = fields.as_slice() else {
            continue;
        };
        if *scope != "00" {
            continue;
        }
        if let Ok(bits) = u128::from_str_radix(hex, 16) {
            let addr = Ipv6Addr::from(bits);
            if !addr.is_loopback() {
                found.insert(addr);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.0
              /24 link UNICAST
           |-- 192.168.1.40
              /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
";

    #[test]
    fn fib_trie_yields_only_owned_non_loopback_addresses() {
        let found: Vec<_> = local_ipv4_from_fib_trie(FIB_TRIE).into_iter().collect();
        assert_eq!(found, vec![Ipv4Addr::new(192, 168, 1, 40)]);
    }

    #[test]
    fn if_inet6_yields_global_addresses_only() {
        let text = "fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
";
        let found: Vec<_> = global_ipv6_from_if_inet6(text).into_iter().collect();
        assert_eq!(found, vec!["fd00::2".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn fixed_names_are_always_included() {
        let names = ServerNames {
            dns: vec!["pi-1".into()],
            ips: vec![],
        };
        let dns = names.all_dns();
        assert!(dns.contains("pi-1"));
        assert!(dns.contains("kubernetes.default.svc.cluster.local"));
        assert!(names.all_ips().contains(&"::1".parse::<IpAddr>().unwrap()));
        assert!(names
            .all_ips()
            .contains(&"10.43.0.1".parse::<IpAddr>().unwrap()));
    }
}
