//! `kubectl get customresourcedefinitions`: upstream's default table for the kind, the name
//! and the creation time as a timestamp.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{at, name_cell, Column, Printer, CREATED_AT, NAME};

/// CustomResourceDefinition columns and row function.
pub static PRINTER: Printer = Printer {
    columns: COLUMNS,
    row: &row,
};

static COLUMNS: &[Column] = &[NAME, CREATED_AT];

fn row(crd: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = at(crd, &["metadata", "creationTimestamp"])
        .cloned()
        .unwrap_or(Value::Null);
    vec![name_cell(crd), created]
}
