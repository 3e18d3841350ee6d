//! `kubectl get replicationcontrollers`: upstream's `printReplicationController` (DESIRED,
//! CURRENT, READY; wide: containers, images, the map selector).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{int_column, replica_row, CONTAINERS, IMAGES};
use super::{at, format_labels, text_column, Column, Printer, AGE, NAME};

/// ReplicationController columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    int_column("Desired", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller", 0),
    int_column("Current", "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller", 0),
    int_column("Ready", "The number of ready replicas for this replication controller.", 0),
    AGE,
    CONTAINERS,
    IMAGES,
    text_column("Selector", "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", 1),
];

fn row(rc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replica_row(rc, now, format_labels(at(rc, &["spec", "selector"])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn map_selector_is_formatted() {
        let rc = json!({"metadata": {"name": "nginx"}, "spec": {"replicas": 3, "selector": {"app": "nginx"}},
            "status": {"replicas": 3, "readyReplicas": 3}});
        let row = (PRINTER.row)(&rc, Utc::now());
        assert_eq!(&row[..4], &[json!("nginx"), json!(3), json!(3), json!(3)]);
        assert_eq!(row[7], json!("app=nginx"));
    }
}
