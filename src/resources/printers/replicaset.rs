//! `kubectl get replicasets`: upstream's `printReplicaSet` (DESIRED, CURRENT, READY; wide:
//! containers, images, selector).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{int_column, replica_row, CONTAINERS, IMAGES};
use super::{text_column, Column, Printer, AGE, NAME};
use crate::resources::workload_strategy::selector_text;

/// ReplicaSet columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    int_column("Desired", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller", 0),
    int_column("Current", "Replicas is the most recently oberved number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller", 0),
    int_column("Ready", "The number of ready replicas for this replica set.", 0),
    AGE,
    CONTAINERS,
    IMAGES,
    text_column("Selector", "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", 1),
];

fn row(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replica_row(rs, now, selector_text(rs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn desired_current_ready() {
        let rs = json!({"metadata": {"name": "web-5d"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d"}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let row = (PRINTER.row)(&rs, Utc::now());
        assert_eq!(&row[..4], &[json!("web-5d"), json!(2), json!(2), json!(1)]);
        assert_eq!(row[7], json!("app=web,pod-template-hash=5d"));
        assert_eq!(row.len(), COLUMNS.len());
    }
}
