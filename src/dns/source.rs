//! What the zone reads of the cluster: Services, their EndpointSlices and namespaces. A trait,
//! so the zone's rules are pure functions of objects a test builds; the server reads the
//! node's shared informer caches through it ([`super::InformerRecords`]), which keep answering
//! while the API server is unreachable.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

pub use crate::resources::endpointslice::SERVICE_NAME_LABEL;

/// The cluster objects the DNS zone is made of.
pub trait ClusterRecords: Send + Sync + 'static {
    /// Whether the namespace exists (CoreDNS answers NXDOMAIN below a missing namespace).
    fn namespace_exists(&self, namespace: &str) -> bool;
    /// One Service.
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>>;
    /// The EndpointSlices labelled with the Service's name in its namespace.
    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>>;
    /// The Services with `ip` among their cluster IPs, in a stable order.
    fn services_with_cluster_ip(&self, ip: IpAddr) -> Vec<Arc<Service>>;
    /// The EndpointSlices with `ip` among their endpoints' addresses, in a stable order.
    fn slices_with_address(&self, ip: IpAddr) -> Vec<Arc<EndpointSlice>>;
    /// Whether the first list of every kind has been taken in; before that a missing name is
    /// answered SERVFAIL, not NXDOMAIN, as CoreDNS does.
    fn has_synced(&self) -> bool;
    /// The zone's SOA serial: when the objects last changed, in Unix seconds.
    fn serial(&self) -> u32;
    /// A number that changes whenever the objects do, so the zone may reuse an answer while
    /// it stays the same; `None` (the default) reuses nothing.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// The canonical text of an address, as index values and comparisons use it.
pub(super) fn address_key(ip: IpAddr) -> String {
    ip.to_string()
}

/// Whether an endpoint counts: `conditions.ready` true or absent (an unknown state is taken
/// as ready, as the EndpointSlice API documents and CoreDNS does).
pub(super) fn endpoint_ready(ep: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
}

/// The cluster IPs of a Service: `spec.clusterIPs`, else `spec.clusterIP`; `None` and
/// unparsable entries left out.
pub(super) fn cluster_ips(svc: &Service) -> Vec<IpAddr> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&String> = match spec.cluster_ips.as_ref() {
        Some(ips) if !ips.is_empty() => ips.iter().collect(),
        _ => spec.cluster_ip.iter().collect(),
    };
    listed.into_iter().filter_map(|s| s.parse().ok()).collect()
}

/// Whether a Service is headless (`clusterIP: None`).
pub(super) fn is_headless(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    match spec.cluster_ips.as_ref().and_then(|ips| ips.first()) {
        Some(first) => first == "None",
        None => spec.cluster_ip.as_deref() == Some("None"),
    }
}
