//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`): what the asker may do in a
//! namespace, as the RBAC rules bound to them say (upstream's `RulesFor`). What the node
//! authorizer or the `system:masters` shortcut allows is not written as rules; a node's
//! answer is marked incomplete, as upstream marks authorizers that cannot list rules.

use serde_json::{json, Value};

use super::Context;
use crate::api::auth::rbac::{rules_for, PolicyRule};
use crate::api::auth::Identity;
use crate::api::status::ApiError;

/// The status of a `SelfSubjectRulesReview`.
pub fn self_subject(cx: &Context<'_>, who: &Identity, obj: &Value) -> Result<Value, ApiError> {
    let namespace = obj
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let (rules, errors) = rules_for(who, namespace, cx.registry);
    let (resource, non_resource): (Vec<&PolicyRule>, Vec<&PolicyRule>) =
        rules.iter().partition(|r| r.non_resource_urls.is_empty());
    let resource_rules: Vec<Value> = resource
        .iter()
        .map(|r| {
            let mut rule =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                rule["resourceNames"] = json!(r.resource_names);
            }
            rule
        })
        .collect();
    let non_resource_rules: Vec<Value> = non_resource
        .iter()
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": who.node_name().is_some() || !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    Ok(status)
}
