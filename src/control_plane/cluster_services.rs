//! The Services every cluster has, kept by the server as kube-apiserver keeps them:
//! `default/kubernetes` at the first address of the service range, with an Endpoints and an
//! EndpointSlice naming the live servers' addresses and the API port (so a pod reaches the
//! API at `kubernetes.default.svc`), and `kube-system/kube-dns` at the address every node's own DNS
//! server answers.

use serde_json::json;

use super::system_objects::{create_unless_present, upsert};
use super::ServerError;
use crate::api::registry::Registry;
use crate::resources::endpoints::{self, SKIP_MIRROR_LABEL};
use crate::resources::{endpointslice, service};

/// The `kubernetes` Service in `default`, at the first address of the service range, its
/// port 443 sent to the API server's `port`.
pub(super) async fn ensure_kubernetes_service(
    registry: &Registry,
    port: u16,
) -> Result<(), ServerError> {
    let ip = crate::resources::service_alloc::KUBERNETES_SERVICE_IP.to_string();
    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip,
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    });
    create_unless_present(registry, &service::RESOURCE, "default", "kubernetes", svc).await
}

/// The `kubernetes` Service's Endpoints and EndpointSlice: the live API servers at
/// `addresses` (the addresses other boards and pods reach them on, from
/// `apiserver_leases.rs`) and `port`, rewritten when either changed.
pub(super) async fn write_kubernetes_endpoints(
    registry: &Registry,
    addresses: &[String],
    port: u16,
) -> Result<(), ServerError> {
    // No server reachable and none listed before (a lone server on loopback): nothing to
    // write, as before any server joined.
    if addresses.is_empty()
        && registry
            .get(&endpoints::RESOURCE, "default", "kubernetes")
            .is_err()
    {
        return Ok(());
    }
    let subsets = if addresses.is_empty() {
        json!([])
    } else {
        let listed: Vec<_> = addresses.iter().map(|ip| json!({"ip": ip})).collect();
        json!([{"addresses": listed,
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}])
    };
    let ready: Vec<_> = addresses
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    let eps = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {SKIP_MIRROR_LABEL: "true"}},
        "subsets": subsets,
    });
    upsert(
        registry,
        &endpoints::RESOURCE,
        "default",
        "kubernetes",
        eps,
        &["subsets"],
    )
    .await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {endpointslice::SERVICE_NAME_LABEL: "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": ready,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    upsert(
        registry,
        &endpointslice::RESOURCE,
        "default",
        "kubernetes",
        slice,
        &["endpoints", "ports"],
    )
    .await
}

/// The `kube-dns` Service in `kube-system` at the DNS address every node answers itself
/// (its own cluster DNS server, not pods: the Service has no selector), so tools that look
/// for cluster DNS find it where k3s has it.
pub(super) async fn ensure_dns_service(registry: &Registry) -> Result<(), ServerError> {
    let ip = crate::resources::service_alloc::DNS_SERVICE_IP.to_string();
    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                "kubernetes.io/name": "BrambleDNS"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
    });
    create_unless_present(registry, &service::RESOURCE, "kube-system", "kube-dns", svc).await
}
