//! Routes to other nodes' pod ranges, as flannel's `host-gw` backend keeps them: for every
//! other node, `<its podCIDR> via <its InternalIP>`, so pods on different boards of one
//! network reach each other by pod address without an overlay (no encapsulation: nothing for
//! a Pi's CPU to do, full MTU). Bramble's routes carry their own routing protocol number
//! ([`ROUTE_PROTOCOL`], shown as `proto 66` by `ip route`), so they can be found again after
//! a restart and nothing else's are touched. Only routes into the cluster's pod network are
//! ever removed, so two Bramble kubelets of different clusters on one host (or one network
//! namespace) leave each other's routes alone.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::error::{NetworkError, Result};
use super::netlink::Netlink;
use crate::cidr::Ipv4Cidr;

/// The routing protocol number tagging Bramble's node routes.
pub const ROUTE_PROTOCOL: u8 = 66;

/// The routes a node wants: each other node's range and the address it is reached at.
pub type NodeRoutes = BTreeMap<Ipv4Cidr, Ipv4Addr>;

/// What to change: routes to add or replace, and ranges whose route goes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    /// Routes to (re)write.
    pub replace: Vec<(Ipv4Cidr, Ipv4Addr)>,
    /// Ranges to stop routing.
    pub delete: Vec<Ipv4Cidr>,
}

/// The changes turning `current` into `wanted`; of the routes no longer wanted, only those
/// into `cluster` (this cluster's pod network) go.
pub fn diff(current: &NodeRoutes, wanted: &NodeRoutes, cluster: Ipv4Cidr) -> RouteChanges {
    RouteChanges {
        replace: wanted
            .iter()
            .filter(|(c, gw)| current.get(c) != Some(gw))
            .map(|(c, gw)| (*c, *gw))
            .collect(),
        delete: current
            .keys()
            .filter(|c| !wanted.contains_key(c) && cluster.contains_cidr(c))
            .copied()
            .collect(),
    }
}

fn route_err(action: &'static str, cidr: String) -> impl FnOnce(std::io::Error) -> NetworkError {
    move |source| NetworkError::Route {
        action,
        cidr,
        source,
    }
}

/// Brings this namespace's Bramble routes into `cluster` to `wanted`; a route whose gateway is
/// not on a directly connected network is reported and skipped, the others still applied.
pub fn sync(wanted: &NodeRoutes, cluster: Ipv4Cidr) -> Result<Vec<NetworkError>> {
    let mut nl = Netlink::open().map_err(route_err("open netlink socket for", String::new()))?;
    let current: NodeRoutes = nl
        .routes_of(ROUTE_PROTOCOL)
        .map_err(route_err("list", "node routes".into()))?
        .into_iter()
        .filter_map(|(dst, prefix, gw)| {
            let cidr = format!("{dst}/{prefix}").parse().ok()?;
            Some((cidr, gw?))
        })
        .collect();
    let changes = diff(&current, wanted, cluster);
    let mut skipped = Vec::new();
    for cidr in changes.delete {
        nl.delete_route(cidr.network(), cidr.prefix(), ROUTE_PROTOCOL)
            .map_err(route_err("delete the route to", cidr.to_string()))?;
        tracing::info!(%cidr, "removed the route to a node that left");
    }
    for (cidr, gw) in changes.replace {
        match nl.replace_route(cidr.network(), cidr.prefix(), gw, ROUTE_PROTOCOL) {
            Ok(()) => tracing::info!(%cidr, via = %gw, "routing a node's pod range"),
            Err(e) => skipped.push(route_err("add the route to", format!("{cidr} via {gw}"))(e)),
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(pairs: &[(&str, [u8; 4])]) -> NodeRoutes {
        pairs
            .iter()
            .map(|(c, gw)| (c.parse().unwrap(), Ipv4Addr::from(*gw)))
            .collect()
    }

    fn cluster() -> Ipv4Cidr {
        "10.42.0.0/16".parse().unwrap()
    }

    #[test]
    fn only_what_differs_is_touched() {
        let current = routes(&[
            ("10.42.1.0/24", [192, 168, 1, 41]),
            ("10.42.2.0/24", [192, 168, 1, 42]),
        ]);
        let wanted = routes(&[
            ("10.42.1.0/24", [192, 168, 1, 41]),
            ("10.42.3.0/24", [192, 168, 1, 43]),
            ("10.42.2.0/24", [192, 168, 1, 50]),
        ]);
        let d = diff(&current, &wanted, cluster());
        assert_eq!(
            d.replace,
            vec![
                (
                    "10.42.2.0/24".parse().unwrap(),
                    Ipv4Addr::new(192, 168, 1, 50)
                ),
                (
                    "10.42.3.0/24".parse().unwrap(),
                    Ipv4Addr::new(192, 168, 1, 43)
                ),
            ]
        );
        assert!(d.delete.is_empty());
        let d = diff(&wanted, &routes(&[]), cluster());
        assert_eq!(d.delete.len(), 3);
        assert_eq!(diff(&wanted, &wanted, cluster()), RouteChanges::default());
    }

    #[test]
    fn routes_outside_the_cluster_network_are_left_alone() {
        let current = routes(&[
            ("10.42.1.0/24", [192, 168, 1, 41]),
            ("10.43.1.0/24", [192, 168, 1, 60]),
        ]);
        let d = diff(&current, &routes(&[]), cluster());
        assert_eq!(d.delete, vec!["10.42.1.0/24".parse().unwrap()]);
        // a wanted route outside the network is still written
        let wanted = routes(&[("10.43.1.0/24", [192, 168, 1, 61])]);
        let d = diff(&current, &wanted, cluster());
        assert_eq!(d.replace.len(), 1);
        assert_eq!(d.delete, vec!["10.42.1.0/24".parse().unwrap()]);
    }
}
