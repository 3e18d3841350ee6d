//! The bootstrap RBAC policy (`resources::rbac::bootstrap_policy`) made present at each start,
//! as kube-apiserver's `EnsureRBACPolicy` reconciles it: a missing object is created; one
//! annotated `rbac.authorization.kubernetes.io/autoupdate: "true"` gets back the labels,
//! annotations, rules (those no existing rule covers), aggregation selectors and subjects
//! it lacks, while what a user added stays; a binding whose role reference changed is
//! deleted and created again. An object annotated `"false"` is left as it is. The rules of
//! aggregated roles belong to the aggregation controller and are not touched here.

use serde_json::{Map, Value};

use super::ServerError;
use crate::api::auth::rbac::{covers, PolicyRule};
use crate::api::registry::{Registry, Subresource, WriteOptions};
use crate::api::status::ApiError;
use crate::client::options::DeleteOptions;
use crate::resources::rbac::bootstrap_policy::{cluster_role_bindings, cluster_roles};
use crate::resources::rbac::{cluster_role, cluster_role_binding, AUTOUPDATE_ANNOTATION};
use crate::resources::ResourceType;

/// Creates or reconciles every bootstrap ClusterRole, then every ClusterRoleBinding.
pub(super) async fn ensure(registry: &Registry) -> Result<(), ServerError> {
    for role in cluster_roles() {
        reconcile(registry, &cluster_role::RESOURCE, role, reconcile_role).await?;
    }
    for binding in cluster_role_bindings() {
        reconcile(
            registry,
            &cluster_role_binding::RESOURCE,
            binding,
            reconcile_binding,
        )
        .await?;
    }
    Ok(())
}

/// What to do with an existing object.
#[derive(Debug, PartialEq)]
enum Action {
    /// It is as it should be, or the user opted out of updates.
    Keep,
    /// Write this object over it.
    Update(Value),
    /// Delete it and create this one (a binding's role reference cannot change).
    Recreate(Value),
}

async fn reconcile(
    registry: &Registry,
    rt: &ResourceType,
    wanted: Value,
    decide: fn(&Value, Value) -> Action,
) -> Result<(), ServerError> {
    let name = wanted["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let failed = |source: ApiError| ServerError::Bootstrap {
        what: format!("{} {name}", rt.kind.to_lowercase()),
        source,
    };
    let opts = WriteOptions::default();
    let existing = match registry.get(rt, "", &name) {
        Ok(existing) => existing,
        Err(_) => {
            return registry
                .create(rt, "", wanted, &opts)
                .await
                .map(drop)
                .map_err(failed)
        }
    };
    match decide(&existing, wanted) {
        Action::Keep => Ok(()),
        Action::Update(obj) => {
            tracing::info!(kind = rt.kind, %name, "reconciling bootstrap RBAC object");
            registry
                .update(rt, "", &name, obj, Subresource::Main, &opts)
                .await
                .map(drop)
                .map_err(failed)
        }
        Action::Recreate(obj) => {
            tracing::info!(kind = rt.kind, %name, "recreating bootstrap RBAC object with its role");
            registry
                .delete(rt, "", &name, &DeleteOptions::default())
                .await
                .map_err(failed)?;
            registry
                .create(rt, "", obj, &opts)
                .await
                .map(drop)
                .map_err(failed)
        }
    }
}

fn opted_out(existing: &Value) -> bool {
    existing
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("false")
}

/// `existing` with the labels and annotations of `wanted` it lacks (its own values win).
fn merged_metadata(existing: &Value, wanted: &Value) -> Value {
    let mut result = existing.clone();
    for field in ["labels", "annotations"] {
        let mut map: Map<String, Value> = wanted["metadata"][field]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(own) = existing["metadata"][field].as_object() {
            map.extend(own.clone());
        }
        if !map.is_empty() {
            result["metadata"][field] = Value::Object(map);
        }
    }
    result
}

/// Appends to `existing[field]` the items of `wanted[field]` that `missing` says it lacks.
fn add_missing(
    result: &mut Value,
    wanted: &Value,
    field: &str,
    missing: impl Fn(&[Value], &Value) -> bool,
) {
    let mut items = result[field].as_array().cloned().unwrap_or_default();
    for item in wanted[field].as_array().into_iter().flatten() {
        if missing(&items, item) {
            items.push(item.clone());
        }
    }
    if !items.is_empty() {
        result[field] = Value::Array(items);
    }
}

