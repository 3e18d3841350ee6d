//! `kubectl get daemonsets`: upstream's `printDaemonSet` (DESIRED, CURRENT, READY,
//! UP-TO-DATE, AVAILABLE, NODE SELECTOR; wide: containers, images, selector).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{age_and_template_cells, count, int_column, CONTAINERS, IMAGES};
use super::{at, cell, format_labels, name_cell, text_column, Column, Printer, AGE, NAME};
use crate::resources::workload_strategy::selector_text;

/// DaemonSet columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    int_column("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/", 0),
    int_column("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/", 0),
    int_column("Ready", "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.", 0),
    int_column("Up-to-date", "The total number of nodes that are running updated daemon pod", 0),
    int_column("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", 0),
    text_column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/", 0),
    AGE,
    CONTAINERS,
    IMAGES,
    text_column("Selector", "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", 1),
];

fn row(ds: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut row = vec![
        name_cell(ds),
        Value::from(count(ds, &["status", "desiredNumberScheduled"])),
        Value::from(count(ds, &["status", "currentNumberScheduled"])),
        Value::from(count(ds, &["status", "numberReady"])),
        Value::from(count(ds, &["status", "updatedNumberScheduled"])),
        Value::from(count(ds, &["status", "numberAvailable"])),
        cell(format_labels(at(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
    ];
    row.extend(age_and_template_cells(ds, now));
    row.push(cell(selector_text(ds)));
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_selector_column() {
        let ds = json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "a", "image": "busybox"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                       "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let row = (PRINTER.row)(&ds, Utc::now());
        assert_eq!(
            &row[..7],
            &[
                json!("agent"),
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("disk=ssd")
            ]
        );
        let none = json!({"metadata": {"name": "x"}});
        assert_eq!((PRINTER.row)(&none, Utc::now())[6], json!("<none>"));
    }
}
