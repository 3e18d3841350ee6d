//! What the proxy programs, worked out from Services and EndpointSlices alone (pure, as
//! kube-proxy's `ServicePortMap`/`EndpointsMap`): one [`ServicePort`] per port of every
//! Service that has a cluster IP, with the addresses it answers on and the endpoints behind
//! it. Endpoints are the ready ones; while a port has none, its serving-and-terminating ones
//! take traffic (kube-proxy's terminating fallback). `internalTrafficPolicy: Local` narrows the
//! cluster-IP path to this node's endpoints, `externalTrafficPolicy: Local` the node-port,
//! load-balancer and external-IP paths. Headless and ExternalName Services get nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sha2::{Digest, Sha256};

/// A transport protocol the proxy forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The lower-case name nft uses.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// One endpoint of a Service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Backend {
    /// The endpoint's address.
    pub ip: Ipv4Addr,
    /// The port on it.
    pub port: u16,
    /// On this node.
    pub local: bool,
}

/// One port of one Service, with everything the data path needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name/protocol/port-name` (the port number when unnamed), for logs.
    pub id: String,
    /// A short stable tag of `id`, for chain and set names.
    pub tag: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The cluster IP and the Service port.
    pub cluster_ip: Ipv4Addr,
    /// The Service port.
    pub port: u16,
    /// The node port, for NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    /// External IPs and load-balancer ingress IPs answered on `port`.
    pub external_ips: Vec<Ipv4Addr>,
    /// Endpoints for traffic to the cluster IP.
    pub internal: Vec<Backend>,
    /// Endpoints for traffic from outside (node port, load balancer, external IPs).
    pub external: Vec<Backend>,
    /// `externalTrafficPolicy: Local`: outside traffic keeps its source address.
    pub external_local: bool,
    /// `sessionAffinity: ClientIP`: how long a client sticks to its endpoint, in seconds.
    pub affinity_seconds: Option<u32>,
}

/// The node the proxy runs on.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Its name (endpoints' `nodeName`).
    pub name: String,
    /// Cluster IPs not to program (the DNS Service, answered on this node itself).
    pub skip_ips: BTreeSet<Ipv4Addr>,
}

/// The first 8 characters of the base-32 SHA-256 of `id` (kube-proxy's chain-name hash).
pub fn tag_of(id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(id.as_bytes());
    // 8 characters of 5 bits: the first 40 bits of the digest.
    let mut bits: u64 = 0;
    for b in digest.iter().take(5) {
        bits = (bits << 8) | u64::from(*b);
    }
    (0..8)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect()
}

/// The endpoints of one slice port, by (port name, protocol): (address, port, conditions).
struct SliceEndpoint {
    ip: Ipv4Addr,
    port: u16,
    ready: bool,
    serving: bool,
    terminating: bool,
    local: bool,
}

fn slice_endpoints<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &str,
) -> BTreeMap<(String, Protocol), Vec<SliceEndpoint>> {
    let mut out: BTreeMap<(String, Protocol), Vec<SliceEndpoint>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        for p in slice.ports.iter().flatten() {
            let (Some(proto), Some(port)) = (
                Protocol::parse(p.protocol.as_deref()),
                p.port
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0),
            ) else {
                continue;
            };
            let list = out
                .entry((p.name.clone().unwrap_or_default(), proto))
                .or_default();
            for e in &slice.endpoints {
                let c = e.conditions.as_ref();
                let ready = c.and_then(|c| c.ready).unwrap_or(true);
                let serving = c.and_then(|c| c.serving).unwrap_or(ready);
                let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
                let local = e.node_name.as_deref() == Some(node);
                for ip in e.addresses.iter().filter_map(|a| a.parse().ok()) {
                    list.push(SliceEndpoint {
                        ip,
                        port,
                        ready,
                        serving,
                        terminating,
                        local,
                    });
                }
            }
        }
    }
    out
}

/// kube-proxy's `CategorizeEndpoints` for one path: the ready endpoints (local ones only
/// under a Local policy), else the serving terminating ones.
fn usable(endpoints: &[SliceEndpoint], local_only: bool) -> Vec<Backend> {
    let pick = |f: &dyn Fn(&SliceEndpoint) -> bool| -> Vec<Backend> {
        let set: BTreeSet<Backend> = endpoints
            .iter()
            .filter(|e| (!local_only || e.local) && f(e))
            .map(|e| Backend {
                ip: e.ip,
                port: e.port,
                local: e.local,
            })
            .collect();
        set.into_iter().collect()
    };
    let ready = pick(&|e| e.ready);
    if ready.is_empty() {
        pick(&|e| e.serving && e.terminating)
    } else {
        ready
    }
}

