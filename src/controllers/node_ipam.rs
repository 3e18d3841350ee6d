//! Gives every Node its slice of the cluster's pod network, as kube-controller-manager's node
//! IPAM controller does with `--allocate-node-cidrs` (range allocator, `--cluster-cidr`,
//! `--node-cidr-mask-size` 24): a Node without `spec.podCIDR` gets the lowest range of the
//! cluster network that no other Node holds. The kubelet waits for it before it builds the
//! node bridge. A Node that arrives with a range already set (a kubelet given `--pod-cidr`)
//! keeps it, and that range is never handed to another Node.
//!
//! The cluster network is also published as ConfigMap `kube-system/bramble-cluster`, as
//! kubeadm publishes its `podSubnet`, so kubelets on joined boards know which traffic stays
//! inside the cluster (not masqueraded) without being told on their own command line.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Action, Reconciler};
use crate::cidr::Ipv4Cidr;
use crate::client::events::{EventRecorder, EventType};
use crate::client::informer::Informer;
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::meta;
use crate::resources::node;
use k8s_openapi::api::core::v1::Node;
use std::sync::{Mutex, PoisonError};

/// Upstream's default `--node-cidr-mask-size` for IPv4.
pub const NODE_CIDR_PREFIX: u8 = 24;
/// How soon a node that found no free range looks again (another node may have gone).
const FULL_RETRY: Duration = Duration::from_secs(30);
/// The ConfigMap in `kube-system` describing the cluster to its nodes.
pub const CLUSTER_INFO_CONFIGMAP: &str = "bramble-cluster";
/// Its key holding the cluster's pod network.
pub const CLUSTER_CIDR_KEY: &str = "clusterCIDR";

/// The ConfigMap publishing `cluster_cidr`.
pub fn cluster_info(cluster_cidr: Ipv4Cidr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CLUSTER_INFO_CONFIGMAP, "namespace": "kube-system"},
        "data": {CLUSTER_CIDR_KEY: cluster_cidr.to_string()},
    })
}

/// Allocates node pod ranges from the cluster network.
pub struct NodeIpamController<C: Client> {
    /// The cluster's pod network (`--cluster-cidr`).
    pub cluster_cidr: Ipv4Cidr,
    /// Prefix length of each node's range.
    pub node_prefix: u8,
    /// Reports a full cluster network on the Node.
    pub events: EventRecorder<C>,
    /// Every node, from the shared informer.
    pub nodes: Informer<Node>,
    /// Ranges this controller gave out, which the cache may not show yet (upstream keeps
    /// its `cidrSet` in memory for the same reason).
    pub allocated: Mutex<Vec<(String, Ipv4Cidr)>>,
}

/// The ranges `node` holds (`spec.podCIDRs`, else `spec.podCIDR`).
pub fn node_cidrs(node: &Value) -> Vec<Ipv4Cidr> {
    let spec = &node["spec"];
    let listed: Vec<&str> = spec["podCIDRs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let texts = if listed.is_empty() {
        spec["podCIDR"].as_str().into_iter().collect()
    } else {
        listed
    };
    texts.into_iter().filter_map(|t| t.parse().ok()).collect()
}

/// The lowest `prefix`-long range of `cluster` overlapping none of `taken`.
pub fn first_free(cluster: Ipv4Cidr, prefix: u8, taken: &[Ipv4Cidr]) -> Option<Ipv4Cidr> {
    cluster
        .subnets(prefix)
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
}

impl<C: Client> Reconciler<C> for NodeIpamController<C> {
    type Kind = Node;

