//! Upstream's `DefaultTolerationSeconds` admission: a new pod that does not already tolerate
//! `node.kubernetes.io/not-ready` or `node.kubernetes.io/unreachable` with effect NoExecute
//! gets a toleration for each with `tolerationSeconds: 300`, so when its board goes away
//! taint-based eviction removes it after five minutes and its controller recreates it
//! elsewhere, instead of at once (a board rebooting) or never.

use serde_json::{json, Value};

use crate::resources::tolerations::{TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE};
use crate::resources::{pod, ResourceType};

/// Upstream's default for both tolerations (`--default-not-ready-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Whether `t` already tolerates `key` with effect NoExecute, as upstream judges it: the
/// key matches (or is empty) and the effect is NoExecute (or empty).
fn covers(t: &Value, key: &str) -> bool {
    let k = t.get("key").and_then(Value::as_str).unwrap_or("");
    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
    (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

/// Adds the default tolerations to a new pod.
pub fn admit(rt: &ResourceType, obj: &mut Value) {
    if !(rt.group.is_empty() && rt.plural == pod::RESOURCE.plural) {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(tolerations) = list else {
        return;
    };
    for key in [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE] {
        if !tolerations.iter().any(|t| covers(t, key)) {
            tolerations.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pod: &Value) -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or("").to_string(),
                    t["tolerationSeconds"].as_i64(),
                )
            })
            .collect()
    }

    #[test]
    fn both_tolerations_are_added_unless_already_tolerated() {
        let mut p = json!({"spec": {"containers": []}});
        admit(&pod::RESOURCE, &mut p);
        assert_eq!(
            keys(&p),
            [
                (TAINT_NODE_NOT_READY.to_string(), Some(300)),
                (TAINT_NODE_UNREACHABLE.to_string(), Some(300))
            ]
        );
        let mut own = json!({"spec": {"tolerations": [
            {"key": TAINT_NODE_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6}
        ]}});
        admit(&pod::RESOURCE, &mut own);
        assert_eq!(
            keys(&own),
            [
                (TAINT_NODE_UNREACHABLE.to_string(), Some(6)),
                (TAINT_NODE_NOT_READY.to_string(), Some(300))
            ]
        );
        // A toleration of every taint covers both.
        let mut all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        admit(&pod::RESOURCE, &mut all);
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }
}
