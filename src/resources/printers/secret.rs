//! `kubectl get secrets`: upstream's `printSecret` (name, type, number of data keys, age).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, cell, map_len, name_cell, text, text_column, Column, Printer, AGE, NAME};

/// Secret columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Type",
        "Used to facilitate programmatic handling of secret data.",
        0,
    ),
    text_column("Data", "Data contains the secret data.", 0),
    AGE,
];

fn row(secret: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(secret),
        cell(text(secret, &["type"])),
        Value::from(map_len(secret, &["data"]) as i64),
        age_cell(secret, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_type_and_key_count() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = json!({"metadata": {"name": "tls", "creationTimestamp": "2024-04-01T12:00:00Z"},
                       "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            (PRINTER.row)(&s, now),
            vec![
                json!("tls"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("30d")
            ]
        );
    }
}
