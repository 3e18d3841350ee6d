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

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};

use super::runtime::Controller;
use super::work_queue::WorkQueue;
use super::{Action, Wired};
use crate::cidr::Ipv4Cidr;
use crate::client::events::{reference, EventRecorder, EventType};
use crate::client::informer::{Informer, Informers, Key};
use crate::client::options::PatchType;
use crate::client::options::Subresource;
use crate::client::status::ApiError;
use crate::client::Client;
use crate::resources::node;

/// Upstream's default `--node-cidr-mask-size` for IPv4.
pub const NODE_CIDR_PREFIX: u8 = 24;
/// How soon a node that found no free range looks again (another node may have gone).
const FULL_RETRY: Duration = Duration::from_secs(30);
/// The ConfigMap in `kube-system` describing the cluster to its nodes.
pub const CLUSTER_INFO_CONFIGMAP: &str = "bramble-cluster";
/// Its key holding the cluster's pod network.
pub const CLUSTER_CIDR_KEY: &str = "clusterCIDR";
/// The component named on events, as upstream's.
const COMPONENT: &str = "node-controller";

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
    client: C,
    /// The cluster's pod network (`--cluster-cidr`).
    cluster_cidr: Ipv4Cidr,
    /// Prefix length of each node's range.
    node_prefix: u8,
    /// Reports a full cluster network on the Node.
    events: EventRecorder<C>,
    /// Every node, from the shared informer.
    nodes: Informer<Node>,
    /// Ranges this controller gave out, which the cache may not show yet (upstream keeps
    /// its `cidrSet` in memory for the same reason).
    allocated: Mutex<Vec<(String, Ipv4Cidr)>>,
}

/// The lowest `prefix`-long range of `cluster` overlapping none of `taken`: one pass over
/// the ranges in address order, however many nodes there are.
pub fn first_free(cluster: Ipv4Cidr, prefix: u8, taken: &[Ipv4Cidr]) -> Option<Ipv4Cidr> {
    let span = |c: &Ipv4Cidr| (u32::from(c.network()), u32::from(c.broadcast()));
    let mut held: Vec<(u32, u32)> = taken.iter().map(span).collect();
    held.sort_unstable();
    let mut next = 0;
    // The highest address covered by the held ranges that start at or below the candidate.
    let mut covered_to: Option<u32> = None;
    cluster.subnets(prefix).find(|c| {
        let (lo, hi) = span(c);
        while let Some(&(start, end)) = held.get(next) {
            if start > hi {
                break;
            }
            covered_to = Some(covered_to.map_or(end, |e| e.max(end)));
            next += 1;
        }
        covered_to.map_or(true, |end| end < lo)
    })
}

impl<C: Client> NodeIpamController<C> {
    /// Wires the controller to the shared informers; run it with [`super::runtime::run`].
    pub fn new(
        informers: &Informers<C>,
        cluster_cidr: Ipv4Cidr,
        node_prefix: u8,
    ) -> Wired<Self, Node> {
        let nodes = informers.get::<Node>()?;
        let client = informers.client().clone();
        Ok((
            NodeIpamController {
                events: EventRecorder::new(client.clone(), COMPONENT),
                client,
                cluster_cidr,
                node_prefix,
                nodes: nodes.clone(),
                allocated: Mutex::new(Vec::new()),
            },
            nodes,
            WorkQueue::default(),
        ))
    }

    /// Resolves once the nodes have listed.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let nodes = self.nodes.clone();
        async move { nodes.wait_synced().await }
    }
}

impl<C: Client> Controller for NodeIpamController<C> {
    type Kind = Node;

