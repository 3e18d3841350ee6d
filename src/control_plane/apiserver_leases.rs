//! The `kubernetes` Service's endpoints list every live API server, as kube-apiserver's lease
//! endpoint reconciler keeps them (`pkg/controlplane/reconcilers/lease.go`): each server
//! renews a Lease `kube-system/apiserver-<node>` carrying its address every 10 s, and
//! rewrites the Endpoints and EndpointSlice `default/kubernetes` to the addresses of the
//! leases that are live. A lease is live while its record changed within its duration, as
//! this server's clock saw it change (first sight counts), so boards' clocks need not agree.
//! On shutdown a server deletes its lease and takes its address out at once. All servers
//! serve the API on the same port; the endpoints carry this server's.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cluster_services::write_kubernetes_endpoints;
use super::ServerError;
use crate::api::registry::Registry;
use crate::client::leader_election::{micro_now, LeaseRecord, LEASE_NAMESPACE};
use crate::client::options::{DeleteOptions, ListOptions, PatchType, Subresource};
use crate::client::status::ApiError;
use crate::client::{Client, LocalClient};
use crate::resources::lease;

/// Upstream's label on API server identity leases.
const IDENTITY_LABEL: &str = "apiserver.kubernetes.io/identity";
/// The label's value for kube-apiserver.
const IDENTITY_VALUE: &str = "kube-apiserver";
/// The annotation holding the address pods reach a server's API on.
const ADDRESS_ANNOTATION: &str = "bramble.dev/advertise-address";
/// Longest Lease name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// How often leases are renewed and endpoints reconciled, and how long a lease lasts
/// (upstream's `EndpointReconcilerInterval` 10 s and master lease TTL 15 s).
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaseTimings {
    /// Between reconciles.
    pub interval: Duration,
    /// A lease unchanged this long is dead (whole seconds, at least one).
    pub duration: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            interval: Duration::from_secs(10),
            duration: Duration::from_secs(15),
        }
    }
}

/// One server's lease and the `kubernetes` endpoints it keeps.
pub(super) struct ApiServerLeases {
    registry: Registry,
    client: LocalClient,
    node: String,
    lease_name: String,
    address: Option<String>,
    port: u16,
    timings: LeaseTimings,
    /// Other servers' leases: the renew time last seen and when it was seen to change.
    seen: HashMap<String, (Option<String>, Instant)>,
}

/// The lease name of the server on `node`: `apiserver-<node>`, cut to a valid name.
fn lease_name(node: &str) -> String {
    let mut name = format!("apiserver-{node}");
    name.truncate(MAX_NAME);
    name.trim_end_matches(['.', '-']).to_string()
}

impl ApiServerLeases {
    /// The reconciler of the server on `node` serving the API at `address` (none when it
    /// listens on loopback only) and `port`.
    pub(super) fn new(registry: Registry, node: &str, address: Option<String>, port: u16) -> Self {
        Self::with_timings(registry, node, address, port, LeaseTimings::default())
    }

    /// [`ApiServerLeases::new`] with other timings (tests).
    fn with_timings(
        registry: Registry,
        node: &str,
        address: Option<String>,
        port: u16,
        timings: LeaseTimings,
    ) -> Self {
        if address.is_none() {
            tracing::warn!(
                "the API listens on no address pods can reach: the kubernetes Service lists \
                 no endpoint of this server (listen on 0.0.0.0 or the board's address for \
                 in-cluster clients)"
            );
        }
        ApiServerLeases {
            client: LocalClient::new(registry.clone()),
            registry,
            node: node.to_string(),
            lease_name: lease_name(node),
            address,
            port,
            timings,
            seen: HashMap::new(),
        }
    }

    fn lease_seconds(&self) -> i64 {
        i64::try_from(self.timings.duration.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Creates or renews this server's lease.
    async fn renew(&self) -> Result<(), ApiError> {
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            ADDRESS_ANNOTATION.into(),
            self.address.clone().map_or(Value::Null, Value::from),
        );
        let spec = json!({"holderIdentity": self.node,
                          "leaseDurationSeconds": self.lease_seconds(),
                          "renewTime": micro_now()});
        let patch = json!({"metadata": {"annotations": annotations}, "spec": spec});
        match self
            .client
            .patch(
                &lease::RESOURCE,
                LEASE_NAMESPACE,
                &self.lease_name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await
        {
            Err(e) if e.code == 404 => {
                let mut annotations = annotations;
                annotations.retain(|_, v| !v.is_null());
                let obj = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.lease_name, "namespace": LEASE_NAMESPACE,
                                 "labels": {IDENTITY_LABEL: IDENTITY_VALUE},
                                 "annotations": annotations},
                    "spec": spec,
                });
                self.client
                    .create(&lease::RESOURCE, LEASE_NAMESPACE, obj)
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        }
    }

