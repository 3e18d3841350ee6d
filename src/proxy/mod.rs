//! The built-in kube-proxy: every node (server and agents) programs Services into an
//! nftables table of Bramble's own from the shared Service and EndpointSlice informers.
//! [`model`] works out what each Service port needs, [`ruleset`] the table and the
//! transaction that gets there; [`run`] keeps the kernel in line — any change wakes it, a
//! burst of changes is coalesced into one transaction, and the table is removed on shutdown.
//! docs/adr/009-nftables-over-netlink.md says why netlink, docs/adr/010-services-and-dns.md
//! why a table of its own and how DNS is answered on every node.

pub mod model;
pub mod ruleset;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cidr::Ipv4Cidr;
use crate::client::informer::{Informer, Informers, Unserved};
use crate::client::Client;
use crate::netfilter::{NfSocket, Transaction};
use crate::resources::endpointslice::{service_of, BY_SERVICE_INDEX};
use model::{NodeView, ServicePort};
use ruleset::{Context, Ruleset};

/// How long the proxy waits after a change for more before it programs them together.
const COALESCE: Duration = Duration::from_millis(20);
/// How long after a failed transaction the proxy tries again.
const RETRY: Duration = Duration::from_secs(1);

/// Why the proxy cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The API serves no Services or EndpointSlices.
    #[error(transparent)]
    Unserved(#[from] Unserved),
    /// The kernel refused the table.
    #[error("programming nftables table {table}: {source}")]
    Netfilter {
        /// The table.
        table: String,
        /// What the kernel said.
        source: crate::netfilter::Error,
    },
}

/// The proxy's settings on one node.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The node's name (endpoints on it are local).
    pub node: String,
    /// The nftables table (family `ip`) the proxy owns.
    pub table: String,
    /// The cluster's pod network.
    pub cluster_cidr: Ipv4Cidr,
    /// The service range.
    pub service_cidr: Ipv4Cidr,
    /// Cluster IPs this node answers itself (the DNS Service's).
    pub local_service_ips: Vec<Ipv4Addr>,
}

/// The proxy's table beside the node's own table `node_table` (the pod network's).
pub fn table_for(node_table: &str) -> String {
    format!("{node_table}-proxy")
}

/// Applies `tx` in this process's network namespace, off the async threads.
async fn commit(table: &str, tx: Transaction) -> Result<(), ProxyError> {
    let result = tokio::task::spawn_blocking(move || NfSocket::open()?.commit(&tx))
        .await
        .unwrap_or_else(|e| {
            Err(crate::netfilter::Error::Invalid(format!(
                "the nftables task ended: {e}"
            )))
        });
    result.map_err(|source| ProxyError::Netfilter {
        table: table.to_string(),
        source,
    })
}

/// Removes the proxy's table; a missing one is no error.
pub async fn remove_table(table: &str) -> Result<(), ProxyError> {
    let mut tx = Transaction::new();
    tx.add_table(table).delete_table(table);
    commit(table, tx).await
}

/// Every Service port as the informers show them now.
fn service_ports(
    services: &Informer<Service>,
    slices: &Informer<EndpointSlice>,
    node: &NodeView,
) -> Vec<ServicePort> {
    let mut ports = Vec::new();
    for svc in services.list() {
        let key = format!(
            "{}/{}",
            svc.metadata.namespace.as_deref().unwrap_or_default(),
            svc.metadata.name.as_deref().unwrap_or_default()
        );
        let own = slices.by_index(BY_SERVICE_INDEX, &key);
        ports.extend(model::service_ports(&svc, own.iter().map(|s| &**s), node));
    }
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    ports
}

/// Programs Services on this node until `shutdown`, then removes the table.
pub async fn run<C: Client>(
    informers: Arc<Informers<C>>,
    cfg: ProxyConfig,
    shutdown: CancellationToken,
) -> Result<(), ProxyError> {
    let services = informers.get::<Service>()?;
    let slices = informers.get::<EndpointSlice>()?;
    slices.add_index(BY_SERVICE_INDEX, service_of);
    let wake = Arc::new(Notify::new());
    {
        let wake = wake.clone();
        services.on_change(move |_| wake.notify_one());
    }
    {
        let wake = wake.clone();
        slices.on_change(move |_| wake.notify_one());
    }
    tokio::select! {
        _ = async { services.wait_synced().await; slices.wait_synced().await } => {}
        _ = shutdown.cancelled() => return Ok(()),
    }
    let node = NodeView {
        name: cfg.node.clone(),
        skip_ips: cfg
            .local_service_ips
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
    };
    let ctx = Context {
        table: cfg.table.clone(),
        cluster_cidr: cfg.cluster_cidr,
        service_cidr: cfg.service_cidr,
        local_service_ips: cfg.local_service_ips.clone(),
    };
    let mut programmed: Option<Ruleset> = None;
    loop {
        let wanted = Ruleset::new(&ctx, &service_ports(&services, &slices, &node));
        if programmed.as_ref() != Some(&wanted) {
            let tx = wanted.transaction(&cfg.table, programmed.as_ref());
            let span = tracing::debug_span!("proxy sync", messages = tx.len());
            match commit(&cfg.table, tx).instrument(span).await {
                Ok(()) => {
                    tracing::debug!(chains = wanted.chain_count(), "services programmed");
                    programmed = Some(wanted);
                }
                Err(e) => {
                    // The transaction changed nothing; the next try rebuilds the whole table.
                    tracing::warn!(error = %e, "programming services failed; retrying");
                    programmed = None;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = shutdown.cancelled() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(COALESCE) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    remove_table(&cfg.table).await
}