    fn name(&self) -> &'static str {
        "node-ipam-controller"
    }

    async fn reconcile(&self, obj: Arc<Node>) -> Result<Action, ApiError> {
        let has_range = obj
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .is_some_and(|c| !c.is_empty());
        if has_range || obj.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let name = obj.metadata.name.clone().unwrap_or_default();
        let mut taken: Vec<Ipv4Cidr> = self
            .nodes
            .list()
            .iter()
            .flat_map(|n| node::pod_cidrs(n))
            .collect();
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
            self.events.record(
                &reference(&*obj),
                EventType::Normal,
                "CIDRNotAvailable",
                "",
                &message,
            );
            return Ok(Action::RequeueAfter(FULL_RETRY));
        };
        let text = range.to_string();
        let patch = json!({"spec": {"podCIDR": text, "podCIDRs": [text]}});
        self.client
            .patch(
                &node::RESOURCE,
                "",
                &name,
                PatchType::Merge,
                &patch,
                Subresource::Main,
            )
            .await?;
        self.allocated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.clone(), range));
        tracing::info!(node = %name, pod_cidr = %text, "allocated the node's pod range");
        Ok(Action::Done)
    }

    fn forget(&self, _key: &Key) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::informer::Informers;
    use crate::client::{Client, LocalClient};

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
    fn overlapping_and_unsorted_ranges_are_all_skipped() {
        let cluster = cidr("10.42.0.0/16");
        let taken = [
            cidr("10.42.4.0/24"),
            cidr("10.42.0.0/22"),
            cidr("10.42.1.0/24"),
            cidr("10.42.6.0/23"),
        ];
        assert_eq!(first_free(cluster, 24, &taken), Some(cidr("10.42.5.0/24")));
        // Outside the cluster network: no effect.
        assert_eq!(
            first_free(cluster, 24, &[cidr("192.168.0.0/24")]),
            Some(cidr("10.42.0.0/24"))
        );
        // A thousand nodes take the first thousand ranges, in any order.
        let big = cidr("10.64.0.0/10");
        let mut many: Vec<Ipv4Cidr> = big.subnets(24).take(1000).collect();
        many.reverse();
        assert_eq!(first_free(big, 24, &many), big.subnets(24).nth(1000));
    }

    async fn add_node(client: &LocalClient, name: &str, pod_cidr: Option<&str>) -> Value {
        let mut obj =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}});
        if let Some(c) = pod_cidr {
            obj["spec"] = json!({"podCIDR": c, "podCIDRs": [c]});
        }
        client.create(&node::RESOURCE, "", obj).await.unwrap()
    }

    #[tokio::test]
    async fn nodes_get_distinct_ranges_and_keep_a_range_they_brought() {
        let dir = tempfile::tempdir().unwrap();
        let client = LocalClient::open(dir.path(), 64).unwrap();
        let fixed = add_node(&client, "pi-0", Some("10.42.0.0/24")).await;
        let a = add_node(&client, "pi-1", None).await;
        let b = add_node(&client, "pi-2", None).await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let informers = Informers::new(client.clone(), shutdown.clone());
        // The ranges given out are remembered: the cache is not asked to be up to date.
        let (ipam, nodes, _) =
            NodeIpamController::new(&informers, cidr("10.42.0.0/16"), NODE_CIDR_PREFIX).unwrap();
        nodes.wait_synced().await;
        let typed =
            |v: &Value| -> Arc<Node> { Arc::new(serde_json::from_value(v.clone()).unwrap()) };
        for n in [&fixed, &a, &b] {
            ipam.reconcile(typed(n)).await.unwrap();
        }
        let ranges = || async {
            let mut out = Vec::new();
            for n in ["pi-0", "pi-1", "pi-2"] {
                let node = client.get(&node::RESOURCE, "", n).await.unwrap();
                out.push(node["spec"]["podCIDR"].as_str().unwrap().to_string());
            }
            out
        };
        assert_eq!(
            ranges().await,
            ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]
        );
        let again = client.get(&node::RESOURCE, "", "pi-1").await.unwrap();
        ipam.reconcile(typed(&again)).await.unwrap();
        assert_eq!(ranges().await[1], "10.42.1.0/24");
        shutdown.cancel();
        informers.stopped().await;
    }
}
