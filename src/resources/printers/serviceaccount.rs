//! `kubectl get serviceaccounts`: upstream's `printServiceAccount` (name, number of
//! secrets, age).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, list, name_cell, text_column, Column, Printer, AGE, NAME};

/// ServiceAccount columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Secrets",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        0,
    ),
    AGE,
];

fn row(sa: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(sa),
        Value::from(list(sa, &["secrets"]).len() as i64),
        age_cell(sa, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_the_number_of_secrets() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let sa = json!({"metadata": {"name": "builder", "creationTimestamp": "2024-05-01T11:58:00Z"},
                        "secrets": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            (PRINTER.row)(&sa, now),
            vec![json!("builder"), json!(2), json!("2m")]
        );
        let bare =
            json!({"metadata": {"name": "default", "creationTimestamp": "2024-05-01T11:58:00Z"}});
        assert_eq!((PRINTER.row)(&bare, now)[1], json!(0));
    }
}
