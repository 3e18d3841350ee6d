//! `kubectl get leases`: upstream's `printLease` (name, holder identity, age).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Lease columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Holder",
        "holderIdentity contains the identity of the holder of a current lease.",
        0,
    ),
    AGE,
];

fn row(lease: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(lease),
        cell(text(lease, &["spec", "holderIdentity"])),
        age_cell(lease, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_holder_or_nothing() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let l = json!({"metadata": {"name": "pi-1"}, "spec": {"holderIdentity": "pi-1"}});
        assert_eq!((PRINTER.row)(&l, now)[1], json!("pi-1"));
        assert_eq!(
            (PRINTER.row)(&json!({"metadata": {"name": "x"}}), now)[1],
            json!("")
        );
    }
}
