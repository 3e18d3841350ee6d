//! `kubectl get configmaps`: upstream's `printConfigMap`; DATA counts `data` and `binaryData`
//! keys together.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, map_len, name_cell, text_column, Column, Printer, AGE, NAME};

/// ConfigMap columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column("Data", "Data contains the configuration data.", 0),
    AGE,
];

fn row(cm: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let keys = map_len(cm, &["data"]) + map_len(cm, &["binaryData"]);
    vec![name_cell(cm), Value::from(keys as i64), age_cell(cm, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_text_and_binary_keys() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cm = json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            (PRINTER.row)(&cm, now),
            vec![json!("cfg"), json!(3), json!("<unknown>")]
        );
    }
}
