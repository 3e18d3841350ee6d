//! Authorization: may this identity perform this request?
//!
//! Bramble has fixed roles instead of RBAC objects; each mirrors an upstream default:
//! - `system:masters` may do everything (upstream grants it `cluster-admin`).
//! - every authenticated user may `get` the discovery, OpenAPI, version and health paths
//!   and create self access/rules reviews (`system:discovery`, `system:basic-user`);
//!   unauthenticated requests may `get` only `/healthz`, `/livez`, `/readyz`, `/version`
//!   (`system:public-info-viewer`).
//! - `bramble:viewers` may get/list/watch every resource except secrets and the
//!   exec/attach/port-forward/proxy subresources (like upstream's `view` role).
//! - a node (`system:node:<name>` in `system:nodes`) is decided by the Node authorizer
//!   (`node.rs`): its secrets and config maps only through pods bound to it, its own Lease;
//!   the NodeRestriction admission plugin narrows its writes by the objects written.
//! - a join token (`system:bootstrap:<id>` in `system:bootstrappers`) may only post to the
//!   join endpoint for its node credentials; a node may post for its kubelet's serving
//!   certificate.

use super::node::{self, NodeGraph};
use crate::api::node_certificates;
use crate::pki::identity::{
    Identity, AUTHENTICATED_GROUP, MASTERS_GROUP, UNAUTHENTICATED_GROUP, VIEWERS_GROUP,
};
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

/// Decides whether `who` may perform `attrs`.
pub fn authorize(who: &Identity, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    if who.in_group(MASTERS_GROUP) {
        return Decision::Allow;
    }
    if !attrs.resource_request {
        return if non_resource_allowed(who, attrs) {
            Decision::Allow
        } else {
            deny("")
        };
    }
    if who.in_group(AUTHENTICATED_GROUP) && self_review(attrs) {
        return Decision::Allow;
    }
    if who.in_group(VIEWERS_GROUP) && viewer_allows(attrs) {
        return Decision::Allow;
    }
    if who.in_group(crate::pki::identity::NODES_GROUP) {
        return node_request(who, attrs, graph);
    }
    deny("")
}

fn deny(reason: impl Into<String>) -> Decision {
    Decision::Deny(reason.into())
}

const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

fn is_read(verb: &str) -> bool {
    READ_VERBS.contains(&verb)
}

/// Non-resource URL rules match exactly, or by prefix when the rule ends in `*` (RBAC's
/// `NonResourceURLMatches`).
fn path_matches(rules: &[&str], path: &str) -> bool {
    rules.iter().any(|rule| match rule.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => *rule == path,
    })
}

/// `system:public-info-viewer`, bound to everyone.
const PUBLIC_INFO_PATHS: [&str; 5] = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
/// `system:discovery`, bound to `system:authenticated`.
const DISCOVERY_PATHS: [&str; 11] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
];

fn non_resource_allowed(who: &Identity, attrs: &Attributes<'_>) -> bool {
    // A join token may fetch node credentials and do nothing else.
    if who.in_group(BOOTSTRAPPERS_GROUP) {
        return attrs.verb == "post" && attrs.path == node_certificates::JOIN_PATH;
    }
    if attrs.verb == "post" && attrs.path == node_certificates::SERVING_PATH {
        return who.node_name().is_some();
    }
    if attrs.verb != "get" {
        return false;
    }
    let public = who.in_group(AUTHENTICATED_GROUP) || who.in_group(UNAUTHENTICATED_GROUP);
    (public && path_matches(&PUBLIC_INFO_PATHS, attrs.path))
        || (who.in_group(AUTHENTICATED_GROUP) && path_matches(&DISCOVERY_PATHS, attrs.path))
}

/// `system:basic-user`: anyone authenticated may ask what they themselves may do.
fn self_review(attrs: &Attributes<'_>) -> bool {
    attrs.verb == "create"
        && matches!(
            (attrs.api_group, attrs.resource),
            (
                "authorization.k8s.io",
                "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
            ) | ("authentication.k8s.io", "selfsubjectreviews")
        )
}

fn viewer_allows(attrs: &Attributes<'_>) -> bool {
    is_read(attrs.verb)
        && !(attrs.api_group.is_empty() && attrs.resource == "secrets")
        && !matches!(
            attrs.subresource,
            "exec" | "attach" | "portforward" | "proxy"
        )
}

fn node_request(who: &Identity, attrs: &Attributes<'_>, graph: &dyn NodeGraph) -> Decision {
    match who.node_name() {
        Some(node) => node::node_decision(node, attrs, graph),
        // Upstream Node authorizer's reason for a system:nodes member with a bad user name.
        None => deny(format!("unknown node for user {:?}", who.user)),
    }
}
