//! [`ClusterRecords`] over the process's shared informers: Services, EndpointSlices and
//! Namespaces from the node's caches, so answers keep coming while the API server is
//! unreachable. Three indexes make every query a map lookup: slices by their Service
//! (`kubernetes.io/service-name`), slices by ready endpoint address, Services by cluster IP.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::source::{self, ClusterRecords};
use crate::client::informer::{Informer, Informers, Kind, Unserved};
use crate::client::Client;
use crate::resources::endpointslice::{service_of, BY_SERVICE_INDEX};

const SLICES_BY_ADDRESS: &str = "dns-address";
const SERVICES_BY_CLUSTER_IP: &str = "dns-cluster-ip";

/// The cluster's Services, EndpointSlices and Namespaces as the shared informers hold them.
pub struct InformerRecords {
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    namespaces: Informer<Namespace>,
    modified: Arc<AtomicU32>,
    changes: Arc<AtomicU64>,
}

fn now_secs() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn service_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn slice_addresses(slice: &EndpointSlice) -> Vec<String> {
    let mut out: Vec<String> = slice
        .endpoints
        .iter()
        .filter(|e| source::endpoint_ready(e))
        .flat_map(|e| e.addresses.iter())
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(source::address_key)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn service_cluster_ips(svc: &Service) -> Vec<String> {
    source::cluster_ips(svc)
        .into_iter()
        .map(source::address_key)
        .collect()
}

/// Notes the time of every change (the zone's SOA serial) and counts the changes.
fn track<K: Kind>(informer: &Informer<K>, modified: &Arc<AtomicU32>, changes: &Arc<AtomicU64>) {
    let (modified, changes) = (modified.clone(), changes.clone());
    informer.on_change(move |_| {
        modified.store(now_secs(), Ordering::Relaxed);
        changes.fetch_add(1, Ordering::Release);
    });
}

impl InformerRecords {
    /// Reads through the shared informers of `informers` (starting them if need be). Fails
    /// when the API serves one of the three kinds not.
    pub fn new<C: Client>(informers: &Informers<C>) -> Result<Self, Unserved> {
        let services = informers.get::<Service>()?;
        let slices = informers.get::<EndpointSlice>()?;
        let namespaces = informers.get::<Namespace>()?;
        slices.add_index(BY_SERVICE_INDEX, service_of);
        slices.add_index(SLICES_BY_ADDRESS, slice_addresses);
        services.add_index(SERVICES_BY_CLUSTER_IP, service_cluster_ips);
        let modified = Arc::new(AtomicU32::new(now_secs()));
        let changes = Arc::new(AtomicU64::new(0));
        track(&services, &modified, &changes);
        track(&slices, &modified, &changes);
        track(&namespaces, &modified, &changes);
        Ok(InformerRecords {
            services,
            slices,
            namespaces,
            modified,
            changes,
        })
    }
}

impl ClusterRecords for InformerRecords {
    fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.get("", namespace).is_some()
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(namespace, name)
    }

    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices
            .by_index(BY_SERVICE_INDEX, &service_key(namespace, service))
    }

    fn services_with_cluster_ip(&self, ip: IpAddr) -> Vec<Arc<Service>> {
        self.services
            .by_index(SERVICES_BY_CLUSTER_IP, &source::address_key(ip))
    }

    fn slices_with_address(&self, ip: IpAddr) -> Vec<Arc<EndpointSlice>> {
        self.slices
            .by_index(SLICES_BY_ADDRESS, &source::address_key(ip))
    }

    fn has_synced(&self) -> bool {
        self.services.has_synced() && self.slices.has_synced() && self.namespaces.has_synced()
    }

    fn serial(&self) -> u32 {
        self.modified.load(Ordering::Relaxed)
    }

    fn generation(&self) -> Option<u64> {
        // Counted after each change reaches the cache, so an answer reused under a count
        // was worked out from that state or a newer one.
        self.has_synced()
            .then(|| self.changes.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::test_records::{headless, slice};

    #[test]
    fn slices_are_filed_by_service_and_ready_address() {
        let s = slice(
            "default",
            "db",
            &[
                ("10.42.0.7", Some("db-0"), Some(true)),
                ("10.42.0.8", None, Some(false)),
            ],
            &[],
        );
        assert_eq!(service_of(&s), ["default/db"]);
        assert_eq!(slice_addresses(&s), ["10.42.0.7"]);
        let svc = headless("default", "db", &[]);
        assert!(service_cluster_ips(&svc).is_empty());
    }
}
