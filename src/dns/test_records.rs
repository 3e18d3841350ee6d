//! Cluster objects built in tests, and a [`ClusterRecords`] over plain lists of them.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::source::{self, ClusterRecords, SERVICE_NAME_LABEL};

/// Namespaces, Services and EndpointSlices held in lists.
pub struct MemoryRecords {
    pub namespaces: HashSet<String>,
    pub services: Vec<Service>,
    pub slices: Vec<EndpointSlice>,
    pub synced: bool,
}

impl MemoryRecords {
    /// Synced records with the namespaces `default` and `kube-system`.
    pub fn new() -> Self {
        MemoryRecords {
            namespaces: ["default", "kube-system"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            services: Vec::new(),
            slices: Vec::new(),
            synced: true,
        }
    }
}

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn service_ports(ports: &[(&str, i32, &str)]) -> Option<Vec<ServicePort>> {
    Some(
        ports
            .iter()
            .map(|(name, port, proto)| ServicePort {
                name: (!name.is_empty()).then(|| name.to_string()),
                port: *port,
                protocol: Some(proto.to_string()),
                ..Default::default()
            })
            .collect(),
    )
}

/// A ClusterIP Service with these cluster IPs and `(name, port, protocol)` ports.
pub fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: &[(&str, i32, &str)]) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: ips.first().map(|s| s.to_string()),
            cluster_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
            ports: service_ports(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A headless Service (`clusterIP: None`).
pub fn headless(ns: &str, name: &str, ports: &[(&str, i32, &str)]) -> Service {
    cluster_ip(ns, name, &["None"], ports)
}

/// An ExternalName Service.
pub fn external(ns: &str, name: &str, target: &str) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(target.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An EndpointSlice of Service `svc` with `(address, hostname, ready)` endpoints and
/// `(name, port, protocol)` ports.
pub fn slice(
    ns: &str,
    svc: &str,
    endpoints: &[(&str, Option<&str>, Option<bool>)],
    ports: &[(&str, i32, &str)],
) -> EndpointSlice {
    let mut m = meta(ns, &format!("{svc}-{}", endpoints.len()));
    m.labels = Some(BTreeMap::from([(
        SERVICE_NAME_LABEL.to_string(),
        svc.to_string(),
    )]));
    EndpointSlice {
        metadata: m,
        address_type: "IPv4".into(),
        endpoints: endpoints
            .iter()
            .map(|(addr, host, ready)| Endpoint {
                addresses: vec![addr.to_string()],
                hostname: host.map(str::to_string),
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(
            ports
                .iter()
                .map(|(name, port, proto)| EndpointPort {
                    name: Some(name.to_string()),
                    port: Some(*port),
                    protocol: Some(proto.to_string()),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}

impl ClusterRecords for MemoryRecords {
    fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata.name.as_deref() == Some(name)
            })
            .map(|s| Arc::new(s.clone()))
    }

    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices
            .iter()
            .filter(|s| {
                s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SERVICE_NAME_LABEL))
                        == Some(&service.to_string())
            })
            .map(|s| Arc::new(s.clone()))
            .collect()
    }

    fn services_with_cluster_ip(&self, ip: IpAddr) -> Vec<Arc<Service>> {
        self.services
            .iter()
            .filter(|s| source::cluster_ips(s).contains(&ip))
            .map(|s| Arc::new(s.clone()))
            .collect()
    }

    fn slices_with_address(&self, ip: IpAddr) -> Vec<Arc<EndpointSlice>> {
        self.slices
            .iter()
            .filter(|s| {
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.iter())
                    .any(|a| a.parse::<IpAddr>().ok() == Some(ip))
            })
            .map(|s| Arc::new(s.clone()))
            .collect()
    }

    fn has_synced(&self) -> bool {
        self.synced
    }

    fn serial(&self) -> u32 {
        1_765_000_000
    }
}
