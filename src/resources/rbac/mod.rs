//! The `rbac.authorization.k8s.io/v1` kinds: [`role`], [`cluster_role`], [`role_binding`] and
//! [`cluster_role_binding`]. What they share is here: upstream's defaults
//! (`SetDefaults_RoleBinding`, `SetDefaults_Subject`) and validation
//! (`pkg/apis/rbac/validation`: policy rules, role references, subjects), with upstream's
//! messages. The API server's authorizer reads these objects (`api::auth::rbac`).

pub mod aggregation;
pub mod bootstrap_policy;
pub mod cluster_role;
pub mod cluster_role_binding;
pub mod role;
pub mod role_binding;

use serde_json::{json, Value};

use super::selector::invalid_shown;
use super::validation::fields::{list_at, object_mut, str_at};
use super::validation::{validate_object_meta, validate_object_meta_update, NameRule};
use super::FieldError;

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// Subject kinds.
pub const USER_KIND: &str = "User";
/// A group of users.
pub const GROUP_KIND: &str = "Group";
/// A service account, named with its namespace.
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

/// The annotation that lets the server bring a bootstrap object back to its default at each
/// start (`"true"`), or leave it as a user changed it (`"false"`).
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// Which role kinds a binding may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A RoleBinding (namespaced; Role or ClusterRole; ServiceAccount subjects default to
    /// the binding's namespace).
    Namespace,
    /// A ClusterRoleBinding (ClusterRole only; ServiceAccount subjects name a namespace).
    Cluster,
}

/// `SetDefaults_RoleBinding`/`SetDefaults_ClusterRoleBinding` and `SetDefaults_Subject`.
fn default_binding(obj: &mut Value) {
    if let Some(role_ref) = object_mut(obj, &["roleRef"]) {
        let empty = role_ref
            .get("apiGroup")
            .and_then(Value::as_str)
            .map_or(true, str::is_empty);
        if empty {
            role_ref.insert("apiGroup".into(), json!(GROUP));
        }
    }
    let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
        let empty = subject
            .get("apiGroup")
            .and_then(Value::as_str)
            .map_or(true, str::is_empty);
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if empty && matches!(kind, USER_KIND | GROUP_KIND) {
            subject.insert("apiGroup".into(), json!(GROUP));
        }
    }
}

/// `validatePolicyRule` for every rule of a role; `namespaced` for a Role.
fn validate_rules(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in list_at(obj, &["rules"]).iter().enumerate() {
        errs.extend(validate_rule(rule, namespaced, &format!("rules[{i}]")));
    }
    errs
}

fn validate_rule(rule: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let len = |field: &str| list_at(rule, &[field]).len();
    if len("verbs") == 0 {
        errs.push(FieldError::required(
            format!("{path}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    if len("nonResourceURLs") > 0 {
        let urls = rule.get("nonResourceURLs").cloned().unwrap_or(Value::Null);
        if namespaced {
            errs.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                &urls,
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if len("apiGroups") > 0 || len("resources") > 0 || len("resourceNames") > 0 {
            errs.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                &urls,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if len("apiGroups") == 0 {
        errs.push(FieldError::required(
            format!("{path}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if len("resources") == 0 {
        errs.push(FieldError::required(
            format!("{path}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    if len("resourceNames") > 0 && len("resources") > 1 {
        errs.push(FieldError::required(
            format!("{path}.resourceNames"),
            "resource names cannot apply to multiple resources",
        ));
    }
    errs
}

/// `ValidateRoleBinding`/`ValidateClusterRoleBinding`.
fn validate_binding(obj: &Value, scope: Scope) -> Vec<FieldError> {
    let namespaced = scope == Scope::Namespace;
    let mut errs = validate_object_meta(obj, namespaced, NameRule::PathSegment);
    let api_group = str_at(obj, &["roleRef", "apiGroup"]);
    if api_group != GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            &json!(api_group),
            &[GROUP],
        ));
    }
    let kind = str_at(obj, &["roleRef", "kind"]);
    let kinds: &[&str] = match scope {
        Scope::Namespace => &["Role", "ClusterRole"],
        Scope::Cluster => &["ClusterRole"],
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            &json!(kind),
            kinds,
        ));
    }
    let name = str_at(obj, &["roleRef", "name"]);
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for msg in NameRule::PathSegment.check(name, false) {
        errs.push(FieldError::invalid("roleRef.name", &json!(name), &msg));
    }
    for (i, subject) in list_at(obj, &["subjects"]).iter().enumerate() {
        errs.extend(validate_subject(
            subject,
            namespaced,
            &format!("subjects[{i}]"),
        ));
    }
    errs
}

/// `validateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(subject, &["name"]);
    let api_group = str_at(subject, &["apiGroup"]);
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    }
    match str_at(subject, &["kind"]) {
        SERVICE_ACCOUNT_KIND => {
            if !name.is_empty() {
                for msg in NameRule::Dns1123Subdomain.check(name, false) {
                    errs.push(FieldError::invalid(
                        format!("{path}.name"),
                        &json!(name),
                        &msg,
                    ));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    &json!(api_group),
                    &[""],
                ));
            }
            if !namespaced && str_at(subject, &["namespace"]).is_empty() {
                errs.push(FieldError::required(format!("{path}.namespace"), ""));
            }
        }
        kind @ (USER_KIND | GROUP_KIND) => {
            if name.is_empty() {
                let what = if kind == USER_KIND { "user" } else { "group" };
                errs.push(FieldError::invalid(
                    format!("{path}.name"),
                    &json!(name),
                    &format!("{what} name cannot be empty"),
                ));
            }
            if api_group != GROUP {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    &json!(api_group),
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.kind"),
            &json!(other),
            &[SERVICE_ACCOUNT_KIND, USER_KIND, GROUP_KIND],
        )),
    }
    errs
}

/// `ValidateRoleBindingUpdate`/`ValidateClusterRoleBindingUpdate`: a binding's role never
/// changes (delete and recreate it instead).
fn validate_binding_update(new: &Value, old: &Value, scope: Scope) -> Vec<FieldError> {
    let mut errs = validate_binding(new, scope);
    errs.extend(validate_object_meta_update(new, old));
    let role_ref = |obj: &Value| {
        ["apiGroup", "kind", "name"].map(|f| str_at(obj, &["roleRef", f]).to_string())
    };
    if role_ref(new) != role_ref(old) {
        errs.push(invalid_shown(
            "roleRef",
            &role_ref_shown(new),
            "cannot change roleRef",
        ));
    }
    errs
}

/// The new roleRef as upstream's `field.Invalid` prints the Go struct (`%#v`).
fn role_ref_shown(obj: &Value) -> String {
    let quoted = |f: &str| serde_json::to_string(str_at(obj, &["roleRef", f])).unwrap_or_default();
    format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        quoted("apiGroup"),
        quoted("kind"),
        quoted("name")
    )
}

#[cfg(test)]
mod tests;
