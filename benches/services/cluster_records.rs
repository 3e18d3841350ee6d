//! The cluster the DNS phase answers from: [`Services`] Services in `default` (one of them
//! `web`), each with one cluster IP, held in maps — a [`ClusterRecords`] built in the bench
//! instead of the server's informers, so the figure is the DNS path alone.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bramble::dns::ClusterRecords;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The measured Service's name and its cluster IP.
pub const WEB: (&str, Ipv4Addr) = ("web", Ipv4Addr::new(10, 43, 0, 20));

/// Services by namespace and name, and by cluster IP.
pub struct Services {
    by_name: HashMap<(String, String), Arc<Service>>,
    by_ip: HashMap<IpAddr, Arc<Service>>,
}

fn service(name: &str, ip: Ipv4Addr) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some(ip.to_string()),
            cluster_ips: Some(vec![ip.to_string()]),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Services {
    /// `web` and `count - 1` others.
    pub fn new(count: usize) -> Services {
        let mut all = vec![service(WEB.0, WEB.1)];
        for i in 1..count {
            let ip = Ipv4Addr::new(10, 43, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
            all.push(service(&format!("svc-{i}"), ip));
        }
        let mut by_name = HashMap::new();
        let mut by_ip = HashMap::new();
        for svc in all {
            let svc = Arc::new(svc);
            let name = svc.metadata.name.clone().unwrap_or_default();
            let ip = svc
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.as_deref())
                .and_then(|s| s.parse().ok());
            if let Some(ip) = ip {
                by_ip.insert(ip, svc.clone());
            }
            by_name.insert(("default".to_string(), name), svc);
        }
        Services { by_name, by_ip }
    }
}

impl ClusterRecords for Services {
    fn namespace_exists(&self, namespace: &str) -> bool {
        matches!(namespace, "default" | "kube-system")
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.by_name
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn endpoint_slices(&self, _namespace: &str, _service: &str) -> Vec<Arc<EndpointSlice>> {
        Vec::new()
    }

    fn services_with_cluster_ip(&self, ip: IpAddr) -> Vec<Arc<Service>> {
        self.by_ip.get(&ip).cloned().into_iter().collect()
    }

    fn slices_with_address(&self, _ip: IpAddr) -> Vec<Arc<EndpointSlice>> {
        Vec::new()
    }

    fn has_synced(&self) -> bool {
        true
    }

    fn serial(&self) -> u32 {
        1
    }

    /// The objects never change during the run, as the informers' at rest: one count.
    fn generation(&self) -> Option<u64> {
        Some(0)
    }
}
