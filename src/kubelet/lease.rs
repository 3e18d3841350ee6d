//! The node heartbeat: a `coordination.k8s.io/v1` Lease in `kube-node-lease` renewed every
//! 10 s (upstream's `nodeLeaseRenewInterval`). Leases live in memory on the server, so the
//! heartbeat never reaches the SD card.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::lease;

/// How often the lease is renewed.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// How long the lease is valid (upstream's default `nodeLeaseDurationSeconds`).
pub const LEASE_SECONDS: i64 = 40;
/// Namespace of node leases.
pub const NAMESPACE: &str = "kube-node-lease";

fn micro_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Creates or renews `node`'s lease once.
pub async fn renew<C: Client>(client: &C, node: &str) -> Result<(), ApiError> {
    let patch = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_now()}});
    match client
        .patch(
            &lease::RESOURCE,
            NAMESPACE,
            node,
            PatchType::Merge,
            &patch,
            Subresource::Main,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => {
            let obj = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node, "namespace": NAMESPACE},
                "spec": patch["spec"],
            });
            client
                .create(&lease::RESOURCE, NAMESPACE, obj)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Renews the lease every [`RENEW_INTERVAL`] until `shutdown`.
pub async fn run<C: Client>(client: C, node: String, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(RENEW_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = renew(&client, &node).await {
                    tracing::warn!(node = %node, error = %e, "could not renew the node lease");
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, LocalClient};
    use crate::resources::namespace;

    #[tokio::test]
    async fn renewing_creates_then_refreshes_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 100).unwrap();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
        client.create(&namespace::RESOURCE, "", ns).await.unwrap();
        let missing = client.get(&lease::RESOURCE, NAMESPACE, "pi-1").await;
        assert_eq!(missing.map_err(|e| e.code).err(), Some(404));
        renew(&client, "pi-1").await.unwrap();
        let first = client
            .get(&lease::RESOURCE, NAMESPACE, "pi-1")
            .await
            .unwrap();
        renew(&client, "pi-1").await.unwrap();
        let second = client
            .get(&lease::RESOURCE, NAMESPACE, "pi-1")
            .await
            .unwrap();
        assert_eq!(second["spec"]["holderIdentity"], "pi-1");
        assert_eq!(
            second["spec"]["leaseDurationSeconds"],
            first["spec"]["leaseDurationSeconds"]
        );
        assert_ne!(first["spec"]["renewTime"], second["spec"]["renewTime"]);
    }
}
