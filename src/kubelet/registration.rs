//! Joining the cluster as a Node: what the kubelet does before it runs pods. It learns the
//! cluster's pod network, registers (or refreshes) its Node, then waits until the Node has
//! a pod range (`spec.podCIDR`, given by `--pod-cidr` or assigned by the server's node IPAM
//! controller, as upstream's kubelet waits for its CIDR before it configures the network).
//! A server that is not reachable yet (a board booting before the server) is waited for.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::machine::Machine;
use super::node_status::{self, NodeIdentity};
use crate::cidr::Ipv4Cidr;
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::retry::retry;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::controllers::node_ipam::{CLUSTER_CIDR_KEY, CLUSTER_INFO_CONFIGMAP};
use crate::resources::{configmap, node};

/// The cluster network when the server publishes none (the server's default).
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";

/// Whether `e` is worth waiting out: the server is unreachable or busy.
fn transient(e: &ApiError) -> bool {
    matches!(e.code, 429 | 500 | 502 | 503 | 504)
}

/// Runs `attempt` until it succeeds, fails for good, or `shutdown`.
pub async fn retrying<T, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    attempt: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    retry(what, shutdown, transient, attempt).await
}

/// The cluster's pod network as the server publishes it.
pub async fn cluster_cidr<C: Client>(client: &C) -> Result<Ipv4Cidr, ApiError> {
    let text = match client
        .get(&configmap::RESOURCE, "kube-system", CLUSTER_INFO_CONFIGMAP)
        .await
    {
        Ok(cm) => cm["data"][CLUSTER_CIDR_KEY]
            .as_str()
            .unwrap_or(DEFAULT_CLUSTER_CIDR)
            .to_string(),
        Err(e) if e.code == 404 => DEFAULT_CLUSTER_CIDR.to_string(),
        Err(e) => return Err(e),
    };
    text.parse().map_err(|e| {
        ApiError::internal(format!(
            "ConfigMap kube-system/{CLUSTER_INFO_CONFIGMAP}: {e}"
        ))
    })
}

/// The node's address: its first non-loopback IPv4 address outside the cluster's pod
/// network (node bridges hold addresses from it, which other boards cannot reach) and the
/// service range ([`crate::pki::ServerNames::discover`] leaves that out).
pub fn node_ipv4(cluster: Ipv4Cidr) -> Option<String> {
    crate::pki::ServerNames::discover()
        .ips
        .iter()
        .find_map(|ip| match ip {
            std::net::IpAddr::V4(v4) if !v4.is_loopback() && !cluster.contains(*v4) => {
                Some(v4.to_string())
            }
            _ => None,
        })
}

/// Creates the Node, or refreshes its status and labels if it exists. `pod_cidr` is set
/// only when the kubelet was given one; otherwise the server assigns it.
pub async fn register<C: Client>(
    client: &C,
    id: &NodeIdentity,
    m: &Machine,
    pod_cidr: Option<Ipv4Cidr>,
) -> Result<(), ApiError> {
    let mut obj = node_status::node_object(id, m);
    if let Some(c) = pod_cidr {
        obj["spec"]["podCIDR"] = json!(c.to_string());
        obj["spec"]["podCIDRs"] = json!([c.to_string()]);
    }
    match client.create(&node::RESOURCE, "", obj.clone()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => {
            let patch =
                json!({"metadata": {"labels": obj["metadata"]["labels"]}, "spec": obj["spec"]});
            client
                .patch(
                    &node::RESOURCE,
                    "",
                    &id.name,
                    PatchType::Merge,
                    &patch,
                    Subresource::Main,
                )
                .await?;
            let status = json!({"status": obj["status"]});
            client
                .patch(
                    &node::RESOURCE,
                    "",
                    &id.name,
                    PatchType::Merge,
                    &status,
                    Subresource::Status,
                )
                .await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The Node's pod range, waiting until it has one.
pub async fn pod_cidr<C: Client>(
    client: &C,
    node_name: &str,
    shutdown: &CancellationToken,
) -> Result<Ipv4Cidr, ApiError> {
    let mut told = false;
    loop {
        let obj: Value = retrying("reading this node", shutdown, || {
            client.get(&node::RESOURCE, "", node_name)
        })
        .await?;
        let typed = serde_json::from_value::<k8s_openapi::api::core::v1::Node>(obj);
        if let Some(c) = typed.iter().flat_map(node::pod_cidrs).next() {
            return Ok(c);
        }
        if !told {
            tracing::info!(node = %node_name, "waiting for the server to assign this node a pod range");
            told = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.cancelled() => return Err(ApiError::unavailable("shutting down")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::LocalClient;

    #[tokio::test]
    async fn only_outages_are_waited_out() {
        let shutdown = CancellationToken::new();
        let e = retrying("x", &shutdown, || async {
            Err::<(), _>(ApiError::forbidden("no"))
        })
        .await
        .unwrap_err();
        assert_eq!(e.code, 403);
        let mut calls = 0;
        let v = retrying("x", &shutdown, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 2 {
                    Err(ApiError::unavailable("down"))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 2);
    }

    #[tokio::test]
    async fn the_published_cluster_network_wins_over_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        assert_eq!(
            cluster_cidr(&client).await.unwrap().to_string(),
            DEFAULT_CLUSTER_CIDR
        );
        let ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}});
        client
            .create(&crate::resources::namespace::RESOURCE, "", ns)
            .await
            .unwrap();
        let cm = crate::controllers::node_ipam::cluster_info("10.99.0.0/16".parse().unwrap());
        client
            .create(&configmap::RESOURCE, "kube-system", cm)
            .await
            .unwrap();
        assert_eq!(
            cluster_cidr(&client).await.unwrap().to_string(),
            "10.99.0.0/16"
        );
    }
}
