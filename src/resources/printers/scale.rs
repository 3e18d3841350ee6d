//! `kubectl get deployment X --subresource=scale`: upstream's `printScale` (DESIRED from
//! `spec.replicas`, AVAILABLE from `status.replicas`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::pod_template::{count, int_column};
use super::{name_cell, Column, Printer, NAME};

/// Scale columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    int_column("Desired", "Number of desired replicas", 0),
    int_column("Available", "Number of actual replicas", 0),
];

fn row(scale: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(scale),
        Value::from(count(scale, &["spec", "replicas"])),
        Value::from(count(scale, &["status", "replicas"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn desired_and_available() {
        let s = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}, "status": {"replicas": 1}});
        assert_eq!(
            (PRINTER.row)(&s, Utc::now()),
            vec![json!("web"), json!(3), json!(1)]
        );
    }
}
