//! RBAC escalation prevention, as upstream's `policybased` storage of the RBAC kinds: a user
//! may write a Role or ClusterRole only with rules they hold themselves (in the role's
//! namespace, or cluster-wide), unless allowed the `escalate` verb on it; an
//! `aggregationRule` needs every permission, since it can gather any; and a user may bind a
//! role only if they hold its rules, or are allowed the `bind` verb on it. `system:masters`
//! and the server itself skip the check; so does a write that only changes owner
//! references or finalizers (the garbage collector's).

use serde_json::Value;

use crate::api::auth::rbac::{rules_for, uncovered, PolicyRule, RbacObjects};
use crate::api::auth::{authorize, Attributes, Decision};
use crate::api::registry::Registry;
use crate::api::status::ApiError;
use crate::pki::identity::{Identity, MASTERS_GROUP};
use crate::resources::meta::str_at_pointer;
use crate::resources::rbac::{cluster_role, cluster_role_binding, role, role_binding, GROUP};
use crate::resources::ResourceType;

/// Checks a create (`old` is `None`) or update of an RBAC object by `requester`.
pub fn review(
    registry: &Registry,
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
    requester: Option<&Identity>,
) -> Result<(), ApiError> {
    let is_role = std::ptr::eq(rt, &role::RESOURCE) || std::ptr::eq(rt, &cluster_role::RESOURCE);
    let is_binding = std::ptr::eq(rt, &role_binding::RESOURCE)
        || std::ptr::eq(rt, &cluster_role_binding::RESOURCE);
    let Some(who) = requester else {
        return Ok(());
    };
    if !(is_role || is_binding) || who.in_group(MASTERS_GROUP) {
        return Ok(());
    }
    if old.is_some_and(|old| only_gc_fields_change(obj, old)) {
        return Ok(());
    }
    let namespace = str_at_pointer(obj, "/metadata/namespace");
    let name = str_at_pointer(obj, "/metadata/name");
    if is_role {
        if allowed_verb(registry, who, "escalate", rt.plural, namespace, name) {
            return Ok(());
        }
        let rules: Vec<PolicyRule> =
            serde_json::from_value(obj.get("rules").cloned().unwrap_or(Value::Null))
                .unwrap_or_default();
        confirm_no_escalation(registry, who, namespace, &rules)
            .map_err(|why| ApiError::forbidden_on(rt, name, &why))?;
        if obj.get("aggregationRule").is_some_and(|r| !r.is_null()) {
            confirm_no_escalation(registry, who, namespace, &full_authority()).map_err(|_| {
                ApiError::forbidden_on(
                    rt,
                    name,
                    "must have cluster-admin privileges to use the aggregationRule",
                )
            })?;
        }
        return Ok(());
    }
    let kind = str_at_pointer(obj, "/roleRef/kind");
    let role_name = str_at_pointer(obj, "/roleRef/name");
    let (role_rt, role_namespace) = match kind {
        "Role" => (&role::RESOURCE, Some(namespace)),
        _ => (&cluster_role::RESOURCE, None),
    };
    if allowed_verb(registry, who, "bind", role_rt.plural, namespace, role_name) {
        return Ok(());
    }
    let Some(rules) = registry.role_rules(role_namespace, role_name) else {
        // The lister's error, as upstream returns it.
        return Err(ApiError::new(
            404,
            "NotFound",
            format!(
                "{}.{GROUP} \"{role_name}\" not found",
                role_rt.kind.to_lowercase()
            ),
        ));
    };
    confirm_no_escalation(registry, who, namespace, &rules)
        .map_err(|why| ApiError::forbidden_on(rt, name, &why))
}

/// Upstream's `IsOnlyMutatingGCFields`: equal but for owner references and finalizers.
fn only_gc_fields_change(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "ownerReferences",
                "finalizers",
                "resourceVersion",
                "managedFields",
            ] {
                meta.remove(f);
            }
        }
        v
    };
    strip(new) == strip(old)
}

/// Whether the authorizer allows `verb` on the role `namespace/name` of `plural`
/// (upstream's `RoleEscalationAuthorized` and `BindingAuthorized`).
fn allowed_verb(
    registry: &Registry,
    who: &Identity,
    verb: &str,
    plural: &str,
    namespace: &str,
    name: &str,
) -> bool {
    let attrs = Attributes::resource(verb, GROUP, plural, namespace, name);
    authorize(who, &attrs, registry) == Decision::Allow
}

/// Every permission: what an `aggregationRule` may gather.
fn full_authority() -> Vec<PolicyRule> {
    let all = || vec!["*".to_string()];
    vec![
        PolicyRule {
            verbs: all(),
            api_groups: all(),
            resources: all(),
            ..PolicyRule::default()
        },
        PolicyRule {
            verbs: all(),
            non_resource_urls: all(),
            ..PolicyRule::default()
        },
    ]
}

/// Upstream's `ConfirmNoEscalation`: the rules `who` holds in `namespace` cover `rules`; the
/// error lists what is missing as upstream words it.
fn confirm_no_escalation(
    objects: &dyn RbacObjects,
    who: &Identity,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, errors) = rules_for(who, namespace, objects);
    let missing = uncovered(&owner, rules);
    if missing.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = compact(missing).iter().map(compact_string).collect();
    lines.sort();
    lines.dedup();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&who.user),
        go_quote_list(&who.groups),
        lines.join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(msg)
}

/// Upstream's `CompactRules`: single-group, single-resource rules without names that differ
/// only in their verbs become one rule.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = |r: &PolicyRule| {
            r.api_groups.len() == 1
                && r.resources.len() == 1
                && r.resource_names.is_empty()
                && r.non_resource_urls.is_empty()
        };
        let same = out.iter_mut().find(|o| {
            simple(o)
                && simple(&rule)
                && o.api_groups == rule.api_groups
                && o.resources == rule.resources
        });
        match same {
            Some(o) => {
                for v in rule.verbs {
                    if !o.verbs.contains(&v) {
                        o.verbs.push(v);
                    }
                }
            }
            None => out.push(rule),
        }
    }
    out
}

/// Upstream's `CompactString`: the non-empty fields, each as Go's `%q` of a string slice.
fn compact_string(rule: &PolicyRule) -> String {
    let parts: Vec<String> = [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ]
    .iter()
    .filter(|(_, values)| !values.is_empty())
    .map(|(label, values)| format!("{label}:{}", go_quote_list(values)))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quote_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_rights_read_as_upstream_writes_them() {
        let rule = |verbs: &[&str], group: &str, resource: &str| PolicyRule {
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            api_groups: vec![group.into()],
            resources: vec![resource.into()],
            ..PolicyRule::default()
        };
        let owner = vec![rule(&["get", "list"], "", "pods")];
        let wanted = vec![
            rule(&["get", "delete", "patch"], "", "pods"),
            rule(&["get"], "apps", "deployments"),
        ];
        let missing = compact(uncovered(&owner, &wanted));
        let mut lines: Vec<String> = missing.iter().map(compact_string).collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\" \"patch\"]}",
                "{APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"get\"]}",
            ]
        );
        assert!(uncovered(&full_authority(), &wanted).is_empty());
    }
}
