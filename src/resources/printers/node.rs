//! `kubectl get nodes`: upstream's `printNode`. STATUS is `Ready`/`NotReady`/`Unknown` from
//! the Ready condition plus `SchedulingDisabled` when cordoned; ROLES come from
//! `node-role.kubernetes.io/<role>` labels and the legacy `kubernetes.io/role` label.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, list, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Node columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Status", "The status of the node", 0),
    text_column("Roles", "The roles of the node", 0),
    AGE,
    text_column("Version", "Kubelet Version reported by the node.", 0),
    text_column("Internal-IP", "List of addresses reachable to the node.", 1),
    text_column("External-IP", "List of addresses reachable to the node.", 1),
    text_column("OS-Image", "OS Image reported by the node.", 1),
    text_column("Kernel-Version", "Kernel Version reported by the node.", 1),
    text_column(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node.",
        1,
    ),
];

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const LEGACY_ROLE_LABEL: &str = "kubernetes.io/role";

/// The STATUS cell, e.g. `Ready,SchedulingDisabled`.
pub fn status(node: &Value) -> String {
    // Upstream keeps the last condition of each type; only Ready is shown.
    let ready = list(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready");
    let mut parts = vec![match ready {
        Some(c) if text(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    let unschedulable = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if unschedulable {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// The ROLES cell: sorted, unique roles joined by commas, or `<none>`.
pub fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix(ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if key == LEGACY_ROLE_LABEL {
                match value.as_str() {
                    Some(v) if !v.is_empty() => {
                        roles.insert(v.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    if roles.is_empty() {
        return "<none>".to_string();
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}

fn address(node: &Value, type_: &str) -> String {
    list(node, &["status", "addresses"])
        .iter()
        .find(|a| text(a, &["type"]) == type_)
        .map_or_else(
            || "<none>".to_string(),
            |a| text(a, &["address"]).to_string(),
        )
}

fn node_info(node: &Value, field: &str) -> String {
    match text(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    }
}

fn row(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(node),
        cell(status(node)),
        cell(roles(node)),
        age_cell(node, now),
        cell(text(node, &["status", "nodeInfo", "kubeletVersion"])),
        cell(address(node, "InternalIP")),
        cell(address(node, "ExternalIP")),
        cell(node_info(node, "osImage")),
        cell(node_info(node, "kernelVersion")),
        cell(node_info(node, "containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-03T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn status_strings() {
        let ready = json!({"status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True"}]}});
        assert_eq!(status(&ready), "Ready");
        let mut cordoned = ready.clone();
        cordoned["spec"] = json!({"unschedulable": true});
        assert_eq!(status(&cordoned), "Ready,SchedulingDisabled");
        let down = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(status(&down), "NotReady");
        assert_eq!(
            status(&json!({"spec": {"unschedulable": true}})),
            "Unknown,SchedulingDisabled"
        );
    }

    #[test]
    fn roles_from_labels() {
        let node = json!({"metadata": {"labels": {
            "node-role.kubernetes.io/worker": "",
            "node-role.kubernetes.io/control-plane": "",
            "node-role.kubernetes.io/": "",
            "kubernetes.io/role": "edge",
            "kubernetes.io/hostname": "pi-1"}}});
        assert_eq!(roles(&node), "control-plane,edge,worker");
        assert_eq!(roles(&json!({"metadata": {}})), "<none>");
    }

    #[test]
    fn full_row() {
        let node = json!({
            "metadata": {"name": "pi-1", "creationTimestamp": "2024-05-01T10:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "pi-1"},
                              {"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.6.31+rpt-rpi-v8"}
            }
        });
        let row = (PRINTER.row)(&node, now());
        assert_eq!(row.len(), PRINTER.columns.len());
        assert_eq!(
            row,
            vec![
                json!("pi-1"),
                json!("Ready"),
                json!("control-plane"),
                json!("2d2h"),
                json!("v1.32.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.6.31+rpt-rpi-v8"),
                json!("<unknown>")
            ]
        );
    }
}
