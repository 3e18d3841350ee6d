//! The `Node` kind: upstream's node strategy (`pkg/registry/core/node`): taints, resource
//! lists, and `podCIDRs`/`providerID` that may be set once.

use std::collections::BTreeSet;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use serde_json::{json, Value};

use super::validation::fields::{keep_old, list_at, map_at, str_at};
use super::validation::{
    is_qualified_name, is_valid_label_value, validate_object_meta, validate_object_meta_update,
    NameRule, IS_NEGATIVE,
};
use super::{quantity::Quantity, FieldErrorKind};

use super::{patch_schema, printers, typed, FieldError, ResourceType, Strategy};

/// `nodes` in `core/v1`.
pub static RESOURCE: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    short_names: &["no"],
    namespaced: false,
    ephemeral: false,
    subresources: &["status", "proxy"],
    categories: &[],
    strategy: &NodeStrategy,
    printer: &printers::node::PRINTER,
    patch_schema: &patch_schema::NODE,
};

/// Write behaviour of `Node`.
pub struct NodeStrategy;

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

impl Strategy for NodeStrategy {
    fn decode(&self, obj: Value) -> Result<typed::Decoded, typed::DecodeError> {
        typed::decode_as::<k8s_openapi::api::core::v1::Node>(obj)
    }

    /// Upstream `SetDefaults_NodeStatus`: allocatable defaults to capacity.
    fn default(&self, obj: &mut Value) {
        let capacity = obj.pointer("/status/capacity").cloned();
        if let (Some(cap), Some(status)) = (
            capacity,
            obj.get_mut("status").and_then(Value::as_object_mut),
        ) {
            super::validation::fields::default_field(status, "allocatable", cap);
        }
    }

    /// Upstream `nodeStrategy.PrepareForUpdate`: status only through the subresource. (On
    /// create the status is kept: the kubelet registers itself with it.)
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old(new, old, "status");
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(obj, false, NameRule::Dns1123Subdomain);
        errs.extend(validate_taints(list_at(obj, &["spec", "taints"])));
        for list in ["capacity", "allocatable"] {
            for (name, v) in map_at(obj, &["status", list]) {
                let path = format!("status.{list}[{name}]");
                errs.extend(
                    is_qualified_name(name)
                        .into_iter()
                        .map(|m| FieldError::invalid(&path, &json!(name), &m)),
                );
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                match Quantity::parse(&text) {
                    Ok(q) if q.is_negative() => errs.push(FieldError::invalid(
                        &path,
                        &json!(q.to_string()),
                        IS_NEGATIVE,
                    )),
                    Ok(_) => {}
                    Err(e) => errs.push(FieldError::invalid(&path, v, &e.to_string())),
                }
            }
        }
        errs
    }

    /// Upstream `ValidateNodeUpdate`: podCIDRs and providerID may only go from unset to set.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(new, old);
        errs.extend(self.validate(new));
        let old_cidrs = list_at(old, &["spec", "podCIDRs"]);
        if !old_cidrs.is_empty() && old_cidrs != list_at(new, &["spec", "podCIDRs"]) {
            errs.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let old_provider = str_at(old, &["spec", "providerID"]);
        if !old_provider.is_empty() && old_provider != str_at(new, &["spec", "providerID"]) {
            errs.push(FieldError::forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }

    /// Upstream `NodeToSelectableFields`.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.unschedulable" => Some(
                (obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true))
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Upstream `validateNodeTaints`: qualified keys, label values, a known effect, and unique
/// (key, effect) pairs.
fn validate_taints(taints: &[Value]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let path = format!("spec.taints[{i}]");
        let key = str_at(t, &["key"]);
        errs.extend(
            is_qualified_name(key)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{path}.key"), &json!(key), &m)),
        );
        let value = str_at(t, &["value"]);
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.value"),
                &json!(value),
                &msgs.join(";"),
            ));
        }
        let effect = str_at(t, &["effect"]);
        if effect.is_empty() {
            errs.push(FieldError::required(format!("{path}.effect"), ""));
        } else if !TAINT_EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                format!("{path}.effect"),
                &json!(effect),
                TAINT_EFFECTS,
            ));
        }
        if !seen.insert((key, effect)) {
            errs.push(FieldError {
                kind: FieldErrorKind::Duplicate,
                field: path,
                detail: format!(
                    "Duplicate value: {t}: taints must be unique by key and effect pair"
                ),
            });
        }
    }
    errs
}

