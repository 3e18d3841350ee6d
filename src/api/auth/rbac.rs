//! RBAC evaluation, as upstream's `plugin/pkg/auth/authorizer/rbac`: the rules of every role
//! bound to the requester — by all ClusterRoleBindings, and by the RoleBindings of the
//! request's namespace — are visited until one allows the request.
//!
//! A binding applies when one of its subjects names the user, one of the user's groups, or
//! the user's service account (`system:serviceaccount:<namespace>:<name>`; a RoleBinding's
//! subject without a namespace means the binding's own). A rule allows a resource request
//! when its verbs, API groups, resources (`pods`, `pods/log`, `*/scale`, `*`) and resource
//! names (none listed means all) match, and a non-resource request when its verbs and
//! `nonResourceURLs` (exact, or a prefix ending in `*`) match. A binding whose role is
//! missing contributes nothing but the reason upstream reports
//! (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
//!
//! The objects come from [`RbacObjects`] (the store, `rbac_store.rs`), so an access review
//! can ask about any identity with the same code as a request.

use serde::Deserialize;

use super::authorize::Attributes;
use crate::pki::identity::Identity;

/// The user-name prefix of service account identities.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";

/// One rule of a role, as `rbac/v1 PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    /// `get`, `list`, ... or `*`.
    pub verbs: Vec<String>,
    /// API groups (`""` for core) or `*`.
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*/subresource` or `*`.
    pub resources: Vec<String>,
    /// Object names the rule is limited to; none means all.
    pub resource_names: Vec<String>,
    /// Non-resource paths, exact or ending in `*`.
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

/// A subject of a binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// A service account's namespace.
    pub namespace: String,
}

/// What a binding refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RoleRef {
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// The parts of a RoleBinding or ClusterRoleBinding evaluation reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Binding {
    /// Who the binding grants the role to.
    pub subjects: Vec<Subject>,
    /// The role granted.
    pub role_ref: RoleRef,
}

/// Where the RBAC objects are read from.
pub trait RbacObjects {
    /// The ClusterRoleBindings (namespace `None`) or the RoleBindings of a namespace that may
    /// apply to `who`: at least every one that does (the evaluator checks the subjects).
    fn bindings(&self, namespace: Option<&str>, who: &Identity) -> Vec<Binding>;
    /// The rules of the ClusterRole `name` (namespace `None`) or of the Role
    /// `namespace/name`; `None` when there is no such role.
    fn role_rules(&self, namespace: Option<&str>, name: &str) -> Option<Vec<PolicyRule>>;
}

/// The RBAC outcome: allowed, or not with upstream's reason (empty unless a role was
/// missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacDecision {
    /// A rule allows the request.
    Allow,
    /// No rule does; the reason lists errors met on the way.
    NoOpinion(String),
}

/// Upstream's `RBACAuthorizer.Authorize`.
pub fn authorize(
    who: &Identity,
    attrs: &Attributes<'_>,
    objects: &dyn RbacObjects,
) -> RbacDecision {
    let mut errors = Vec::new();
    let allowed = visit_rules_for(who, attrs.namespace, objects, &mut |rule| match rule {
        Ok(rule) => !rule_allows(attrs, rule),
        Err(e) => {
            errors.push(e);
            true
        }
    });
    if !allowed {
        return RbacDecision::Allow;
    }
    RbacDecision::NoOpinion(match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    })
}

/// Every rule that applies to `who` in `namespace` (`""`: cluster-wide rules only), and the
/// errors met (missing roles): upstream's `RulesFor`, what a rules review lists.
pub fn rules_for(
    who: &Identity,
    namespace: &str,
    objects: &dyn RbacObjects,
) -> (Vec<PolicyRule>, Vec<String>) {
    let (mut rules, mut errors) = (Vec::new(), Vec::new());
    visit_rules_for(who, namespace, objects, &mut |rule| {
        match rule {
            Ok(rule) => rules.push(rule.clone()),
            Err(e) => errors.push(e),
        }
        true
    });
    (rules, errors)
}

/// Upstream's `VisitRulesFor`: hands every rule bound to `who` (or the error of a missing
/// role) to `visitor` until it returns false; returns false when it stopped early.
///
/// Cost per call: one pass over the ClusterRoleBindings and the namespace's RoleBindings
/// that [`RbacObjects::bindings`] returns, and one role read per applying binding — the
/// walk upstream makes over its informer caches.
fn visit_rules_for(
    who: &Identity,
    namespace: &str,
    objects: &dyn RbacObjects,
    visitor: &mut dyn FnMut(Result<&PolicyRule, String>) -> bool,
) -> bool {
    // All ClusterRoleBindings, then the RoleBindings of the request's namespace.
    let mut scopes = vec![None];
    if !namespace.is_empty() {
        scopes.push(Some(namespace));
    }
    for binding_namespace in scopes {
        let subject_namespace = binding_namespace.unwrap_or("");
        for binding in objects.bindings(binding_namespace, who) {
            if !binding
                .subjects
                .iter()
                .any(|s| applies_to(who, s, subject_namespace))
            {
                continue;
            }
            let role_namespace = match binding.role_ref.kind.as_str() {
                "ClusterRole" => None,
                "Role" => binding_namespace,
                other => {
                    if !visitor(Err(format!("unsupported role reference kind: {other:?}"))) {
                        return false;
                    }
                    continue;
                }
            };
            let Some(rules) = objects.role_rules(role_namespace, &binding.role_ref.name) else {
                let kind = if role_namespace.is_some() {
                    "role"
                } else {
                    "clusterrole"
                };
                let missing = format!(
                    "{kind}.rbac.authorization.k8s.io {:?} not found",
                    binding.role_ref.name
                );
                if !visitor(Err(missing)) {
                    return false;
                }
                continue;
            };
            for rule in &rules {
                if !visitor(Ok(rule)) {
                    return false;
                }
            }
        }
    }
    true
}

/// Upstream's `appliesToUser`.
fn applies_to(who: &Identity, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => who.user == subject.name,
        "Group" => who.in_group(&subject.name),
        "ServiceAccount" => {
            let sa_namespace = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !sa_namespace.is_empty()
                && service_account_of(&who.user) == Some((sa_namespace, subject.name.as_str()))
        }
        _ => false,
    }
}

/// The namespace and name of a service account user (`system:serviceaccount:<ns>:<name>`).
pub fn service_account_of(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// Upstream's `RuleAllows`.
pub fn rule_allows(attrs: &Attributes<'_>, rule: &PolicyRule) -> bool {
    let verb = any_or_equal(&rule.verbs, attrs.verb);
    if !attrs.resource_request {
        return verb && url_matches(&rule.non_resource_urls, attrs.path);
    }
    verb && any_or_equal(&rule.api_groups, attrs.api_group)
        && resource_matches(&rule.resources, attrs.resource, attrs.subresource)
        && (rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == attrs.name))
}

fn any_or_equal(values: &[String], requested: &str) -> bool {
    values.iter().any(|v| v == "*" || v == requested)
}

/// Upstream's `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*/subresource`.
fn resource_matches(rules: &[String], resource: &str, subresource: &str) -> bool {
    rules.iter().any(|r| {
        if r == "*" {
            return true;
        }
        let exact = match r.split_once('/') {
            Some((res, sub)) => res == resource && sub == subresource,
            None => subresource.is_empty() && r == resource,
        };
        exact || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// Upstream's `NonResourceURLMatches`: `*`, exact, or a prefix before trailing `*`s.
fn url_matches(rules: &[String], path: &str) -> bool {
    rules.iter().any(|r| {
        r == "*" || r == path || (r.ends_with('*') && path.starts_with(r.trim_end_matches('*')))
    })
}

/// Whether `owner` allows everything `servant` allows: upstream's `validation.Covers` for one
/// rule.
pub fn covers(owner: &[PolicyRule], servant: &PolicyRule) -> bool {
    uncovered(owner, std::slice::from_ref(servant)).is_empty()
}

/// What of `servants` no rule of `owner` allows, as single-verb, single-group,
/// single-resource, single-name (or single-verb, single-path) rules: upstream's
/// `validation.Covers`, which splits the servant rules so and asks for each.
pub fn uncovered(owner: &[PolicyRule], servants: &[PolicyRule]) -> Vec<PolicyRule> {
    let allowed = |attrs: Attributes<'_>| owner.iter().any(|r| rule_allows(&attrs, r));
    let mut missing = Vec::new();
    for servant in servants {
        for verb in &servant.verbs {
            for url in &servant.non_resource_urls {
                if !allowed(Attributes::non_resource(verb, url)) {
                    missing.push(PolicyRule {
                        verbs: vec![verb.clone()],
                        non_resource_urls: vec![url.clone()],
                        ..PolicyRule::default()
                    });
                }
            }
            let no_name = [String::new()];
            let names: &[String] = if servant.resource_names.is_empty() {
                &no_name
            } else {
                &servant.resource_names
            };
            for group in &servant.api_groups {
                for full in &servant.resources {
                    let (resource, subresource) = full.split_once('/').unwrap_or((full, ""));
                    for name in names {
                        let attrs = Attributes::resource(verb, group, resource, "", name)
                            .with_subresource(subresource);
                        if !allowed(attrs) {
                            missing.push(PolicyRule {
                                verbs: vec![verb.clone()],
                                api_groups: vec![group.clone()],
                                resources: vec![full.clone()],
                                resource_names: if name.is_empty() {
                                    Vec::new()
                                } else {
                                    vec![name.clone()]
                                },
                                non_resource_urls: Vec::new(),
                            });
                        }
                    }
                }
            }
        }
    }
    missing
}
