//! `kubectl get poddisruptionbudgets`: upstream's `printPodDisruptionBudget` — min available
//! and max unavailable as written (`N/A` when unset) and the allowed disruptions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age_cell, at, cell, name_cell, text_column, Column, Printer, AGE, NAME};

/// PodDisruptionBudget columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[
    NAME,
    text_column(
        "Min Available",
        "The minimum number of pods that must be available.",
        0,
    ),
    text_column(
        "Max Unavailable",
        "The maximum number of pods that may be unavailable.",
        0,
    ),
    Column {
        name: "Allowed Disruptions",
        type_: "integer",
        format: "",
        description: "Calculated number of pods that may be disrupted at this time.",
        priority: 0,
    },
    AGE,
];

/// An int-or-string as Go's `IntOrString.String()` prints it, or `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".into(),
    }
}

fn row(pdb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name_cell(pdb),
        cell(int_or_string(at(pdb, &["spec", "minAvailable"]))),
        cell(int_or_string(at(pdb, &["spec", "maxUnavailable"]))),
        Value::from(
            at(pdb, &["status", "disruptionsAllowed"])
                .and_then(Value::as_i64)
                .unwrap_or(0),
        ),
        age_cell(pdb, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn budgets_print_as_written() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pdb = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:59:00Z"},
            "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 2}});
        assert_eq!(
            (PRINTER.row)(&pdb, now),
            vec![
                json!("web"),
                json!("50%"),
                json!("N/A"),
                json!(2),
                json!("60s")
            ]
        );
        let pdb = json!({"metadata": {"name": "db"}, "spec": {"maxUnavailable": 1}});
        assert_eq!(
            &(PRINTER.row)(&pdb, now)[1..4],
            &[json!("N/A"), json!("1"), json!(0)]
        );
    }
}
