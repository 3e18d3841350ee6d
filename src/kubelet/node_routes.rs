//! Keeps this board's routes to the other nodes' pod ranges in step with the Node objects
//! (see [`routes`](super::network::routes)): on every change to a Node, and once a minute in
//! case something removed a route behind the kubelet's back.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::network::routes::NodeRoutes;
use super::network::PodNetwork;
use crate::client::options::{ListOptions, WatchOptions};
use crate::client::{Client, WatchSource};
use crate::resources::meta;
use crate::resources::node;

/// How often routes are re-checked without a change.
const RESYNC: Duration = Duration::from_secs(60);
/// Pause after a failed list or watch.
const RETRY: Duration = Duration::from_secs(2);

/// The routes `me` wants given every Node: each other node's pod ranges via its IPv4
/// `InternalIP`.
pub fn wanted_routes(nodes: &[Value], me: &str) -> NodeRoutes {
    let mut out = NodeRoutes::new();
    for n in nodes.iter().filter(|n| meta::name_of(n) != me) {
        let ip: Option<Ipv4Addr> = n
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
            .and_then(|a| a["address"].as_str())
            .and_then(|a| a.parse().ok());
        if let Some(ip) = ip {
            let typed = serde_json::from_value::<k8s_openapi::api::core::v1::Node>(n.clone());
            for c in typed.iter().flat_map(node::pod_cidrs) {
                out.insert(c, ip);
            }
        }
    }
    out
}

/// Runs until `shutdown`.
pub async fn run<C: Client>(
    client: C,
    network: PodNetwork,
    me: String,
    shutdown: CancellationToken,
) {
    let mut reported = Vec::<String>::new();
    loop {
        let list = match client
            .list(&node::RESOURCE, None, &ListOptions::default())
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "node routes: listing nodes failed");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        match network
            .sync_node_routes(wanted_routes(&list.items, &me))
            .await
        {
            Ok(skipped) => {
                // Say once per route what cannot be reached, not once a minute.
                let now: Vec<String> = skipped.iter().map(ToString::to_string).collect();
                for e in now.iter().filter(|e| !reported.contains(e)) {
                    tracing::warn!(error = %e, "a node's pods are not reachable from this board: it is not on a network this board is on");
                }
                reported = now;
            }
            Err(e) => tracing::warn!(error = %e, "node routes"),
        }
        let opts = WatchOptions {
            resource_version: list.resource_version.to_string(),
            ..Default::default()
        };
        let Ok(mut watch) = client.watch(&node::RESOURCE, None, &opts).await else {
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        tokio::select! {
            _ = watch.next() => {}
            _ = tokio::time::sleep(RESYNC) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ip: Option<&str>, cidr: Option<&str>) -> Value {
        let mut addresses = vec![json!({"type": "Hostname", "address": name})];
        if let Some(ip) = ip {
            addresses.push(json!({"type": "InternalIP", "address": ip}));
        }
        json!({"metadata": {"name": name}, "spec": {"podCIDR": cidr}, "status": {"addresses": addresses}})
    }

    #[test]
    fn every_other_node_with_a_range_and_an_address_is_routed() {
        let nodes = [
            node("pi-1", Some("192.168.1.40"), Some("10.42.0.0/24")),
            node("pi-2", Some("192.168.1.41"), Some("10.42.1.0/24")),
            node("pi-3", Some("192.168.1.42"), None),
            node("pi-4", None, Some("10.42.3.0/24")),
            node("pi-5", Some("fd00::5"), Some("10.42.4.0/24")),
        ];
        let r = wanted_routes(&nodes, "pi-1");
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.get(&"10.42.1.0/24".parse().unwrap()),
            Some(&Ipv4Addr::new(192, 168, 1, 41))
        );
    }
}
