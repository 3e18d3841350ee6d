//! The `NodeMetrics` and `PodMetrics` objects, as metrics-server writes them: the object's
//! name, namespace and labels, the sample's time, the window it covers, and CPU in
//! nanocores and memory working set in bytes as quantities.

use serde_json::{json, Map, Value};

use super::summary::Usage;
use super::{GROUP, VERSION};
use crate::resources::meta;
use crate::resources::quantity::Quantity;

/// The window a usage figure covers: the kubelet's sampling interval, over which its CPU
/// rate is computed.
pub const WINDOW: &str = "10s";

fn metadata(object: &Value, now: &str) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(meta::name_of(object)));
    if let Some(ns) = meta::meta_str(object, "namespace") {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("creationTimestamp".into(), json!(now));
    if let Some(labels) = object.pointer("/metadata/labels") {
        m.insert("labels".into(), labels.clone());
    }
    Value::Object(m)
}

fn usage(u: &Usage) -> Value {
    let bytes = i64::try_from(u.working_set_bytes).unwrap_or(i64::MAX);
    json!({
        "cpu": Quantity::from_nano(u.nano_cores).to_string(),
        "memory": Quantity::from_units(bytes).to_string(),
    })
}

/// The `NodeMetrics` of `node`.
pub fn node_metrics(node: &Value, u: &Usage, now: &str) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(node, now),
        "timestamp": u.time,
        "window": WINDOW,
        "usage": usage(u),
    })
}

/// The `PodMetrics` of `pod`, from its containers' usage.
pub fn pod_metrics(pod: &Value, containers: &[(&str, Usage)], now: &str) -> Value {
    let time = containers
        .iter()
        .map(|(_, u)| u.time.as_str())
        .max()
        .unwrap_or(now);
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, u)| json!({"name": name, "usage": usage(u)}))
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(pod, now),
        "timestamp": time,
        "window": WINDOW,
        "containers": containers,
    })
}

/// A list of `kind` (`NodeMetricsList`, `PodMetricsList`).
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({
        "kind": kind,
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(nano_cores: u64, working_set_bytes: u64) -> Usage {
        Usage {
            nano_cores,
            working_set_bytes,
            time: "2026-01-01T00:00:10Z".into(),
        }
    }

    #[test]
    fn node_metrics_carry_the_node_labels_and_usage_as_quantities() {
        let node = json!({"metadata": {"name": "pi", "labels": {"bramble.io/board": "rpi4b"}}});
        let m = node_metrics(&node, &usage(250_000_000, 512 * 1024 * 1024), "now");
        assert_eq!(m["metadata"]["name"], "pi");
        assert_eq!(m["metadata"]["labels"]["bramble.io/board"], "rpi4b");
        assert_eq!(m["usage"]["cpu"], "250m");
        assert_eq!(m["usage"]["memory"], "512Mi");
        assert_eq!(m["timestamp"], "2026-01-01T00:00:10Z");
        assert!(m["metadata"].get("namespace").is_none());
    }

    #[test]
    fn pod_metrics_list_every_container() {
        let pod = json!({"metadata": {"name": "web", "namespace": "default"}});
        let m = pod_metrics(
            &pod,
            &[("a", usage(1_234, 1000)), ("b", usage(0, 4096))],
            "now",
        );
        assert_eq!(m["metadata"]["namespace"], "default");
        assert_eq!(m["containers"][0]["usage"]["cpu"], "1234n");
        assert_eq!(m["containers"][0]["usage"]["memory"], "1000");
        assert_eq!(m["containers"][1]["usage"]["memory"], "4Ki");
        assert_eq!(m["containers"][1]["usage"]["cpu"], "0");
    }
}