    /// The addresses of the live servers, this one included when `include_self`; leases
    /// dead for a whole duration are deleted.
    async fn live_addresses(&mut self, include_self: bool) -> Result<Vec<String>, ApiError> {
        let opts = ListOptions {
            label_selector: format!("{IDENTITY_LABEL}={IDENTITY_VALUE}"),
            ..ListOptions::default()
        };
        let leases = self
            .client
            .list(&lease::RESOURCE, Some(LEASE_NAMESPACE), &opts)
            .await?;
        let now = Instant::now();
        let mut addresses = BTreeSet::new();
        let mut present = Vec::new();
        for obj in &leases.items {
            let name = crate::resources::meta::name_of(obj).to_string();
            let address = obj
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(ADDRESS_ANNOTATION))
                .and_then(Value::as_str)
                .map(str::to_string);
            if name == self.lease_name {
                if include_self {
                    addresses.extend(address);
                }
                continue;
            }
            let record = LeaseRecord::from_spec(&obj["spec"]);
            let entry = self
                .seen
                .entry(name.clone())
                .or_insert((record.renew_time.clone(), now));
            if entry.0 != record.renew_time {
                *entry = (record.renew_time.clone(), now);
            }
            let lasts =
                Duration::from_secs(u64::try_from(record.lease_duration_seconds).unwrap_or(0));
            let age = now.saturating_duration_since(entry.1);
            if age < lasts {
                addresses.extend(address);
            } else if age >= lasts.saturating_mul(2) {
                tracing::info!(lease = %name, "deleting the lease of an API server gone silent");
                if let Err(e) = self
                    .client
                    .delete(
                        &lease::RESOURCE,
                        LEASE_NAMESPACE,
                        &name,
                        &DeleteOptions::default(),
                    )
                    .await
                {
                    tracing::debug!(lease = %name, error = %e, "could not delete a dead lease");
                }
            }
            present.push(name);
        }
        self.seen.retain(|name, _| present.contains(name));
        Ok(addresses.into_iter().collect())
    }

    /// Renews this server's lease and writes the endpoints of the live servers.
    pub(super) async fn reconcile(&mut self) -> Result<(), ServerError> {
        let what = format!("lease {LEASE_NAMESPACE}/{}", self.lease_name);
        let failed = |source| ServerError::Bootstrap {
            what: what.clone(),
            source,
        };
        self.renew().await.map_err(failed)?;
        let addresses = self.live_addresses(true).await.map_err(failed)?;
        write_kubernetes_endpoints(&self.registry, &addresses, self.port).await
    }

    /// Reconciles every interval until `shutdown`, then deletes this server's lease and
    /// takes its address out of the endpoints.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.timings.interval) => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(e) = self.reconcile().await {
                tracing::warn!(error = %e, "could not reconcile the kubernetes Service's endpoints");
            }
        }
        if let Err(e) = self.withdraw().await {
            tracing::warn!(error = %e, "could not take this server out of the kubernetes endpoints");
        }
    }

    async fn withdraw(&mut self) -> Result<(), ServerError> {
        let what = format!("lease {LEASE_NAMESPACE}/{}", self.lease_name);
        let failed = |source| ServerError::Bootstrap {
            what: what.clone(),
            source,
        };
        match self
            .client
            .delete(
                &lease::RESOURCE,
                LEASE_NAMESPACE,
                &self.lease_name,
                &DeleteOptions::default(),
            )
            .await
        {
            Err(e) if e.code != 404 => return Err(failed(e)),
            _ => {}
        }
        let addresses = self.live_addresses(false).await.map_err(failed)?;
        write_kubernetes_endpoints(&self.registry, &addresses, self.port).await
    }
}

#[cfg(test)]
mod tests;
