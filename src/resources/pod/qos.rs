//! A pod's quality-of-service class, as upstream's `qos.GetPodQOS` computes it from the
//! containers' CPU and memory requests and limits.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::resources::quantity::Quantity;
use crate::resources::validation::fields::{list_at, map_at};

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

fn positive(v: &Value) -> Option<Quantity> {
    let q = match v {
        Value::String(s) => Quantity::parse(s).ok()?,
        Value::Number(n) => Quantity::parse(&n.to_string()).ok()?,
        _ => return None,
    };
    (q > Quantity::default()).then_some(q)
}

/// `Guaranteed`, `Burstable` or `BestEffort` for a pod's JSON form.
pub fn pod_qos_class(pod: &Value) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = list_at(pod, &["spec", "containers"])
        .iter()
        .chain(list_at(pod, &["spec", "initContainers"]));
    for c in containers {
        for (name, q) in map_at(c, &["resources", "requests"]) {
            if let (Some(name), Some(q)) = (QOS_RESOURCES.iter().find(|r| *r == name), positive(q))
            {
                let sum = requests.get(name).copied().unwrap_or_default() + q;
                requests.insert(name, sum);
            }
        }
        let mut found = 0;
        for (name, q) in map_at(c, &["resources", "limits"]) {
            if let (Some(name), Some(q)) = (QOS_RESOURCES.iter().find(|r| *r == name), positive(q))
            {
                found += 1;
                let sum = limits.get(name).copied().unwrap_or_default() + q;
                limits.insert(name, sum);
            }
        }
        if found < QOS_RESOURCES.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, r)| limits.get(k) == Some(r))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: Value) -> Value {
        json!({"spec": {"containers": [{"name": "a", "resources": resources}]}})
    }

    #[test]
    fn classes() {
        assert_eq!(pod_qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            pod_qos_class(&pod(json!({"requests": {"cpu": "100m"}}))),
            "Burstable"
        );
        let both = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(
            pod_qos_class(&pod(json!({"requests": both, "limits": both}))),
            "Guaranteed"
        );
        assert_eq!(
            pod_qos_class(&pod(
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}})
            )),
            "Burstable"
        );
        // Only extended resources: still best effort.
        assert_eq!(
            pod_qos_class(&pod(json!({"limits": {"example.com/gpu": "1"}}))),
            "BestEffort"
        );
    }
}
