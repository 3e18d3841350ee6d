//! `kubectl get statefulsets`: upstream's `printStatefulSet` (READY as ready/desired; wide:
//! containers, images).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{containers_and_images, count, CONTAINERS, IMAGES};
use super::{age_cell, cell, name_cell, text_column, Column, Printer, AGE, NAME};

/// StatefulSet columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Ready", "Number of the pod with ready state", 0),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn row(sts: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (containers, images) = containers_and_images(sts);
    let ready = count(sts, &["status", "readyReplicas"]);
    let desired = count(sts, &["spec", "replicas"]);
    vec![
        name_cell(sts),
        cell(format!("{ready}/{desired}")),
        age_cell(sts, now),
        containers,
        images,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_over_desired() {
        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3,
            "template": {"spec": {"containers": [{"name": "db", "image": "redis:7"}]}}},
            "status": {"readyReplicas": 1}});
        let row = (PRINTER.row)(&sts, Utc::now());
        assert_eq!(
            row,
            vec![
                json!("db"),
                json!("1/3"),
                json!("<unknown>"),
                json!("db"),
                json!("redis:7")
            ]
        );
    }
}