/// The Service ports of `svc` given its slices.
pub fn service_ports<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeView,
) -> Vec<ServicePort> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(cluster_ip) = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return Vec::new();
    };
    if node.skip_ips.contains(&cluster_ip) {
        return Vec::new();
    }
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let by_port = slice_endpoints(slices, &node.name);
    let mut external_ips: Vec<Ipv4Addr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    if spec.type_.as_deref() == Some("LoadBalancer") {
        external_ips.extend(
            svc.status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                // An ingress in Proxy mode is reached through the load balancer itself.
                .filter(|i| i.ip_mode.as_deref() != Some("Proxy"))
                .filter_map(|i| i.ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok())),
        );
    }
    external_ips.sort();
    external_ips.dedup();
    let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
    let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(10800)
    });
    let mut out = Vec::new();
    for p in spec.ports.iter().flatten() {
        let (Some(protocol), Ok(port)) = (
            Protocol::parse(p.protocol.as_deref()),
            u16::try_from(p.port),
        ) else {
            continue;
        };
        let port_name = p.name.clone().unwrap_or_default();
        let shown = if port_name.is_empty() {
            port.to_string()
        } else {
            port_name.clone()
        };
        let id = format!("{ns}/{name}/{}/{shown}", protocol.name());
        let endpoints = by_port
            .get(&(port_name, protocol))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        out.push(ServicePort {
            tag: tag_of(&id),
            id,
            protocol,
            cluster_ip,
            port,
            node_port: p
                .node_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0),
            external_ips: external_ips.clone(),
            internal: usable(endpoints, internal_local),
            external: usable(endpoints, external_local),
            external_local,
            affinity_seconds,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> NodeView {
        NodeView {
            name: "pi-1".into(),
            skip_ips: [Ipv4Addr::new(10, 43, 0, 10)].into(),
        }
    }

    fn svc(spec: serde_json::Value, status: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": spec, "status": status}))
        .unwrap()
    }

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({"metadata": {"name": "web-x"}, "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints}))
        .unwrap()
    }

    fn ep(ip: &str, node: &str, ready: bool, terminating: bool) -> serde_json::Value {
        json!({"addresses": [ip], "nodeName": node, "conditions":
            {"ready": ready, "serving": ready || terminating, "terminating": terminating}})
    }

    #[test]
    fn a_load_balancer_port_with_local_and_remote_endpoints() {
        let s = svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.43.0.5",
                "externalIPs": ["192.168.1.50"], "externalTrafficPolicy": "Local",
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "192.168.1.11", "ipMode": "VIP"},
                {"ip": "192.168.1.12", "ipMode": "Proxy"}]}}),
        );
        let sl = slice(json!([
            ep("10.42.0.5", "pi-1", true, false),
            ep("10.42.1.5", "pi-2", true, false),
            ep("10.42.1.6", "pi-2", false, false)
        ]));
        let ports = service_ports(&s, [&sl], &node());
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(p.id, "default/web/tcp/http");
        assert_eq!(p.tag.len(), 8);
        assert_eq!(
            (p.cluster_ip, p.port, p.node_port),
            (Ipv4Addr::new(10, 43, 0, 5), 80, Some(30080))
        );
        assert_eq!(
            p.external_ips,
            [
                Ipv4Addr::new(192, 168, 1, 11),
                Ipv4Addr::new(192, 168, 1, 50)
            ]
        );
        let ips = |b: &[Backend]| b.iter().map(|b| b.ip.to_string()).collect::<Vec<_>>();
        assert_eq!(ips(&p.internal), ["10.42.0.5", "10.42.1.5"]);
        assert_eq!(ips(&p.external), ["10.42.0.5"]);
        assert_eq!(p.internal[0].port, 8080);
        assert_eq!(p.affinity_seconds, Some(60));
        assert!(p.external_local);
    }

    #[test]
    fn terminating_endpoints_serve_only_while_none_is_ready() {
        let s = svc(
            json!({"clusterIP": "10.43.0.5", "internalTrafficPolicy": "Local",
                "ports": [{"name": "http", "port": 80}]}),
            json!({}),
        );
        let leaving = slice(json!([
            ep("10.42.0.5", "pi-1", false, true),
            ep("10.42.0.6", "pi-1", false, false),
            ep("10.42.1.5", "pi-2", true, false)
        ]));
        let p = &service_ports(&s, [&leaving], &node())[0];
        assert_eq!(p.internal.len(), 1);
        assert_eq!(p.internal[0].ip, Ipv4Addr::new(10, 42, 0, 5));
        let none = slice(json!([]));
        assert!(service_ports(&s, [&none], &node())[0].internal.is_empty());
    }

    #[test]
    fn headless_external_name_and_skipped_services_get_nothing() {
        let headless = svc(
            json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            json!({}),
        );
        assert!(service_ports(&headless, [], &node()).is_empty());
        let external = svc(
            json!({"type": "ExternalName", "externalName": "x.example"}),
            json!({}),
        );
        assert!(service_ports(&external, [], &node()).is_empty());
        let dns = svc(
            json!({"clusterIP": "10.43.0.10", "ports": [{"port": 53}]}),
            json!({}),
        );
        assert!(service_ports(&dns, [], &node()).is_empty());
    }

    #[test]
    fn tags_are_stable_and_distinct() {
        assert_eq!(
            tag_of("default/web/tcp/http"),
            tag_of("default/web/tcp/http")
        );
        assert_ne!(
            tag_of("default/web/tcp/http"),
            tag_of("default/web/udp/http")
        );
        assert!(tag_of("x")
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }
}
