//! `kubectl get statefulsets`: upstream's `printStatefulSet` (READY as ready/desired; wide:
//! containers, images).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{age_and_template_cells, ready_of_desired, CONTAINERS, IMAGES};
use super::{name_cell, text_column, Column, Printer, AGE, NAME};

/// StatefulSet columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Ready", "Number of the pod with ready state", 0),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn row(sts: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut row = vec![name_cell(sts), ready_of_desired(sts)];
    row.extend(age_and_template_cells(sts, now));
    row
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
