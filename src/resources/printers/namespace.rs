//! `kubectl get namespaces`: upstream's `printNamespace` (name, phase, age).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Namespace columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Status", "The status of the namespace", 0),
    AGE,
];

fn row(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(ns),
        cell(text(ns, &["status", "phase"])),
        age_cell(ns, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_phase() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2024-05-01T11:59:30Z"},
                        "status": {"phase": "Active"}});
        assert_eq!(
            (PRINTER.row)(&ns, now),
            vec![json!("default"), json!("Active"), json!("30s")]
        );
    }
}
