//! Table columns of a custom resource: `Name`, then the version's
//! `additionalPrinterColumns` (or `Age` when it has none), as upstream's
//! `tableconvertor` for CRDs. A `date` column shows the age of its timestamp.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::jsonpath::{self, Step};
use super::leak;
use crate::resources::printers::{self, duration, Column, Printer, AGE, NAME};

struct Cell {
    steps: Vec<Step>,
    date: bool,
}

/// The printer for `columns` (a version's `additionalPrinterColumns`).
pub(super) fn build(columns: Option<&Value>) -> &'static Printer {
    let defined: Vec<&Value> = columns
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut cols = vec![NAME];
    let mut cells = Vec::new();
    for c in &defined {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let Ok(steps) = jsonpath::parse(text("jsonPath")) else {
            continue;
        };
        let type_ = text("type");
        cols.push(Column {
            name: leak(text("name")),
            type_: leak(if type_ == "date" { "string" } else { type_ }),
            format: leak(text("format")),
            description: leak(text("description")),
            priority: c
                .get("priority")
                .and_then(Value::as_i64)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
        });
        cells.push(Cell {
            steps,
            date: type_ == "date",
        });
    }
    let age = defined.is_empty();
    if age {
        cols.push(AGE);
    }
    let row = move |obj: &Value, now: DateTime<Utc>| {
        let mut out = vec![printers::name_cell(obj)];
        for c in &cells {
            out.push(cell(obj, c, now));
        }
        if age {
            out.push(printers::age_cell(obj, now));
        }
        out
    };
    Box::leak(Box::new(Printer {
        columns: Box::leak(cols.into_boxed_slice()),
        row: Box::leak(Box::new(row)),
    }))
}

fn cell(obj: &Value, c: &Cell, now: DateTime<Utc>) -> Value {
    let found = jsonpath::find(obj, &c.steps);
    match found.as_slice() {
        [] => Value::Null,
        [one] if c.date => Value::String(duration::since(Some(one), now)),
        [one] => (*one).clone(),
        many => Value::String(
            many.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defined_columns_read_their_paths() {
        let p = build(Some(&json!([
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts[*]", "priority": 1},
            {"name": "Started", "type": "date", "jsonPath": ".status.started"}
        ])));
        let names: Vec<&str> = p.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Size", "Hosts", "Started"]);
        assert_eq!(p.columns[2].priority, 1);
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let obj = json!({"metadata": {"name": "a"}, "spec": {"size": 3, "hosts": ["x", "y"]},
            "status": {"started": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            (p.row)(&obj, now),
            [json!("a"), json!(3), json!("x,y"), json!("60m")]
        );
        let bare = json!({"metadata": {"name": "b"}});
        assert_eq!(
            (p.row)(&bare, now),
            [json!("b"), Value::Null, Value::Null, Value::Null]
        );
    }

    #[test]
    fn no_columns_means_name_and_age() {
        let p = build(None);
        let names: Vec<&str> = p.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Age"]);
    }
}
