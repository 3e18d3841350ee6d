//! The text of a 403 Forbidden `Status`, exactly as kube-apiserver writes it.
//!
//! Upstream builds it in two steps: `responsewriters.forbiddenMessage` describes the request
//! (`User "alice" cannot create resource "pods" in API group "" in the namespace "default"`),
//! `responsewriters.Forbidden` appends the authorizer's reason after `": "` when there is
//! one, and `apierrors.NewForbidden` prefixes the group-qualified resource and name
//! (`pods "web" is forbidden: ...`, or just `forbidden: ...` for non-resource paths).
//! The Status itself carries `reason: Forbidden`, `code: 403` and details
//! `{name, group, kind: <resource>}`.

use super::authorize::Attributes;
use crate::pki::identity::Identity;

/// The Status message for a request `who` may not perform, with the authorizer's `reason`.
pub fn forbidden_message(who: &Identity, attrs: &Attributes<'_>, reason: &str) -> String {
    let mut detail = sanitize(&describe(who, attrs));
    if !reason.is_empty() {
        detail.push_str(": ");
        detail.push_str(reason);
    }
    // schema.GroupResource.String(): "resource" or "resource.group".
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.to_string()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    if attrs.api_group.is_empty() && attrs.resource.is_empty() {
        format!("forbidden: {detail}")
    } else if attrs.name.is_empty() {
        format!("{qualified} is forbidden: {detail}")
    } else {
        format!(
            "{qualified} {} is forbidden: {detail}",
            go_quote(attrs.name)
        )
    }
}

/// `forbiddenMessage`: what the user tried to do.
fn describe(who: &Identity, attrs: &Attributes<'_>) -> String {
    let user = go_quote(&who.user);
    if !attrs.resource_request {
        return format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            go_quote(attrs.path)
        );
    }
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.to_string()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let (resource, group) = (go_quote(&resource), go_quote(attrs.api_group));
    if attrs.namespace.is_empty() {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} at the cluster scope",
            attrs.verb
        )
    } else {
        format!(
            "User {user} cannot {} resource {resource} in API group {group} in the namespace {}",
            attrs.verb,
            go_quote(attrs.namespace)
        )
    }
}

/// Upstream escapes `&`, `<`, `>` so the message never looks like HTML.
fn sanitize(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Go's `%q` for the strings that appear here: double quotes with `\"`, `\\` and control
/// characters escaped; printable Unicode kept as is.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity::authenticated("alice", vec![])
    }

    #[test]
    fn namespaced_collection_message() {
        let attrs = Attributes::resource("create", "", "pods", "default", "");
        assert_eq!(
            forbidden_message(&alice(), &attrs, ""),
            "pods is forbidden: User \"alice\" cannot create resource \"pods\" in API group \"\" \
             in the namespace \"default\""
        );
    }

    #[test]
    fn named_grouped_subresource_at_cluster_scope() {
        let attrs = Attributes::resource("patch", "apps", "deployments", "", "web")
            .with_subresource("scale");
        assert_eq!(
            forbidden_message(&alice(), &attrs, "no way"),
            "deployments.apps \"web\" is forbidden: User \"alice\" cannot patch resource \
             \"deployments/scale\" in API group \"apps\" at the cluster scope: no way"
        );
    }

    #[test]
    fn non_resource_path_message() {
        let attrs = Attributes::non_resource("get", "/metrics");
        assert_eq!(
            forbidden_message(&Identity::anonymous(), &attrs, ""),
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\""
        );
    }

    #[test]
    fn html_is_escaped_and_quotes_are_go_quoted() {
        let attrs = Attributes::non_resource("get", "/<script>\"x\"");
        assert_eq!(
            forbidden_message(&alice(), &attrs, ""),
            "forbidden: User \"alice\" cannot get path \"/&lt;script&gt;\\\"x\\\"\""
        );
    }
}
