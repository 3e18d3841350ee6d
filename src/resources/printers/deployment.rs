//! `kubectl get deployments`: upstream's `printDeployment` (READY as ready/desired,
//! UP-TO-DATE, AVAILABLE; wide: containers, images, selector).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{age_and_template_cells, count, ready_of_desired, CONTAINERS, IMAGES};
use super::{cell, name_cell, text_column, Column, Printer, AGE, NAME};
use crate::resources::workload_strategy::selector_text;

/// Deployment columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Ready", "Number of the pod with ready state", 0),
    text_column("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
    text_column("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0),
    AGE,
    CONTAINERS,
    IMAGES,
    text_column("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", 1),
];

fn row(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut row = vec![
        name_cell(d),
        ready_of_desired(d),
        Value::from(count(d, &["status", "updatedReplicas"])),
        Value::from(count(d, &["status", "availableReplicas"])),
    ];
    row.extend(age_and_template_cells(d, now));
    row.push(cell(selector_text(d)));
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_over_desired() {
        let d = json!({"metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let row = (PRINTER.row)(&d, Utc::now());
        assert_eq!(
            row,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("<unknown>"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web")
            ]
        );
        assert_eq!(row.len(), COLUMNS.len());
    }
}
