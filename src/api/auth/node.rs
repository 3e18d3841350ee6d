//! The Node authorizer: what a kubelet's identity (`system:node:<name>` in `system:nodes`)
//! may ask for, as upstream's `plugin/pkg/auth/authorizer/node` decides it.
//!
//! Secrets, ConfigMaps and ServiceAccount tokens are reachable only through a relationship
//! to the node ([`NodeGraph`], answered from the store by `node_graph.rs`): a pod bound to
//! the node references them. A read must name the object (`get`, or `list`/`watch` with a
//! `metadata.name` field selector, which the request parser turns into the name as
//! upstream's `RequestInfo` does). Writes that depend on the object written (mirror pods,
//! status of pods bound to the node, the node's own Node and Lease, labels and taints) are
//! allowed here and narrowed by the NodeRestriction admission plugin
//! (`api/admission/node_restriction.rs`), as upstream splits them.
//!
//! Bramble differs from upstream where its kubelet does more than upstream's: the kubelet
//! routes every node's pod range (so nodes list all Nodes, as without upstream's
//! `AuthorizeNodeWithSelectors` gate), lists pods of a namespace for ReadWriteOncePod
//! checks, and runs the node-local volume provisioner, expander and reclaimer (so nodes
//! read claims and volumes and write volumes, which upstream grants the provisioner's
//! service account; admission keeps those writes to volumes pinned to the node). Every
//! node may read the cluster-network ConfigMap it needs before it can register.

use super::authorize::{Attributes, Decision};
use crate::controllers::node_ipam::CLUSTER_INFO_CONFIGMAP;

/// Namespace holding node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The kinds of object a node can be related to, as upstream's graph vertex types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vertex {
    /// A pod (related when bound to the node).
    Pod,
    /// A Secret a pod bound to the node references.
    Secret,
    /// A ConfigMap a pod bound to the node references.
    ConfigMap,
    /// A claim a pod bound to the node uses (or one the node provisions or expands).
    PersistentVolumeClaim,
    /// A volume bound to such a claim (or pinned to the node).
    PersistentVolume,
    /// The ServiceAccount a pod bound to the node runs as.
    ServiceAccount,
    /// A CertificateSigningRequest the node made (its `spec.username` is the node's).
    CertificateSigningRequest,
}

/// Answers whether an object is related to a node.
pub trait NodeGraph {
    /// Whether `vertex` `namespace/name` has a path to node `node`.
    fn related(&self, node: &str, vertex: Vertex, namespace: &str, name: &str) -> bool;
}

fn allow() -> Decision {
    Decision::Allow
}

fn deny(reason: impl Into<String>) -> Decision {
    Decision::Deny(reason.into())
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Resources every node reads without restriction (upstream's `NodeRules`, plus what
/// Bramble's kubelet reads itself; see the module text). Events are here because Bramble's
/// event recorder reads an Event back to count a repeat, where client-go counts in memory.
const NODE_READABLE: [(&str, &str); 15] = [
    ("", "pods"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "nodes"),
    ("", "services"),
    ("", "endpoints"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("", "namespaces"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "volumeattachments"),
    ("discovery.k8s.io", "endpointslices"),
    ("node.k8s.io", "runtimeclasses"),
];

/// The decision for node `node` (already identified from the user name).
pub fn node_decision(node: &str, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    let verb = attrs.verb;
    match (attrs.api_group, attrs.resource) {
        ("", "secrets") => read_namespaced(node, Vertex::Secret, attrs, graph),
        ("", "configmaps") => {
            let cluster_info = attrs.namespace == "kube-system"
                && attrs.name == CLUSTER_INFO_CONFIGMAP
                && is_read(verb)
                && attrs.subresource.is_empty();
            if cluster_info {
                return allow();
            }
            read_namespaced(node, Vertex::ConfigMap, attrs, graph)
        }
        ("", "persistentvolumeclaims") if attrs.subresource == "status" => {
            if !matches!(verb, "update" | "patch") {
                return deny("can only get/update/patch this type");
            }
            related(node, Vertex::PersistentVolumeClaim, attrs, graph)
        }
        ("", "serviceaccounts") => {
            if verb != "create" || attrs.name.is_empty() {
                return deny("can only create tokens for individual service accounts");
            }
            if attrs.subresource != "token" {
                return deny("can only create token subresource of serviceaccount");
            }
            related(node, Vertex::ServiceAccount, attrs, graph)
        }
        ("coordination.k8s.io", "leases") => lease(node, attrs),
        ("certificates.k8s.io", "certificatesigningrequests") => csr(node, attrs, graph),
        ("", "pods") => match (attrs.subresource, verb) {
            ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
                allow()
            }
            ("" | "status", v) if is_read(v) => allow(),
            _ => deny(""),
        },
        ("", "nodes") => match (attrs.subresource, verb) {
            ("", "create" | "update" | "patch") | ("status", "update" | "patch") => allow(),
            ("" | "status", v) if is_read(v) => allow(),
            _ => deny(""),
        },
        ("", "persistentvolumes")
            if attrs.subresource.is_empty()
                && matches!(verb, "create" | "update" | "patch" | "delete") =>
        {
            allow()
        }
        ("" | "events.k8s.io", "events") if matches!(verb, "create" | "update" | "patch") => {
            allow()
        }
        (group, resource)
            if is_read(verb)
                && matches!(attrs.subresource, "" | "status")
                && NODE_READABLE.contains(&(group, resource)) =>
        {
            allow()
        }
        _ => deny(""),
    }
}

/// `authorizeReadNamespacedObject`: get, or list/watch of one named object, related to the
/// node.
fn read_namespaced(
    node: &str,
    vertex: Vertex,
    attrs: &Attributes<'_>,
    graph: &dyn NodeGraph,
) -> Decision {
    if !is_read(attrs.verb) {
        return deny("can only read resources of this type");
    }
    if !attrs.subresource.is_empty() {
        return deny("cannot read subresource");
    }
    if attrs.namespace.is_empty() {
        return deny("can only read namespaced object of this type");
    }
    related(node, vertex, attrs, graph)
}

/// Upstream's `authorize`: the named object must have a path to the node.
fn related(node: &str, vertex: Vertex, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    if attrs.name.is_empty() {
        return deny("No Object name found");
    }
    if graph.related(node, vertex, attrs.namespace, attrs.name) {
        allow()
    } else {
        deny(format!(
            "no relationship found between node '{node}' and this object"
        ))
    }
}

/// Certificate signing requests: a node creates them (upstream's `NodeRules` grant
/// create, get, list and watch of all of them; Bramble narrows reads to the node's own
/// requests, named, as the kubelet's certificate manager reads them). The approval and
/// status subresources are the controllers', never a node's.
fn csr(node: &str, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    if !attrs.subresource.is_empty() {
        return deny("can only create or read certificate signing requests");
    }
    match attrs.verb {
        "create" => allow(),
        v if is_read(v) => related(node, Vertex::CertificateSigningRequest, attrs, graph),
        _ => deny("can only create or read certificate signing requests"),
    }
}

/// `authorizeLease`: the node's own Lease in `kube-node-lease` (the name of a create is
/// checked by admission, which sees the object).
fn lease(node: &str, attrs: &Attributes<'_>) -> Decision {
    let verb = attrs.verb;
    if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
        return deny("can only get, create, update, patch, or delete a node lease");
    }
    if attrs.namespace != NODE_LEASE_NAMESPACE {
        return deny(format!(
            "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
        ));
    }
    if verb != "create" && attrs.name != node {
        return deny("can only access node lease with the same name as the requesting node");
    }
    allow()
}