    fn name(&self) -> &'static str {
        "node-ipam-controller"
    }

    async fn reconcile(&self, client: &C, obj: &Value) -> Result<Action, ApiError> {
        let has_range = obj["spec"]["podCIDR"]
            .as_str()
            .is_some_and(|c| !c.is_empty());
        if has_range || obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Action::Done);
        }
        let name = meta::name_of(obj);
        let mut taken: Vec<Ipv4Cidr> = Vec::new();
        for n in self.nodes.list() {
            if let Ok(v) = serde_json::to_value(&*n) {
                taken.extend(node_cidrs(&v));
            }
        }
        {
            let mut allocated = self
                .allocated
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A node gone, or one whose range the cache already shows, needs no memory.
            allocated.retain(|(node, _)| {
                self.nodes
                    .get("", node)
                    .is_some_and(|n| n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_none())
            });
            taken.extend(allocated.iter().map(|(_, c)| *c));
        }
        let Some(range) = first_free(self.cluster_cidr, self.node_prefix, &taken) else {
            let message = format!(
                "Node {name} status is now: CIDRNotAvailable (every /{} of the cluster network {} is taken)",
                self.node_prefix, self.cluster_cidr
            );
            tracing::warn!(node = %name, "{message}");
            self.events
                .record(obj, EventType::Normal, "CIDRNotAvailable", "", &message);
            return Ok(Action::RequeueAfter(FULL_RETRY));
        };
        let text = range.to_string();
        let patch = json!({"spec": {"podCIDR": text, "podCIDRs": [text]}});
        client
            .patch(
                &node::RESOURCE,
                "",
                name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        self.allocated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_string(), range));
        tracing::info!(node = %name, pod_cidr = %text, "allocated the node's pod range");
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::registry::{Registry, WriteOptions};
    use crate::client::LocalClient;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn the_lowest_range_no_node_holds_is_chosen() {
        let cluster = cidr("10.42.0.0/16");
        assert_eq!(first_free(cluster, 24, &[]), Some(cidr("10.42.0.0/24")));
        let taken = [cidr("10.42.0.0/24"), cidr("10.42.2.0/24")];
        assert_eq!(first_free(cluster, 24, &taken), Some(cidr("10.42.1.0/24")));
        // A larger range given by hand covers several node ranges.
        let taken = [cidr("10.42.0.0/23")];
        assert_eq!(first_free(cluster, 24, &taken), Some(cidr("10.42.2.0/24")));
        let small = cidr("10.42.0.0/23");
        assert_eq!(
            first_free(small, 24, &[cidr("10.42.0.0/24"), cidr("10.42.1.0/24")]),
            None
        );
    }

    #[test]
    fn a_node_lists_its_ranges_from_either_field() {
        let n = json!({"spec": {"podCIDR": "10.42.3.0/24"}});
        assert_eq!(node_cidrs(&n), [cidr("10.42.3.0/24")]);
        let n = json!({"spec": {"podCIDR": "10.42.3.0/24", "podCIDRs": ["10.42.3.0/24"]}});
        assert_eq!(node_cidrs(&n), [cidr("10.42.3.0/24")]);
        assert!(node_cidrs(&json!({"spec": {}})).is_empty());
    }

    async fn add_node(registry: &Registry, name: &str, pod_cidr: Option<&str>) -> Value {
        let mut obj =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}});
        if let Some(c) = pod_cidr {
            obj["spec"] = json!({"podCIDR": c, "podCIDRs": [c]});
        }
        registry
            .create(&node::RESOURCE, "", obj, &WriteOptions::default())
            .await
            .unwrap()
            .object
            .into_value()
    }

    #[tokio::test]
    async fn nodes_get_distinct_ranges_and_keep_a_range_they_brought() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(crate::store::Store::open(dir.path(), 64).unwrap());
        let client = LocalClient::new(registry.clone());
        let fixed = add_node(&registry, "pi-0", Some("10.42.0.0/24")).await;
        let a = add_node(&registry, "pi-1", None).await;
        let b = add_node(&registry, "pi-2", None).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = crate::client::informer::Informers::new(client.clone(), shutdown.clone());
        let nodes = informers.get::<Node>().unwrap();
        nodes.wait_synced().await;
        // The ranges given out are remembered: the cache is not asked to be up to date.
        let ipam = NodeIpamController {
            cluster_cidr: cidr("10.42.0.0/16"),
            node_prefix: NODE_CIDR_PREFIX,
            events: EventRecorder::new(client.clone(), "node-controller"),
            nodes,
            allocated: Mutex::new(Vec::new()),
        };
        for n in [&fixed, &a, &b] {
            ipam.reconcile(&client, n).await.unwrap();
        }
        let range = |n: &str| {
            registry.get(&node::RESOURCE, "", n).unwrap()["spec"]["podCIDR"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(range("pi-0"), "10.42.0.0/24");
        assert_eq!(range("pi-1"), "10.42.1.0/24");
        assert_eq!(range("pi-2"), "10.42.2.0/24");
        let again = registry.get(&node::RESOURCE, "", "pi-1").unwrap();
        ipam.reconcile(&client, &again).await.unwrap();
        assert_eq!(range("pi-1"), "10.42.1.0/24");
        shutdown.cancel();
        informers.stopped().await;
    }
}
