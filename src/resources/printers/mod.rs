//! Table columns for `kubectl get`, as upstream's `pkg/printers/internalversion` defines them.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One column of a `meta.k8s.io/v1 Table`.
pub struct Column {
    /// Header, e.g. `NAME`.
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`.
    pub type_: &'static str,
    /// OpenAPI format, e.g. `name` for the name column.
    pub format: &'static str,
    /// Column description.
    pub description: &'static str,
    /// 0 for default columns, 1 for `-o wide` ones.
    pub priority: i32,
}

/// Columns and the function that fills one row.
pub struct Printer {
    /// The columns.
    pub columns: &'static [Column],
    /// Cells of one row, one per column; `now` is used for ages.
    pub row: fn(&Value, DateTime<Utc>) -> Vec<Value>,
}

/// Placeholder printer: name and age.
pub static NONE: Printer = Printer {
    columns: &[],
    row: |_, _| Vec::new(),
};