/// The ranges `node` holds (`spec.podCIDRs`, else `spec.podCIDR`).
pub fn pod_cidrs(node: &Node) -> Vec<crate::cidr::Ipv4Cidr> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let listed = spec.pod_cidrs.as_deref().unwrap_or_default();
    let texts: Vec<&str> = if listed.is_empty() {
        spec.pod_cidr.as_deref().into_iter().collect()
    } else {
        listed.iter().map(String::as_str).collect()
    };
    texts.into_iter().filter_map(|t| t.parse().ok()).collect()
}

/// The conditions `node` reports.
pub fn conditions(node: &Node) -> &[NodeCondition] {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

/// The node's `Ready` condition, if it reported one.
pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    conditions(node).iter().find(|c| c.type_ == "Ready")
}

/// The taints set on the node itself (`spec.taints`).
pub fn own_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// When `node`'s kubelet last showed a sign of life: its `lease` renewal or its Ready
/// heartbeat, whichever is later, else the node's creation.
pub fn last_heard(node: &Node, lease: Option<&Lease>) -> Option<chrono::DateTime<chrono::Utc>> {
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let heartbeat = ready_condition(node)
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    renewed
        .max(heartbeat)
        .or_else(|| node.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1"},
            "spec": {"podCIDRs": ["10.244.1.0/24"]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    }

    #[test]
    fn status_is_kept_on_create_and_allocatable_defaulted() {
        let mut n = node();
        NodeStrategy.default(&mut n);
        NodeStrategy.prepare_for_create(&mut n);
        assert_eq!(n["status"]["allocatable"]["memory"], "8Gi");
        assert!(NodeStrategy.validate(&n).is_empty());
    }

    #[test]
    fn taints_are_checked() {
        let mut n = node();
        n["spec"]["taints"] = json!([{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Never"}]);
        let errs: Vec<String> = NodeStrategy
            .validate(&n)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(errs.contains(&"spec.taints[1]: Duplicate value: {\"effect\":\"NoSchedule\",\"key\":\"a\"}: taints must be unique by key and effect pair".to_string()), "{errs:#?}");
        assert!(errs.contains(&"spec.taints[2].effect: Unsupported value: \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"".to_string()));
    }

    #[test]
    fn pod_cidrs_set_once_and_unschedulable_label() {
        let old = node();
        let mut new = node();
        new["spec"]["podCIDRs"] = json!(["10.244.2.0/24"]);
        new["spec"]["unschedulable"] = json!(true);
        let errs = NodeStrategy.validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.podCIDRs");
        assert_eq!(
            NodeStrategy
                .field_label(&new, "spec.unschedulable")
                .as_deref(),
            Some("true")
        );
    }

    #[test]
    fn a_node_lists_its_ranges_from_either_field() {
        let node =
            |v: Value| -> k8s_openapi::api::core::v1::Node { serde_json::from_value(v).unwrap() };
        let n = node(json!({"spec": {"podCIDR": "10.42.3.0/24"}}));
        assert_eq!(
            pod_cidrs(&n),
            ["10.42.3.0/24".parse::<crate::cidr::Ipv4Cidr>().unwrap()]
        );
        let n = node(json!({"spec": {"podCIDR": "10.42.3.0/24", "podCIDRs": ["10.42.3.0/24"]}}));
        assert_eq!(
            pod_cidrs(&n),
            ["10.42.3.0/24".parse::<crate::cidr::Ipv4Cidr>().unwrap()]
        );
        assert!(pod_cidrs(&node(json!({"spec": {}}))).is_empty());
    }
}