fn reconcile_role(existing: &Value, wanted: Value) -> Action {
    if opted_out(existing) {
        return Action::Keep;
    }
    let mut result = merged_metadata(existing, &wanted);
    if wanted.get("aggregationRule").is_some() {
        if result.get("aggregationRule").map_or(true, Value::is_null) {
            result["aggregationRule"] = serde_json::json!({});
        }
        let mut rule = result["aggregationRule"].clone();
        add_missing(
            &mut rule,
            &wanted["aggregationRule"],
            "clusterRoleSelectors",
            |have, s| !have.contains(s),
        );
        result["aggregationRule"] = rule;
    } else {
        let parse = |v: &Value| serde_json::from_value::<PolicyRule>(v.clone()).ok();
        add_missing(&mut result, &wanted, "rules", |have, rule| {
            let owner: Vec<PolicyRule> = have.iter().filter_map(parse).collect();
            parse(rule).is_some_and(|r| !covers(&owner, &r))
        });
    }
    if &result == existing {
        Action::Keep
    } else {
        Action::Update(result)
    }
}

fn reconcile_binding(existing: &Value, wanted: Value) -> Action {
    if opted_out(existing) {
        return Action::Keep;
    }
    let mut result = merged_metadata(existing, &wanted);
    add_missing(&mut result, &wanted, "subjects", |have, s| {
        !have.contains(s)
    });
    if existing["roleRef"] != wanted["roleRef"] {
        result["roleRef"] = wanted["roleRef"].clone();
        if let Some(meta) = result["metadata"].as_object_mut() {
            // A new object: only the name, labels and annotations carry over.
            meta.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations"));
        }
        return Action::Recreate(result);
    }
    if &result == existing {
        Action::Keep
    } else {
        Action::Update(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wanted_role(name: &str) -> Value {
        cluster_roles()
            .into_iter()
            .find(|r| r["metadata"]["name"] == name)
            .unwrap()
    }

    #[test]
    fn missing_rules_come_back_and_added_ones_stay() {
        let wanted = wanted_role("system:basic-user");
        let mut existing = wanted.clone();
        existing["metadata"]["resourceVersion"] = json!("7");
        assert_eq!(reconcile_role(&existing, wanted.clone()), Action::Keep);

        let extra = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        existing["rules"] = json!([extra]);
        let Action::Update(fixed) = reconcile_role(&existing, wanted.clone()) else {
            panic!("not updated")
        };
        assert_eq!(fixed["rules"][0], extra);
        assert_eq!(fixed["rules"].as_array().unwrap().len(), 3);
        assert_eq!(fixed["metadata"]["resourceVersion"], "7");

        // A broader rule covers the bootstrap ones.
        existing["rules"] = json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]);
        assert_eq!(reconcile_role(&existing, wanted.clone()), Action::Keep);

        existing["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = json!("false");
        existing["rules"] = json!([]);
        assert_eq!(reconcile_role(&existing, wanted), Action::Keep);
    }

    #[test]
    fn aggregated_roles_keep_their_rules_and_get_their_selectors() {
        let wanted = wanted_role("view");
        let mut existing = wanted.clone();
        existing["rules"] = json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]);
        assert_eq!(reconcile_role(&existing, wanted.clone()), Action::Keep);
        existing["aggregationRule"] =
            json!({"clusterRoleSelectors": [{"matchLabels": {"mine": "true"}}]});
        let Action::Update(fixed) = reconcile_role(&existing, wanted) else {
            panic!("not updated")
        };
        assert_eq!(
            fixed["aggregationRule"]["clusterRoleSelectors"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(fixed["rules"], existing["rules"]);
    }

    #[test]
    fn bindings_regain_subjects_and_their_role() {
        let wanted = cluster_role_bindings()
            .into_iter()
            .find(|b| b["metadata"]["name"] == "system:public-info-viewer")
            .unwrap();
        let mut existing = wanted.clone();
        existing["metadata"]["uid"] = json!("u1");
        existing["subjects"] =
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"}]);
        let Action::Update(fixed) = reconcile_binding(&existing, wanted.clone()) else {
            panic!("not updated")
        };
        assert_eq!(fixed["subjects"].as_array().unwrap().len(), 3);
        existing["roleRef"]["name"] = json!("cluster-admin");
        let Action::Recreate(fresh) = reconcile_binding(&existing, wanted) else {
            panic!("not recreated")
        };
        assert_eq!(fresh["roleRef"]["name"], "system:public-info-viewer");
        assert!(fresh["metadata"].get("uid").is_none());
    }
}
