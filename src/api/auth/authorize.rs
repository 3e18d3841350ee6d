//! Authorization: may this identity perform this request?
//!
//! As kube-apiserver with `--authorization-mode=Node,RBAC`, in this order:
//! - a join token (`system:bootstrap:<id>` in `system:bootstrappers`) may only post to the
//!   join endpoint for its node credentials, nothing else (Bramble's own rule: a join token
//!   can do nothing but join); a node may post for its kubelet's serving certificate.
//! - `system:masters` may do everything, as upstream's privileged-group authorizer.
//! - a node (`system:node:<name>` in `system:nodes`) is decided first by the Node authorizer
//!   (`node.rs`): its secrets and config maps only through pods bound to it, its own Lease;
//!   the NodeRestriction admission plugin narrows its writes by the objects written.
//! - everything else, and what the Node authorizer does not allow, by RBAC (`rbac.rs`) over
//!   the Roles, ClusterRoles and bindings in the store, among them the bootstrap policy the
//!   server keeps (`control_plane/bootstrap_policy.rs`): discovery and health for everyone,
//!   self reviews for the authenticated, `view` for `bramble:viewers`.
//!
//! [`authorize`] takes any identity, so an access review asks with the same code as a
//! request.

use super::node::{self, NodeGraph};
use super::rbac::{self, RbacDecision, RbacObjects};
use crate::api::node_certificates;
use crate::pki::identity::{Identity, MASTERS_GROUP, NODES_GROUP};
use crate::pki::join_token::BOOTSTRAPPERS_GROUP;

/// What a request wants to do, as upstream's `authorizer.Attributes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes<'a> {
    /// Kubernetes verb for resource requests (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`); lowercase HTTP method for non-resource paths.
    pub verb: &'a str,
    /// Whether this is a request for an API resource (false for paths like `/version`).
    pub resource_request: bool,
    /// API group, `""` for the core group.
    pub api_group: &'a str,
    /// Resource (plural), e.g. `pods`.
    pub resource: &'a str,
    /// Subresource, e.g. `status`, or `""`.
    pub subresource: &'a str,
    /// Namespace, `""` for cluster-scoped resources and all-namespace requests.
    pub namespace: &'a str,
    /// Object name, `""` for collections and creates.
    pub name: &'a str,
    /// Request path of a non-resource request.
    pub path: &'a str,
}

impl<'a> Attributes<'a> {
    /// A resource request.
    pub fn resource(
        verb: &'a str,
        api_group: &'a str,
        resource: &'a str,
        namespace: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            resource_request: true,
            api_group,
            resource,
            namespace,
            name,
            ..Default::default()
        }
    }

    /// The same request aimed at a subresource.
    pub fn with_subresource(self, subresource: &'a str) -> Attributes<'a> {
        Attributes {
            subresource,
            ..self
        }
    }

    /// A non-resource request (`verb` is the lowercase HTTP method).
    pub fn non_resource(verb: &'a str, path: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            path,
            ..Default::default()
        }
    }
}

/// The authorization outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request is forbidden; the reason (often empty, as with upstream RBAC) is appended
    /// to the 403 message by [`super::forbidden_message`].
    Deny(String),
}

/// Where authorization reads the cluster: the Node authorizer's relationships and the RBAC
/// objects (the registry serves both).
pub trait AuthorizerSource: NodeGraph + RbacObjects {}

impl<T: NodeGraph + RbacObjects> AuthorizerSource for T {}

/// Decides whether `who` may perform `attrs`.
pub fn authorize(
    who: &Identity,
    attrs: &Attributes<'_>,
    source: &dyn AuthorizerSource,
) -> Decision {
    if who.in_group(BOOTSTRAPPERS_GROUP) {
        return if !attrs.resource_request
            && attrs.verb == "post"
            && attrs.path == node_certificates::JOIN_PATH
        {
            Decision::Allow
        } else {
            deny("")
        };
    }
    if who.in_group(MASTERS_GROUP) {
        return Decision::Allow;
    }
    if !attrs.resource_request
        && attrs.verb == "post"
        && attrs.path == node_certificates::SERVING_PATH
        && who.node_name().is_some()
    {
        return Decision::Allow;
    }
    // Upstream's union of authorizers: the first to allow wins; the reasons of the others
    // are joined, one a line.
    let mut reasons = Vec::new();
    if who.in_group(NODES_GROUP) && attrs.resource_request {
        match node_request(who, attrs, source) {
            Decision::Allow => return Decision::Allow,
            Decision::Deny(reason) => reasons.push(reason),
        }
    }
    match rbac::authorize(who, attrs, source) {
        RbacDecision::Allow => Decision::Allow,
        RbacDecision::NoOpinion(reason) => {
            reasons.push(reason);
            reasons.retain(|r| !r.is_empty());
            deny(reasons.join("\n"))
        }
    }
}

fn deny(reason: impl Into<String>) -> Decision {
    Decision::Deny(reason.into())
}

fn node_request(who: &Identity, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    match who.node_name() {
        Some(node) => node::node_decision(node, attrs, graph),
        // Upstream Node authorizer's reason for a system:nodes member with a bad user name.
        None => deny(format!("unknown node for user {:?}", who.user)),
    }
}
